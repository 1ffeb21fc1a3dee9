//! The worker's version report (libtorch version, CUDA, CPU kernels), cached in the store and
//! keyed by the worker executable's path, size and modification time, so `plan`, `status` and a
//! no-op `run` know it without paying a worker's start (libtorch loads in about 0.2 s). A report
//! not cached is asked of a worker started under the run's deadlines, and checked at its
//! handshake like any worker's.

use std::path::Path;
use std::time::UNIX_EPOCH;

use devspec_protocol::{VersionReport, store_layout};

use super::worker_process::{WorkerDeadlines, WorkerProcess, WorkerProcessError};
use crate::store::Store;

/// What names an executable's build without reading it: its path, size and modification time
/// (`None` when it cannot be read). A rebuilt executable gets another stamp.
pub fn executable_stamp(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime =
        meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
    Some(format!("{}\n{}\n{}", path.display(), meta.len(), mtime.as_nanos()))
}

pub fn worker_report(
    store: &Store,
    worker: &Path,
    deadlines: WorkerDeadlines,
) -> Result<VersionReport, WorkerProcessError> {
    let cache = executable_stamp(worker).map(|stamp| {
        store
            .root()
            .join("workers")
            .join(format!("{}.json", store_layout::digest(stamp.as_bytes())))
    });
    if let Some(report) = cache
        .as_deref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str::<VersionReport>(&text).ok())
        .filter(|report| report.protocol == devspec_protocol::PROTOCOL_VERSION)
    {
        // Its time says when a worker was last used with this store: what a reader without a
        // worker takes (`latest_cached_report`). A failed touch only makes that older.
        if let Some(path) = cache.as_deref()
            && let Ok(file) = std::fs::File::options().write(true).open(path)
        {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
        return Ok(report);
    }
    let report = WorkerProcess::spawn_with(worker, &[], deadlines)?.version()?;
    if let Some(path) = cache {
        // A cache: failing to write it only costs the next command a worker start.
        let text = serde_json::to_vec_pretty(&report).expect("reports serialize");
        let _ = store_layout::write_atomically(store.root(), &path, &text);
    }
    Ok(report)
}

/// The version report of the worker used last with this store (each use touches its cached
/// report, so the newest modification time says which), of any worker:
/// what reading results uses for the keys' environment when no worker can be found. `None`
/// when no worker ever reported to this store, so nothing was computed in it.
pub fn latest_cached_report(store: &Store) -> Option<VersionReport> {
    let entries = std::fs::read_dir(store.root().join("workers")).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let report = serde_json::from_str::<VersionReport>(&text).ok()?;
            (report.protocol == devspec_protocol::PROTOCOL_VERSION).then_some((modified, report))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, report)| report)
}
