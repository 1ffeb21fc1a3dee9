//! TEMPORARY, to be replaced by `devspec::ops::Session::for_reading` when it lands on main: the
//! settings a reader resolves without a worker binary (the keys' environment part from the
//! worker report the store cached when the study ran).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec::exec::{RunOptions, WorkerDeadlines};
use devspec::failure::Failure;
use devspec::ops::Session;
use devspec::project_config::ProjectConfig;
use devspec::store::{FileDigests, Store};
use devspec_protocol::VersionReport;

/// The session `status`, `table`, `checkpoint` and `report` read under.
pub fn reading_session(spec: &Path, store: Option<&Path>) -> Result<Session, Failure> {
    let absolute = spec.canonicalize().unwrap_or_else(|_| spec.to_path_buf());
    let folder = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let config =
        ProjectConfig::discover(&folder)?.unwrap_or_else(|| ProjectConfig::defaults(&folder));
    let store_path = store
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DEVSPEC_STORE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| config.store.clone());
    let store = Store::open(&store_path)?;
    let report = newest_report(&store).ok_or_else(|| {
        Failure::bad_input(format!("the store {} has no results yet", store_path.display()))
            .with_hint("run the study first: `Study.run()` or `devspec run FILE`")
    })?;
    let threads_per_step = std::env::var("DEVSPEC_THREADS")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|&n: &u32| n > 0)
        .unwrap_or(config.threads_per_step);
    let device = match config.device.as_str() {
        "auto" if report.cuda_available => "cuda",
        "auto" | "cpu" => "cpu",
        _ => "cuda",
    };
    let environment: BTreeMap<String, String> = [
        ("libtorch", report.libtorch.clone()),
        ("device", device.to_owned()),
        ("cpu_capability", report.cpu_capability.clone()),
        ("mkl", devspec::exec::mkl_path::this_machine()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let spec_id = absolute
        .strip_prefix(config.root.canonicalize().unwrap_or_else(|_| config.root.clone()))
        .map_or_else(|_| absolute.display().to_string(), |rel| rel.display().to_string());
    let options = RunOptions {
        jobs: 1,
        threads_per_step,
        fail_fast: false,
        max_batch: 1,
        device: device.to_owned(),
        worker_env: Vec::new(),
        deadlines: WorkerDeadlines::default(),
        environment,
        spec_id,
        spec_digest: String::new(),
        files: std::sync::Arc::new(FileDigests::new(store.root())),
        slurm: None,
    };
    Ok(Session { config, store, worker: PathBuf::new(), options })
}

/// The worker report the store cached last.
fn newest_report(store: &Store) -> Option<VersionReport> {
    let entries = std::fs::read_dir(store.root().join("workers")).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .and_then(|(_, path)| serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok())
}
