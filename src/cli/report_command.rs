//! `devspec report FILE [-o DIR] [--open]`: draws the spec's reports from the store
//! (`ops::report`), into `reports/<spec>/<report>/` in the project unless `-o` says where.

use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, planned, reading_session};
use super::run_progress::Notes;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::report::{Drawn, default_folder, report};

pub struct ReportArgs<'a> {
    pub file: &'a Path,
    pub sets: &'a [String],
    pub bind: &'a super::args::BindArgs,
    pub out: Option<&'a Path>,
    pub open: bool,
    pub settings: &'a SettingsArgs,
    pub worker: Option<PathBuf>,
}

pub fn run(args: &ReportArgs<'_>) -> Result<ExitCode, Failure> {
    let plan = match planned(args.file, args.sets, args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let session =
        reading_session(&ContextArgs::new(args.file, args.settings, args.worker.clone()))?;
    let out =
        args.out.map_or_else(|| default_folder(&session.config.root, args.file), Path::to_path_buf);
    let outcome = report(&plan, &session, args.file, &out, &mut Notes)?;
    for failed in &outcome.failed {
        eoutln!("error: {} failed: {}", failed.instance, failed.error);
    }
    let pages = print_drawn(&outcome.drawn);
    if args.open {
        for path in &pages {
            open(path);
        }
    }
    Ok(if outcome.failed.is_empty() && !pages.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failed
    })
}

/// Prints each report's page, or why it could not be drawn; the pages.
pub fn print_drawn(drawn: &[Drawn]) -> Vec<PathBuf> {
    let mut pages = Vec::new();
    for report in drawn {
        match report {
            Drawn::Page(html) => {
                outln!("report: {}", html.display());
                pages.push(html.clone());
            }
            Drawn::Failed { report, error } => {
                eoutln!("error: cannot draw report `{report}`: {error}");
            }
        }
    }
    pages
}

/// Opens a report with the desktop's handler; failing to is said, not fatal.
fn open(path: &Path) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if let Err(error) = std::process::Command::new(opener).arg(path).spawn() {
        eoutln!("cannot open {} with {opener}: {error}", path.display());
    }
}
