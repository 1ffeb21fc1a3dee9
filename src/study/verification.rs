//! Comparing a recomputed instance with its locked entry: byte for byte where the key's machine
//! parts are the same (the design promises identical bytes there), statistically otherwise.
//!
//! Statistically: two LLC estimates agree when their means differ by at most 3 combined
//! standard errors (`|a - b| <= 3 sqrt(se_a² + se_b²)`: two independent estimates of one
//! quantity differ by more than that about 0.3% of the time), and final losses when they differ
//! by at most 2% relative (a different reduction order moves a loss by far less; a different
//! training trajectory usually by more). Results without one of these numbers (detections,
//! reports, checkpoints, other observables) are shown, not judged.
//!
//! Whatever the mode, the lock's numbers must be the very numbers its outputs hold: where the
//! recomputed digests are the locked ones, every number must be identical too, or the lock was
//! edited. And the lock is compared with this store's entry of each key, when it has one: its
//! digests and numbers must be the lock's exactly (a lock rewritten by hand, or a store entry
//! changed since the lock was written, differ). A forgery consistent in blob, manifest and lock
//! passes both of those; only the recomputation catches it, which is what `verify` is for.

use std::collections::BTreeMap;

use serde::Serialize;

use super::lock::{Headline, LockedInstance, MACHINE_PARTS};

/// How many combined standard errors two LLC means may differ by.
pub const LLC_SIGMAS: f64 = 3.0;
/// How far two final losses may differ, relative to the locked one.
pub const LOSS_RELATIVE: f64 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Same machine parts: the output digests must be equal.
    Exact,
    /// Different machine parts: the numbers must agree within tolerance.
    Statistical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Agree,
    Differ,
    /// Statistical mode, and nothing with a tolerance to compare.
    NotJudged,
}

/// One compared number (or digest): its locked and recomputed values as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub quantity: String,
    pub locked: String,
    pub recomputed: String,
    /// This store's value, when it has an entry of the locked key (empty otherwise).
    pub stored: String,
    pub verdict: Verdict,
    /// Why it agrees or not: `0.4 combined SE`, `1.3% relative`, `digest`.
    pub measure: String,
    /// The two numbers are the same, bit for bit.
    #[serde(skip)]
    pub identical: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub instance: String,
    pub mode: Mode,
    /// The machine parts that differ (statistical mode): `cpu_capability: AVX2 -> AVX512`.
    pub differing_parts: Vec<String>,
    pub verdict: Verdict,
    pub lines: Vec<Line>,
}

/// This store's entry of a locked key.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// The store has no entry of the key (results computed elsewhere, or collected).
    Absent,
    /// Its output digests and headline numbers.
    Entry { outputs: BTreeMap<String, String>, results: Headline },
    /// Its entry is damaged: what and why.
    Damaged(String),
}

