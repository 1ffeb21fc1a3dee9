//! Refuses, before a plan is made, what no machine could run: a plan of more than
//! [`MAX_INSTANCES`] instances, a training run of more than [`MAX_INSTANCES`] checkpoints, and an
//! instance whose memory estimate ([`super::memory_estimate`]) exceeds
//! [`ABSURD_BYTES`](super::memory_estimate::ABSURD_BYTES). Instances are counted from the
//! program, never made: a step's sweep points are the product of its axes (same-named axes
//! across `on` are joined, so counted once), times the checkpoints each point offers or
//! selects. A step's memory is estimated at its largest sweep point, each sweep taken at its
//! largest value (the sizes in a spec only grow a model or its data).

use std::collections::BTreeMap;

use devspec_protocol::{StepKind, params};

use crate::compile::value::{Value, ValueKind};
use crate::compile::{CheckedStep, Program};
use crate::diagnostic::Diagnostic;

use super::memory_estimate::{self, ABSURD_BYTES, format_bytes};
use super::planner::{Fan, Layout, inherit_model_and_data, step_order};

/// The most instances a plan may have, and the most checkpoints one training run may save.
pub const MAX_INSTANCES: f64 = 1_000_000.0;

/// What the planner would make of one step, counted.
struct StepCount {
    /// Axis name to its number of values, for this step and every step upstream of it.
    axes: BTreeMap<String, usize>,
    /// Checkpoints each sweep point offers to the estimates on it (a run's, or the files').
    offered: f64,
    instances: f64,
    /// Checkpoints its instances save, all together.
    saved: f64,
}

/// Every size problem of `program`, as diagnostics; empty when a plan can be made.
pub fn check(program: &Program) -> Vec<Diagnostic> {
    let (counts, mut errors) = count_steps(program);
    for step in &program.steps {
        if let Some(error) = absurd_memory(program, step, &largest_fields(step)) {
            errors.push(error);
        }
    }
    let instances: Vec<f64> =
        counts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.instances)).collect();
    let total: f64 = instances.iter().sum();
    if total > MAX_INSTANCES {
        errors.push(over_limit(
            program,
            &instances,
            &format!("this spec plans {} instances", whole(total)),
            "has",
            "sweep fewer values or measure fewer checkpoints; split a larger study into several \
             specs",
        ));
    }
    // Each checkpoint is a file in the store and an output the plan lists.
    let saved: Vec<f64> = counts.iter().map(|c| c.as_ref().map_or(0.0, |c| c.saved)).collect();
    let total: f64 = saved.iter().sum();
    if total > MAX_INSTANCES && errors.is_empty() {
        errors.push(over_limit(
            program,
            &saved,
            &format!("this spec saves {} checkpoints in all", whole(total)),
            "saves",
            "save fewer checkpoints per run, or sweep fewer runs",
        ));
    }
    errors
}

/// The error for a total over [`MAX_INSTANCES`], at the step contributing most to it
/// (`per_step`: each step's share; `verb`: what the label says that step does).
fn over_limit(
    program: &Program,
    per_step: &[f64],
    what: &str,
    verb: &str,
    hint: &str,
) -> Diagnostic {
    let (largest, share) = per_step
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a plan over the limit has steps");
    let step = &program.steps[largest];
    Diagnostic::error(
        step.origin.file,
        step.origin.span,
        format!("{what}; at most {} are allowed", whole(MAX_INSTANCES)),
    )
    .label(format!("`{}` alone {verb} {}", step.name, whole(share)))
    .with_hint(hint)
}

/// How many instances the planner would make of `program`, at most.
pub fn instance_count(program: &Program) -> f64 {
    count_steps(program).0.iter().flatten().map(|c| c.instances).sum()
}

/// Each step counted, in the program's order, and the errors met counting.
fn count_steps(program: &Program) -> (Vec<Option<StepCount>>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let mut counts: Vec<Option<StepCount>> = (0..program.steps.len()).map(|_| None).collect();
    for index in step_order(program) {
        let step = &program.steps[index];
        let inputs: Vec<&StepCount> =
            step.inputs.iter().filter_map(|&input| counts[input].as_ref()).collect();
        let count = count_step(step, &largest_fields(step), &inputs, &mut errors);
        counts[index] = Some(count);
    }
    (counts, errors)
}

