//! Calibrating an `llc` estimate (`devspec calibrate`): its sampler's step size swept against
//! `nbeta` (or the localization) on one checkpoint. [`grid`] chooses the checkpoint and writes
//! the grid as `--set` overrides; [`calibrate`] runs the grid's plan and recommends a cell
//! (`study::calibration`'s policy), recording the calibration in the store (`calibrations/`)
//! for the report. The cells are ordinary estimate instances (the spec's step with its
//! `observable` swept and `at` narrowed), so they are cached in the store and `devspec show`
//! reads them; they differ only in what the sampler takes per chain, so the pool runs the whole
//! grid as one batched computation.

use super::{Observer, Session};
use crate::compile::did_you_mean;
use crate::compile::literal;
use crate::compile::value::{Value, ValueKind};
use crate::exec::{FailedInstance, Results};
use crate::failure::Failure;
use crate::plan::Plan;
use crate::registry::schema::Default;
use crate::study::calibration::{Cell, OtherAxis, recommend};

/// What to calibrate: an estimate step, and the grid's axes (defaults where empty).
pub struct Request<'a> {
    pub step: &'a str,
    /// The checkpoint to calibrate on (default: the last the step measures).
    pub checkpoint: Option<i64>,
    pub lrs: &'a [f64],
    pub nbetas: &'a [f64],
    pub localizations: &'a [f64],
    /// Which sweep point of the steps it is on (`seed=1`, one per axis); default: the first.
    pub point: &'a [String],
    /// The user's `--set` overrides the spec was planned with, recorded with the calibration
    /// (a grid run on a changed spec is not the spec's own calibration).
    pub sets: &'a [String],
}

/// A calibration grid: the step's observable, the checkpoint, the axes, and the `--set`
/// overrides that plan it.
pub struct Grid {
    observable: Value,
    pub checkpoint: i64,
    base_lr: f64,
    pub lrs: Vec<f64>,
    pub other_axis: Option<OtherAxis>,
    pub others: Vec<f64>,
    /// `STEP.observable=...` and `STEP.at=[N]`, for planning the grid.
    pub sets: Vec<String>,
    /// The sweep point asked for (`--point`), as (axis, value) pairs; empty: the first.
    pub point: Vec<(String, String)>,
    /// The user's `--set` overrides, recorded with the calibration.
    pub user_sets: Vec<String>,
}

impl Grid {
    /// The other axis's name (`nbeta`, `localization`), if one is swept.
    pub fn other_name(&self) -> Option<&'static str> {
        self.other_axis.map(OtherAxis::name)
    }

    /// How many cells it has.
    pub fn cells(&self) -> usize {
        self.lrs.len() * self.others.len().max(1)
    }
}

/// What a calibration found.
pub struct CalibrationOutcome {
    /// The cells that have a result.
    pub cells: Vec<Cell>,
    /// The recommended cell, why, and its `observable = ...` line to paste; `None` when no
    /// cell may be recommended.
    pub recommended: Option<(Cell, String, String)>,
    /// The cells that failed to compute.
    pub failed: Vec<FailedInstance>,
}

/// The grid of `request` over the step's estimate in `plan` (the spec planned as written).
pub fn grid(plan: &Plan, request: &Request<'_>) -> Result<Grid, Failure> {
    let point = chosen_point(plan, request)?;
    let (observable, checkpoint) = target(plan, request, &point)?;
    let sampler = arg(&observable, "sampler").cloned().expect("llc has a sampler");
    let base_lr = arg(&sampler, "lr").and_then(number).unwrap_or(1e-4);
    let lrs: Vec<f64> = if request.lrs.is_empty() {
        // Rounded to 12 significant digits, so 3 x 1e-4 is written 0.0003, not
        // 0.00030000000000000003 (in the table, in `--set` and in the line to paste).
        [0.1, 0.3, 1.0, 3.0, 10.0]
            .iter()
            .map(|f| format!("{:.11e}", f * base_lr).parse().unwrap_or(f * base_lr))
            .collect()
    } else {
        request.lrs.to_vec()
    };
    let (other_axis, others) = if !request.localizations.is_empty() {
        (Some(OtherAxis::Localization), request.localizations.to_vec())
    } else if !request.nbetas.is_empty() {
        (Some(OtherAxis::Nbeta), request.nbetas.to_vec())
    } else {
        (None, Vec::new())
    };
    let grid_observable = swept(&observable, &lrs, other_axis.map(OtherAxis::name), &others);
    let sets = vec![
        format!("{}.observable={grid_observable}", request.step),
        format!("{}.at=[{checkpoint}]", request.step),
    ];
    let user_sets = request.sets.to_vec();
    Ok(Grid { observable, checkpoint, base_lr, lrs, other_axis, others, sets, point, user_sets })
}

