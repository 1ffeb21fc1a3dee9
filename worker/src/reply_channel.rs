//! Where a pool worker's replies go: the descriptor it was started with as its stdout, kept for
//! the protocol alone.
//!
//! At start the worker duplicates its stdout into a descriptor of its own and points stdout at
//! stderr. Anything printed to stdout afterwards (libtorch, MKL's `MKL_VERBOSE` lines, a
//! TorchScript model's `print`, a stray `println!`) goes where `devspec` captures each step's
//! log, and the reply stream holds replies only. The parent's pipes stay as they are.
//!
//! The channel is shared by the thread running the request and the heartbeat thread: each
//! reply is written as one whole line under a lock, so two replies never interleave.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use devspec_protocol::Reply;

#[derive(Clone)]
pub struct ReplyChannel {
    out: Arc<Mutex<File>>,
}

impl ReplyChannel {
    /// Takes stdout for the replies, and sends whatever else writes to stdout to stderr.
    pub fn take_stdout() -> std::io::Result<ReplyChannel> {
        // Close-on-exec, so a program the worker might start never writes into the replies.
        let replies = std::io::stdout().as_fd().try_clone_to_owned()?;
        nix::unistd::dup2_stdout(std::io::stderr())?;
        Ok(ReplyChannel { out: Arc::new(Mutex::new(File::from(replies))) })
    }

    /// A channel into `file` (tests read back what was sent).
    #[cfg(test)]
    pub fn into_file(file: File) -> ReplyChannel {
        ReplyChannel { out: Arc::new(Mutex::new(file)) }
    }

    /// Sends one reply as one line. A failed write means the parent stopped listening; the
    /// worker ends on its own when its stdin closes too.
    pub fn send(&self, reply: &Reply) {
        let mut line = serde_json::to_string(reply).expect("replies always serialize");
        line.push('\n');
        // A thread that panicked while writing left a line half written at worst; the next
        // reply still goes out.
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = out.write_all(line.as_bytes());
    }
}
