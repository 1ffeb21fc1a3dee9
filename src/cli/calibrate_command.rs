//! `devspec calibrate FILE STEP [--checkpoint N] [--lr LIST] [--nbeta LIST | --localization
//! LIST]`: sweeps an `llc` estimate's step size against `nbeta` (or the localization) on one
//! checkpoint, prints each cell's estimate, spread, MALA acceptance and diagnostics, recommends
//! a cell and says why, and prints the `observable = ...` line to paste. The cells are ordinary
//! estimate instances (the spec's step with its `observable` swept and `at` narrowed), so they
//! are cached in the store and `devspec show` reads them; they differ only in what the sampler
//! takes per chain, so the pool runs the whole grid as one batched computation. The calibration
//! itself is recorded in the store (`calibrations/`) for the report.

use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, RunContext, planned};
use crate::compile::literal;
use crate::compile::value::{Value, ValueKind};
use crate::exec::{Executor, InstanceStatus, survey};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::registry::schema::Default;
use crate::study::calibration::{Cell, OtherAxis, recommend};

pub struct CalibrateArgs<'a> {
    pub file: &'a Path,
    pub step: &'a str,
    pub checkpoint: Option<i64>,
    pub lrs: &'a [f64],
    pub nbetas: &'a [f64],
    pub localizations: &'a [f64],
    pub settings: &'a SettingsArgs,
    pub worker: Option<PathBuf>,
}

