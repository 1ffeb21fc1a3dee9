//! `devspec plan FILE`: the instances a run would execute, in order, with their status: cached,
//! will run, or waits for an input that will be computed first.

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
    settings: &SettingsArgs,
    worker: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let plan = match planned(file, sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let context = session(&ContextArgs::new(file, settings, worker));
    let text = match context {
        Ok(context) => {
            let statuses = survey(&plan, &context.store, &context.options);
            plan::render(&plan, format, &|node| statuses[node.index()].label())
        }
        Err(failure) => {
            // The plan itself does not need the store or a worker; only the cache status does.
            eoutln!("note: cache status unknown ({})", failure.message);
            plan::render(&plan, format, &plan::status_without_store(&plan))
        }
    };
    out!("{text}");
    Ok(ExitCode::Success)
}
