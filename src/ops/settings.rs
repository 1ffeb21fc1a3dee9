//! The settings an operation runs under, resolved with the precedence caller (the command
//! line, a Python call) > environment > `devspec.toml`: store, jobs, worker, and the
//! environment part of every key. The CLI and the Python module resolve them here, so both
//! compute the same keys for the same spec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec_protocol::VersionReport;

use super::Session;
use crate::exec::{
    RunOptions, ThreadsPerStep, WorkerDeadlines, WorkerLocator, latest_cached_report, worker_report,
};
use crate::failure::Failure;
use crate::project_config::ProjectConfig;
use crate::store::Store;

/// What the caller set; `None` falls through to the environment, then `devspec.toml`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub store: Option<PathBuf>,
    pub threads: Option<ThreadsPerStep>,
    pub device: Option<String>,
    pub jobs: Option<usize>,
    pub batch: Option<u32>,
    pub worker: Option<PathBuf>,
}

/// Whether the operation needs a worker it could start, or only the keys of what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerNeed {
    /// Running, or asking the worker for its report when none is cached.
    Start,
    /// Reading results: a worker is used when found, else the report the store cached last.
    Read,
}

/// Sibling instances one request computes together, unless a setting says otherwise.
const DEFAULT_BATCH: u32 = 16;

impl Session {
    /// The settings for an operation that may run steps: a worker must be found.
    pub fn resolve(file: &Path, settings: &Settings) -> Result<Session, Failure> {
        resolve(file, settings, WorkerNeed::Start)
    }

    /// The settings for reading results (`show`, tables, checkpoints, reports from the store):
    /// no worker executable needed. A worker that can be found decides the keys' environment as
    /// in a run; without one, the version report the store cached last does (the libtorch and
    /// CPU kernels its results were computed with). A store with no cached report has run
    /// nothing, and says so.
    pub fn for_reading(file: &Path, settings: &Settings) -> Result<Session, Failure> {
        resolve(file, settings, WorkerNeed::Read)
    }
}

