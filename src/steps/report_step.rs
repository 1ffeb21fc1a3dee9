//! The `report` step: gathers what its inputs produced (LLC series with their chains' spread,
//! loss curves, every chain's trace, the other observables' numbers, detections, provenance) into one [`ReportData`], stored as
//! its result. Figures and HTML are drawn from it by `crate::report`, outside the cache, so a
//! report is redrawn without recomputing anything.

use std::collections::BTreeMap;

use devspec_protocol::StepKind;
use serde_json::Value;

use super::{Input, Produced, StepError, read_result};
use crate::detect::Detection;
use crate::report::data::{
    DetectionOf, LlcSeries, LossSeries, ObservableSeries, ReportData, SCHEMA_VERSION, Source,
    TheoryPoint, TracePanel,
};
use crate::store::Store;
use crate::theory;

/// Another observable's number by (step, point, number), gathered with the observable's name
/// and its (checkpoint, value) pairs in input order.
type Scalars = BTreeMap<(String, String, String), (String, Vec<(i64, Option<f64>)>)>;

pub fn compute(
    params: &serde_json::Map<String, Value>,
    inputs: &[Input],
    store: &Store,
) -> Result<Produced, StepError> {
    let mut data = ReportData {
        schema_version: SCHEMA_VERSION,
        title: params.get("title").and_then(Value::as_str).unwrap_or("report").to_owned(),
        description: params.get("description").and_then(Value::as_str).map(str::to_owned),
        llc: Vec::new(),
        losses: Vec::new(),
        traces: Vec::new(),
        observables: Vec::new(),
        detections: Vec::new(),
        theory: Vec::new(),
        provenance: Vec::new(),
    };
    // Estimates arrive one per checkpoint: grouped by step and sweep point into series.
    let mut estimates: BTreeMap<(String, String), Vec<(&Input, Value)>> = BTreeMap::new();
    let mut scalars = Scalars::new();
    for input in inputs {
        let result = read_result(store, input)?;
        let observable = result["observable"].as_str().unwrap_or_default();
        if matches!(input.kind, StepKind::Estimate)
            && !matches!(observable, "llc" | "outputs")
            && let Some(manifest) = store.cached(&input.key)
        {
            // The numbers the worker reported as its metrics are the ones worth a line.
            for (name, value) in manifest.metrics.iter().filter(|(_, v)| v.is_number()) {
                scalars
                    .entry((input.step.clone(), input.point.clone(), name.clone()))
                    .or_insert_with(|| (observable.to_owned(), Vec::new()))
                    .1
                    .push((input.checkpoint.unwrap_or(0), value.as_f64()));
            }
        }
        match input.kind {
            StepKind::Estimate if result["observable"] == "llc" => estimates
                .entry((input.step.clone(), input.point.clone()))
                .or_default()
                .push((input, result)),
            StepKind::Train => data.losses.push(loss_series(input, &result)),
            StepKind::Detect => data.detections.push(DetectionOf {
                step: input.step.clone(),
                point: input.point.clone(),
                instance: input.instance.clone(),
                detection: serde_json::from_value::<Detection>(result).map_err(|e| {
                    StepError::Unreadable {
                        instance: input.instance.clone(),
                        detail: format!("no readable detection: {e}"),
                    }
                })?,
            }),
            // Other observables' numbers are gathered above, and a probe's outputs are drawn
            // through their detections; imported checkpoints are only provenance here.
            StepKind::Estimate | StepKind::Checkpoint | StepKind::Report | StepKind::Test => {}
        }
        data.provenance.push(Source {
            instance: input.instance.clone(),
            kind: input.kind,
            key: input.key.clone(),
        });
    }
    for ((step, point), mut rows) in estimates {
        rows.sort_by_key(|(input, _)| input.checkpoint);
        data.theory.extend(rows.iter().filter_map(|(input, result)| theory_point(input, result)));
        data.llc.push(llc_series(&step, &point, &rows));
        data.traces.extend(rows.iter().map(|(input, result)| trace_panel(input, result)));
    }
    for ((step, point, name), (observable, mut values)) in scalars {
        values.sort_by_key(|(checkpoint, _)| *checkpoint);
        data.observables.push(ObservableSeries {
            step,
            point,
            observable,
            name,
            checkpoints: values.iter().map(|(c, _)| *c).collect(),
            values: values.into_iter().map(|(_, v)| v).collect(),
        });
    }
    data.provenance.sort_by(|a, b| a.instance.cmp(&b.instance));
    let mut metrics = serde_json::Map::new();
    metrics.insert("llc_series".into(), data.llc.len().into());
    metrics.insert("loss_series".into(), data.losses.len().into());
    metrics.insert("trace_plots".into(), data.traces.len().into());
    metrics.insert("observable_series".into(), data.observables.len().into());
    metrics.insert("detections".into(), data.detections.len().into());
    metrics.insert("theory_points".into(), data.theory.len().into());
    let result = serde_json::to_vec(&data)?;
    Ok(Produced { result, metrics })
}

