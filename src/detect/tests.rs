//! The detection methods on series with known answers: planted change points and stages, the
//! exact segmentation, and the run-length posterior computed directly.

// Log-spaced test steps are below 1e6: exact through f64.
#![allow(clippy::cast_possible_truncation)]

use super::bocpd::{run_lengths, standardized};
use super::change_points::{backtrack, pelt_cuts};
use super::{DetectError, Detection, Method, Series};

/// Deterministic standard normal draws (splitmix64 and Box-Muller): the tests need noise, not
/// a generator of quality.
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Noise {
        Noise(seed)
    }

    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Three levels (0, 5, 2) changing at checkpoints 20 and 45 of 70, with noise of standard
/// deviation 0.5.
fn planted_steps(seed: u64) -> Series {
    let mut noise = Noise::new(seed);
    let steps: Vec<i64> = (1..=70).map(|i| i * 100).collect();
    let values = (0..70)
        .map(|i| {
            let level = if i < 20 {
                0.0
            } else if i < 45 {
                5.0
            } else {
                2.0
            };
            level + 0.5 * noise.normal()
        })
        .collect();
    Series::new("train_loss", steps, values)
}

/// The method `text` writes, with the registry's defaults for the arguments it leaves out, as
/// the planner fills them in.
fn method(text: &str) -> Method {
    let mut call: serde_json::Value = serde_json::from_str(text).unwrap();
    let name = call["call"].as_str().unwrap().to_owned();
    let args = call.as_object_mut().unwrap().entry("args").or_insert_with(|| serde_json::json!({}));
    let origin = crate::compile::value::Origin {
        file: crate::source::FileId(0),
        span: crate::source::Span { start: 0, end: 0 },
    };
    for param in crate::registry::constructor(&name).unwrap().params {
        if let crate::registry::schema::Default::Value(literal) = param.default {
            let value = crate::compile::literal::to_value(literal, origin);
            args.as_object_mut().unwrap().entry(param.name).or_insert_with(|| value.to_wire());
        }
    }
    Method::parse(&call).unwrap()
}

fn cut_indices(detection: &Detection) -> Vec<usize> {
    detection.boundaries.iter().map(|b| b.index).collect()
}

#[test]
fn change_point_methods_recover_planted_steps() {
    let methods = [
        r#"{"call": "change_points", "args": {"method": "pelt"}}"#,
        r#"{"call": "change_points", "args": {"method": "binseg"}}"#,
        r#"{"call": "bocpd", "args": {"hazard": 0.05}}"#,
    ];
    for seed in [1, 2, 3, 4, 5] {
        let series = planted_steps(seed);
        for text in methods {
            let detection = method(text).detect(&series).unwrap();
            let cuts = cut_indices(&detection);
            // The steps are 10 and 6 noise deviations high: each is found at its checkpoint or
            // the next, and nothing else is.
            assert_eq!(cuts.len(), 2, "seed {seed}, {text}: {cuts:?}");
            assert!(cuts[0].abs_diff(20) <= 1 && cuts[1].abs_diff(45) <= 1, "{text}: {cuts:?}");
            let kinds: Vec<&str> = detection.boundaries.iter().map(|b| b.kind.as_str()).collect();
            assert_eq!(kinds, ["loss_rise", "loss_drop"], "{text}");
            assert_eq!(
                detection.boundaries[0].interval,
                [series.steps[cuts[0] - 1], series.steps[cuts[0]]]
            );
            assert_eq!(detection.stages.len(), 3);
        }
    }
}

/// The exact segmentation by dynamic programming over every partition: the least squared
/// error plus `penalty` per change, segments of at least `min_size`.
fn brute_force(values: &[f64], penalty: f64, min_size: usize) -> Vec<usize> {
    let n = values.len();
    let cost = |a: usize, b: usize| {
        let part = &values[a..b];
        let mean = part.iter().sum::<f64>() / part.len() as f64;
        part.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
    };
    // best[b]: the least cost of values[..b] and the start of its last segment.
    let mut best: Vec<(f64, usize)> = vec![(f64::INFINITY, 0); n + 1];
    best[0] = (-penalty, 0);
    for b in min_size..=n {
        for a in 0..=b - min_size {
            if a != 0 && a < min_size || best[a].0.is_infinite() {
                continue;
            }
            let total = best[a].0 + penalty + cost(a, b);
            if total < best[b].0 {
                best[b] = (total, a);
            }
        }
    }
    backtrack(&best)
}

