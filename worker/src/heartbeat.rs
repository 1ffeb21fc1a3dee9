//! The pool worker's heartbeat: a thread of its own that sends [`Reply::Heartbeat`] for the
//! running request at a fixed interval, whatever the step is doing (a long libtorch call, a
//! checkpoint being written), so `devspec` can tell a worker that stopped from a slow step.
//!
//! ```ignore
//! let heartbeat = Heartbeat::start(channel.clone(), heartbeat::interval_from_env());
//! heartbeat.beat_for(id);
//! // ... the request runs; its final reply is sent after `heartbeat.stop()` ...
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use devspec_protocol::{DEFAULT_HEARTBEAT_SECONDS, HEARTBEAT_ENV, Reply};

use crate::reply_channel::ReplyChannel;

/// The interval `devspec` asked for in [`HEARTBEAT_ENV`]; the default for anything else.
pub fn interval_from_env() -> Duration {
    std::env::var(HEARTBEAT_ENV)
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| *seconds > 0.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .unwrap_or_else(|| Duration::from_secs_f64(DEFAULT_HEARTBEAT_SECONDS))
}

pub struct Heartbeat {
    /// The request being worked on, if any. Held while a beat is sent, so after
    /// [`Heartbeat::stop`] returns no beat for the ended request can follow its final reply.
    running: Arc<Mutex<Option<u64>>>,
}

impl Heartbeat {
    pub fn start(channel: ReplyChannel, interval: Duration) -> Heartbeat {
        let running = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&running);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(interval);
                let running = shared.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(id) = *running {
                    channel.send(&Reply::Heartbeat { id });
                }
            }
        });
        Heartbeat { running }
    }

    /// Beats for request `id` until [`Heartbeat::stop`].
    pub fn beat_for(&self, id: u64) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
    }

    /// No more beats: the request is about to send its final reply.
    pub fn stop(&self) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_only_while_a_request_runs_and_never_after_it_stopped() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let channel = ReplyChannel::into_file(file.reopen().unwrap());
        let heartbeat = Heartbeat::start(channel, Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(50));
        assert!(std::fs::read_to_string(file.path()).unwrap().is_empty(), "beats while idle");
        heartbeat.beat_for(7);
        std::thread::sleep(Duration::from_millis(100));
        heartbeat.stop();
        let beats = std::fs::read_to_string(file.path()).unwrap();
        assert!(beats.lines().count() >= 2, "{beats}");
        assert!(beats.lines().all(|line| line == r#"{"type":"heartbeat","id":7}"#), "{beats}");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), beats, "a beat after stop");
    }
}
