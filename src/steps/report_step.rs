//! The `report` step: gathers what its inputs produced (LLC series with their chains' spread,
//! loss curves, every chain's trace, the other observables' numbers, detections, provenance) into one [`ReportData`], stored as
//! its result. Figures and HTML are drawn from it by `crate::report`, outside the cache, so a
//! report is redrawn without recomputing anything.

use std::collections::BTreeMap;

use devspec_protocol::StepKind;
use devspec_protocol::results::{Estimate, EstimateResult, LlcResult, Observed, TrainResult};
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

/// An LLC estimate and the input it came from.
type Estimated<'a> = (&'a Input, Box<LlcResult>);

pub fn compute(
    params: &serde_json::Map<String, Value>,
    inputs: &[Input],
    store: &Store,
) -> Result<Produced, StepError> {
    let mut data = ReportData {
        schema_version: SCHEMA_VERSION,
        // Without a title the page is titled by the report's name when drawn: the name is not in
        // the step's key, so it cannot be in its cached result.
        title: params.get("title").and_then(Value::as_str).map(str::to_owned),
        description: params.get("description").and_then(Value::as_str).map(str::to_owned),
        llc: Vec::new(),
        losses: Vec::new(),
        traces: Vec::new(),
        observables: Vec::new(),
        detections: Vec::new(),
        theory: Vec::new(),
        provenance: Vec::new(),
        redacted: Vec::new(),
    };
    // Estimates arrive one per checkpoint: grouped by step and sweep point into series.
    let mut estimates: BTreeMap<(String, String), Vec<Estimated<'_>>> = BTreeMap::new();
    let mut scalars = Scalars::new();
    for input in inputs {
        match input.kind {
            StepKind::Estimate => {
                let result: EstimateResult = read_result(store, input)?;
                let observable = result.observed.name();
                match result.observed {
                    Observed::Llc(llc) => estimates
                        .entry((input.step.clone(), input.point.clone()))
                        .or_default()
                        .push((input, llc)),
                    // A probe's outputs are drawn through their detections.
                    Observed::Outputs { .. } => {}
                    Observed::Loss { .. }
                    | Observed::WeightNorm { .. }
                    | Observed::GradientNorm { .. }
                    | Observed::HessianTrace { .. }
                    | Observed::Accuracy(_)
                    | Observed::InductionScore(_)
                    | Observed::TmsGeometry(_)
                    | Observed::IclBaselines(_) => {
                        if let Some(manifest) = store.cached(&input.key) {
                            // The numbers the worker reported as its metrics are the ones
                            // worth a line.
                            for (name, value) in
                                manifest.metrics.iter().filter(|(_, v)| v.is_number())
                            {
                                scalars
                                    .entry((input.step.clone(), input.point.clone(), name.clone()))
                                    .or_insert_with(|| (observable.to_owned(), Vec::new()))
                                    .1
                                    .push((input.checkpoint.unwrap_or(0), value.as_f64()));
                            }
                        }
                    }
                }
            }
            StepKind::Train => {
                let result: TrainResult = read_result(store, input)?;
                data.losses.push(loss_series(input, &result));
            }
            StepKind::Detect => data.detections.push(DetectionOf {
                step: input.step.clone(),
                point: input.point.clone(),
                instance: input.instance.clone(),
                on: input.sources.first().map(|source| source.step.clone()),
                detection: read_result::<Detection>(store, input)?,
            }),
            // Imported checkpoints are only provenance here.
            StepKind::Checkpoint | StepKind::Report | StepKind::Test => {}
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

/// A number as the report stores it: `None` where it is not finite (JSON has no NaN).
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

fn loss_series(input: &Input, result: &TrainResult) -> LossSeries {
    let series = &result.series;
    LossSeries {
        step: input.step.clone(),
        point: input.point.clone(),
        steps: series.steps.iter().filter_map(|&s| i64::try_from(s).ok()).collect(),
        train_loss: series.train_loss.iter().copied().map(finite).collect(),
        test_loss: (!series.test_loss.is_empty())
            .then(|| series.test_loss.iter().copied().map(finite).collect()),
        instance: input.instance.clone(),
    }
}

fn diagnostics_of(estimate: &Estimate) -> Vec<String> {
    estimate.diagnostics.iter().map(|d| d.name.name().to_owned()).collect()
}

fn llc_series(step: &str, point: &str, rows: &[Estimated<'_>]) -> LlcSeries {
    let estimates: Vec<&Estimate> = rows.iter().map(|(_, r)| &r.estimate).collect();
    let chains = |e: &Estimate| -> Vec<f64> { e.llc_per_chain.iter().flatten().copied().collect() };
    LlcSeries {
        step: step.to_owned(),
        point: point.to_owned(),
        checkpoints: rows.iter().map(|(input, _)| input.checkpoint.unwrap_or(0)).collect(),
        mean: estimates.iter().map(|e| finite(e.llc_mean)).collect(),
        se: estimates.iter().map(|e| finite(e.llc_se)).collect(),
        chain_low: estimates.iter().map(|e| chains(e).into_iter().reduce(f64::min)).collect(),
        chain_high: estimates.iter().map(|e| chains(e).into_iter().reduce(f64::max)).collect(),
        init_loss: estimates.iter().map(|e| finite(e.init_loss)).collect(),
        diagnostics: estimates.iter().map(|e| diagnostics_of(e)).collect(),
        instances: rows.iter().map(|(input, _)| input.instance.clone()).collect(),
    }
}

fn trace_panel(input: &Input, result: &LlcResult) -> TracePanel {
    let estimate = &result.estimate;
    TracePanel {
        step: input.step.clone(),
        point: input.point.clone(),
        checkpoint: input.checkpoint.unwrap_or(0),
        instance: input.instance.clone(),
        traces: result
            .traces
            .iter()
            .map(|trace| trace.iter().copied().map(finite).collect())
            .collect(),
        init_loss: finite(estimate.init_loss),
        llc_mean: finite(estimate.llc_mean),
        llc_per_chain: estimate.llc_per_chain.clone(),
        diagnostics: diagnostics_of(estimate),
    }
}

/// The estimate beside its checkpoint's true learning coefficient, when theory knows it.
fn theory_point(input: &Input, result: &LlcResult) -> Option<TheoryPoint> {
    input.sources.iter().find_map(|source| {
        Some(TheoryPoint {
            step: input.step.clone(),
            instance: input.instance.clone(),
            checkpoint: source.instance.clone(),
            theory: theory::at_checkpoint(&source.params, &input.params)?,
            llc_mean: finite(result.estimate.llc_mean),
            llc_se: finite(result.estimate.llc_se),
        })
    })
}
