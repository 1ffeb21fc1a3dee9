//! `devspec run FILE`: plans the spec, takes what is cached from the store, runs the rest on a
//! pool of workers, and ends with a summary. Exit 0 when every instance is done, 1 when any
//! failed (the others are still recorded).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compile::value::{Value, ValueKind};
use crate::compile::{self, CompileError};
use crate::diagnostic::render;
use crate::exec::{Executor, RunEvent, RunOptions, WorkerLocator, worker_report};
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};
use crate::plan;
use crate::project_config::ProjectConfig;
use crate::registry::{self, schema::Status};
use crate::source::SourceMap;
use crate::store::Store;

pub struct RunArgs<'a> {
    pub file: &'a Path,
    pub sets: &'a [String],
    pub jobs: Option<usize>,
    pub store: Option<PathBuf>,
    pub worker: Option<PathBuf>,
    pub fail_fast: bool,
    pub quiet: bool,
}

pub fn run(args: &RunArgs<'_>) -> Result<ExitCode, Failure> {
    let mut sources = SourceMap::new();
    let program = match compile::check_path(args.file, args.sets, &mut sources) {
        Ok(program) => program,
        Err(CompileError::Unreadable(failure)) => return Err(failure),
        Err(CompileError::Diagnostics(diagnostics)) => {
            for diagnostic in &diagnostics {
                eprint!("{}", render::to_text(&sources, diagnostic));
            }
            return Ok(ExitCode::BadInput);
        }
    };
    let plan = match plan::plan(&program) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprint!("{}", render::to_text(&sources, diagnostic));
            }
            return Ok(ExitCode::BadInput);
        }
    };
    refuse_unimplemented(&plan)?;

    let folder = args
        .file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let config =
        ProjectConfig::discover(&folder)?.unwrap_or_else(|| ProjectConfig::defaults(&folder));
    // Command line, then environment, then devspec.toml.
    let store_path = args
        .store
        .clone()
        .or_else(|| std::env::var_os("DEVSPEC_STORE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| config.store.clone());
    let jobs = args
        .jobs
        .or_else(|| std::env::var("DEVSPEC_JOBS").ok().and_then(|v| v.parse().ok()))
        .or(config.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1);
    let store = Store::open(&store_path)?;
    let worker = WorkerLocator::from_env(args.worker.clone(), config.worker.clone()).locate()?.path;
    let report = worker_report(&store, &worker)?;

    let device = if report.cuda_available { "cuda" } else { "cpu" };
    let environment: BTreeMap<String, String> = [
        ("libtorch", report.libtorch.clone()),
        ("device", device.to_owned()),
        ("cpu_capability", report.cpu_capability.clone()),
        ("mkl_cbwr", std::env::var("MKL_CBWR").unwrap_or_else(|_| "AUTO".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let options = RunOptions {
        jobs,
        threads_per_step: config.threads_per_step,
        fail_fast: args.fail_fast,
        // Pinned so every worker uses the kernels the key names.
        worker_env: vec![
            ("ATEN_CPU_CAPABILITY".into(), report.cpu_capability.to_lowercase()),
            ("MKL_CBWR".into(), environment["mkl_cbwr"].clone()),
        ],
        environment,
    };
    let executor = Executor { plan: &plan, store: &store, worker, options };
    let quiet = args.quiet;
    let summary = executor.run(&mut |event| {
        if quiet && !matches!(event, RunEvent::Failed { .. }) {
            return;
        }
        match event {
            RunEvent::Cached { .. } => {}
            RunEvent::Started { instance } => eprintln!("  run     {instance}"),
            RunEvent::Finished { instance, seconds } => {
                eprintln!("  done    {instance} ({seconds:.2} s)");
            }
            RunEvent::Failed { instance, error } => eprintln!("  FAILED  {instance}: {error}"),
            RunEvent::Skipped { instance, because } => {
                eprintln!("  skip    {instance} (needs {because})");
            }
        }
    });
    eprintln!(
        "{} instances: {} ran, {} cached, {} failed, {} not run",
        plan.order.len(),
        summary.executed,
        summary.cached,
        summary.failed.len(),
        summary.skipped
    );
    for (instance, error) in &summary.failed {
        eprintln!("error: {instance} failed: {error}");
    }
    Ok(if summary.failed.is_empty() { ExitCode::Success } else { ExitCode::Failed })
}

/// Refuses, before anything runs, a plan that uses a step kind or constructor declared but not
/// implemented yet.
fn refuse_unimplemented(plan: &plan::Plan) -> Result<(), Failure> {
    for instance in plan.instances() {
        let kind = registry::step_kind(instance.kind).expect("planned kinds are registered");
        if let Status::Pending { issue } = kind.status {
            return Err(not_implemented(&format!("`{}` steps", kind.name), issue));
        }
        for value in instance.params.values() {
            if let Some((name, issue)) = pending_constructor(value) {
                return Err(not_implemented(&format!("`{name}`"), issue));
            }
        }
    }
    Ok(())
}

fn pending_constructor(value: &Value) -> Option<(&'static str, u32)> {
    match &value.kind {
        ValueKind::Ctor { name, args, .. } => match registry::constructor(name).map(|c| c.status) {
            Some(Status::Pending { issue }) => Some((name, issue)),
            _ => args.values().find_map(pending_constructor),
        },
        ValueKind::List(items) | ValueKind::Sweep(items) => {
            items.iter().find_map(pending_constructor)
        }
        ValueKind::Record(fields) => fields.values().find_map(pending_constructor),
        _ => None,
    }
}

fn not_implemented(what: &str, issue: u32) -> Failure {
    Failure::new(FailureClass::NotImplemented, format!("{what} cannot run: not implemented yet"))
        .with_hint(format!("it is declared so specs check; issue {issue} builds it"))
}
