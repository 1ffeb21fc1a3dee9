//! The `detect` step: the series it is asked for, gathered over one sweep point's checkpoints
//! (the estimates' results, or a training run's loss series at its checkpoints), searched by
//! its method. Its result is the [`Detection`] as JSON; its metrics count the boundaries and
//! list them for `devspec show`.

use devspec_protocol::StepKind;
use serde_json::Value;

use super::{Input, Produced, StepError, read_result};
use crate::detect::{Detection, Method, Series};
use crate::store::Store;

pub fn compute(
    params: &serde_json::Map<String, Value>,
    inputs: &[Input],
    store: &Store,
) -> Result<Produced, StepError> {
    let method = params
        .get("method")
        .ok_or_else(|| StepError::Inputs("a detect step needs a `method`".into()))?;
    let method = Method::parse(method).map_err(StepError::Inputs)?;
    let wanted = params.get("series").and_then(Value::as_str);
    let series = gather(inputs, wanted, store)?;
    let detection = method.detect(&series).map_err(StepError::Method)?;
    let mut metrics = serde_json::Map::new();
    metrics.insert("series".into(), series.name.clone().into());
    metrics.insert("boundaries".into(), detection.boundaries.len().into());
    metrics.insert("stages".into(), detection.stages.len().into());
    metrics.insert("at".into(), describe(&detection).into());
    let result = serde_json::to_vec(&detection)?;
    Ok(Produced { result, metrics })
}

/// `334-2519 development, 6889-9074 plateau`: each boundary's interval and kind.
fn describe(detection: &Detection) -> String {
    let parts: Vec<String> = detection
        .boundaries
        .iter()
        .map(|b| format!("{}-{} {}", b.interval[0], b.interval[1], b.kind))
        .collect();
    parts.join(", ")
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
    let result = read_result(store, input)?;
    let series = &result["series"];
    let steps: Vec<i64> =
        series["steps"].as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
    let values: Vec<f64> = series[name]
        .as_array()
        .ok_or_else(|| {
            StepError::Inputs(format!(
                "a training run records `train_loss` and `test_loss`, not `{name}`"
            ))
        })?
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect();
    let mut checkpoints: Vec<i64> = input
        .outputs
        .keys()
        .filter_map(|name| name.strip_prefix("checkpoint@")?.parse().ok())
        .collect();
    checkpoints.sort_unstable();
    let mut picked = Series::new(name, Vec::new(), Vec::new());
    for step in checkpoints {
        if let Some(i) = steps.iter().position(|&s| s == step) {
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
    let mut rows: Vec<(i64, Value)> = inputs
        .iter()
        .map(|input| Ok((input.checkpoint.unwrap_or(0), read_result(store, input)?)))
        .collect::<Result<_, StepError>>()?;
    rows.sort_by_key(|(step, _)| *step);
    let observable = rows[0].1["observable"].as_str().unwrap_or("llc").to_owned();
    // Without `series`: the LLC's mean, the number a result names as its headline
    // (`tms.geometry`'s `features`), else the number named after the observable.
    let headline = rows[0].1["headline"].as_str().map(str::to_owned);
    let name = wanted.map(str::to_owned).or(headline).unwrap_or_else(|| {
        if observable == "llc" { "llc_mean".to_owned() } else { observable.clone() }
    });
    let lookup = |result: &Value, key: &str| -> Option<f64> {
        result.get(key).or_else(|| result.get("estimate").and_then(|e| e.get(key)))?.as_f64()
    };
    let mut series = Series::new(&name, rows.iter().map(|(s, _)| *s).collect(), Vec::new());
    if observable == "outputs" {
        series.values = vec![0.0; rows.len()];
        series.outputs = Some(
            rows.iter()
                .map(|(_, r)| {
                    r["outputs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64)
                        .collect()
                })
                .collect(),
        );
        return Ok(series);
    }
    for (step, result) in &rows {
        let value = lookup(result, &name).ok_or_else(|| {
            StepError::Inputs(format!(
                "the estimate at step {step} has no `{name}` (its observable is `{observable}`)"
            ))
        })?;
        series.values.push(value);
    }
    if observable == "llc" {
        series.llc = rows.iter().map(|(_, r)| lookup(r, "llc_mean")).collect();
        series.loss = rows.iter().map(|(_, r)| lookup(r, "init_loss")).collect();
    }
    Ok(series)
}