#[test]
fn pelt_finds_the_exact_optimal_partition_of_short_series() {
    let mut noise = Noise::new(42);
    for trial in 0..40 {
        let n = 8 + trial % 9;
        let values: Vec<f64> =
            (0..n).map(|i| noise.normal() + if i > n / 2 { 2.0 } else { 0.0 }).collect();
        for min_size in [1, 2, 3] {
            let penalty = 1.0 + f64::from(trial % 4);
            assert_eq!(
                pelt_cuts(&values, penalty, min_size),
                brute_force(&values, penalty, min_size),
                "trial {trial}, min_size {min_size}: {values:?}"
            );
        }
    }
}

/// The run-length posterior by Adams and `MacKay`'s recursion, in full: the probability of every
/// run length after each value, with the Normal-Gamma model's Student-t predictive (their
/// convention: run length k holds the last k values; the first value is given run length 0).
fn direct_run_lengths(values: &[f64], hazard: f64) -> Vec<Vec<f64>> {
    let (m0, r0, s0, v0) = (0.0, 0.01, 1.0, 1.0);
    // The predictive density of `y` after observing `data`.
    let predictive = |data: &[f64], y: f64| {
        let count = data.len() as f64;
        let (sum, squares) = (data.iter().sum::<f64>(), data.iter().map(|x| x * x).sum::<f64>());
        let weight = r0 + count;
        let dof = v0 + count;
        let mean = (r0 * m0 + sum) / weight;
        let spread = s0 + squares + r0 * m0 * m0 - weight * mean * mean;
        let scale2 = spread * (weight + 1.0) / (weight * dof);
        let z = (y - mean) * (y - mean) / (scale2 * dof);
        let half_up = f64::midpoint(dof, 1.0);
        let ln = rv::misc::ln_gammafn(half_up)
            - rv::misc::ln_gammafn(dof / 2.0)
            - 0.5 * (dof * std::f64::consts::PI * scale2).ln()
            - half_up * z.ln_1p();
        ln.exp()
    };
    let mut posteriors: Vec<Vec<f64>> = vec![vec![1.0]];
    for t in 1..values.len() {
        let previous = &posteriors[t - 1];
        let mut next = vec![0.0; t + 1];
        for (k, &p) in previous.iter().enumerate() {
            // Run length k at t - 1 holds its last k values (0: a change right after it).
            let pp = predictive(&values[t - k..t], values[t]);
            next[k + 1] = p * pp * (1.0 - hazard);
            next[0] += p * pp * hazard;
        }
        let total: f64 = next.iter().sum();
        posteriors.push(next.into_iter().map(|p| p / total).collect());
    }
    posteriors
}

#[test]
fn the_run_length_posterior_is_adams_and_mackays() {
    let series = planted_steps(9);
    let values = standardized(&series.values[15..25]);
    for hazard in [0.05, 0.2] {
        let crate_posteriors = run_lengths(&values, hazard);
        let direct = direct_run_lengths(&values, hazard);
        for (t, (a, b)) in crate_posteriors.iter().zip(&direct).enumerate() {
            // The crate stops summing once less than 1e-3 of the previous posterior is left
            // (the shortest runs), so each probability may be off by that much.
            for (k, expected) in b.iter().enumerate() {
                let got = a.get(k).copied().unwrap_or(0.0);
                assert!((got - expected).abs() < 2e-3, "t {t}, k {k}: {got} vs {expected}");
            }
        }
    }
}

