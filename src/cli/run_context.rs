//! What `run`, `plan` and `status` share: the checked and planned spec, and the project's
//! settings resolved (command line, then environment, then `devspec.toml`): store, jobs,
//! worker, and the environment part of every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use crate::compile::{self, CompileError};
use crate::diagnostic::render;
use crate::exec::{RunOptions, WorkerDeadlines, WorkerLocator, worker_report};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::Session;
use crate::plan::{self, Plan};
use crate::project_config::ProjectConfig;
use crate::source::SourceMap;
use crate::store::Store;

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

/// Sibling instances one request computes together, unless a setting says otherwise.
const DEFAULT_BATCH: u32 = 16;

/// A spec, planned; or the exit code after its diagnostics were printed.
pub fn planned(file: &Path, sets: &[String]) -> Result<Result<Plan, ExitCode>, Failure> {
    Ok(planned_with_sources(file, sets)?.map(|(plan, _)| plan))
}

/// A spec, planned, with every source file it read (the spec and its imports); or the exit
/// code after its diagnostics were printed.
pub fn planned_with_sources(
    file: &Path,
    sets: &[String],
) -> Result<Result<(Plan, SourceMap), ExitCode>, Failure> {
    let mut sources = SourceMap::new();
    let program = match compile::check_path(file, sets, &mut sources) {
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
/// the session operations run under.
pub fn session(args: &ContextArgs<'_>) -> Result<Session, Failure> {
    let absolute = args.file.canonicalize().unwrap_or_else(|_| args.file.to_path_buf());
    let folder = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let config =
        ProjectConfig::discover(&folder)?.unwrap_or_else(|| ProjectConfig::defaults(&folder));
    let settings = &args.settings;
    let store_path = settings
        .store
        .clone()
        .or_else(|| std::env::var_os("DEVSPEC_STORE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| config.store.clone());
    let jobs = jobs(args.jobs, from_env("DEVSPEC_JOBS")?, config.jobs, one_per_core());
    let threads_per_step = settings
        .threads
        .or(from_env::<u32>("DEVSPEC_THREADS")?.filter(|&n| n > 0))
        .unwrap_or(config.threads_per_step);
    let batch = args.batch.or(from_env("DEVSPEC_BATCH")?).or(config.batch).unwrap_or(DEFAULT_BATCH);
    let (requested_device, device_from) = match (&settings.device, env_text("DEVSPEC_DEVICE")) {
        (Some(device), _) => (device.clone(), "--device"),
        (None, Some(device)) => (device, "DEVSPEC_DEVICE"),
        (None, None) => (config.device.clone(), "`run.device` in devspec.toml"),
    };
    let store = Store::open(&store_path)?;
    let worker = WorkerLocator::from_env(args.worker.clone(), config.worker.clone()).locate()?.path;
    let deadlines = worker_deadlines(&config)?;
    let report = worker_report(&store, &worker, deadlines)?;
    let device = resolve_device(&requested_device, device_from, report.cuda_available)?;
    let device_kind = if device.starts_with("cuda") { "cuda" } else { "cpu" };
    let mkl_cbwr = std::env::var("MKL_CBWR").unwrap_or_else(|_| "AUTO".into());
    let environment: BTreeMap<String, String> = [
        ("libtorch", report.libtorch.clone()),
        ("device", device_kind.to_owned()),
        ("cpu_capability", report.cpu_capability.clone()),
        // What decides MKL's kernels here, not only the variable (src/exec/mkl_path.rs).
        ("mkl", crate::exec::mkl_path::this_machine()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let spec_id = absolute
        .strip_prefix(config.root.canonicalize().unwrap_or_else(|_| config.root.clone()))
        .map_or_else(|_| absolute.display().to_string(), |rel| rel.display().to_string());
    let options = RunOptions {
        jobs,
        threads_per_step,
        fail_fast: false,
        max_batch: usize::try_from(batch.max(1)).unwrap_or(1),
        device,
        // Pinned so every worker uses the kernels the key names.
        worker_env: vec![
            ("ATEN_CPU_CAPABILITY".into(), report.cpu_capability.to_lowercase()),
            ("MKL_CBWR".into(), mkl_cbwr),
        ],
        deadlines,
        environment,
        spec_id,
        spec_digest: std::fs::read(&absolute)
            .map(|bytes| blake3::hash(&bytes).to_hex().to_string())
            .unwrap_or_default(),
        files: std::sync::Arc::new(crate::store::FileDigests::new(store.root())),
        slurm: None,
    };
    Ok(Session { config, store, worker, options })
}

/// Worker requests at once: the command line's, else the environment's, else `devspec.toml`'s;
/// 0 (wherever it is set, as devspec.toml documents) or nothing means one per core.
fn jobs(cli: Option<usize>, env: Option<usize>, config: Option<usize>, cores: usize) -> usize {
    cli.or(env).or(config).filter(|&jobs| jobs > 0).unwrap_or(cores).max(1)
}

/// This machine's cores, as far as this process may use them.
fn one_per_core() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A setting from the environment: absent or empty is `None`; anything else must parse.
fn from_env<T: std::str::FromStr>(name: &str) -> Result<Option<T>, Failure> {
    match env_text(name) {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).map_err(|_| {
            Failure::bad_input(format!("{name}={text} is not a whole number"))
                .with_hint(format!("set {name} to a positive whole number, or unset it"))
        }),
    }
}

/// How long devspec waits on its workers: the heartbeat interval from `DEVSPEC_HEARTBEAT`, then
/// `run.heartbeat_seconds`, then the default.
pub fn worker_deadlines(config: &ProjectConfig) -> Result<WorkerDeadlines, Failure> {
    let name = devspec_protocol::HEARTBEAT_ENV;
    match env_text(name) {
        Some(text) => text.trim().parse().ok().and_then(WorkerDeadlines::every).ok_or_else(|| {
            Failure::bad_input(format!("{name}={text} is not a positive number of seconds"))
                .with_hint(format!("set {name} to how often a busy worker says it is alive, e.g. 5 or 0.5, or unset it"))
        }),
        None => Ok(config
            .heartbeat_seconds
            .and_then(WorkerDeadlines::every)
            .unwrap_or_default()),
    }
}

fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The device a run's `auto` steps use: `auto` picks CUDA when the worker sees it. Asking for
/// CUDA where there is none is refused before anything runs.
fn resolve_device(requested: &str, from: &str, cuda: bool) -> Result<String, Failure> {
    let requested = requested.trim();
    let is_cuda = requested == "cuda"
        || requested.strip_prefix("cuda:").is_some_and(|n| n.parse::<u32>().is_ok());
    match requested {
        "auto" => Ok(if cuda { "cuda".into() } else { "cpu".into() }),
        "cpu" => Ok("cpu".into()),
        _ if is_cuda && cuda => Ok(requested.to_owned()),
        _ if is_cuda => Err(Failure::environment(format!(
            "{from} asks for device `{requested}`, but the worker sees no CUDA device"
        ))
        .with_hint("use `cpu` or `auto`, or run where libtorch finds a GPU")),
        _ => Err(Failure::bad_input(format!("{from}: unknown device `{requested}`"))
            .with_hint("devices are `auto`, `cpu`, `cuda` and `cuda:N`")),
    }
}

#[cfg(test)]
mod tests {
    use super::{jobs, resolve_device};

    #[test]
    fn jobs_0_means_one_per_core_wherever_it_is_set() {
        let cores = 12;
        assert_eq!(jobs(Some(0), None, None, cores), cores, "--jobs 0");
        assert_eq!(jobs(None, Some(0), Some(3), cores), cores, "DEVSPEC_JOBS=0 over the toml");
        assert_eq!(jobs(Some(0), Some(2), Some(3), cores), cores, "--jobs 0 wins");
        assert_eq!(jobs(None, None, None, cores), cores, "nothing set");
        assert_eq!(jobs(None, None, Some(3), cores), 3);
        assert_eq!(jobs(Some(5), Some(2), Some(3), cores), 5);
        assert_eq!(jobs(None, None, None, 0), 1, "never 0 requests at once");
    }

    #[test]
    fn devices_resolve_or_are_refused_with_their_source() {
        assert_eq!(resolve_device("auto", "x", false).unwrap(), "cpu");
        assert_eq!(resolve_device("auto", "x", true).unwrap(), "cuda");
        assert_eq!(resolve_device("cuda:1", "x", true).unwrap(), "cuda:1");
        let no_gpu = resolve_device("cuda", "DEVSPEC_DEVICE", false).unwrap_err();
        assert!(no_gpu.message.contains("DEVSPEC_DEVICE asks for device `cuda`"), "{no_gpu}");
        let unknown = resolve_device("tpu", "--device", true).unwrap_err();
        assert!(unknown.message.contains("--device: unknown device `tpu`"), "{unknown}");
    }
}
