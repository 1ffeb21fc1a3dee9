//! The content-addressed store: blobs named by the BLAKE3 of their bytes, and an action table
//! from step key to [`Manifest`] (output digests, metrics, provenance). Every write is atomic
//! (temp file, fsync, rename: see `devspec_protocol::store_layout`), so a reader never sees a
//! partial entry, and a killed run loses nothing that had completed. Per-key advisory locks
//! ([`KeyLock`]) keep two runs from computing one key twice; the OS releases them when a process
//! dies, so they never go stale.

mod file_digests;
mod garbage;
mod key_lock;
mod live_runs;
mod manifest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec_protocol::store_layout;

pub use file_digests::FileDigests;
pub use garbage::{GcReport, MIN_AGE};
pub use key_lock::KeyLock;
pub use live_runs::{LiveRun, LiveRuns};
pub use manifest::{Manifest, Provenance};

use crate::failure::Failure;

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Why a blob could not be served.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is missing from the store")]
    Missing(String),
    #[error(
        "blob {digest} is corrupted (its bytes hash to {actual}); it was removed and will be recomputed"
    )]
    Corrupted { digest: String, actual: String },
    #[error("cannot read blob {digest}: {source}")]
    Io { digest: String, source: std::io::Error },
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, Failure> {
        for folder in ["blobs", "actions", "locks", "tmp", "logs"] {
            std::fs::create_dir_all(root.join(folder)).map_err(|err| {
                Failure::environment(format!(
                    "cannot create the store at {}: {err}",
                    root.display()
                ))
                .with_hint(
                    "set `store.path` in devspec.toml, or DEVSPEC_STORE, to a writable folder",
                )
            })?;
        }
        Ok(Store { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest recorded for a key, if any. An unreadable or malformed manifest counts as
    /// absent: the step is recomputed rather than trusted.
    pub fn manifest(&self, key: &str) -> Option<Manifest> {
        let text = std::fs::read_to_string(store_layout::action_path(&self.root, key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A key's manifest whose every output blob is present with its recorded size: what a
    /// cache hit requires. Checked by `stat`, so a no-op run stays fast; bytes are verified
    /// against their digest whenever they are read.
    pub fn cached(&self, key: &str) -> Option<Manifest> {
        let manifest = self.manifest(key)?;
        manifest
            .outputs
            .values()
            .all(|digest| {
                let size =
                    std::fs::metadata(store_layout::blob_path(&self.root, digest)).map(|m| m.len());
                size.is_ok_and(|size| manifest.sizes.get(digest) == Some(&size))
            })
            .then_some(manifest)
    }

    /// Records a finished step, atomically, with the sizes of its outputs as they are now
    /// (just written and verified by the worker).
    pub fn record(&self, mut manifest: Manifest) -> std::io::Result<Manifest> {
        for digest in manifest.outputs.values() {
            let size = std::fs::metadata(store_layout::blob_path(&self.root, digest))?.len();
            manifest.sizes.insert(digest.clone(), size);
        }
        let text = serde_json::to_vec_pretty(&manifest).expect("manifests serialize");
        store_layout::write_atomically(
            &self.root,
            &store_layout::action_path(&self.root, &manifest.key),
            &text,
        )?;
        Ok(manifest)
    }

    /// A blob's bytes, verified against its name. A corrupted blob is removed so the step that
    /// made it runs again; it is never served.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let path = store_layout::blob_path(&self.root, digest);
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BlobError::Missing(digest.to_owned()),
            _ => BlobError::Io { digest: digest.to_owned(), source },
        })?;
        let actual = store_layout::digest(&bytes);
        if actual != digest {
            let _ = std::fs::remove_file(&path);
            return Err(BlobError::Corrupted { digest: digest.to_owned(), actual });
        }
        Ok(bytes)
    }

    /// Remembers the keys instances last ran with, for `status --why`: one record per spec
    /// (`spec_id`, its path in the project), merged with what is there, so a step costs no file
    /// of its own. Written without waiting for the disk: a lost record costs an explanation.
    pub fn record_last_keys(
        &self,
        spec_id: &str,
        keys: BTreeMap<String, serde_json::Value>,
    ) -> std::io::Result<()> {
        let path = self.last_keys_path(spec_id);
        // Two runs of one spec merge in turn, so neither loses the other's entries.
        let _lock = self.lock_key(&store_layout::digest(path.to_string_lossy().as_bytes()))?;
        let mut all = self.last_keys(spec_id);
        all.extend(keys);
        let text = serde_json::to_vec(&all).expect("keys serialize");
        store_layout::write_replacing_unsynced(&self.root, &path, &text)
    }

    /// The key each instance of a spec last ran with, by instance name.
    pub fn last_keys(&self, spec_id: &str) -> BTreeMap<String, serde_json::Value> {
        std::fs::read(self.last_keys_path(spec_id))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn last_keys_path(&self, spec_id: &str) -> PathBuf {
        let digest = store_layout::digest(spec_id.as_bytes());
        self.root.join("names").join(format!("{digest}.json"))
    }

    /// Records a spec step's calibration (`devspec calibrate`), replacing an earlier one.
    pub fn record_calibration(
        &self,
        spec_id: &str,
        step: &str,
        record: &serde_json::Value,
    ) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(record).expect("calibrations serialize");
        store_layout::write_atomically(&self.root, &self.calibration_path(spec_id, step), &text)
    }

    /// A spec step's last calibration, if one was recorded.
    pub fn calibration(&self, spec_id: &str, step: &str) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.calibration_path(spec_id, step)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn calibration_path(&self, spec_id: &str, step: &str) -> PathBuf {
        let digest = store_layout::digest(format!("{spec_id}\n{step}").as_bytes());
        self.root.join("calibrations").join(format!("{digest}.json"))
    }

    /// Where an executed instance's log is kept.
    pub fn log_path(&self, key: &str) -> PathBuf {
        self.root.join("logs").join(format!("{key}.log"))
    }

    /// Takes the exclusive lock of a key, waiting while another process holds it.
    pub fn lock_key(&self, key: &str) -> std::io::Result<KeyLock> {
        KeyLock::acquire(&self.root.join("locks"), key)
    }
}
