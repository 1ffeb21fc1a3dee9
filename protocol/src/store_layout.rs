//! Where content lives in a devspec store, shared by `devspec` (which reads results and writes
//! manifests) and `devspec-worker` (which writes the blobs its steps produce), so both agree on
//! every path and on how a file is written safely.
//!
//! ```text
//! STORE/blobs/ab/abcdef...      content-addressed blobs, named by the BLAKE3 of their bytes
//! STORE/actions/ab/abcdef....json  a step key's manifest (outputs, metrics, provenance)
//! STORE/locks/keys.lock         per-key advisory locks, a byte per key (see devspec's store)
//! STORE/trajectories/TRAJ/STEP.json  a state a training trajectory reached (the worker's
//!                               `train::trajectory` writes them; `devspec gc` and `status` read)
//! STORE/tmp/                    partial writes, renamed into place when complete
//! ```

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The hex BLAKE3 digest of some bytes: the name of the blob that holds them.
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Read and hashed at a time by [`file_digest`]: large enough that BLAKE3 spreads each piece
/// over every core, small enough that a checkpoint of gigabytes is never held whole.
const HASHED_PIECE: usize = 16 << 20;

/// The hex BLAKE3 digest of a file's bytes: read in pieces, each hashed on every core
/// (`Hasher::update_rayon`; BLAKE3's tree makes the digest the same as hashing in one
/// thread). A file is read, not memory-mapped, so one truncated while it is hashed is an I/O
/// error or another digest, never a crash.
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut piece = vec![0; HASHED_PIECE];
    loop {
        let mut filled = 0;
        while filled < piece.len() {
            match file.read(&mut piece[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        if filled == 0 {
            break;
        }
        hasher.update_rayon(&piece[..filled]);
        if filled < piece.len() {
            break;
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

pub fn blob_path(store: &Path, digest: &str) -> PathBuf {
    store.join("blobs").join(&digest[..2.min(digest.len())]).join(digest)
}

pub fn action_path(store: &Path, key: &str) -> PathBuf {
    store.join("actions").join(&key[..2.min(key.len())]).join(format!("{key}.json"))
}

pub fn trajectory_folder(store: &Path, trajectory: &str) -> PathBuf {
    store.join("trajectories").join(trajectory)
}

/// Where the state a trajectory reached at `step` is recorded.
pub fn trajectory_point_path(store: &Path, trajectory: &str, step: u64) -> PathBuf {
    trajectory_folder(store, trajectory).join(format!("{step:020}.json"))
}

/// The steps at which a trajectory has recorded states, from the records' names.
pub fn trajectory_steps(store: &Path, trajectory: &str) -> BTreeSet<u64> {
    std::fs::read_dir(trajectory_folder(store, trajectory))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.path().file_stem()?.to_str()?.parse().ok())
        .collect()
}

/// The step a run to `total` with `checkpoints` (which include `total`) goes on from, given the
/// steps its trajectory has stored states at: the latest one before its first checkpoint not
/// yet stored, so that every checkpoint before it exists (or `total`, when every checkpoint
/// is stored). 0 means from the start.
pub fn continuation_step(stored: &BTreeSet<u64>, checkpoints: &BTreeSet<u64>, total: u64) -> u64 {
    let before = match checkpoints.iter().find(|step| !stored.contains(step)) {
        Some(&first_missing) => stored.range(..first_missing),
        None => stored.range(..=total),
    };
    before.last().copied().unwrap_or(0)
}

/// Writes `bytes` to `target` so that no reader ever sees a partial file: into `STORE/tmp`,
/// flushed to disk, then renamed over the target (atomic on one filesystem), and the folder
/// synced so the rename itself survives a crash.
pub fn write_atomically(store: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(store, target, bytes, true)
}

/// Like [`write_atomically`], but without waiting for the disk: for records that only explain
/// (a lost one costs an explanation, never a result), where two fsyncs would double a step's
/// bookkeeping.
pub fn write_replacing_unsynced(store: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(store, target, bytes, false)
}

fn write_replacing(
    store: &Path,
    target: &Path,
    bytes: &[u8],
    durable: bool,
) -> std::io::Result<()> {
    let tmp = TempFile(store.join("tmp").join(format!(
        "{}.{}.{}",
        target.file_name().and_then(|n| n.to_str()).unwrap_or("blob"),
        std::process::id(),
        unique()
    )));
    // Folders are made only when missing: creating (even an existing) folder on every write
    // would cost more than the write.
    let mut file = with_parent(&tmp.0, || std::fs::File::create(&tmp.0))?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    drop(file);
    fault_before_rename();
    with_parent(target, || std::fs::rename(&tmp.0, target))?;
    tmp.renamed();
    if durable && let Some(parent) = target.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// A partial write in `STORE/tmp`, removed when dropped unless it was renamed into place: a
/// full disk or any other failure between its creation and its rename leaves nothing behind.
struct TempFile(PathBuf);

impl TempFile {
    fn renamed(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether an io error says the store's filesystem cannot take writes (full, over its quota,
/// or read-only): the environment's fault, not the step's, and every later write would fail
/// the same way, so a run stops rather than fail each step in turn.
pub fn is_environment_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::StorageFull | ErrorKind::ReadOnlyFilesystem | ErrorKind::QuotaExceeded
    )
}

/// What is wrong with a store that a write failed with an environment error (see
/// [`is_environment_error`]), in words both `devspec` and its workers report; `None` for other
/// errors.
pub fn unwritable_store(store: &Path, err: &std::io::Error) -> Option<String> {
    if !is_environment_error(err) {
        return None;
    }
    let what = match err.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => "is on a read-only filesystem",
        std::io::ErrorKind::QuotaExceeded => "is over its disk quota",
        _ => "has no space left",
    };
    Some(format!("the store {} {what} ({err})", store.display()))
}

/// Removes the partial writes in `STORE/tmp` that no process will finish: those older than
/// `min_age` whose writer (the process id in the name) no longer runs on this machine. A write
/// lives there for the time of one write, so a stale one was left by a killed process. Returns
/// how many were removed.
pub fn remove_stale_temp_files(store: &Path, min_age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(store.join("tmp")) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().unwrap_or_default() >= min_age);
        if old && !writer_alive(&path) && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether the process that named a temp file (`NAME.PID.N`) still runs here. Names without a
/// process id (a bundle import's) count as alive: only their age can tell. A process id in use
/// is not enough: an ended process not yet reaped (a zombie) is not writing, and with process ids
/// reused (32,768 of them by default, soon spent by a test suite) one that started after the
/// file was last written is another process.
fn writer_alive(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut parts = name.rsplit('.');
    let (Some(counter), Some(pid)) = (parts.next(), parts.next()) else { return true };
    let (Ok(_), Ok(pid)) = (counter.parse::<u64>(), pid.parse::<u32>()) else { return true };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // After the command's closing parenthesis: the state, then 18 more fields to the start time.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    if matches!(fields.first(), Some(&("Z" | "X" | "x"))) {
        return false;
    }
    let started = fields.get(19).and_then(|ticks| ticks.parse::<u64>().ok()).zip(boot_time());
    let written = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (started, written) {
        // /proc counts in USER_HZ, 100 per second on every Linux ABI; a second's slack for the
        // rounding of both clocks.
        (Some((ticks, boot)), Some(written)) => {
            let started = boot + std::time::Duration::from_millis(ticks * 10);
            started <= written + std::time::Duration::from_secs(1)
        }
        _ => true,
    }
}

/// When this machine booted (`btime` of `/proc/stat`).
fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let seconds = stat.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
}

/// Runs `operation` on `path`; if its folder is missing, creates it and tries once more.
pub fn with_parent<T>(
    path: &Path,
    mut operation: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    match operation() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            operation()
        }
        other => other,
    }
}

