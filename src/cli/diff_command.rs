//! `devspec diff A B [--format table|json]`: two runs of a study compared (see
//! [`Comparison`]). Each side is a lock file, or a spec (`.dev`), whose current results in the
//! store are compared as they are, so a study in progress can be set beside its last lock.
//!
//! A difference is not a failure: like `git diff`, it exits 0 whatever it finds.

use std::path::{Path, PathBuf};

use super::args::{DiffArgs, DiffFormat, SettingsArgs};
use super::run_context::{ContextArgs, planned, session};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::study::Lock;
use crate::study::comparison::Comparison;

pub fn run(args: &DiffArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let a = match side("A", &args.a, &args.settings, worker.clone())? {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let b = match side("B", &args.b, &args.settings, worker)? {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let comparison =
        Comparison::new(&args.a.display().to_string(), &a, &args.b.display().to_string(), &b);
    match args.format {
        DiffFormat::Json => {
            let text = serde_json::to_string_pretty(&comparison).expect("comparisons serialize");
            outln!("{text}");
        }
        DiffFormat::Table => out!("{}", comparison.to_table()),
    }
    Ok(ExitCode::Success)
}

/// One side as a lock: a spec's current results (saying on stderr which instances have none
/// yet), or a lock file; or the exit code after a spec's diagnostics were printed.
fn side(
    label: &str,
    path: &Path,
    settings: &SettingsArgs,
    worker: Option<PathBuf>,
) -> Result<Result<Lock, ExitCode>, Failure> {
    if path.extension().is_none_or(|extension| extension != "dev") {
        return Lock::read(path).map(Ok);
    }
    let plan = match planned(path, &[], &super::args::BindArgs::default())? {
        Ok(plan) => plan,
        Err(code) => return Ok(Err(code)),
    };
    let context = session(&ContextArgs::new(path, settings, worker))?;
    let (lock, missing) = Lock::of_results(
        &plan,
        &crate::exec::Results::in_store(&plan, &context.store, &context.options),
        &context.store,
        &context.options,
        path,
    );
    if !missing.is_empty() {
        let compared = lock.instances.len();
        eoutln!(
            "{label}: {} instance(s) of {} have no results yet; compared: the other {compared}",
            missing.len(),
            path.display(),
        );
    }
    Ok(Ok(lock))
}
