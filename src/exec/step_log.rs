//! [`StepLog`]: one executed instance's log in the store (`logs/KEY.log`): what ran, in which
//! group, its progress, how it ended, and what the worker wrote on stderr meanwhile. A failed
//! run's summary names it; it is written without waiting for the disk (it explains, it is
//! not a result). A step that ran alone, quietly and well has none.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use devspec_protocol::store_layout;

use super::pool::Job;
use crate::store::Store;

/// Progress lines a log keeps; a long training run reports many more.
const MAX_PROGRESS_LINES: usize = 2000;

pub struct StepLog {
    store: PathBuf,
    path: PathBuf,
    text: String,
    progress_lines: usize,
    /// Whether it ran with siblings (its log then says with which).
    grouped: bool,
}

impl StepLog {
    pub fn new(store: &Store, instance: &str, key: &str, group: &[Job]) -> StepLog {
        let mut text = format!("instance: {instance}\nkey: {key}\n");
        if group.len() > 1 {
            let names: Vec<&str> = group.iter().map(|job| job.instance.as_str()).collect();
            let _ = writeln!(
                text,
                "group: {} siblings in one request: {}",
                group.len(),
                names.join(", ")
            );
        }
        StepLog {
            store: store.root().to_path_buf(),
            path: store.log_path(key),
            text,
            progress_lines: 0,
            grouped: group.len() > 1,
        }
    }

    /// Which worker process computed it (a worker serves many groups, and is replaced after a
    /// death or a large step).
    pub fn worker(&mut self, process: u32) {
        let _ = writeln!(self.text, "worker: process {process}");
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn progress(&mut self, done: u64, total: u64, message: &str) {
        self.progress_lines += 1;
        if self.progress_lines <= MAX_PROGRESS_LINES {
            let _ = writeln!(self.text, "progress {done}/{total}: {message}");
        }
    }

    /// Writes the log with its outcome and the worker's stderr. A log that cannot be written
    /// costs an explanation, never a result, so the error is dropped.
    pub fn write(&mut self, error: Option<&str>, stderr: &str) {
        // A step that ran alone, quietly and well has nothing to say that its manifest does
        // not, and a file creation costs more than its scheduling: it gets no log.
        if error.is_none() && stderr.is_empty() && self.progress_lines == 0 && !self.grouped {
            return;
        }
        if self.progress_lines > MAX_PROGRESS_LINES {
            let _ = writeln!(
                self.text,
                "({} more progress lines not kept)",
                self.progress_lines - MAX_PROGRESS_LINES
            );
        }
        match error {
            None => self.text.push_str("outcome: done\n"),
            Some(error) => {
                let _ = writeln!(self.text, "outcome: failed: {error}");
            }
        }
        if !stderr.is_empty() {
            let _ = write!(self.text, "worker stderr:\n{stderr}");
        }
        let _ =
            store_layout::write_replacing_unsynced(&self.store, &self.path, self.text.as_bytes());
    }
}
