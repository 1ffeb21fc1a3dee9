//! The forecast on a small plan with rates written by hand (so its numbers are exact and the
//! text is a stable snapshot): what is cached costs nothing, two workers beat one without
//! beating the longest chain of the plan, siblings share a request's fixed part.

use std::collections::BTreeMap;

use super::render::{Provenance, render_json, render_text};
use super::{Cost, Family, InstanceForecast, Phase, RATES_VERSION, Rates, cost_name, forecast};
use crate::plan::{Plan, plan};

const SPEC: &str = "\
train run { model = tms.model(features = 6, hidden = 2), \
  data = tms.data(features = 6, sparsity = 0.9, samples = 1000), optimizer = sgd(lr = 0.1), \
  batch_size = 100, steps = 1000, seed = sweep(0..2), checkpoints = [10, 100, 1000] }
estimate llc on run { observable = llc(sampler = sgld(lr = 1e-3, localization = 10), chains = 2, draws = 100) }
detect stages on llc { method = critical_points(smoothing = 0.1) }
report summary on run, llc, stages { title = \"t\" }
";

/// A millisecond per step, nothing per FLOP: a step of training or sampling costs 1 ms; a
/// request 0.1 s; siblings after the first add half their part.
fn rates() -> Rates {
    let cost = Cost {
        fixed: 0.1,
        per_step: 1e-3,
        per_flop: 0.0,
        per_value: 0.0,
        per_fresh: 0.0,
        marginal: 0.5,
    };
    let models: BTreeMap<String, Cost> = [Phase::Train, Phase::Sample, Phase::Measure]
        .into_iter()
        .map(|phase| (cost_name(phase, Family::Tms), cost))
        .collect();
    Rates {
        version: RATES_VERSION,
        device: "cpu".into(),
        device_name: "a test CPU".into(),
        threads_per_step: "1".into(),
        jobs: 2,
        contention: 1.0,
        models,
        detect: 0.01,
        report: 0.02,
        overhead: 0.5,
        probe: 0.02,
        measured_in: 10.0,
        measured_at: 0.0,
    }
}

fn planned() -> Plan {
    plan(&crate::plan::checked(SPEC)).expect("plans")
}

fn source() -> Provenance {
    Provenance { fresh: false, path: "STORE/costs/RATES.json".into(), load: 1.0 }
}

#[test]
fn the_text_names_each_step_its_seconds_and_the_scheduled_total() {
    let plan = planned();
    let nothing_cached = vec![false; plan.graph.node_count()];
    let one = forecast(&plan, &rates(), &nothing_cached, 1, 16);
    let two = forecast(&plan, &rates(), &nothing_cached, 2, 16);
    insta::assert_snapshot!("one_job", render_text(&plan, &one, &rates(), &source()));
    insta::assert_snapshot!("two_jobs", render_text(&plan, &two, &rates(), &source()));
    // Two seeds of 1,000 steps as one request: 0.1 + 1.0 + 0.5 x 1.0 s.
    let train = plan.instances().position(|i| i.step_name == "run").unwrap();
    let InstanceForecast::Seconds { slot, .. } = &two.instances[plan.order[train].index()] else {
        panic!("the training run is priced");
    };
    assert!((slot.request - 1.6).abs() < 1e-9, "{slot:?}");
    let (t1, t2) = (one.total.unwrap(), two.total.unwrap());
    assert!(t2 < t1, "two workers are faster: {t2} against {t1}");
    // Nothing can end before the training, which every estimate's last checkpoint waits for.
    assert!(t2 >= 1.6, "{t2}");
}

#[test]
fn what_is_cached_costs_nothing() {
    let plan = planned();
    let all_cached = vec![true; plan.graph.node_count()];
    let cached = forecast(&plan, &rates(), &all_cached, 2, 16);
    assert_eq!(cached.total, Some(0.0));
    let text = render_text(&plan, &cached, &rates(), &source());
    for line in text.lines().skip(1).take(4) {
        assert!(line.ends_with("cached"), "{line}\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&plan, &cached, &rates(), &source())).unwrap();
    // The run's own overhead (planning, a worker's start, the reports) remains.
    assert_eq!(json["total_seconds"], 0.5);
}

#[test]
fn two_requests_of_one_step_that_start_and_end_together_both_count() {
    // Four seeds in groups of two on two workers: two requests alike in every number, side by
    // side. The step costs both (twice what two seeds in one request cost), not one.
    let seeds = |n: usize| {
        let spec = SPEC.replace("seed = sweep(0..2)", &format!("seed = sweep(0..{n})"));
        plan(&crate::plan::checked(&spec)).expect("plans")
    };
    let train_seconds = |plan: &Plan| {
        let nothing_cached = vec![false; plan.graph.node_count()];
        let forecast = forecast(plan, &rates(), &nothing_cached, 2, 2);
        let json: serde_json::Value =
            serde_json::from_str(&render_json(plan, &forecast, &rates(), &source())).unwrap();
        json["steps"][0]["seconds"].as_f64().expect("the train step has seconds")
    };
    let (two, four) = (train_seconds(&seeds(2)), train_seconds(&seeds(4)));
    assert!(two > 0.0);
    // Sums of the same few seconds in another order: equal to rounding.
    assert!((four - 2.0 * two).abs() <= 1e-9 * four, "two seeds: {two} s, four: {four} s");
}

#[test]
fn requests_side_by_side_go_at_the_measured_contention_and_alone_at_full_speed() {
    // Two trainings of 1.1 s and 2.1 s alone (0.1 s fixed, 1 ms a step), on two workers that
    // each go 1.5x slower while both are busy: the first ends at 1.1 x 1.5 = 1.65 s, when the
    // second has done 1.1 s of its 2.1; its last 1.0 s goes alone, ending at 2.65 s.
    let spec = "\
train short { model = tms.model(features = 6, hidden = 2), \
  data = tms.data(features = 6, sparsity = 0.9, samples = 1000), optimizer = sgd(lr = 0.1), \
  batch_size = 100, steps = 1000, seed = 0, checkpoints = [1000] }
train long { model = tms.model(features = 6, hidden = 2), \
  data = tms.data(features = 6, sparsity = 0.9, samples = 1000), optimizer = sgd(lr = 0.1), \
  batch_size = 100, steps = 2000, seed = 0, checkpoints = [2000] }
";
    let plan = plan(&crate::plan::checked(spec)).expect("plans");
    let nothing_cached = vec![false; plan.graph.node_count()];
    let mut contended = rates();
    contended.contention = 1.5;
    let ends = |forecast: &super::Forecast| -> Vec<f64> {
        plan.order
            .iter()
            .map(|node| match &forecast.instances[node.index()] {
                InstanceForecast::Seconds { slot, .. } => slot.end,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let two = forecast(&plan, &contended, &nothing_cached, 2, 16);
    let [short, long] = ends(&two)[..] else { panic!("two instances") };
    // Sums and products of a few decimal fractions: equal to rounding.
    assert!((short - 1.65).abs() < 1e-9, "{short}");
    assert!((long - 2.65).abs() < 1e-9, "{long}");
    assert!((two.total.unwrap() - 2.65).abs() < 1e-9);
    // One worker: no contention, one after the other.
    let one = forecast(&plan, &contended, &nothing_cached, 1, 16);
    assert!((one.total.unwrap() - 3.2).abs() < 1e-9, "{:?}", one.total);
    // Without contention, two workers take the longer one's time.
    let free = forecast(&plan, &rates(), &nothing_cached, 2, 16);
    assert!((free.total.unwrap() - 2.1).abs() < 1e-9, "{:?}", free.total);
}

/// A training pays a forward pass over the data its loss is recorded on at each recorded step:
/// every step up to 200, then 100 per decade, with the checkpoints, not once per step (a short
/// run records at every step, a long one far less often) nor once per checkpoint.
#[test]
fn a_training_prices_a_forward_pass_at_each_recorded_step() {
    let flops = |steps: u64| {
        let spec = SPEC
            .replace("steps = 1000", &format!("steps = {steps}"))
            .replace("checkpoints = [10, 100, 1000]", &format!("checkpoints = [10, {steps}]"));
        let plan = plan(&crate::plan::checked(&spec)).expect("plans");
        let run = plan.order.iter().map(|&node| &plan.graph[node]).next().expect("the run");
        super::work::of_instance(run).expect("counted").flops
    };
    // The toy model 6 -> 2: 4 x 2 x 6 + 2 x 6 = 60 FLOPs a sample forward, 3x that a step's
    // sample; batch 100, the pool of 1,000 recorded.
    let expected = |steps: f64, recordings: f64| steps * 100.0 * 60.0 * 3.0 + recordings * 60_000.0;
    // 100 steps: steps 0 to 100 recorded (the checkpoints 10 and 100 among them).
    // Sums of products of whole numbers below 2^53: exact, compared to rounding anyway.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b;
    assert!(close(flops(100), expected(100.0, 101.0)), "{}", flops(100));
    // 1,000 steps: 0 to 200, 69 log-spaced steps after 200 (10^2.31 ... 980) and the last,
    // the checkpoints among them.
    let recorded = devspec_protocol::results::train::record_steps(1000, &[10, 1000].into());
    assert_eq!(recorded.len(), 271);
    assert!(close(flops(1000), expected(1000.0, 271.0)), "{}", flops(1000));
}