fn resolve(file: &Path, settings: &Settings, need: WorkerNeed) -> Result<Session, Failure> {
    let absolute = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let folder = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let config =
        ProjectConfig::discover(&folder)?.unwrap_or_else(|| ProjectConfig::defaults(&folder));
    let store_path = settings
        .store
        .clone()
        .or_else(|| std::env::var_os("DEVSPEC_STORE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| config.store.clone());
    let jobs = jobs(settings.jobs, from_env("DEVSPEC_JOBS")?, config.jobs, one_per_core());
    let threads_per_step = match settings.threads {
        Some(threads) => threads,
        None => threads_from_env()?.unwrap_or(config.threads_per_step),
    };
    let batch =
        settings.batch.or(from_env("DEVSPEC_BATCH")?).or(config.batch).unwrap_or(DEFAULT_BATCH);
    let (requested_device, device_from) = match (&settings.device, env_text("DEVSPEC_DEVICE")) {
        (Some(device), _) => (device.clone(), "--device"),
        (None, Some(device)) => (device, "DEVSPEC_DEVICE"),
        (None, None) => (config.device.clone(), "`run.device` in devspec.toml"),
    };
    let store = Store::open(&store_path)?;
    let deadlines = worker_deadlines(&config)?;
    let located = WorkerLocator::from_env(settings.worker.clone(), config.worker.clone()).locate();
    let (worker, report) = match (located, need) {
        (Ok(location), _) => {
            let report = worker_report(&store, &location.path, deadlines)?;
            (location.path, report)
        }
        (Err(failure), WorkerNeed::Start) => return Err(failure),
        (Err(failure), WorkerNeed::Read) => match latest_cached_report(&store) {
            Some(report) => (PathBuf::new(), report),
            None => {
                return Err(Failure::environment(format!(
                    "{}, and the store {} holds no results yet to read",
                    failure.message,
                    store.root().display()
                ))
                .with_hint("run the study first (`devspec run FILE`), or name the store that holds its results"));
            }
        },
    };
    let device = resolve_device(&requested_device, device_from, report.cuda_available)?;
    let options = run_options(&absolute, &config, &store, &report, device, deadlines);
    let options = RunOptions {
        jobs,
        threads_per_step,
        max_batch: usize::try_from(batch.max(1)).unwrap_or(1),
        ..options
    };
    Ok(Session { config, store, worker, options })
}

/// The run options that follow from the worker's report and the spec's place in the project.
fn run_options(
    absolute: &Path,
    config: &ProjectConfig,
    store: &Store,
    report: &VersionReport,
    device: String,
    deadlines: WorkerDeadlines,
) -> RunOptions {
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
    RunOptions {
        jobs: 1,
        threads_per_step: ThreadsPerStep::ONE,
        fail_fast: false,
        max_batch: 1,
        device,
        // Pinned so every worker uses the kernels the key names. And OpenMP's idle threads
        // sleep rather than spin, unless the user says otherwise: with `--jobs` workers per core
        // already, a step's spinning threads take the cores its siblings need (measured on 2
        // busy cores: an LLC at `--threads 2` ran at 4 chain-steps/s spinning, 26 sleeping). The
        // wait policy changes no number. glibc's allocator keeps freed memory for the next
        // step ([`KEEP_FREED_MEMORY`]), unless the user tunes it.
        worker_env: [
            ("ATEN_CPU_CAPABILITY".to_owned(), report.cpu_capability.to_lowercase()),
            ("MKL_CBWR".to_owned(), mkl_cbwr),
        ]
        .into_iter()
        .chain(
            std::env::var_os("OMP_WAIT_POLICY")
                .is_none()
                .then(|| ("OMP_WAIT_POLICY".to_owned(), "passive".to_owned())),
        )
        .chain(
            std::env::var_os("GLIBC_TUNABLES")
                .is_none()
                .then(|| ("GLIBC_TUNABLES".to_owned(), KEEP_FREED_MEMORY.to_owned())),
        )
        .collect(),
        deadlines,
        environment,
        spec_id,
        spec_digest: std::fs::read(absolute)
            .map(|bytes| blake3::hash(&bytes).to_hex().to_string())
            .unwrap_or_default(),
        files: std::sync::Arc::new(crate::store::FileDigests::new(store.root())),
        slurm: None,
    }
}

/// glibc's allocator settings for the worker (read by the loader at its start): every block
/// comes from the heap, none is mapped on its own, and up to 1 GiB of freed heap stays mapped.
/// By default glibc maps each block above 128 KiB on its own and unmaps it on `free`, and hands
/// the heap's free top back past 128 KiB; a step allocates and frees the same large tensors
/// every iteration, so the worker faulted fresh zeroed pages in again and again
/// (`exc_page_fault` was 9.5% of a TMS training request's profile), and a worker's first
/// request of a shape took twice the time of the same request after it (200 steps of a 64x16
/// TMS: 0.45 s against 0.23 s; with the heap kept, 0.21 s and 0.20 s). That first-request cost
/// also set the cost calibration's n- and 2n-step requests against each other. glibc maps a
/// block above 32 MiB on its own whatever the threshold (its largest), so that setting stopped
/// there: the LLC of a 1e7-parameter MLP (4 chains x 5 steps, activations of 57 MB a chain)
/// faulted 22 GB of zeroed pages in (5.5 million faults, half the worker's time in the kernel);
/// with no block mapped apart, 1.2 million, near its own 3 GB of first touches. Its LLC one
/// chain at a time (the worker's way at that size, `estimate::llc`'s `RUN_PARAMETERS`): 15.3 s
/// before, 7.7 s after; the trim threshold at 256 MiB gave back 3 to 4 s of that, 1 GiB held
/// it. This holds for the main thread's heap, where steps run; another thread's arena (a
/// transformer's member threads) grows in heaps of at most 64 MiB, and a block too large for one
/// is still mapped apart. The cost: the heap's free top goes back only once it passes 1 GiB,
/// and a freed block below a live one stays, so a worker may hold close to its largest
/// request's memory (as it already could for every block up to 32 MiB), while the memory check
/// prices one instance at a time. So a worker that ran a request estimated at 1 GiB or more is
/// replaced before the next (`exec::pool`'s `REPLACE_WORKER_AFTER_BYTES`), and one that ran
/// only smaller requests holds at most about 1 GiB it does not use. Where a tensor's bytes sit
/// changes none of its numbers: ATen aligns every CPU tensor to 64 bytes however its memory
/// came.
pub const KEEP_FREED_MEMORY: &str =
    "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824";

/// Worker requests at once: the caller's, else the environment's, else `devspec.toml`'s;
/// 0 (wherever it is set, as devspec.toml documents) or nothing means one per core.
fn jobs(caller: Option<usize>, env: Option<usize>, config: Option<usize>, cores: usize) -> usize {
    caller.or(env).or(config).filter(|&jobs| jobs > 0).unwrap_or(cores).max(1)
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

/// `DEVSPEC_THREADS`: a number of threads or `auto`; unset or empty when absent.
fn threads_from_env() -> Result<Option<ThreadsPerStep>, Failure> {
    let Some(text) = env_text("DEVSPEC_THREADS") else { return Ok(None) };
    text.parse().map(Some).map_err(|err| {
        Failure::bad_input(format!("DEVSPEC_THREADS: {err}"))
            .with_hint("set DEVSPEC_THREADS to a number of threads or `auto`, or unset it")
    })
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
