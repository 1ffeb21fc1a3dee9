//! [`KeyLock`]: an exclusive advisory lock on one step key, so two `devspec run` processes on
//! one store never compute the same key at once, while different keys proceed in parallel (no
//! global lock). The OS releases it when the holder exits or is killed, so it cannot go stale.

use std::fs::File;
use std::path::Path;

pub struct KeyLock {
    // Held for its lock; dropping the file releases it.
    _file: File,
}

impl KeyLock {
    pub fn acquire(path: &Path) -> std::io::Result<KeyLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::options().create(true).truncate(false).write(true).open(path)?;
        file.lock()?;
        Ok(KeyLock { _file: file })
    }
}
