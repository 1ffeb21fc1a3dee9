//! [`KeyLock`]: an exclusive advisory lock on one step key, so two `devspec run` processes on
//! one store never compute the same key at once, while different keys proceed in parallel (no
//! global lock). The OS releases it when the holder exits or is killed, so it cannot go stale.
//!
//! Every key's lock is one byte of one file, `locks/keys.lock`, at an offset taken from the key
//! (60 bits: two keys share a byte with negligible odds), held with an open-file-description
//! lock (`F_OFD_SETLKW`): it belongs to the open file, so two threads of one run exclude each
//! other as two processes do. One file for all keys means no file is created per step (a file
//! creation costs about 0.4 ms on this project's machines) and none is left behind. Where the
//! filesystem refuses such locks, each key falls back to a lock file of its own (`flock`).

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};

pub struct KeyLock {
    // Held for its lock; dropping the file releases it.
    _file: File,
}

impl KeyLock {
    /// Waits for and takes the lock of `key` in the store's `locks` folder.
    pub fn acquire(locks: &Path, key: &str) -> std::io::Result<KeyLock> {
        let file = open_creating(&locks.join("keys.lock"))?;
        let offset = i64::from_str_radix(key.get(..15).unwrap_or("0"), 16).unwrap_or(0);
        let range = libc::flock {
            // Both constants are small (1 and 0); the struct declares them `short`.
            l_type: libc::c_short::try_from(libc::F_WRLCK).expect("F_WRLCK fits"),
            l_whence: libc::c_short::try_from(libc::SEEK_SET).expect("SEEK_SET fits"),
            l_start: offset,
            l_len: 1,
            l_pid: 0,
        };
        loop {
            match fcntl(file.as_fd(), FcntlArg::F_OFD_SETLKW(&range)) {
                Ok(_) => return Ok(KeyLock { _file: file }),
                Err(Errno::EINTR) => {}
                Err(Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOLCK) => {
                    return KeyLock::own_file(&locks.join(format!("{key}.lock")));
                }
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    fn own_file(path: &Path) -> std::io::Result<KeyLock> {
        let file = open_creating(path)?;
        file.lock()?;
        Ok(KeyLock { _file: file })
    }
}

fn open_creating(path: &Path) -> std::io::Result<File> {
    devspec_protocol::store_layout::with_parent(path, || {
        File::options().create(true).truncate(false).write(true).open(path)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::KeyLock;

    #[test]
    fn one_key_is_exclusive_across_threads_and_other_keys_are_not_held_up() {
        let dir = tempfile::tempdir().unwrap();
        let key = "ab".repeat(32);
        let held = KeyLock::acquire(dir.path(), &key).unwrap();
        // Another key proceeds while this one is held.
        drop(KeyLock::acquire(dir.path(), &"cd".repeat(32)).unwrap());
        let (tx, rx) = mpsc::channel();
        let locks = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let _lock = KeyLock::acquire(&locks, &"ab".repeat(32)).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "the key was not held");
        drop(held);
        rx.recv_timeout(Duration::from_secs(5)).expect("released on drop");
        waiter.join().unwrap();
    }
}