/// Stores `bytes` as a blob and returns its digest. An existing blob of that name is kept only
/// if its bytes still hash to it, so a corrupted copy is replaced, never trusted.
pub fn put_blob(store: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let digest = digest(bytes);
    let path = blob_path(store, &digest);
    let intact = std::fs::read(&path).is_ok_and(|existing| existing == bytes);
    if !intact {
        write_atomically(store, &path, bytes)?;
    }
    Ok(digest)
}

/// The environment variable of a test hook: set to N, the process aborts (no cleanup, as a
/// `kill -9` would) just before its Nth rename into a store, leaving a complete temp file and
/// no entry. Tests use it to show such a crash loses nothing that had completed.
pub const FAULT_KILL_BEFORE_RENAME: &str = "DEVSPEC_FAULT_KILL_BEFORE_RENAME";

fn fault_before_rename() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTDOWN: OnceLock<Option<AtomicU64>> = OnceLock::new();
    let countdown = COUNTDOWN.get_or_init(|| {
        let n = std::env::var(FAULT_KILL_BEFORE_RENAME).ok()?.parse::<u64>().ok()?;
        Some(AtomicU64::new(n))
    });
    if let Some(countdown) = countdown
        && countdown.fetch_sub(1, Ordering::SeqCst) == 1
    {
        std::process::abort();
    }
}

