//! The content-addressed store: blobs named by the BLAKE3 of their bytes, and an action table
//! from step key to [`Manifest`] (output digests, metrics, provenance). Every write is atomic
//! (temp file, fsync, rename: see `devspec_protocol::store_layout`), so a reader never sees a
//! partial entry, and a killed run loses nothing that had completed. Per-key advisory locks
//! ([`KeyLock`]) keep two runs from computing one key twice; the OS releases them when a process
//! dies, so they never go stale.
//!
//! What is read is checked: a manifest by its seal (and, when it has none, against its result),
//! a blob against its digest. What fails is [`Damage`], set aside in `damaged/` and recomputed,
//! never served (`docs/store.md`, "A store that checks what it reads").

mod damage;
mod derived_metrics;
mod file_digests;
mod garbage;
mod integrity;
mod key_lock;
mod live_runs;
mod manifest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec_protocol::store_layout;

pub use damage::{Damage, DamagedPart};
pub use file_digests::FileDigests;
pub use garbage::{GcReport, MIN_AGE};
pub use integrity::{Finding, StoreCheck};
pub use key_lock::KeyLock;
pub use live_runs::{LiveRun, LiveRuns};
pub use manifest::{Manifest, Provenance, Seal, seal_of};

use crate::failure::Failure;

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// What the store holds for a step key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// An intact manifest whose outputs are all present.
    Hit(Box<Manifest>),
    Miss,
    Damaged(Damage),
}

impl Lookup {
    pub fn hit(self) -> Option<Manifest> {
        match self {
            Lookup::Hit(manifest) => Some(*manifest),
            _ => None,
        }
    }
}

/// A result as served ([`Store::served`]): its manifest and its `result` blob's checked bytes
/// (`None` for a step without one).
#[derive(Debug, Clone)]
pub struct Served {
    pub manifest: Manifest,
    pub result: Option<Vec<u8>>,
}

