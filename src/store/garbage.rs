//! Garbage collection: removes manifests and blobs that nothing kept refers to. Entries younger
//! than a minimum age ([`MIN_AGE`] by default) are never removed; neither is anything a live run
//! ([`LiveRuns`]) registered as reaching, nor anything written since the earliest live run
//! started, whatever the minimum age: a run going on at the same time never loses what it has
//! written or is about to read.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use devspec_protocol::store_layout;

use super::{LiveRuns, Store};

/// How old an unreferenced entry must be before `gc` removes it, by default.
pub const MIN_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub manifests: usize,
    pub blobs: usize,
    pub logs: usize,
    pub bytes: u64,
    /// Partial writes left by killed processes.
    pub temp_files: usize,
}

impl Store {
    /// Removes every manifest whose key is not in `keep` and every blob no kept manifest lists,
    /// except entries younger than `min_age`; with `dry_run`, only counts them. A training
    /// trajectory's stored states stay, with their blobs, when the trajectory is in `continuing`
    /// (instances that will run may go on from them), and otherwise as long as their blobs are
    /// kept anyway (a kept checkpoint is the state a longer run would continue from). The keys
    /// and trajectories of `live` runs are kept as if in `keep` and `continuing`, and so is
    /// every entry written since the earliest of them started.
    pub fn collect_garbage(
        &self,
        keep: &HashSet<String>,
        continuing: &HashSet<String>,
        live: &LiveRuns,
        min_age: Duration,
        dry_run: bool,
    ) -> std::io::Result<GcReport> {
        let mut report = GcReport::default();
        let keep: HashSet<String> = keep.union(&live.keys).cloned().collect();
        let continuing: HashSet<String> = continuing.union(&live.trajectories).cloned().collect();
        let old_enough = |path: &Path| {
            std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|modified| {
                SystemTime::now().duration_since(modified).unwrap_or_default() >= min_age
                    && !live.may_have_written(modified)
            })
        };
        let mut live_blobs: HashSet<String> = HashSet::new();
        for path in files_under(&self.root.join("actions"))? {
            let key = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            if keep.contains(&key) {
                if let Some(manifest) = self.manifest(&key) {
                    live_blobs.extend(manifest.outputs.into_values());
                }
            } else if old_enough(&path) {
                report.manifests += 1;
                report.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
                if !dry_run {
                    std::fs::remove_file(&path)?;
                }
            } else if let Some(manifest) = self.manifest(&key) {
                // Too young to judge: a run may be about to use it; its blobs stay too.
                live_blobs.extend(manifest.outputs.into_values());
            }
        }
        for path in files_under(&self.root.join("trajectories"))? {
            let trajectory = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let blobs = point_blobs(&path);
            if continuing.contains(trajectory) || !old_enough(&path) {
                live_blobs.extend(blobs);
            } else if blobs.is_empty() || !blobs.iter().all(|b| live_blobs.contains(b)) {
                report.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
                if !dry_run {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        for path in files_under(&self.root.join("blobs"))? {
            let digest = path.file_name().and_then(|s| s.to_str()).unwrap_or_default();
            if !live_blobs.contains(digest) && old_enough(&path) {
                report.blobs += 1;
                report.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
                if !dry_run {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        // A step's log lives as long as its key is kept (a failed step's log, which has no
        // manifest, until it is old enough).
        for entry in std::fs::read_dir(self.root.join("logs")).into_iter().flatten() {
            let path = entry?.path();
            let key = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if !keep.contains(key) && old_enough(&path) {
                report.logs += 1;
                report.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
                if !dry_run {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        if !dry_run {
            // A partial write is as old as the process that left it; one from before every
            // live run and older than `min_age` was left by a killed process.
            let before_live = live.earliest.map_or(Duration::ZERO, |earliest| {
                SystemTime::now().duration_since(earliest).unwrap_or_default() + MIN_TEMP_MARGIN
            });
            report.temp_files =
                store_layout::remove_stale_temp_files(&self.root, min_age.max(before_live));
        }
        Ok(report)
    }
}

/// How much older than the earliest live run a partial write must be to count as left behind.
const MIN_TEMP_MARGIN: Duration = Duration::from_secs(2);

/// The blobs a trajectory's stored state names: its parameters and optimizer state.
fn point_blobs(path: &Path) -> Vec<String> {
    let Some(record) = std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
    else {
        return Vec::new();
    };
    ["params", "optimizer"]
        .into_iter()
        .filter_map(|f| Some(record.get(f)?.as_str()?.to_owned()))
        .collect()
}

/// Files two levels down (`shard/name`), the layout of `actions/`, `blobs/` and
/// `trajectories/`.
fn files_under(folder: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(folder) else { return Ok(files) };
    for shard in shards {
        let shard = shard?.path();
        if shard.is_dir() {
            for entry in std::fs::read_dir(&shard)? {
                files.push(entry?.path());
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};
    use std::time::{Duration, SystemTime};

    use devspec_protocol::store_layout;

    use crate::store::Store;

    #[test]
    fn what_was_written_since_a_live_run_started_is_kept_whatever_the_min_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = store_layout::put_blob(store.root(), b"from before the run").unwrap();
        let path = store_layout::blob_path(store.root(), &old);
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        let run = store.register_run(BTreeSet::new(), BTreeSet::new()).unwrap();
        let new = store_layout::put_blob(store.root(), b"written by the run").unwrap();
        let none = HashSet::new();
        let collect = || {
            let live = store.live_runs(false).unwrap();
            store.collect_garbage(&none, &none, &live, Duration::ZERO, false).unwrap()
        };
        assert_eq!(collect().blobs, 1, "only the blob from before the run goes");
        assert!(!path.exists());
        assert!(store_layout::blob_path(store.root(), &new).exists());
        // Once the run has ended, nothing protects it.
        drop(run);
        assert_eq!(collect().blobs, 1);
    }
}