/// The axes a calibration grid adds to its step's sweep points, named apart from any axis a
/// spec can have by accident (a training step's own `lr` sweep would otherwise be joined with
/// the grid's `lr` by name, leaving only the cells where the two agree).
const GRID_AXES: [&str; 3] = ["calibrate.lr", "calibrate.nbeta", "calibrate.localization"];

/// The grid's axis for a sampler setting (`lr`, `nbeta`, `localization`).
fn grid_axis(setting: &str) -> String {
    format!("calibrate.{setting}")
}

/// An instance's sweep point without the grid's axes, as `axis=value` strings.
fn point_of(instance: &crate::plan::Instance) -> Vec<String> {
    let coords = instance.coords.iter().filter(|c| !GRID_AXES.contains(&c.axis.as_str()));
    coords.map(ToString::to_string).collect()
}

/// Whether an instance is at the point asked for (every pair given matches its coordinates).
fn at_point(instance: &crate::plan::Instance, point: &[(String, String)]) -> bool {
    point.iter().all(|(axis, value)| {
        instance.coords.iter().any(|c| c.axis == *axis && c.value.to_string() == *value)
    })
}

/// The `--point` pairs, each checked against the step's axes and their values (an unknown one
/// refused with a did-you-mean).
fn chosen_point(plan: &Plan, request: &Request<'_>) -> Result<Vec<(String, String)>, Failure> {
    let instances: Vec<_> = plan.instances().filter(|i| i.step_name == request.step).collect();
    // Each axis with its values, in the order met.
    let mut swept: Vec<(String, Vec<String>)> = Vec::new();
    for instance in &instances {
        for c in instance.coords.iter().filter(|c| !GRID_AXES.contains(&c.axis.as_str())) {
            let value = c.value.to_string();
            match swept.iter_mut().find(|(name, _)| *name == c.axis) {
                Some((_, values)) if !values.contains(&value) => values.push(value),
                Some(_) => {}
                None => swept.push((c.axis.clone(), vec![value])),
            }
        }
    }
    let mut point = Vec::new();
    for written in request.point {
        let Some((axis, value)) = written.split_once('=') else {
            return Err(Failure::bad_input(format!("`--point {written}` is not AXIS=VALUE"))
                .with_hint("name a sweep axis and one of its values, e.g. `--point seed=1`"));
        };
        let (axis, value) = (axis.trim(), value.trim());
        let Some((_, values)) = swept.iter().find(|(name, _)| name == axis) else {
            let names = swept.iter().map(|(name, _)| name.as_str());
            let known: Vec<&str> = names.clone().collect();
            let hint = did_you_mean::hint(axis, names).unwrap_or_else(|| {
                if known.is_empty() {
                    format!("`{}` is not swept: it has one point", request.step)
                } else {
                    format!("its axes: {}", known.join(", "))
                }
            });
            return Err(Failure::bad_input(format!(
                "`--point {written}`: `{}` has no sweep axis `{axis}`",
                request.step
            ))
            .with_hint(hint));
        };
        if !values.iter().any(|v| v == value) {
            // A number one digit from another is no typo worth naming: list them.
            let typo = value
                .parse::<f64>()
                .is_err()
                .then(|| did_you_mean::hint(value, values.iter().map(String::as_str)))
                .flatten();
            let listed = format!("its values: {}", values.join(", "));
            let hint = typo.map_or(listed.clone(), |typo| format!("{typo} ({listed})"));
            return Err(Failure::bad_input(format!(
                "`--point {written}`: axis `{axis}` has no value `{value}`"
            ))
            .with_hint(hint));
        }
        point.push((axis.to_owned(), value.to_owned()));
    }
    Ok(point)
}

