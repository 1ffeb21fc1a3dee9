//! `devspec plan FILE [--steps] [--format text|json|dot|mermaid]`: the instances a run would
//! execute, in order, with their status: cached, will run, or waits for an input that will be
//! computed first; with `--steps`, the steps instead, with their instances' statuses counted.
//! Pictures colour each node by its status.

use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, planned, session};
use crate::exec::survey;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::plan::{self, PlanFormat};

pub fn run(
    file: &Path,
    sets: &[String],
    format: PlanFormat,
    steps: bool,
    settings: &SettingsArgs,
    worker: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let plan = match planned(file, sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let render = if steps { plan::render_steps } else { plan::render };
    let context = session(&ContextArgs::new(file, settings, worker));
    let text = match context {
        Ok(context) => {
            let statuses = survey(&plan, &context.store, &context.options);
            render(&plan, format, &|node| statuses[node.index()].label())
        }
        Err(failure) => {
            // The plan itself does not need the store or a worker; only the cache status does.
            eoutln!("note: cache status unknown ({})", failure.message);
            render(&plan, format, &plan::status_without_store(&plan))
        }
    };
    out!("{text}");
    Ok(ExitCode::Success)
}
