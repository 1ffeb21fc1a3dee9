//! [`FileDigests`]: the content digests of the files a spec reads (data, TorchScript models,
//! imported checkpoints), which go into its steps' keys in place of their paths. A stat cache in
//! the store (`files/`, keyed by the path; holding device, inode, size and modification time)
//! lets a no-op run skip rereading a large file that has not changed; a file modified in the
//! last two seconds is not cached, since a later write within the same timestamp would go
//! unnoticed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use devspec_protocol::store_layout;
use serde::{Deserialize, Serialize};

/// How recent a modification may be for its file's digest to be cached.
const SETTLED: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct FileDigests {
    /// The store's root; `None` keeps no stat cache (a command without a store).
    store: Option<PathBuf>,
    /// Each path's digest, computed once per command: instances keyed in parallel that read
    /// the same file wait for the one computing it, so all of them see one digest.
    memo: Mutex<HashMap<PathBuf, Arc<OnceLock<String>>>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Stamp {
    path: PathBuf,
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    digest: String,
}

impl FileDigests {
    pub fn new(store: &Path) -> Self {
        FileDigests { store: Some(store.to_path_buf()), memo: Mutex::default() }
    }

    /// The BLAKE3 of a file's bytes (of a folder: of its files' names and digests), or
    /// `missing:` and the reason when it cannot be read: the key then changes once it can, and
    /// the step that reads it fails with the reason.
    pub fn digest(&self, path: &Path) -> String {
        let cell = match self.memo.lock() {
            Ok(mut memo) => Arc::clone(memo.entry(path.to_path_buf()).or_default()),
            // A thread panicked holding the lock: compute without the memo.
            Err(_) => Arc::new(OnceLock::new()),
        };
        cell.get_or_init(|| self.compute(path).unwrap_or_else(|err| format!("missing: {err}")))
            .clone()
    }

    fn compute(&self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            let mut listing = String::new();
            for entry in entries {
                let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
                let _ = writeln!(listing, "{}\0{}", name.unwrap_or_default(), self.digest(&entry));
            }
            return Ok(store_layout::digest(listing.as_bytes()));
        }
        let stamp = |digest: String| Stamp {
            path: path.to_path_buf(),
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            digest,
        };
        let cache = self.store.as_ref().map(|store| {
            let name = store_layout::digest(path.to_string_lossy().as_bytes());
            store.join("files").join(format!("{name}.json"))
        });
        let cached: Option<Stamp> = cache
            .as_ref()
            .and_then(|file| std::fs::read(file).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if let Some(cached) = cached
            && cached == stamp(cached.digest.clone())
        {
            return Ok(cached.digest);
        }
        let digest = store_layout::file_digest(path)?;
        let settled = meta
            .modified()
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > SETTLED);
        if let (Some(cache), Some(store), true) = (cache, &self.store, settled) {
            let text = serde_json::to_vec(&stamp(digest.clone())).expect("stamps serialize");
            // A cache: failing to write it costs the next run a reread.
            let _ = store_layout::write_replacing_unsynced(store, &cache, &text);
        }
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::FileDigests;

    #[test]
    fn a_settled_file_is_read_once_and_a_change_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let file = dir.path().join("data.bin");
        std::fs::write(&file, b"first").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(old).unwrap();
        let first = FileDigests::new(&store).digest(&file);
        assert_eq!(first, blake3::hash(b"first").to_hex().to_string());
        // The cache is used: a stamp that matches is believed (shown by planting one).
        let cache = std::fs::read_dir(store.join("files")).unwrap().next().unwrap().unwrap().path();
        let planted = std::fs::read_to_string(&cache).unwrap().replace(&first, "planted");
        std::fs::write(&cache, planted).unwrap();
        assert_eq!(FileDigests::new(&store).digest(&file), "planted");
        // A change of content (and so of size and time) is read again.
        std::fs::write(&file, b"second!").unwrap();
        assert_eq!(
            FileDigests::new(&store).digest(&file),
            blake3::hash(b"second!").to_hex().to_string()
        );
        assert!(FileDigests::new(&store).digest(&dir.path().join("gone")).starts_with("missing"));
    }
}
