//! What `run`, `plan` and `status` share: the checked and planned spec, and the project's
//! settings resolved (command line, then environment, then `devspec.toml`): store, jobs,
//! worker, and the environment part of every key.

use std::path::{Path, PathBuf};

use super::args::{BindArgs, SettingsArgs};
use crate::compile::{self, Bindings, CompileError};
use crate::diagnostic::render;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::{Session, Settings};
use crate::plan::{self, Plan};
use crate::source::SourceMap;

/// The command-line settings of the commands that look at the store.
pub struct ContextArgs<'a> {
    pub file: &'a Path,
    pub settings: SettingsArgs,
    pub jobs: Option<usize>,
    pub batch: Option<u32>,
    pub worker: Option<PathBuf>,
}

impl<'a> ContextArgs<'a> {
    /// The settings of a verb that keys steps but runs none (`plan`, `status`, `show`, `gc`).
    pub fn new(file: &'a Path, settings: &SettingsArgs, worker: Option<PathBuf>) -> Self {
        ContextArgs { file, settings: settings.clone(), jobs: None, batch: None, worker }
    }
}

/// A spec, planned with its `--set`s and its parameters bound (`--bind`, `--bind-file`); or
/// the exit code after its diagnostics were printed.
pub fn planned(
    file: &Path,
    sets: &[String],
    bind: &BindArgs,
) -> Result<Result<Plan, ExitCode>, Failure> {
    Ok(planned_with_sources(file, sets, bind)?.map(|(plan, _)| plan))
}

/// A spec, planned, with every source file it read (the spec and its imports); or the exit
/// code after its diagnostics were printed.
pub fn planned_with_sources(
    file: &Path,
    sets: &[String],
    bind: &BindArgs,
) -> Result<Result<(Plan, SourceMap), ExitCode>, Failure> {
    let mut sources = SourceMap::new();
    let binds = Bindings::parse(&bind.binds, bind.bind_file.as_deref())?;
    let program = match compile::check_path_bound(file, sets, &binds, &mut sources) {
        Ok(program) => program,
        Err(CompileError::Unreadable(failure)) => return Err(failure),
        Err(CompileError::Diagnostics(diagnostics)) => {
            for diagnostic in &diagnostics {
                eout!("{}", render::to_text(&sources, diagnostic));
            }
            return Ok(Err(ExitCode::BadInput));
        }
    };
    match plan::plan(&program) {
        Ok(plan) => Ok(Ok((plan, sources))),
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eout!("{}", render::to_text(&sources, diagnostic));
            }
            Ok(Err(ExitCode::BadInput))
        }
    }
}

/// The settings resolved with the precedence command line > environment > `devspec.toml`:
/// the session operations run under (`ops::Settings`).
pub fn session(args: &ContextArgs<'_>) -> Result<Session, Failure> {
    Session::resolve(args.file, &settings(args))
}

/// The session of a verb that only reads results: no worker needed when the store cached a
/// worker's report (`ops::Session::for_reading`).
pub fn reading_session(args: &ContextArgs<'_>) -> Result<Session, Failure> {
    Session::for_reading(args.file, &settings(args))
}

fn settings(args: &ContextArgs<'_>) -> Settings {
    Settings {
        store: args.settings.store.clone(),
        threads: args.settings.threads,
        device: args.settings.device.clone(),
        jobs: args.jobs,
        batch: args.batch,
        worker: args.worker.clone(),
    }
}
