//! What `run`, `plan` and `status` share: the checked and planned spec, and the project's
//! settings resolved (command line, then environment, then `devspec.toml`): store, jobs,
//! worker, and the environment part of every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compile::{self, CompileError};
use crate::diagnostic::render;
use crate::exec::{RunOptions, WorkerLocator, worker_report};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::plan::{self, Plan};
use crate::project_config::ProjectConfig;
use crate::source::SourceMap;
use crate::store::Store;

/// The command-line settings of the commands that look at the store.
pub struct ContextArgs<'a> {
    pub file: &'a Path,
    pub jobs: Option<usize>,
    pub store: Option<PathBuf>,
    pub worker: Option<PathBuf>,
}

/// A spec, planned; or the exit code after its diagnostics were printed.
pub fn planned(file: &Path, sets: &[String]) -> Result<Result<Plan, ExitCode>, Failure> {
    let mut sources = SourceMap::new();
    let program = match compile::check_path(file, sets, &mut sources) {
        Ok(program) => program,
        Err(CompileError::Unreadable(failure)) => return Err(failure),
        Err(CompileError::Diagnostics(diagnostics)) => {
            for diagnostic in &diagnostics {
                eprint!("{}", render::to_text(&sources, diagnostic));
            }
            return Ok(Err(ExitCode::BadInput));
        }
    };
    match plan::plan(&program) {
        Ok(plan) => Ok(Ok(plan)),
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprint!("{}", render::to_text(&sources, diagnostic));
            }
            Ok(Err(ExitCode::BadInput))
        }
    }
}

pub struct RunContext {
    pub store: Store,
    pub worker: PathBuf,
    pub options: RunOptions,
}

impl RunContext {
    pub fn new(args: &ContextArgs<'_>) -> Result<RunContext, Failure> {
        let absolute = args.file.canonicalize().unwrap_or_else(|_| args.file.to_path_buf());
        let folder = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        let config =
            ProjectConfig::discover(&folder)?.unwrap_or_else(|| ProjectConfig::defaults(&folder));
        let store_path = args
            .store
            .clone()
            .or_else(|| {
                std::env::var_os("DEVSPEC_STORE").filter(|v| !v.is_empty()).map(PathBuf::from)
            })
            .unwrap_or_else(|| config.store.clone());
        let jobs = args
            .jobs
            .or_else(|| std::env::var("DEVSPEC_JOBS").ok().and_then(|v| v.parse().ok()))
            .or(config.jobs)
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            })
            .max(1);
        let store = Store::open(&store_path)?;
        let worker =
            WorkerLocator::from_env(args.worker.clone(), config.worker.clone()).locate()?.path;
        let report = worker_report(&store, &worker)?;
        let device = if report.cuda_available { "cuda" } else { "cpu" };
        let mkl_cbwr = std::env::var("MKL_CBWR").unwrap_or_else(|_| "AUTO".into());
        let environment: BTreeMap<String, String> = [
            ("libtorch", report.libtorch.clone()),
            ("device", device.to_owned()),
            ("cpu_capability", report.cpu_capability.clone()),
            ("mkl_cbwr", mkl_cbwr.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let spec_id = absolute
            .strip_prefix(config.root.canonicalize().unwrap_or_else(|_| config.root.clone()))
            .map_or_else(|_| absolute.display().to_string(), |rel| rel.display().to_string());
        let options = RunOptions {
            jobs,
            threads_per_step: config.threads_per_step,
            fail_fast: false,
            // Pinned so every worker uses the kernels the key names.
            worker_env: vec![
                ("ATEN_CPU_CAPABILITY".into(), report.cpu_capability.to_lowercase()),
                ("MKL_CBWR".into(), mkl_cbwr),
            ],
            environment,
            spec_id,
        };
        Ok(RunContext { store, worker, options })
    }
}
