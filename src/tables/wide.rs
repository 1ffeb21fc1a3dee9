//! The wide table: a row per instance (see the module's documentation).

use std::collections::BTreeSet;

use arrow_array::ArrayRef;
use devspec_protocol::StepKind;
use devspec_protocol::results::{self, EstimateResult, Reading, TrainResult};

use super::column;
use crate::detect::Detection;
use crate::ops::{StepResults, StepRow};

pub fn columns(results: &StepResults) -> Vec<(String, ArrayRef)> {
    let rows = &results.rows;
    let mut columns = vec![(
        "instance".to_owned(),
        column::strings(rows.iter().map(|r| Some(r.instance.as_str()))),
    )];
    let coords: Vec<&[(String, String)]> = rows.iter().map(|r| r.coords.as_slice()).collect();
    columns.extend(axes(&coords));
    columns.push(("checkpoint".to_owned(), column::ints(rows.iter().map(|r| r.checkpoint))));
    columns.push(("status".to_owned(), column::strings(rows.iter().map(|r| Some(r.status())))));
    columns.push((
        "key".to_owned(),
        column::strings(rows.iter().map(|r| r.served().map(|s| s.manifest.key.as_str()))),
    ));
    columns.extend(metrics(&rows.iter().collect::<Vec<_>>()));
    columns.extend(series(results.kind, rows));
    columns
}

/// A column per sweep axis, in the order the instances name them (a row's coordinates each).
pub fn axes(coords: &[&[(String, String)]]) -> Vec<(String, ArrayRef)> {
    let mut names: Vec<&str> = Vec::new();
    for (axis, _) in coords.iter().flat_map(|c| c.iter()) {
        if !names.contains(&axis.as_str()) {
            names.push(axis);
        }
    }
    names
        .into_iter()
        .map(|axis| {
            let values: Vec<Option<&str>> = coords
                .iter()
                .map(|c| c.iter().find(|(a, _)| a == axis).map(|(_, v)| v.as_str()))
                .collect();
            (axis.to_owned(), column::typed_text(&values))
        })
        .collect()
}

/// A column per metric any manifest records, alphabetically (as `show --format json` has them).
pub fn metrics(rows: &[&StepRow]) -> Vec<(String, ArrayRef)> {
    let names: BTreeSet<&String> =
        rows.iter().filter_map(|r| r.served()).flat_map(|s| s.manifest.metrics.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let values: Vec<Option<&serde_json::Value>> = rows
                .iter()
                .map(|r| r.served().and_then(|s| s.manifest.metrics.get(name)))
                .collect();
            (name.clone(), column::json_values(&values))
        })
        .collect()
}

/// The result's series as list columns, read from each instance's typed result.
fn series(kind: StepKind, rows: &[StepRow]) -> Vec<(String, ArrayRef)> {
    match kind {
        StepKind::Train => {
            let series: Vec<_> = rows
                .iter()
                .map(|r| {
                    r.result()
                        .and_then(|b| results::decode::<TrainResult>(b).ok())
                        .map(|t| t.series)
                })
                .collect();
            let steps = series.iter().map(|s| {
                s.as_ref().map(|s| {
                    s.steps.iter().map(|&x| i64::try_from(x).unwrap_or(i64::MAX)).collect()
                })
            });
            let losses = |pick: fn(&results::TrainSeries) -> &Vec<f64>| {
                column::float_lists(series.iter().map(|s| {
                    s.as_ref().map(|s| pick(s).iter().copied().map(column::finite).collect())
                }))
            };
            let mut columns = vec![
                ("steps".to_owned(), column::int_lists(steps)),
                ("train_loss".to_owned(), losses(|s| &s.train_loss)),
            ];
            if series.iter().flatten().any(|s| !s.test_loss.is_empty()) {
                columns.push(("test_loss".to_owned(), losses(|s| &s.test_loss)));
            }
            columns
        }
        StepKind::Estimate => {
            let estimates: Vec<Option<EstimateResult>> = rows
                .iter()
                .map(|r| r.result().and_then(|b| results::decode::<EstimateResult>(b).ok()))
                .collect();
            estimate_series(&estimates)
        }
        StepKind::Detect => {
            let detections: Vec<Option<Detection>> = rows
                .iter()
                .map(|r| r.result().and_then(|b| results::decode::<Detection>(b).ok()))
                .collect();
            let boundaries = |pick: fn(&crate::detect::Boundary) -> i64| {
                column::int_lists(
                    detections
                        .iter()
                        .map(|d| d.as_ref().map(|d| d.boundaries.iter().map(pick).collect())),
                )
            };
            vec![
                ("boundary_from".to_owned(), boundaries(|b| b.interval[0])),
                ("boundary_to".to_owned(), boundaries(|b| b.interval[1])),
                (
                    "boundary_kind".to_owned(),
                    column::string_lists(detections.iter().map(|d| {
                        d.as_ref().map(|d| d.boundaries.iter().map(|b| b.kind.clone()).collect())
                    })),
                ),
                (
                    "boundary_strength".to_owned(),
                    column::float_lists(detections.iter().map(|d| {
                        d.as_ref().map(|d| {
                            d.boundaries.iter().map(|b| column::finite(b.strength)).collect()
                        })
                    })),
                ),
            ]
        }
        // Their metrics say all they hold.
        StepKind::Checkpoint | StepKind::Report | StepKind::Test => Vec::new(),
    }
}

/// An estimate's lists: an LLC's per-chain estimates and acceptance and every chain's trace;
/// any observable's vector readings (a probe's `outputs`).
fn estimate_series(estimates: &[Option<EstimateResult>]) -> Vec<(String, ArrayRef)> {
    fn llc(e: Option<&EstimateResult>) -> Option<&results::LlcResult> {
        e.and_then(|e| e.observed.llc())
    }
    let mut columns = Vec::new();
    if estimates.iter().any(|e| llc(e.as_ref()).is_some()) {
        let per_chain = |pick: fn(&results::Estimate) -> &Vec<Option<f64>>| {
            column::float_lists(estimates.iter().map(|e| {
                llc(e.as_ref())
                    .map(|l| pick(&l.estimate).iter().map(|x| x.and_then(column::finite)).collect())
            }))
        };
        columns.push(("llc_per_chain".to_owned(), per_chain(|e| &e.llc_per_chain)));
        columns.push(("acceptance_per_chain".to_owned(), per_chain(|e| &e.acceptance_per_chain)));
        columns.push((
            "traces".to_owned(),
            column::float_list_lists(
                estimates.iter().map(|e| llc(e.as_ref()).map(|l| l.traces.clone())),
            ),
        ));
    }
    let mut vectors: Vec<&'static str> = Vec::new();
    for estimate in estimates.iter().flatten() {
        for (name, reading) in estimate.observed.series() {
            if matches!(reading, Reading::Values(_)) && !vectors.contains(&name) {
                vectors.push(name);
            }
        }
    }
    // Suffixed: `outputs` is already the metric counting the probe's samples.
    for name in vectors {
        columns.push((
            format!("{name}_values"),
            column::float_lists(estimates.iter().map(|e| {
                e.as_ref().and_then(|e| match e.observed.reading(name) {
                    Some(Reading::Values(values)) => {
                        Some(values.iter().copied().map(column::finite).collect())
                    }
                    Some(Reading::Number(_) | Reading::Absent) | None => None,
                })
            })),
        ));
    }
    columns
}
