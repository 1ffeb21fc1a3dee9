//! `devspec calibrate FILE STEP [--checkpoint N] [--point AXIS=VALUE] [--set NAME=EXPR] [--lr
//! LIST] [--nbeta LIST | --localization LIST]`: sweeps an `llc` estimate's step size against
//! `nbeta` (or the localization) on one checkpoint of one sweep point (`ops::calibrate`), prints each cell's estimate, spread, MALA acceptance and
//! diagnostics, the recommended cell and why, and the `observable = ...` line to paste.

use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, planned, session};
use super::run_progress::Notes;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::calibrate::{Request, calibrate, grid};
use crate::study::calibration::Cell;

pub struct CalibrateArgs<'a> {
    pub file: &'a Path,
    pub step: &'a str,
    pub checkpoint: Option<i64>,
    pub lrs: &'a [f64],
    pub nbetas: &'a [f64],
    pub localizations: &'a [f64],
    pub sets: &'a [String],
    pub bind: &'a super::args::BindArgs,
    pub point: &'a [String],
    pub settings: &'a SettingsArgs,
    pub worker: Option<PathBuf>,
}

pub fn run(args: &CalibrateArgs<'_>) -> Result<ExitCode, Failure> {
    let plan = match planned(args.file, args.sets, args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let request = Request {
        step: args.step,
        checkpoint: args.checkpoint,
        lrs: args.lrs,
        nbetas: args.nbetas,
        localizations: args.localizations,
        point: args.point,
        sets: args.sets,
    };
    let grid = grid(&plan, &request)?;
    // The user's overrides first, then the grid's (which set the step's observable and `at`).
    let sets: Vec<String> = args.sets.iter().chain(&grid.sets).cloned().collect();
    let grid_plan = match planned(args.file, &sets, args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let session = session(&ContextArgs::new(args.file, args.settings, args.worker.clone()))?;
    let outcome = calibrate(&grid_plan, &grid, args.step, &session, &mut Notes)?;
    for failed in &outcome.failed {
        eoutln!("  {} failed: {}", failed.instance, failed.error);
    }
    let other_name = grid.other_name();
    print_cells(&outcome.cells, other_name);
    let Some((best, reason, line)) = outcome.recommended else {
        outln!(
            "\nno cell has a positive estimate without diagnostics: widen the grid (`--lr`, \
             `--localization`), raise nbeta where the localization dominates, or check that the \
             checkpoint is a trained one"
        );
        return Ok(ExitCode::Failed);
    };
    outln!(
        "\nrecommended: lr = {}{} ({:.4} ± {:.4}): {reason}",
        best.lr,
        other_name
            .map_or(String::new(), |name| format!(", {name} = {}", best.other.unwrap_or(0.0))),
        best.llc_mean,
        best.llc_se,
    );
    outln!("paste: observable = {line}");
    Ok(ExitCode::Success)
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