/// Compares a recomputed instance, and this store's entry of its key, with its locked entry.
pub fn compare(
    locked: &LockedInstance,
    recomputed: &LockedInstance,
    stored: &Stored,
) -> Comparison {
    let differing_parts: Vec<String> = MACHINE_PARTS
        .iter()
        .filter(|part| locked.environment.get(**part) != recomputed.environment.get(**part))
        .map(|part| {
            let text = |e: &LockedInstance| e.environment.get(*part).cloned().unwrap_or_default();
            format!("{part}: {} -> {}", text(locked), text(recomputed))
        })
        .collect();
    // On CUDA a batched member may differ from its solo run in the last bits (cuBLAS picks
    // kernels by shape, the batch count included), and the key does not record the grouping:
    // CUDA results are promised to reproduce statistically, never byte for byte (docs/store.md).
    let on_cuda = |e: &LockedInstance| e.environment.get("device").is_some_and(|d| d == "cuda");
    let mode = if differing_parts.is_empty() && !on_cuda(locked) && !on_cuda(recomputed) {
        Mode::Exact
    } else {
        Mode::Statistical
    };
    let mut lines = Vec::new();
    let mut numbers = numeric_lines(&locked.results, &recomputed.results);
    let mut verdict = match mode {
        Mode::Exact => {
            let same = locked.outputs == recomputed.outputs;
            let changed: Vec<&String> = locked
                .outputs
                .iter()
                .filter(|(name, digest)| recomputed.outputs.get(*name) != Some(*digest))
                .map(|(name, _)| name)
                .chain(recomputed.outputs.keys().filter(|n| !locked.outputs.contains_key(*n)))
                .collect();
            lines.push(Line {
                quantity: "outputs".into(),
                locked: format!("{} digest(s)", locked.outputs.len()),
                recomputed: format!("{} digest(s)", recomputed.outputs.len()),
                stored: String::new(),
                identical: same,
                verdict: if same { Verdict::Agree } else { Verdict::Differ },
                measure: if same {
                    "identical bytes".into()
                } else {
                    format!("differ: {}", shorten(&changed))
                },
            });
            // The same bytes hold the same numbers: a locked number that is not the
            // recomputed one, bit for bit, was edited. With other bytes, the digests decide
            // and the numbers show what changed.
            let mut edited = false;
            for line in &mut numbers {
                line.verdict = match (same, line.identical) {
                    (true, true) => Verdict::Agree,
                    (true, false) => {
                        edited = true;
                        line.measure = "the same bytes, another number: the lock was edited".into();
                        Verdict::Differ
                    }
                    (false, _) => Verdict::NotJudged,
                };
            }
            lines.append(&mut numbers);
            if same && !edited { Verdict::Agree } else { Verdict::Differ }
        }
        Mode::Statistical => {
            let judged: Vec<Verdict> =
                numbers.iter().map(|l| l.verdict).filter(|v| *v != Verdict::NotJudged).collect();
            lines.extend(numbers);
            if judged.is_empty() {
                Verdict::NotJudged
            } else if judged.contains(&Verdict::Differ) {
                Verdict::Differ
            } else {
                Verdict::Agree
            }
        }
    };
    if !against_store(locked, stored, &mut lines) {
        verdict = Verdict::Differ;
    }
    Comparison { instance: locked.name.clone(), mode, differing_parts, verdict, lines }
}

/// Fills in the store's values beside the lock's (and a line for its outputs); whether the
/// store agrees with the lock exactly (or has no entry).
fn against_store(locked: &LockedInstance, stored: &Stored, lines: &mut Vec<Line>) -> bool {
    let (outputs, results) = match stored {
        Stored::Absent => return true,
        Stored::Damaged(what) => {
            lines.push(Line {
                quantity: "store".into(),
                locked: String::new(),
                recomputed: String::new(),
                stored: "damaged".into(),
                identical: false,
                verdict: Verdict::Differ,
                measure: what.clone(),
            });
            return false;
        }
        Stored::Entry { outputs, results } => (outputs, results),
    };
    let mut agrees = true;
    // The store's numbers beside the lock's, formatted alike, compared bit for bit.
    let against = numeric_lines(&locked.results, results);
    for line in lines.iter_mut() {
        let Some(stored) = against.iter().find(|s| s.quantity == line.quantity) else { continue };
        line.stored.clone_from(&stored.recomputed);
        if !stored.identical {
            agrees = false;
            let note = format!("the store has {}: the lock does not match it", stored.recomputed);
            line.measure = if line.verdict == Verdict::Differ {
                format!("{}; {note}", line.measure)
            } else {
                note
            };
            line.verdict = Verdict::Differ;
        }
    }
    let same_outputs = *outputs == locked.outputs;
    if let Some(line) = lines.iter_mut().find(|l| l.quantity == "outputs") {
        line.stored = format!("{} digest(s)", outputs.len());
        if !same_outputs {
            line.verdict = Verdict::Differ;
            line.measure = "the store's digests are not the lock's".into();
        }
    } else if !same_outputs {
        lines.push(Line {
            quantity: "outputs".into(),
            locked: format!("{} digest(s)", locked.outputs.len()),
            recomputed: String::new(),
            stored: format!("{} digest(s)", outputs.len()),
            identical: false,
            verdict: Verdict::Differ,
            measure: "the store's digests are not the lock's".into(),
        });
    }
    agrees && same_outputs
}

