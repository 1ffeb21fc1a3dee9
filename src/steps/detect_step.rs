//! The `detect` step: the series it is asked for, gathered over one sweep point's checkpoints
//! (the estimates' results, or a training run's loss series at its checkpoints), searched by
//! its method. Its result is the [`Detection`](crate::detect::Detection) as JSON; its metrics
//! count the boundaries and list them for `devspec show`.

use devspec_protocol::StepKind;
use devspec_protocol::results::{Estimate, EstimateResult, Observed, Reading, TrainResult};
use serde_json::Value;

use super::{Input, Produced, StepError, read_result};
use crate::detect::{Method, Series};
use crate::store::Store;

pub fn compute(
    params: &serde_json::Map<String, Value>,
    inputs: &[Input],
    store: &Store,
) -> Result<Produced, StepError> {
    let method = params
        .get("method")
        .ok_or_else(|| StepError::Inputs("a detect step needs a `method`".into()))?;
    let method = Method::parse(method)?;
    let wanted = params.get("series").and_then(Value::as_str);
    let series = gather(inputs, wanted, store)?;
    let detection = method.detect(&series)?;
    let result = serde_json::to_vec(&detection)?;
    Ok(Produced { result, metrics: detection.metrics() })
}

/// The series over the checkpoints of the inputs: estimates (one per checkpoint) or one
/// training run.
fn gather(inputs: &[Input], wanted: Option<&str>, store: &Store) -> Result<Series, StepError> {
    let first =
        inputs.first().ok_or_else(|| StepError::Inputs("the detect step has no inputs".into()))?;
    match first.kind {
        StepKind::Train if inputs.len() == 1 => {
            from_train(first, wanted.unwrap_or("train_loss"), store)
        }
        StepKind::Estimate if inputs.iter().all(|i| matches!(i.kind, StepKind::Estimate)) => {
            from_estimates(inputs, wanted, store)
        }
        StepKind::Train
        | StepKind::Estimate
        | StepKind::Checkpoint
        | StepKind::Detect
        | StepKind::Report
        | StepKind::Test => Err(StepError::Inputs(
            "a detect step reads the estimates of one sweep point, or one training run".into(),
        )),
    }
}

fn from_train(input: &Input, name: &str, store: &Store) -> Result<Series, StepError> {
    let result: TrainResult = read_result(store, input)?;
    let values = result.series.named(name).ok_or_else(|| {
        StepError::Inputs(format!(
            "a training run records `train_loss` and `test_loss`, not `{name}`"
        ))
    })?;
    let mut checkpoints: Vec<i64> = input
        .outputs
        .keys()
        .filter_map(|name| name.strip_prefix("checkpoint@")?.parse().ok())
        .collect();
    checkpoints.sort_unstable();
    let mut picked = Series::new(name, Vec::new(), Vec::new());
    for step in checkpoints {
        if let Some(i) = result.series.steps.iter().position(|&s| i64::try_from(s) == Ok(step)) {
            picked.steps.push(step);
            picked.values.push(values.get(i).copied().unwrap_or(f64::NAN));
        }
    }
    if picked.values.is_empty() {
        return Err(StepError::Inputs(format!(
            "the training run recorded no `{name}` at its checkpoints"
        )));
    }
    Ok(picked)
}

fn from_estimates(
    inputs: &[Input],
    wanted: Option<&str>,
    store: &Store,
) -> Result<Series, StepError> {
    let mut rows: Vec<(i64, Observed)> = inputs
        .iter()
        .map(|input| {
            let result: EstimateResult = read_result(store, input)?;
            Ok((input.checkpoint.unwrap_or(0), result.observed))
        })
        .collect::<Result<_, StepError>>()?;
    rows.sort_by_key(|(step, _)| *step);
    // Without `series`: the observable's default (the LLC's mean, `tms.geometry`'s count).
    let name = wanted.unwrap_or_else(|| rows[0].1.default_series());
    let mut series = Series::new(name, rows.iter().map(|(s, _)| *s).collect(), Vec::new());
    for (step, observed) in &rows {
        let missing = || {
            StepError::Inputs(format!(
                "the estimate at step {step} has no `{name}` (its observable is `{}`)",
                observed.name()
            ))
        };
        match observed.reading(name).ok_or_else(missing)? {
            Reading::Number(value) => series.values.push(value),
            // Essential dynamics reads the outputs themselves.
            Reading::Values(outputs) => {
                series.values.push(0.0);
                series.outputs.get_or_insert_with(Vec::new).push(outputs.to_vec());
            }
            Reading::Absent => return Err(missing()),
        }
    }
    let llc = |observed: &Observed, read: fn(&Estimate) -> f64| {
        observed.llc().map(|llc| read(&llc.estimate))
    };
    if rows[0].1.llc().is_some() {
        series.llc = rows.iter().map(|(_, o)| llc(o, |e| e.llc_mean)).collect();
        series.loss = rows.iter().map(|(_, o)| llc(o, |e| e.init_loss)).collect();
    }
    Ok(series)
}