/// The step's instances and what they offer, from its largest sweep point's fields.
fn count_step(
    step: &CheckedStep,
    fields: &BTreeMap<String, Value>,
    inputs: &[&StepCount],
    errors: &mut Vec<Diagnostic>,
) -> StepCount {
    let fan = match Layout::of(step) {
        Layout::Joined => {
            return StepCount { axes: BTreeMap::new(), offered: 0.0, instances: 1.0, saved: 0.0 };
        }
        Layout::Fanned(fan) => fan,
    };
    let mut axes: BTreeMap<String, usize> = BTreeMap::new();
    let own = step.axes.iter().map(|axis| (&axis.name, axis.values.len()));
    let inherited = inputs.iter().flat_map(|input| input.axes.iter().map(|(n, l)| (n, *l)));
    for (name, len) in inherited.chain(own) {
        // Same-named axes are matched, not multiplied: at most the shorter's values.
        let entry = axes.entry(name.clone()).or_insert(len);
        *entry = (*entry).min(len);
    }
    #[allow(clippy::cast_precision_loss)] // a count far below 2^53, or refused anyway
    let points: f64 = axes.values().map(|&len| len as f64).product();
    let (offered, instances) = match fan {
        Fan::Trains => {
            let saved = saved_checkpoints(fields);
            if saved > MAX_INSTANCES {
                let at = fields.get("checkpoints").map_or(step.origin, |v| v.origin);
                errors.push(
                    Diagnostic::error(
                        at.file,
                        at.span,
                        format!(
                            "`{}` saves {} checkpoints per run; at most {} are allowed",
                            step.name,
                            whole(saved),
                            whole(MAX_INSTANCES)
                        ),
                    )
                    .with_hint(
                        "save fewer: `logspace(1, steps, 100)` spaces a hundred evenly in log",
                    ),
                );
            }
            (saved, points)
        }
        Fan::Imports => {
            // One instance per file, each one checkpoint.
            let files = imported_files(fields);
            (files, points * files)
        }
        Fan::Measures => {
            let selected: f64 =
                inputs.iter().map(|input| selected(fields.get("at"), input.offered)).sum();
            (1.0, points * selected)
        }
        Fan::Reads => (0.0, points),
    };
    let saved = if matches!(fan, Fan::Trains) { offered * points } else { 0.0 };
    StepCount { axes, offered, instances, saved }
}

/// A training run's checkpoints: its schedule's points (at most), and the last step unless the
/// schedule ends there.
#[allow(clippy::cast_precision_loss)] // step counts, far below 2^53
fn saved_checkpoints(fields: &BTreeMap<String, Value>) -> f64 {
    let total = fields.get("steps").and_then(Value::as_int).unwrap_or(0);
    let Some(schedule) = fields.get("checkpoints").and_then(Value::typed) else { return 1.0 };
    let ends_at_total = match &schedule {
        params::Checkpoints::Steps(steps) => steps.contains(&total),
        params::Checkpoints::Schedule(params::Schedule::Every(every)) => {
            every.k > 0 && total % every.k == 0
        }
        params::Checkpoints::Schedule(
            params::Schedule::Logspace(spacing) | params::Schedule::Linspace(spacing),
        ) => spacing.stop == total,
    };
    schedule_points(&schedule, total as f64) + if ends_at_total { 0.0 } else { 1.0 }
}

/// How many steps a schedule names at most, without listing them.
#[allow(clippy::cast_precision_loss)] // step counts, far below 2^53
fn schedule_points(schedule: &params::Checkpoints, total: f64) -> f64 {
    match schedule {
        params::Checkpoints::Steps(steps) => steps.len() as f64,
        params::Checkpoints::Schedule(params::Schedule::Every(every)) => {
            (total / (every.k as f64).max(1.0)).floor()
        }
        params::Checkpoints::Schedule(
            params::Schedule::Logspace(spacing) | params::Schedule::Linspace(spacing),
        ) => (spacing.count as f64).min((spacing.stop - spacing.start + 1) as f64).max(1.0),
    }
}

/// The checkpoints an estimate's `at` selects out of `offered` per input instance.
#[allow(clippy::cast_precision_loss)] // step counts, far below 2^53
fn selected(at: Option<&Value>, offered: f64) -> f64 {
    match at.and_then(Value::typed) {
        Some(params::At::Schedule(params::Schedule::Every(every))) => {
            let k = (every.k as f64).max(1.0);
            ((offered / k).ceil() + 1.0).min(offered)
        }
        Some(params::At::Steps(steps)) => {
            schedule_points(&params::Checkpoints::Steps(steps), f64::INFINITY).min(offered)
        }
        Some(params::At::Schedule(schedule)) => {
            schedule_points(&params::Checkpoints::Schedule(schedule), f64::INFINITY).min(offered)
        }
        Some(params::At::Word(params::AtWord::All)) | None => offered,
    }
}