/// Runs the grid (`plan`: the spec planned with the grid's `sets`) at one sweep point of the
/// steps it is on (the first matching `--point`), recommends a cell and records the
/// calibration.
pub fn calibrate(
    plan: &Plan,
    grid: &Grid,
    step: &str,
    session: &Session,
    observer: &mut dyn Observer,
) -> Result<CalibrationOutcome, Failure> {
    // One sweep point of the steps it is on (the first `--point` matches), so the grid is the
    // only difference.
    let points: Vec<Vec<String>> = plan
        .instances()
        .filter(|i| i.step_name == step && at_point(i, &grid.point))
        .map(point_of)
        .fold(Vec::new(), |mut points, point| {
            if !points.contains(&point) {
                points.push(point);
            }
            points
        });
    let first_point = points.first().cloned().unwrap_or_default();
    let plan = plan.restricted_to_instances(|instance| {
        instance.step_name == step && point_of(instance) == first_point
    });
    // What the grid needs must be runnable, as for `run`.
    super::run::refuse_unimplemented(&plan)?;
    let at = match points.len() {
        0 | 1 if first_point.is_empty() => String::new(),
        0 | 1 => format!(" [{}]", first_point.join(",")),
        n => format!(
            " [{}, the first of {n} sweep points; `--point` picks another]",
            first_point.join(",")
        ),
    };
    observer.note(&format!(
        "calibrating `{step}`{at} at checkpoint {}: {} cells",
        grid.checkpoint,
        grid.cells()
    ));
    let mut options = session.options.clone();
    // The grid is one batched computation (the chains' lr, localization and n_beta are per
    // chain in the sampler), unless batching was turned off.
    if options.max_batch > 1 {
        options.max_batch = options.max_batch.max(grid.cells());
    }
    let summary = session.execute_in(&plan, &session.store, &options, observer);
    let other_name = grid.other_name();
    let cells = computed_cells(&plan, &summary.results, step, grid.base_lr, other_name);
    let Some(recommendation) = recommend(&cells, grid.other_axis) else {
        return Ok(CalibrationOutcome { cells, recommended: None, failed: summary.failed });
    };
    let best = recommendation.cell.clone();
    let reason = recommendation.reason;
    let line = chosen(&grid.observable, &best, other_name);
    let record = serde_json::json!({
        "schema_version": 1,
        "step": step,
        "checkpoint": grid.checkpoint,
        // Which sweep point of the steps it is on (`seed=1`; empty without sweeps).
        "point": first_point.join(","),
        // The user's `--set` overrides the spec was planned with.
        "sets": grid.user_sets,
        "axes": { "lr": grid.lrs, "other": other_name, "others": grid.others },
        "cells": cells,
        "recommended": best,
        "reason": reason,
        "observable": line,
    });
    session
        .store
        .record_calibration(&options.spec_id, step, &record)
        .map_err(|err| Failure::environment(format!("cannot record the calibration: {err}")))?;
    Ok(CalibrationOutcome {
        cells,
        recommended: Some((best, reason, line)),
        failed: summary.failed,
    })
}

/// The step's `llc` observable and the checkpoint to calibrate on.
fn target(
    plan: &Plan,
    args: &Request<'_>,
    point: &[(String, String)],
) -> Result<(Value, i64), Failure> {
    let instances: Vec<_> =
        plan.instances().filter(|i| i.step_name == args.step && at_point(i, point)).collect();
    let Some(first) = instances.first() else {
        return Err(Failure::bad_input(format!("the spec has no step `{}`", args.step))
            .with_hint("name an estimate step of the spec"));
    };
    let observable = first.params.get("observable").filter(|o| ctor_name(o) == Some("llc"));
    let Some(observable) = observable.cloned() else {
        return Err(Failure::bad_input(format!("`{}` is not an `llc` estimate", args.step))
            .with_hint("calibrate chooses the sampler of an `estimate` whose observable is llc"));
    };
    // Each checkpoint once, however many sweep points measure it.
    let available: Vec<i64> = instances
        .iter()
        .filter_map(|i| i.checkpoint)
        .collect::<std::collections::BTreeSet<i64>>()
        .into_iter()
        .collect();
    let checkpoint = match args.checkpoint {
        Some(step) if available.contains(&step) => step,
        Some(step) => {
            return Err(Failure::bad_input(format!(
                "`{}` has no instance at checkpoint {step}",
                args.step
            ))
            .with_hint(format!("its checkpoints: {available:?}")));
        }
        None => *available
            .iter()
            .max()
            .ok_or_else(|| Failure::bad_input(format!("`{}` measures no checkpoint", args.step)))?,
    };
    Ok((observable, checkpoint))
}