/// A per-process counter, so two writes of one process never share a temp name.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod trajectory_tests {
    use super::*;

    fn set(steps: &[u64]) -> BTreeSet<u64> {
        steps.iter().copied().collect()
    }

    #[test]
    fn a_run_goes_on_from_the_last_state_before_its_first_missing_checkpoint() {
        let stored = set(&[250, 500, 750, 1000]);
        // Longer: every old checkpoint exists, 1250 does not.
        assert_eq!(continuation_step(&stored, &set(&[500, 1000, 1250, 2000]), 2000), 1000);
        // A new checkpoint in between: from the state before it.
        assert_eq!(continuation_step(&stored, &set(&[250, 300, 1000, 2500]), 2500), 250);
        // Shorter, all stored: nothing to train.
        assert_eq!(continuation_step(&stored, &set(&[250, 500]), 500), 500);
        // A first checkpoint before every stored state: from the start.
        assert_eq!(continuation_step(&stored, &set(&[100, 1000]), 1000), 0);
        // A resume point between checkpoints counts.
        assert_eq!(continuation_step(&set(&[250, 600]), &set(&[250, 1000]), 1000), 600);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_hashed_in_pieces_on_every_core_has_its_bytes_digest() {
        let dir = std::env::temp_dir().join(format!("devspec-file-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Empty, tiny, a byte short of a piece, a piece, a byte over, several pieces and a part.
        for size in
            [0, 1, HASHED_PIECE - 1, HASHED_PIECE, HASHED_PIECE + 1, 2 * HASHED_PIECE + 12_345]
        {
            let bytes: Vec<u8> =
                (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0]).collect();
            let path = dir.join(format!("{size}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(file_digest(&path).unwrap(), digest(&bytes), "{size} bytes");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn blobs_are_named_by_content_and_written_once() {
        let dir = std::env::temp_dir().join(format!("devspec-layout-{}", std::process::id()));
        let digest = put_blob(&dir, b"hello").unwrap();
        assert_eq!(digest, blake3::hash(b"hello").to_hex().to_string());
        assert_eq!(std::fs::read(blob_path(&dir, &digest)).unwrap(), b"hello");
        assert_eq!(put_blob(&dir, b"hello").unwrap(), digest);
        assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0, "no temp file left");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file_and_stale_ones_are_cleaned() {
        let dir = std::env::temp_dir().join(format!("devspec-tmp-{}", std::process::id()));
        // The rename fails (its folder is a file): the written temp file goes too.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in-the-way"), "").unwrap();
        assert!(write_atomically(&dir, &dir.join("in-the-way/x"), b"bytes").is_err());
        assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        // Left by a process that is gone, by this one (alive), and by a bundle import (no
        // process id in its name): only the first is stale.
        let stale = dir.join("tmp").join(format!("blob.{}.0", u32::MAX - 1));
        let ours = dir.join("tmp").join(format!("blob.{}.0", std::process::id()));
        let unnamed = dir.join("tmp").join(".tmpAbC123");
        for path in [&stale, &ours, &unnamed] {
            std::fs::write(path, "partial").unwrap();
        }
        assert_eq!(remove_stale_temp_files(&dir, std::time::Duration::from_secs(3600)), 0);
        assert_eq!(remove_stale_temp_files(&dir, std::time::Duration::ZERO), 1);
        assert!(!stale.exists() && ours.exists() && unnamed.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_temp_file_of_an_ended_or_reused_process_id_is_stale() {
        let dir = std::env::temp_dir().join(format!("devspec-reuse-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        // An ended child not yet reaped: its process id is still in /proc, as a zombie.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let zombie = dir.join("tmp").join(format!("blob.{}.0", child.id()));
        std::fs::write(&zombie, "partial").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // This process's id, on a file last written before this process started: the id was
        // another process's then.
        let reused = dir.join("tmp").join(format!("blob.{}.1", std::process::id()));
        let file = std::fs::File::create(&reused).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
            .unwrap();
        let ours = dir.join("tmp").join(format!("blob.{}.2", std::process::id()));
        std::fs::write(&ours, "partial").unwrap();
        assert_eq!(remove_stale_temp_files(&dir, std::time::Duration::ZERO), 2);
        assert!(!zombie.exists() && !reused.exists() && ours.exists());
        child.wait().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_full_disk_a_quota_and_a_read_only_store_are_the_environments() {
        let os = |code| std::io::Error::from_raw_os_error(code);
        assert!(is_environment_error(&os(28))); // ENOSPC
        assert!(is_environment_error(&os(122))); // EDQUOT
        assert!(is_environment_error(&os(30))); // EROFS
        assert!(!is_environment_error(&os(2))); // ENOENT: the caller's to judge
        let store = Path::new("/s");
        assert!(unwritable_store(store, &os(28)).unwrap().starts_with("the store /s has no space"));
        assert!(unwritable_store(store, &os(30)).unwrap().contains("read-only"));
        assert_eq!(unwritable_store(store, &os(2)), None);
    }
}