/// The files a checkpoint step's `files` pattern lists (1 for a checkpoint at `weights`).
fn imported_files(fields: &BTreeMap<String, Value>) -> f64 {
    let Some(ValueKind::File { path, .. }) = fields.get("files").map(|v| &v.kind) else {
        return 1.0;
    };
    let listed = glob::glob(&path.to_string_lossy())
        .map_or(0, |files| files.filter_map(Result::ok).filter(|f| f.is_file()).count());
    #[allow(clippy::cast_precision_loss)] // a count of files
    let count = listed.max(1) as f64;
    count
}

/// The refusal of a step whose largest instance needs more than any machine has.
fn absurd_memory(
    program: &Program,
    step: &CheckedStep,
    fields: &BTreeMap<String, Value>,
) -> Option<Diagnostic> {
    let mut params = fields.clone();
    if matches!(step.kind, StepKind::Estimate) {
        // The model and data come from the step it measures, as the planner copies them.
        let source = step.inputs.iter().map(|&input| largest_fields(&program.steps[input]));
        let largest = source
            .map(|source| {
                let mut inherited = params.clone();
                inherit_model_and_data(&mut inherited, &source);
                inherited
            })
            .max_by(|a, b| bytes(step, a).total_cmp(&bytes(step, b)));
        params = largest.unwrap_or(params);
    }
    let estimate = memory_estimate::of_instance(step.kind, &params)?;
    if estimate.bytes() <= ABSURD_BYTES {
        return None;
    }
    let mut diagnostic = Diagnostic::error(
        step.origin.file,
        step.origin.span,
        format!(
            "an instance of `{}` needs {}, more than the {} any machine has",
            step.name,
            estimate.describe(),
            format_bytes(ABSURD_BYTES)
        ),
    );
    // Pointed at what needs the most: the data, or else the model.
    let (field, label) = match estimate.largest_part() {
        Some("data") => ("data", "the data"),
        _ => ("model", "the model"),
    };
    if let Some(culprit) = params.get(field) {
        diagnostic = diagnostic.also_at(culprit.origin.file, culprit.origin.span, label);
    }
    Some(diagnostic.with_hint(
        "the estimate counts parameters, gradients, optimizer and sampler state, data and the \
         activations of the largest forward pass: look for a size with too many digits",
    ))
}

fn bytes(step: &CheckedStep, params: &BTreeMap<String, Value>) -> f64 {
    memory_estimate::of_instance(step.kind, params).map_or(0.0, |e| e.bytes())
}

/// The step's fields with each sweep at its largest value: the one whose numbers add up to
/// the most (a sweep of sizes at its largest size, of models at the largest model).
fn largest_fields(step: &CheckedStep) -> BTreeMap<String, Value> {
    super::planner::fields_choosing(step, |axis| {
        axis.values
            .iter()
            .max_by(|a, b| magnitude(a).total_cmp(&magnitude(b)))
            .cloned()
            .expect("a sweep has values")
    })
}

/// The sum of the absolute values of the numbers in a value.
fn magnitude(value: &Value) -> f64 {
    match &value.kind {
        ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
            items.iter().map(magnitude).sum()
        }
        ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
            fields.values().map(magnitude).sum()
        }
        _ => value.as_f64().map_or(0.0, f64::abs),
    }
}