fn numbers(value: &Value) -> Vec<Option<f64>> {
    value.as_array().into_iter().flatten().map(Value::as_f64).collect()
}

fn loss_series(input: &Input, result: &Value) -> LossSeries {
    let series = &result["series"];
    LossSeries {
        step: input.step.clone(),
        point: input.point.clone(),
        steps: series["steps"].as_array().into_iter().flatten().filter_map(Value::as_i64).collect(),
        train_loss: numbers(&series["train_loss"]),
        test_loss: series.get("test_loss").filter(|v| v.is_array()).map(numbers),
        instance: input.instance.clone(),
    }
}

fn diagnostics_of(result: &Value) -> Vec<String> {
    result["estimate"]["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect()
}

fn llc_series(step: &str, point: &str, rows: &[(&Input, Value)]) -> LlcSeries {
    let estimate = |result: &Value, key: &str| result["estimate"][key].as_f64();
    let chains = |result: &Value| -> Vec<f64> {
        numbers(&result["estimate"]["llc_per_chain"]).into_iter().flatten().collect()
    };
    LlcSeries {
        step: step.to_owned(),
        point: point.to_owned(),
        checkpoints: rows.iter().map(|(input, _)| input.checkpoint.unwrap_or(0)).collect(),
        mean: rows.iter().map(|(_, r)| estimate(r, "llc_mean")).collect(),
        se: rows.iter().map(|(_, r)| estimate(r, "llc_se")).collect(),
        chain_low: rows.iter().map(|(_, r)| chains(r).into_iter().reduce(f64::min)).collect(),
        chain_high: rows.iter().map(|(_, r)| chains(r).into_iter().reduce(f64::max)).collect(),
        init_loss: rows.iter().map(|(_, r)| estimate(r, "init_loss")).collect(),
        diagnostics: rows.iter().map(|(_, r)| diagnostics_of(r)).collect(),
        instances: rows.iter().map(|(input, _)| input.instance.clone()).collect(),
    }
}

fn trace_panel(input: &Input, result: &Value) -> TracePanel {
    TracePanel {
        step: input.step.clone(),
        point: input.point.clone(),
        checkpoint: input.checkpoint.unwrap_or(0),
        instance: input.instance.clone(),
        traces: result["traces"].as_array().into_iter().flatten().map(numbers).collect(),
        init_loss: result["estimate"]["init_loss"].as_f64(),
        llc_mean: result["estimate"]["llc_mean"].as_f64(),
        llc_per_chain: numbers(&result["estimate"]["llc_per_chain"]),
        diagnostics: diagnostics_of(result),
    }
}

/// The estimate beside its checkpoint's true learning coefficient, when theory knows it.
fn theory_point(input: &Input, result: &Value) -> Option<TheoryPoint> {
    input.sources.iter().find_map(|source| {
        Some(TheoryPoint {
            step: input.step.clone(),
            instance: input.instance.clone(),
            checkpoint: source.instance.clone(),
            theory: theory::at_checkpoint(&source.params, &input.params)?,
            llc_mean: result["estimate"]["llc_mean"].as_f64(),
            llc_se: result["estimate"]["llc_se"].as_f64(),
        })
    })
}