/// The grid's cells that have a result.
fn computed_cells(
    plan: &Plan,
    results: &Results,
    step: &str,
    base_lr: f64,
    other_name: Option<&str>,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &node in &plan.order {
        let instance = &plan.graph[node];
        if instance.step_name != step {
            continue;
        }
        let Some(manifest) = results.get(node) else { continue };
        let coordinate = |axis: &str| {
            instance.coords.iter().find(|c| c.axis == axis).and_then(|c| number(&c.value))
        };
        let metric = |name: &str| manifest.metrics.get(name).and_then(serde_json::Value::as_f64);
        cells.push(Cell {
            lr: coordinate(&grid_axis("lr")).unwrap_or(base_lr),
            other: other_name.and_then(|name| coordinate(&grid_axis(name))),
            llc_mean: metric("llc_mean").unwrap_or(f64::NAN),
            llc_se: metric("llc_se").unwrap_or(f64::NAN),
            acceptance: metric("acceptance"),
            localization_sensitivity: metric("localization_sensitivity"),
            localization_sensitivity_se: metric("localization_sensitivity_se"),
            diagnostics: manifest
                .metrics
                .get("diagnostics")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_owned(),
        });
    }
    cells
}

/// The observable with the recommended cell's values, as .dev text without the arguments that
/// equal their defaults.
fn chosen(observable: &Value, cell: &Cell, other: Option<&str>) -> String {
    let float = |v: f64| Value::new(ValueKind::Float(v), observable.origin);
    let other = other.zip(cell.other).map(|(name, value)| (name, float(value)));
    without_defaults(&with_settings(observable, float(cell.lr), other))
}

/// The observable with the sampler's `lr` swept over `lrs`, and `nbeta` or `localization` over
/// `others`, as .dev text.
fn swept(observable: &Value, lrs: &[f64], other: Option<&str>, others: &[f64]) -> String {
    let sweep = |values: &[f64], setting: &str| {
        let items =
            values.iter().map(|&v| Value::new(ValueKind::Float(v), observable.origin)).collect();
        let axis = Some(grid_axis(setting));
        Value::new(ValueKind::Sweep { values: items, axis }, observable.origin)
    };
    let other = other.map(|name| (name, sweep(others, name)));
    with_settings(observable, sweep(lrs, "lr"), other).to_string()
}

/// The observable with the sampler's `lr` set, and `nbeta` (an llc argument) or `localization`
/// (a sampler argument) when `other` names one.
fn with_settings(observable: &Value, lr: Value, other: Option<(&str, Value)>) -> Value {
    let mut observable = observable.clone();
    let ValueKind::Ctor { args, .. } = &mut observable.kind else { return observable };
    if let Some(sampler) = args.get_mut("sampler")
        && let ValueKind::Ctor { args: sampler_args, .. } = &mut sampler.kind
    {
        sampler_args.insert("lr".into(), lr);
        if let Some(("localization", value)) = &other {
            sampler_args.insert("localization".into(), value.clone());
        }
    }
    if let Some(("nbeta", value)) = other {
        args.insert("nbeta".into(), value);
    }
    observable
}

/// A constructor call as .dev text, leaving out arguments (at any depth) equal to their
/// registry default.
fn without_defaults(value: &Value) -> String {
    let ValueKind::Ctor { name, args, .. } = &value.kind else { return value.to_string() };
    let params = crate::registry::constructor(name).map_or(&[][..], |c| c.params);
    let written: Vec<String> = args
        .iter()
        .filter(|(arg, value)| {
            let default = params.iter().find(|p| p.name == arg.as_str()).map(|p| p.default);
            !matches!(default, Some(Default::Value(literal))
                if literal::to_value(literal, value.origin).to_string() == value.to_string())
        })
        .map(|(arg, value)| format!("{arg} = {}", without_defaults(value)))
        .collect();
    format!("{name}({})", written.join(", "))
}

fn ctor_name(value: &Value) -> Option<&'static str> {
    match &value.kind {
        ValueKind::Ctor { name, .. } => Some(name),
        _ => None,
    }
}

fn arg<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match &value.kind {
        ValueKind::Ctor { args, .. } => args.get(name),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value.kind {
        ValueKind::Float(v) => Some(v),
        #[allow(clippy::cast_precision_loss)]
        ValueKind::Int(v) => Some(v as f64),
        _ => None,
    }
}
