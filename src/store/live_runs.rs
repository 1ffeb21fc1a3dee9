//! [`LiveRun`]: a `devspec run` in progress, registered in the store (`runs/PID.json`: when it
//! started, and the keys and trajectories its plan reached when it started) so that `devspec
//! gc` never removes what a live run has written or is about to read, whatever `--min-age`.
//! [`LiveRuns`] is what gc reads back: every live run's keys and trajectories, and when the
//! earliest of them started (everything written since then may be a live run's).
//!
//! A registration is held under an exclusive `flock` for the run's whole life. The OS releases
//! the lock when the run ends or is killed, so a dead run's registration (its lock free) is
//! recognised as stale and removed, whatever process id it names.

use std::collections::{BTreeSet, HashSet};
use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use devspec_protocol::store_layout;
use serde::{Deserialize, Serialize};

use super::Store;

/// Timestamps of files and of a run's start may round differently; an entry this much older
/// than a live run's start still counts as written during it.
const CLOCK_MARGIN: Duration = Duration::from_secs(2);

/// A registered live run; dropping it removes the registration and releases its lock.
pub struct LiveRun {
    path: PathBuf,
    // Held for its lock.
    _file: File,
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        // While the lock is still held, so no gc takes the half-removed file for stale.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Registration {
    pid: u32,
    /// Seconds since the Unix epoch.
    started: f64,
    keys: BTreeSet<String>,
    trajectories: BTreeSet<String>,
}

/// What the live runs on a store need kept.
#[derive(Debug, Default)]
pub struct LiveRuns {
    pub count: usize,
    pub keys: HashSet<String>,
    pub trajectories: HashSet<String>,
    /// When the earliest live run started.
    pub earliest: Option<SystemTime>,
}

impl LiveRuns {
    /// Whether a file modified at `modified` may have been written by a live run.
    pub fn may_have_written(&self, modified: SystemTime) -> bool {
        self.earliest.is_some_and(|earliest| modified + CLOCK_MARGIN >= earliest)
    }
}

impl Store {
    /// Registers this process as a live run that reads and writes `keys` (and the states of
    /// `trajectories`). Fails when the store cannot take the registration (full, read-only).
    pub fn register_run(
        &self,
        keys: BTreeSet<String>,
        trajectories: BTreeSet<String>,
    ) -> std::io::Result<LiveRun> {
        let started = SystemTime::now();
        let folder = self.root.join("runs");
        let pid = std::process::id();
        // Written under a name gc skips, locked, then renamed into place: gc never sees an
        // unlocked registration (the lock follows the file through the rename).
        let partial = folder.join(format!(".{pid}.partial"));
        let path = folder.join(format!("{pid}.json"));
        let registration = Registration {
            pid,
            started: started
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            keys,
            trajectories,
        };
        let text = serde_json::to_vec(&registration).expect("registrations serialize");
        let written = (|| {
            let mut file = store_layout::with_parent(&partial, || File::create(&partial))?;
            file.lock()?;
            file.write_all(&text)?;
            std::fs::rename(&partial, &path)?;
            Ok(file)
        })();
        match written {
            Ok(file) => Ok(LiveRun { path, _file: file }),
            Err(err) => {
                let _ = std::fs::remove_file(&partial);
                Err(err)
            }
        }
    }

    /// The runs live on this store now. A registration whose lock is free belongs to a run that
    /// ended without removing it (killed): it is removed, unless `dry_run`.
    pub fn live_runs(&self, dry_run: bool) -> std::io::Result<LiveRuns> {
        let mut live = LiveRuns::default();
        let Ok(entries) = std::fs::read_dir(self.root.join("runs")) else { return Ok(live) };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let Ok(mut file) = File::open(&path) else { continue };
            match file.try_lock() {
                Ok(()) => {
                    if !dry_run {
                        let _ = std::fs::remove_file(&path);
                    }
                    continue;
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(err)) => return Err(err),
            }
            let mut text = Vec::new();
            file.read_to_end(&mut text)?;
            let Ok(registration) = serde_json::from_slice::<Registration>(&text) else {
                // Locked yet unreadable: a live run of another devspec version. Only its age
                // protects what it writes: everything from before now is kept.
                live.count += 1;
                live.earliest = Some(SystemTime::UNIX_EPOCH);
                continue;
            };
            let started =
                SystemTime::UNIX_EPOCH + Duration::from_secs_f64(registration.started.max(0.0));
            live.count += 1;
            live.earliest = Some(live.earliest.map_or(started, |e| e.min(started)));
            live.keys.extend(registration.keys);
            live.trajectories.extend(registration.trajectories);
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_is_live_while_held_and_stale_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let keys: BTreeSet<String> = ["k1".to_owned(), "k2".to_owned()].into();
        let run = store.register_run(keys, ["t".to_owned()].into()).unwrap();
        let live = store.live_runs(false).unwrap();
        assert_eq!(live.count, 1);
        assert!(live.keys.contains("k1") && live.trajectories.contains("t"));
        assert!(live.may_have_written(SystemTime::now()));
        assert!(!live.may_have_written(SystemTime::now() - Duration::from_secs(60)));
        drop(run);
        assert_eq!(store.live_runs(false).unwrap().count, 0);
        assert_eq!(std::fs::read_dir(dir.path().join("runs")).unwrap().count(), 0);
    }

    #[test]
    fn a_killed_runs_registration_is_stale_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // What a killed run leaves: the file, with no process holding its lock.
        std::fs::create_dir_all(dir.path().join("runs")).unwrap();
        let text = r#"{"pid":1,"started":0.0,"keys":["k"],"trajectories":[]}"#;
        std::fs::write(dir.path().join("runs/1.json"), text).unwrap();
        let live = store.live_runs(true).unwrap();
        assert_eq!(live.count, 0);
        assert!(dir.path().join("runs/1.json").exists(), "a dry run removes nothing");
        assert_eq!(store.live_runs(false).unwrap().count, 0);
        assert!(!dir.path().join("runs/1.json").exists());
    }
}
