//! Ends the worker when the `devspec` process that started it dies, even in the middle of a
//! long step, so a killed `devspec run` never leaves a worker writing into the store behind it.
//!
//! A closed stdin already ends an idle worker; this covers the busy one. `prctl(PDEATHSIG)` is
//! not used: it fires when the parent *thread* exits, and the executor spawns workers from pool
//! threads that may end long before the parent process does.

use std::os::unix::process::parent_id;
use std::thread;
use std::time::Duration;

/// How often the parent is checked; short enough that a worker outlives its parent by at most
/// this, long enough to cost nothing.
const POLL: Duration = Duration::from_millis(200);

/// Exit code of a worker whose parent vanished (the parent is gone, so nobody reads it; it
/// only shows in process accounting).
const ORPHANED: i32 = 3;

pub fn exit_when_orphaned() {
    let parent = parent_id();
    thread::spawn(move || {
        loop {
            thread::sleep(POLL);
            // A dead parent's children are re-parented (to init or a subreaper).
            if parent_id() != parent {
                // A training run saves where it is first; anything else just ends.
                crate::stop::request_exit();
                std::process::exit(ORPHANED);
            }
        }
    });
}