fn shorten(names: &[&String]) -> String {
    let shown: Vec<&str> = names.iter().take(3).map(|s| s.as_str()).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

/// The headline numbers side by side, judged by the statistical tolerances (in exact mode
/// [`compare`] replaces these verdicts: the numbers must be identical).
fn numeric_lines(locked: &Headline, recomputed: &Headline) -> Vec<Line> {
    let mut lines = Vec::new();
    if let (Some(a), Some(b)) = (locked.llc_mean, recomputed.llc_mean) {
        let (se_a, se_b) = (locked.llc_se.unwrap_or(0.0), recomputed.llc_se.unwrap_or(0.0));
        let combined = se_a.hypot(se_b);
        let sigmas = if combined > 0.0 {
            (a - b).abs() / combined
        } else if a.to_bits() == b.to_bits() {
            0.0
        } else {
            f64::INFINITY
        };
        let identical = a.to_bits() == b.to_bits()
            && locked.llc_se.map(f64::to_bits) == recomputed.llc_se.map(f64::to_bits);
        lines.push(Line {
            quantity: "llc".into(),
            locked: format!("{a:.4} ± {se_a:.4}"),
            recomputed: format!("{b:.4} ± {se_b:.4}"),
            stored: String::new(),
            identical,
            verdict: within(sigmas <= LLC_SIGMAS),
            measure: format!("{sigmas:.2} combined SE (tolerance {LLC_SIGMAS})"),
        });
    }
    for (name, a, b) in [
        ("final_train_loss", locked.final_train_loss, recomputed.final_train_loss),
        ("final_test_loss", locked.final_test_loss, recomputed.final_test_loss),
    ] {
        let (Some(a), Some(b)) = (a, b) else { continue };
        let relative = if a.to_bits() == b.to_bits() {
            0.0
        } else {
            (a - b).abs() / a.abs().max(f64::MIN_POSITIVE)
        };
        lines.push(Line {
            quantity: name.into(),
            locked: format!("{a:.6}"),
            recomputed: format!("{b:.6}"),
            stored: String::new(),
            identical: a.to_bits() == b.to_bits(),
            verdict: within(relative <= LOSS_RELATIVE),
            measure: format!(
                "{:.2}% relative (tolerance {}%)",
                relative * 100.0,
                LOSS_RELATIVE * 100.0
            ),
        });
    }
    if locked.boundaries.is_some() || recomputed.boundaries.is_some() {
        let text = |b: &Option<Vec<String>>| {
            let b = b.clone().unwrap_or_default();
            if b.is_empty() { "none".to_owned() } else { b.join(", ") }
        };
        let same = locked.boundaries == recomputed.boundaries;
        lines.push(Line {
            quantity: "boundaries".into(),
            locked: text(&locked.boundaries),
            recomputed: text(&recomputed.boundaries),
            stored: String::new(),
            identical: same,
            verdict: Verdict::NotJudged,
            measure: if same { "same".into() } else { "changed".into() },
        });
    }
    for (name, a) in &locked.numbers {
        let Some(b) = recomputed.numbers.get(name) else { continue };
        lines.push(Line {
            quantity: name.clone(),
            locked: format!("{a:.6}"),
            recomputed: format!("{b:.6}"),
            stored: String::new(),
            identical: a.to_bits() == b.to_bits(),
            verdict: Verdict::NotJudged,
            measure: if a.to_bits() == b.to_bits() {
                "same".into()
            } else {
                format!("{:+.6}", b - a)
            },
        });
    }
    lines
}

fn within(tolerance_holds: bool) -> Verdict {
    if tolerance_holds { Verdict::Agree } else { Verdict::Differ }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::study::lock::ProducedBy;

    fn instance(capability: &str, llc: (f64, f64), loss: f64, digest: &str) -> LockedInstance {
        LockedInstance {
            name: "llc[seed=0]@100".into(),
            step: "llc".into(),
            kind: devspec_protocol::StepKind::Estimate,
            key: "k".into(),
            params: BTreeMap::new(),
            outputs: BTreeMap::from([("result".to_owned(), digest.to_owned())]),
            results: Headline {
                llc_mean: Some(llc.0),
                llc_se: Some(llc.1),
                final_train_loss: Some(loss),
                ..Headline::default()
            },
            environment: BTreeMap::from([("cpu_capability".to_owned(), capability.to_owned())]),
            produced_by: ProducedBy { devspec: "0".into(), commit: String::new() },
        }
    }

    #[test]
    fn cuda_results_are_compared_statistically_even_on_the_same_machine_parts() {
        let mut a = instance("AVX2", (10.0, 1.0), 1.0, "d1");
        a.environment.insert("device".into(), "cuda".into());
        let mut b = instance("AVX2", (10.5, 1.0), 1.0, "d2");
        b.environment.insert("device".into(), "cuda".into());
        let c = compare(&a, &b, &Stored::Absent);
        // Other bytes, and 0.35 combined SE apart: they agree.
        assert_eq!((c.mode, c.verdict), (Mode::Statistical, Verdict::Agree), "{c:?}");
        let far = instance("AVX2", (20.0, 1.0), 1.0, "d2");
        let mut far = far;
        far.environment.insert("device".into(), "cuda".into());
        assert_eq!(compare(&a, &far, &Stored::Absent).verdict, Verdict::Differ);
    }

    #[test]
    fn same_machine_parts_compare_digests() {
        let a = instance("AVX2", (10.0, 1.0), 1.0, "d1");
        assert_eq!(compare(&a, &a, &Stored::Absent).verdict, Verdict::Agree);
        assert_eq!(compare(&a, &a, &Stored::Absent).mode, Mode::Exact);
        // Numbers within every tolerance do not save a changed digest.
        let b = instance("AVX2", (10.0001, 1.0), 1.0, "d2");
        let c = compare(&a, &b, &Stored::Absent);
        assert_eq!((c.mode, c.verdict), (Mode::Exact, Verdict::Differ));
        assert!(c.lines[0].measure.contains("result"), "{:?}", c.lines[0]);
    }

    #[test]
    fn other_machine_parts_compare_within_tolerance() {
        let a = instance("AVX2", (10.0, 0.3), 1.0, "d1");
        // 10 vs 11 with SEs 0.3 and 0.4: combined SE 0.5, so 2 SEs apart: agree.
        let close = compare(&a, &instance("AVX512", (11.0, 0.4), 1.019, "d2"), &Stored::Absent);
        assert_eq!((close.mode, close.verdict), (Mode::Statistical, Verdict::Agree));
        assert_eq!(close.differing_parts, ["cpu_capability: AVX2 -> AVX512"]);
        assert!(close.lines[0].measure.starts_with("2.00 combined SE"), "{:?}", close.lines[0]);
        // 10 vs 11.6: 3.2 combined SEs apart: differ.
        let far = compare(&a, &instance("AVX512", (11.6, 0.4), 1.0, "d2"), &Stored::Absent);
        assert_eq!(far.verdict, Verdict::Differ);
        assert_eq!(far.lines[0].verdict, Verdict::Differ);
        // A loss 2.1% off differs, though the LLC agrees.
        let loss = compare(&a, &instance("AVX512", (10.0, 0.3), 1.021, "d2"), &Stored::Absent);
        assert_eq!(loss.verdict, Verdict::Differ);
        assert_eq!(loss.lines[1].quantity, "final_train_loss");
        assert_eq!(loss.lines[1].verdict, Verdict::Differ);
    }

    #[test]
    fn an_edited_number_differs_though_the_bytes_agree_and_the_store_is_compared_too() {
        let truth = instance("AVX2", (0.129, 0.01), 1.0, "d1");
        let mut edited = truth.clone();
        edited.results.llc_mean = Some(0.929);
        // The lock says 0.929; recomputing gives the same bytes and 0.129.
        let c = compare(&edited, &truth, &Stored::Absent);
        assert_eq!((c.mode, c.verdict), (Mode::Exact, Verdict::Differ));
        let llc = c.lines.iter().find(|l| l.quantity == "llc").unwrap();
        assert_eq!(llc.verdict, Verdict::Differ);
        assert!(llc.locked.starts_with("0.9290") && llc.recomputed.starts_with("0.1290"));
        // The store holds the truth: it differs from the lock too, and says so.
        let stored =
            Stored::Entry { outputs: truth.outputs.clone(), results: truth.results.clone() };
        let c = compare(&edited, &truth, &stored);
        let llc = c.lines.iter().find(|l| l.quantity == "llc").unwrap();
        assert!(llc.stored.starts_with("0.1290") && llc.measure.contains("store"), "{llc:?}");
        // An honest lock agrees with both; a damaged store entry is a difference.
        assert_eq!(compare(&truth, &truth, &stored).verdict, Verdict::Agree);
        let damaged = Stored::Damaged("the result of llc is damaged".into());
        assert_eq!(compare(&truth, &truth, &damaged).verdict, Verdict::Differ);
    }
}