/// A count with thousands separated: `1,000,000`.
fn whole(count: f64) -> String {
    if count >= 1e15 {
        return format!("{count:.1e}");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // below 1e15, positive
    let digits = (count.round() as u64).to_string();
    let mut text = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(spec: &str) -> Vec<String> {
        check(&super::super::checked(spec)).into_iter().map(|d| d.message).collect()
    }

    const TRAIN: &str = "train t { model = tms.model(features = 5, hidden = 2), \
        data = tms.data(features = 5, sparsity = 0.9, samples = 100), \
        optimizer = sgd(lr = 0.1), batch_size = 10, steps = 100, seed = sweep(0..1000), \
        checkpoints = every(10) }\n";

    #[test]
    fn instances_are_counted_without_planning() {
        // 1,000 runs of 10 checkpoints, one estimate per checkpoint, a detection per run and
        // a report: 1,000 + 10,000 + 1,000 + 1.
        let spec = format!(
            "{TRAIN}estimate e on t {{ observable = loss() }}\ndetect d on e {{ method = \
             critical_points() }}\nreport r on d {{}}\n"
        );
        assert!(messages(&spec).is_empty());
        let program = super::super::checked(&spec);
        assert_eq!(super::super::plan(&program).unwrap().graph.node_count(), 12_001);
        // Ten times the seeds and every step a checkpoint: 10,000 x 101 estimates.
        let spec = spec.replace("0..1000", "0..10000").replace("every(10)", "every(1)");
        assert_eq!(
            messages(&spec),
            ["this spec plans 1,020,001 instances; at most 1,000,000 are allowed"]
        );
    }

    #[test]
    fn same_named_axes_join_and_schedules_are_not_listed() {
        // The estimate's own seed axis joins the train's: 1,000 points, not 1,000,000.
        let spec = format!(
            "{TRAIN}estimate e on t {{ observable = loss(), seed = sweep(0..1000), at = [100] }}\n"
        );
        assert!(messages(&spec).is_empty(), "{:?}", messages(&spec));
        let spec =
            TRAIN.replace("steps = 100", "steps = 100000000000").replace("every(10)", "every(1)");
        assert_eq!(
            messages(&spec),
            ["`t` saves 100,000,000,000 checkpoints per run; at most 1,000,000 are allowed"]
        );
    }

    #[test]
    fn checkpoints_are_counted_over_all_runs() {
        // 1,000 runs of 10,000 checkpoints each: ten million files, with no estimate on them.
        let spec = TRAIN.replace("steps = 100", "steps = 10000");
        let spec = spec.replace("every(10)", "every(1)");
        assert_eq!(
            messages(&spec),
            ["this spec saves 10,000,000 checkpoints in all; at most 1,000,000 are allowed"]
        );
    }

    #[test]
    fn an_absurd_model_is_refused_with_its_estimate() {
        // Issue 19's typo, at the largest of a sweep; 1024 samples a batch, each keeping the
        // hidden layer's 1e10 numbers.
        let spec = TRAIN
            .replace("hidden = 2", "hidden = sweep([2, 10000000000])")
            .replace("batch_size = 10", "batch_size = 1024");
        let found = messages(&spec);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("an instance of `t` needs about 37.6 TiB of memory"),
            "{found:?}"
        );
    }
}

#[cfg(test)]
mod join_tests {

    /// Points are joined by index: each `c` reads the `a` and the `b` of its own point only. (The
    /// planner once scanned every input point for each, 50,000 x 50,000 comparisons here:
    /// minutes; joined by index it plans these 150,000 instances in about a second.)
    #[test]
    fn a_large_plan_joins_each_point_with_its_own_inputs() {
        let spec = "test a { value = sweep(0..50000) }\ntest b on a { tag = 1 }\n\
                    test c on a, b { tag = 2 }\n";
        let plan = super::super::plan(&super::super::checked(spec)).unwrap();
        assert_eq!(plan.graph.node_count(), 150_000);
        // Each `c` reads the `a` and the `b` of its own point, and nothing else.
        assert_eq!(plan.graph.edge_count(), 50_000 + 2 * 50_000);
    }
}

#[cfg(test)]
mod shipped_tests {
    use std::path::Path;

    use crate::source::SourceMap;

    /// The count `check` makes without planning bounds the plan, closely, for every shipped
    /// spec: `logspace` merges the steps rounding makes equal at its low end, which only
    /// listing them would tell (150 points to 1..500,000 are 134 steps).
    #[test]
    fn counts_match_the_plans_of_the_shipped_specs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for folder in ["specs", "specs/gpu", "docs/examples"] {
            for entry in std::fs::read_dir(root.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|ext| ext != "dev") {
                    continue;
                }
                let mut sources = SourceMap::new();
                let program = crate::compile::check_path(&path, &[], &mut sources).unwrap();
                let planned = super::super::plan(&program).unwrap().graph.node_count();
                #[allow(clippy::cast_precision_loss)] // small counts
                let planned = planned as f64;
                let counted = super::instance_count(&program);
                assert!(
                    counted >= planned && counted <= 1.15 * planned,
                    "{}: counted {counted}, planned {planned}",
                    path.display()
                );
            }
        }
    }
}