pub fn run(args: &CalibrateArgs<'_>) -> Result<ExitCode, Failure> {
    let (observable, checkpoint) = match target(args)? {
        Ok(target) => target,
        Err(code) => return Ok(code),
    };
    let sampler = arg(&observable, "sampler").cloned().expect("llc has a sampler");
    let base_lr = arg(&sampler, "lr").and_then(number).unwrap_or(1e-4);
    let lrs: Vec<f64> = if args.lrs.is_empty() {
        // Rounded to 12 significant digits, so 3 x 1e-4 is written 0.0003, not
        // 0.00030000000000000003 (in the table, in `--set` and in the line to paste).
        [0.1, 0.3, 1.0, 3.0, 10.0]
            .iter()
            .map(|f| format!("{:.11e}", f * base_lr).parse().unwrap_or(f * base_lr))
            .collect()
    } else {
        args.lrs.to_vec()
    };
    let (other_axis, others) = if !args.localizations.is_empty() {
        (Some(OtherAxis::Localization), args.localizations.to_vec())
    } else if !args.nbetas.is_empty() {
        (Some(OtherAxis::Nbeta), args.nbetas.to_vec())
    } else {
        (None, Vec::new())
    };
    let other_name = other_axis.map(OtherAxis::name);
    let grid_observable = swept(&observable, &lrs, other_name, &others);
    let sets = vec![
        format!("{}.observable={grid_observable}", args.step),
        format!("{}.at=[{checkpoint}]", args.step),
    ];
    let plan = match planned(args.file, &sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    // One sweep point of the steps it is on (the first), so the grid is the only difference.
    let grid_axes = ["lr", "nbeta", "localization"];
    let point = |instance: &crate::plan::Instance| -> Vec<String> {
        let coords = instance.coords.iter().filter(|c| !grid_axes.contains(&c.axis.as_str()));
        coords.map(ToString::to_string).collect()
    };
    let first_point =
        plan.instances().find(|i| i.step_name == args.step).map(&point).unwrap_or_default();
    let plan = plan.restricted_to_instances(|instance| {
        instance.step_name == args.step && point(instance) == first_point
    });
    // What the grid needs must be runnable, as for `run`.
    super::run_command::refuse_unimplemented(&plan)?;
    let context =
        RunContext::new(&ContextArgs::new(args.file, args.settings, args.worker.clone()))?;
    let at = if first_point.is_empty() {
        String::new()
    } else {
        format!(" [{}]", first_point.join(","))
    };
    eoutln!(
        "calibrating `{}`{at} at checkpoint {checkpoint}: {} cells",
        args.step,
        lrs.len() * others.len().max(1)
    );
    let RunContext { store, worker, mut options, .. } = context;
    // The grid is one batched computation (the chains' lr, localization and n_beta are per
    // chain in the sampler), unless batching was turned off.
    if options.max_batch > 1 {
        options.max_batch = options.max_batch.max(lrs.len() * others.len().max(1));
    }
    let executor = Executor { plan: &plan, store: &store, worker, options: options.clone() };
    let summary = executor.run(&mut |_| {});
    for failed in &summary.failed {
        eoutln!("  {} failed: {}", failed.instance, failed.error);
    }
    let cells = computed_cells(&plan, &store, &options, args.step, base_lr, other_name);
    print_cells(&cells, other_name);
    let Some(recommendation) = recommend(&cells, other_axis) else {
        outln!(
            "\nno cell has a positive estimate without diagnostics: widen the grid (`--lr`, \
             `--localization`), raise nbeta where the localization dominates, or check that the \
             checkpoint is a trained one"
        );
        return Ok(ExitCode::Failed);
    };
    let best = recommendation.cell;
    outln!(
        "\nrecommended: lr = {}{} ({:.4} ± {:.4}): {}",
        best.lr,
        other_name
            .map_or(String::new(), |name| format!(", {name} = {}", best.other.unwrap_or(0.0))),
        best.llc_mean,
        best.llc_se,
        recommendation.reason,
    );
    let line = chosen(&observable, best, other_name);
    outln!("paste: observable = {line}");
    let record = serde_json::json!({
        "schema_version": 1,
        "step": args.step,
        "checkpoint": checkpoint,
        "axes": { "lr": lrs, "other": other_name, "others": others },
        "cells": cells,
        "recommended": best,
        "reason": recommendation.reason,
        "observable": line,
    });
    store
        .record_calibration(&options.spec_id, args.step, &record)
        .map_err(|err| Failure::environment(format!("cannot record the calibration: {err}")))?;
    Ok(ExitCode::Success)
}

/// The step's `llc` observable and the checkpoint to calibrate on.
fn target(args: &CalibrateArgs<'_>) -> Result<Result<(Value, i64), ExitCode>, Failure> {
    let plan = match planned(args.file, &[])? {
        Ok(plan) => plan,
        Err(code) => return Ok(Err(code)),
    };
    let instances: Vec<_> = plan.instances().filter(|i| i.step_name == args.step).collect();
    let Some(first) = instances.first() else {
        return Err(Failure::bad_input(format!("the spec has no step `{}`", args.step))
            .with_hint("name an estimate step of the spec"));
    };
    let observable = first.params.get("observable").filter(|o| ctor_name(o) == Some("llc"));
    let Some(observable) = observable.cloned() else {
        return Err(Failure::bad_input(format!("`{}` is not an `llc` estimate", args.step))
            .with_hint("calibrate chooses the sampler of an `estimate` whose observable is llc"));
    };
    let available: Vec<i64> = instances.iter().filter_map(|i| i.checkpoint).collect();
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
    Ok(Ok((observable, checkpoint)))
}

/// The grid's cells that have a result.
fn computed_cells(
    plan: &crate::plan::Plan,
    store: &crate::store::Store,
    options: &crate::exec::RunOptions,
    step: &str,
    base_lr: f64,
    other_name: Option<&str>,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (node, status) in plan.order.iter().zip(survey(plan, store, options)) {
        let instance = &plan.graph[*node];
        if instance.step_name != step {
            continue;
        }
        let InstanceStatus::Cached(manifest) = status else { continue };
        let coordinate = |axis: &str| {
            instance.coords.iter().find(|c| c.axis == axis).and_then(|c| number(&c.value))
        };
        let metric = |name: &str| manifest.metrics.get(name).and_then(serde_json::Value::as_f64);
        cells.push(Cell {
            lr: coordinate("lr").unwrap_or(base_lr),
            other: other_name.and_then(coordinate),
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

fn print_cells(cells: &[Cell], other_name: Option<&str>) {
    let mut rows: Vec<&Cell> = cells.iter().collect();
    rows.sort_by(|a, b| {
        (a.lr, a.other).partial_cmp(&(b.lr, b.other)).unwrap_or(std::cmp::Ordering::Equal)
    });
    let other = other_name.unwrap_or("");
    outln!(
        "{:<12} {:<12} {:>12} {:>10} {:>10} {:>13}  diagnostics",
        "lr",
        other,
        "llc_mean",
        "llc_se",
        "acceptance",
        "sensitivity"
    );
    for cell in rows {
        outln!(
            "{:<12} {:<12} {:>12.4} {:>10.4} {:>10} {:>13}  {}",
            cell.lr,
            cell.other.map_or(String::new(), |o| o.to_string()),
            cell.llc_mean,
            cell.llc_se,
            cell.acceptance.map_or("-".to_owned(), |a| format!("{a:.3}")),
            match (cell.localization_sensitivity, cell.localization_sensitivity_se) {
                (Some(s), Some(se)) => format!("{s:.2} ± {se:.2}"),
                _ => "-".to_owned(),
            },
            cell.diagnostics
        );
    }
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
    let sweep = |values: &[f64]| {
        let items =
            values.iter().map(|&v| Value::new(ValueKind::Float(v), observable.origin)).collect();
        Value::new(ValueKind::Sweep(items), observable.origin)
    };
    with_settings(observable, sweep(lrs), other.map(|name| (name, sweep(others)))).to_string()
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