/// Why a blob could not be served.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is missing from the store")]
    Missing(String),
    #[error("blob {digest} is damaged: its bytes hash to {actual}")]
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

    /// The manifest recorded for a key, checked: `Ok(None)` when there is none, [`Damage`]
    /// when it is unreadable, sealed for another key, or its seal does not match its bytes. A
    /// record of an earlier devspec (no seal) is checked against its result instead and, when
    /// it holds, sealed in place, so a store is upgraded, not recomputed.
    pub fn record_of(&self, key: &str) -> Result<Option<Manifest>, Damage> {
        let path = store_layout::action_path(&self.root, key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Damage::record(key, format!("it cannot be read: {err}"))),
        };
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|err| Damage::record(key, format!("it is not a readable record: {err}")))?;
        if manifest.key != key {
            return Err(Damage::record(key, format!("it is the record of key {}", manifest.key)));
        }
        match seal_of(&bytes) {
            Seal::Intact => Ok(Some(manifest)),
            Seal::Broken => Err(Damage::record(key, "its content does not match its checksum")),
            Seal::Absent => {
                self.check_result(&manifest)?;
                // Sealing only saves the next reader this check: a lost write costs nothing.
                let _ = store_layout::write_replacing_unsynced(
                    &self.root,
                    &path,
                    &manifest.sealed_text(),
                );
                Ok(Some(manifest))
            }
        }
    }

    /// Whether a record is stored for a key, by one `stat` (neither read nor checked): what a
    /// run asks of an entry its survey has just looked up in full.
    pub fn has_record(&self, key: &str) -> bool {
        store_layout::action_path(&self.root, key).is_file()
    }

    /// The manifest recorded for a key, if any and intact (see [`Store::record_of`]).
    pub fn manifest(&self, key: &str) -> Option<Manifest> {
        self.record_of(key).ok().flatten()
    }

    /// What the store holds for a key: an intact manifest whose every output blob is present
    /// with its recorded size (a cache hit), nothing, or damage. Blobs are checked by `stat`
    /// here, so a no-op run stays fast; their bytes are checked against their digest whenever
    /// they are read.
    pub fn lookup(&self, key: &str) -> Lookup {
        let manifest = match self.record_of(key) {
            Ok(Some(manifest)) => manifest,
            Ok(None) => return Lookup::Miss,
            Err(damage) => return Lookup::Damaged(damage),
        };
        for (name, digest) in &manifest.outputs {
            let path = store_layout::blob_path(&self.root, digest);
            let detail = match std::fs::metadata(&path).map(|m| m.len()) {
                Ok(size) if manifest.sizes.get(digest) == Some(&size) => continue,
                Ok(size) => format!(
                    "its blob is {size} bytes, its record says {}",
                    manifest.sizes.get(digest).map_or("nothing".into(), u64::to_string)
                ),
                Err(_) => "its blob is missing".to_owned(),
            };
            return Lookup::Damaged(Damage::output(key, name, digest, detail));
        }
        Lookup::Hit(Box::new(manifest))
    }

    /// A key's manifest when it is a cache hit ([`Store::lookup`]); damage counts as absent.
    pub fn cached(&self, key: &str) -> Option<Manifest> {
        self.lookup(key).hit()
    }

    /// A result as served to people and reports (`show`, `report`, `verify`, a run's stage
    /// tables): a cache hit whose `result` blob is read and checked against its digest, and
    /// whose manifest's numbers are re-derived from it. `Ok(None)` when the key has no entry.
    pub fn served(&self, key: &str) -> Result<Option<Served>, Damage> {
        let manifest = match self.lookup(key) {
            Lookup::Hit(manifest) => *manifest,
            Lookup::Miss => return Ok(None),
            Lookup::Damaged(damage) => return Err(damage),
        };
        let result = self.check_result(&manifest)?;
        Ok(Some(Served { manifest, result }))
    }

    /// Checks a manifest's numbers against its `result` blob (read and checked against its
    /// digest; see `derived_metrics`); returns the result's bytes. Sets nothing aside.
    pub fn check_result(&self, manifest: &Manifest) -> Result<Option<Vec<u8>>, Damage> {
        let Some(digest) = manifest.outputs.get("result") else { return Ok(None) };
        let bytes = self
            .verified_bytes(digest)
            .map_err(|err| Damage::output(&manifest.key, "result", digest, err.detail()))?;
        let mismatches = derived_metrics::mismatches(manifest.kind, &manifest.metrics, &bytes)
            .map_err(|detail| Damage::record(&manifest.key, detail))?;
        if let Some((name, recorded, derived)) = mismatches.into_iter().next_back() {
            return Err(Damage::record(
                &manifest.key,
                format!("its {name} is {recorded}, its result says {derived}"),
            ));
        }
        Ok(Some(bytes))
    }

    /// Records a finished step, atomically and sealed, with the sizes of its outputs as they
    /// are now (just written and verified by the worker). Its numbers must be its result's:
    /// a seal vouches for them from then on.
    pub fn record(&self, mut manifest: Manifest) -> std::io::Result<Manifest> {
        for digest in manifest.outputs.values() {
            let size = std::fs::metadata(store_layout::blob_path(&self.root, digest))?.len();
            manifest.sizes.insert(digest.clone(), size);
        }
        if let Err(damage) = self.check_result(&manifest) {
            return Err(std::io::Error::other(format!(
                "the step's result does not match what it reported: {}",
                damage.detail
            )));
        }
        store_layout::write_atomically(
            &self.root,
            &store_layout::action_path(&self.root, &manifest.key),
            &manifest.sealed_text(),
        )?;
        Ok(manifest)
    }

    /// A blob's bytes, verified against its name. A damaged blob is set aside (`damaged/`) so
    /// the step that made it runs again; it is never served.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let result = self.verified_bytes(digest);
        if let Err(BlobError::Corrupted { .. }) = &result {
            let _ = damage::set_aside(&self.root, &store_layout::blob_path(&self.root, digest));
        }
        result
    }

    /// Checks a blob against its digest without keeping its bytes (a checkpoint can be large)
    /// and without setting it aside.
    pub fn verify_blob(&self, digest: &str) -> Result<(), BlobError> {
        let path = store_layout::blob_path(&self.root, digest);
        let actual = store_layout::file_digest(&path).map_err(|source| blob_io(digest, source))?;
        if actual == digest {
            Ok(())
        } else {
            Err(BlobError::Corrupted { digest: digest.to_owned(), actual })
        }
    }

    fn verified_bytes(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let path = store_layout::blob_path(&self.root, digest);
        let bytes = std::fs::read(&path).map_err(|source| blob_io(digest, source))?;
        let actual = store_layout::digest(&bytes);
        if actual != digest {
            return Err(BlobError::Corrupted { digest: digest.to_owned(), actual });
        }
        Ok(bytes)
    }

    /// Sets a damaged part aside in `damaged/` (the record, or the output's blob), so it is
    /// neither served nor counted as a cache hit again; returns where it went.
    pub fn set_aside(&self, damage: &Damage) -> std::io::Result<Option<PathBuf>> {
        let path = match &damage.part {
            DamagedPart::Record => store_layout::action_path(&self.root, &damage.key),
            DamagedPart::Output { digest, .. } => store_layout::blob_path(&self.root, digest),
        };
        damage::set_aside(&self.root, &path)
    }

    /// Sets any file of the store aside in `damaged/` (`store check --repair`).
    pub fn set_aside_file(&self, path: &Path) -> std::io::Result<Option<PathBuf>> {
        damage::set_aside(&self.root, path)
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

fn blob_io(digest: &str, source: std::io::Error) -> BlobError {
    match source.kind() {
        std::io::ErrorKind::NotFound => BlobError::Missing(digest.to_owned()),
        _ => BlobError::Io { digest: digest.to_owned(), source },
    }
}

impl BlobError {
    /// The problem, said of the blob of an output: `its bytes hash to …`.
    pub fn detail(&self) -> String {
        match self {
            BlobError::Missing(_) => "its blob is missing".to_owned(),
            BlobError::Corrupted { actual, .. } => format!("its bytes hash to {actual}"),
            BlobError::Io { source, .. } => format!("its blob cannot be read: {source}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use devspec_protocol::store_layout;

    use super::{Lookup, Store};

    #[test]
    fn an_unsealed_record_is_checked_against_its_result_and_sealed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let result = super::derived_metrics::tests::llc_result(0.129, &serde_json::Value::Null);
        let digest = store_layout::put_blob(dir.path(), &result).unwrap();
        let mut manifest = super::manifest::tests::manifest();
        manifest.outputs.insert("result".into(), digest.clone());
        manifest.sizes.insert(digest, result.len() as u64);
        let path = store_layout::action_path(dir.path(), &manifest.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // As an earlier devspec wrote it: no seal. Checked, then sealed.
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        assert!(matches!(store.lookup(&manifest.key), Lookup::Hit(_)));
        assert_eq!(std::fs::read(&path).unwrap(), manifest.sealed_text());
        // Unsealed and contradicting its result: damage.
        let mut lying = manifest.clone();
        lying.metrics.insert("llc_mean".into(), 0.929.into());
        std::fs::write(&path, serde_json::to_vec_pretty(&lying).unwrap()).unwrap();
        let Lookup::Damaged(damage) = store.lookup(&manifest.key) else { panic!("not damaged") };
        assert!(damage.detail.contains("llc_mean is 0.929, its result says 0.129"), "{damage:?}");
        // Recording it is refused: a seal vouches for the numbers.
        assert!(store.record(lying).is_err());
    }
}