/// `count` checkpoints log-spaced from step 10 to step 100,000.
fn log_steps(count: i32) -> Vec<i64> {
    let last = f64::from(count - 1);
    (0..count).map(|i| (10f64 * 10f64.powf(f64::from(i) / last * 4.0)).round() as i64).collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// An LLC that rises around step 300 and falls around step 10,000, flat elsewhere, over
/// log-spaced checkpoints, with a little noise.
fn planted_stages(seed: u64) -> Series {
    let mut noise = Noise::new(seed);
    let steps = log_steps(60);
    let values = steps
        .iter()
        .map(|&s| {
            let u = (s as f64).ln();
            10.0 * sigmoid((u - 300f64.ln()) / 0.3) - 6.0 * sigmoid((u - 10_000f64.ln()) / 0.3)
                + 0.05 * noise.normal()
        })
        .collect();
    Series::new("llc_mean", steps, values)
}

#[test]
fn critical_points_mark_a_development_and_a_refinement_stage_where_they_were_planted() {
    for seed in [1, 2, 3] {
        let series = planted_stages(seed);
        let detection = method(r#"{"call": "critical_points", "args": {"smoothing": 0.05}}"#)
            .detect(&series)
            .unwrap();
        let kinds: Vec<&str> = detection.boundaries.iter().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, ["development", "plateau", "refinement", "plateau"], "seed {seed}");
        // Each rise starts within a factor e^1.5 below its centre and ends as far above.
        let [rise, top, fall, bottom] = [0, 1, 2, 3].map(|i| &detection.boundaries[i]);
        let within = |b: &super::Boundary, low: f64, high: f64| {
            (b.interval[1] as f64) >= low && (b.interval[0] as f64) <= high
        };
        let e = 1.5f64.exp();
        assert!(within(rise, 300.0 / e, 300.0), "{rise:?}");
        assert!(within(top, 300.0, 300.0 * e), "{top:?}");
        assert!(within(fall, 10_000.0 / e, 10_000.0), "{fall:?}");
        assert!(within(bottom, 10_000.0, 10_000.0 * e), "{bottom:?}");
        let stage_kinds: Vec<&str> = detection.stages.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(stage_kinds, ["plateau", "development", "plateau", "refinement", "plateau"]);
    }
}

#[test]
fn a_peak_between_two_checkpoints_is_followed_by_refinement_not_a_plateau() {
    // The LLC of specs/grokking.dev as measured: it rises while the training pairs are
    // memorized, peaks between steps 270 and 407, and falls as the network generalizes. Between
    // those two checkpoints the smoothed slope passes rising, flat and falling; the stage after
    // them falls, and was once labelled a plateau.
    let measured = [
        (10, 2.42),
        (15, 2.78),
        (23, 3.45),
        (34, 4.45),
        (52, 6.17),
        (78, 9.00),
        (118, 13.72),
        (179, 20.71),
        (270, 26.52),
        (407, 23.09),
        (614, 17.78),
        (927, 14.43),
        (1400, 11.42),
        (2113, 8.19),
        (3190, 5.21),
        (4815, 2.84),
        (7268, 1.23),
        (10971, 0.38),
        (16562, 0.06),
        (25000, 0.01),
    ];
    let series = Series::new(
        "llc_mean",
        measured.iter().map(|&(s, _)| s).collect(),
        measured.iter().map(|&(_, v)| v).collect(),
    );
    let detection = method(r#"{"call": "critical_points", "args": {"smoothing": 0.05}}"#)
        .detect(&series)
        .unwrap();
    let peak = detection.boundaries.iter().find(|b| b.interval == [270, 407]).expect("the peak");
    assert_eq!(peak.kind, "refinement");
    let after = detection.stages.iter().find(|s| s.start == 407).expect("a stage from 407");
    assert_eq!(after.kind, "refinement");
}

#[test]
fn essential_dynamics_finds_the_turn_of_a_trajectory() {
    // Outputs moving along one direction until step 1,000, then along another: the first
    // component's scores turn there.
    let steps = log_steps(40);
    let turn = 1_000f64.ln();
    let outputs: Vec<Vec<f64>> = steps
        .iter()
        .map(|&s| {
            let u = (s as f64).ln();
            let along = u.min(turn);
            let across = (u - turn).max(0.0);
            vec![along, 0.5 * along, -across, 2.0 * across]
        })
        .collect();
    let mut series = Series::new("outputs", steps.clone(), vec![0.0; steps.len()]);
    series.outputs = Some(outputs);
    let detection =
        method(r#"{"call": "essential_dynamics", "args": {"components": 2, "smoothing": 0.05}}"#)
            .detect(&series)
            .unwrap();
    assert!(!detection.boundaries.is_empty());
    let e = 1.0f64.exp();
    assert!(
        detection.boundaries.iter().all(|b| b.kind == "milestone"
            && (b.interval[1] as f64) >= 1_000.0 / e
            && (b.interval[0] as f64) <= 1_000.0 * e),
        "{:?}",
        detection.boundaries
    );
    let explained = detection.details["explained_variance"].as_array().unwrap();
    let total: f64 = explained.iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "two directions, two components: {total}");
}

#[test]
fn too_short_or_broken_series_are_refused_with_the_reason() {
    let short = Series::new("llc_mean", vec![1, 2], vec![1.0, 2.0]);
    let error = method(r#"{"call": "bocpd", "args": {}}"#).detect(&short).unwrap_err();
    assert_eq!(error, DetectError::TooShort { method: "bocpd", len: 2 });
    assert!(error.to_string().contains("at least 3 checkpoints"), "{error}");
    let broken = Series::new("llc_mean", vec![1, 2, 3], vec![1.0, f64::NAN, 2.0]);
    let error = method(r#"{"call": "bocpd", "args": {}}"#).detect(&broken).unwrap_err();
    assert!(matches!(error, DetectError::NotFinite { step: 2, .. }), "{error:?}");
    assert!(error.to_string().contains("not finite at step 2"), "{error}");
}

#[test]
fn critical_points_see_a_late_loss_drop_as_clearly_as_an_early_one() {
    // Two drops by a factor of 10 each, around steps 300 and 10,000: on a linear scale the
    // second is a hundredth of the first, on the log scale the loss is smoothed on, the same.
    let steps = log_steps(60);
    let values = steps
        .iter()
        .map(|&s| {
            let u = (s as f64).ln();
            let drops = sigmoid((u - 300f64.ln()) / 0.3) + sigmoid((u - 10_000f64.ln()) / 0.3);
            10f64.powf(-drops)
        })
        .collect();
    let series = Series::new("train_loss", steps, values);
    let detection = method(r#"{"call": "critical_points", "args": {"smoothing": 0.05}}"#)
        .detect(&series)
        .unwrap();
    let kinds: Vec<&str> = detection.boundaries.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["loss_drop", "plateau", "loss_drop", "plateau"],
        "{:?}",
        detection.boundaries
    );
}

/// An LLC that rises by 1.5 around step 1,500 and by a further 0.4 around step 9,000 (the
/// second transition a quarter the size of the first), then falls by 0.5 around step 40,000,
/// over 25 log-spaced checkpoints to 100,000, with noise of 0.01.
fn planted_transitions(seed: u64) -> Series {
    let mut noise = Noise::new(seed);
    let steps = log_steps(25);
    let values = steps
        .iter()
        .map(|&s| {
            let u = (s as f64).ln();
            0.2 + 1.5 * sigmoid((u - 1500f64.ln()) / 0.25)
                + 0.4 * sigmoid((u - 9000f64.ln()) / 0.25)
                - 0.5 * sigmoid((u - 40_000f64.ln()) / 0.25)
                + 0.01 * noise.normal()
        })
        .collect();
    Series::new("llc_mean", steps, values)
}

#[test]
fn transitions_are_marked_at_the_middle_of_each_planted_rise_and_fall() {
    for seed in [1, 2, 3] {
        let series = planted_transitions(seed);
        let detection = method(r#"{"call": "transitions", "args": {"smoothing": 0.03}}"#)
            .detect(&series)
            .unwrap();
        let kinds: Vec<&str> = detection.boundaries.iter().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, ["development", "development", "refinement"], "seed {seed}");
        // Each boundary's interval holds its planted midpoint, or is next to the one that does
        // (checkpoints are a factor 1.47 apart; the smoothing can shift a peak by one).
        for (boundary, centre) in detection.boundaries.iter().zip([1500.0, 9000.0, 40_000.0]) {
            let holding = series.steps.iter().position(|&s| s as f64 >= centre).unwrap();
            assert!(
                boundary.index.abs_diff(holding) <= 1,
                "seed {seed}: {boundary:?} for a transition at {centre}"
            );
        }
        // The strongest is the largest change (its strength is the largest over itself: 1).
        assert!((detection.boundaries[0].strength - 1.0).abs() < 1e-12);
        assert!(detection.boundaries[1].strength < 0.5, "{:?}", detection.boundaries);
    }
}

#[test]
fn the_stages_around_a_transition_are_not_named_by_its_halves() {
    // An accuracy flat at 0 until a rise to 1 around step 6,000 (as the grokking study's test
    // accuracy), over 25 log-spaced checkpoints a factor 1.47 apart: the checkpoints next to
    // the transition are part way up (0.3 and 0.7). Named by their endpoints, both stages read
    // "rising"; they are `between`, and the boundary says it rose.
    let steps = log_steps(25);
    let values = steps
        .iter()
        .map(|&s| 0.005 + 0.99 * sigmoid(((s as f64).ln() - 6000f64.ln()) / 0.2))
        .collect();
    let series = Series::new("test_accuracy", steps, values);
    let detection = method(r#"{"call": "transitions"}"#).detect(&series).unwrap();
    let kinds: Vec<&str> = detection.boundaries.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["rise"], "{:?}", detection.boundaries);
    let index = detection.boundaries[0].index;
    assert!(series.values[index - 1] > 0.1 && series.values[index] < 0.9, "{series:?}");
    let stages: Vec<&str> = detection.stages.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(stages, ["between", "between"], "{:?}", detection.stages);
}

#[test]
fn a_loss_drop_is_a_transition_and_ripples_of_noise_are_not() {
    // One drop by a factor of 4 around step 2,000; noise of 1% of the loss elsewhere.
    let mut noise = Noise::new(7);
    let steps = log_steps(25);
    let values = steps
        .iter()
        .map(|&s| {
            let drop = sigmoid(((s as f64).ln() - 2000f64.ln()) / 0.25);
            0.016 * 4f64.powf(-drop) * (1.0 + 0.01 * noise.normal())
        })
        .collect();
    let series = Series::new("train_loss", steps, values);
    let detection = method(r#"{"call": "transitions"}"#).detect(&series).unwrap();
    let kinds: Vec<&str> = detection.boundaries.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["loss_drop"], "{:?}", detection.boundaries);
    let [low, high] = detection.boundaries[0].interval;
    assert!(low <= 2000 * 3 / 2 && high >= 2000 * 2 / 3, "{low}-{high}");
}
