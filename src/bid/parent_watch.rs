//! The `devspec run` that `bid run` starts ends when `bid run` dies, so a killed `bid run`
//! (its budget's keeper) never leaves the bid running on past its budget. `bid run` sets
//! [`ENV`] on the child; the child then watches its parent as the worker does
//! (`worker/src/parent_watch.rs`: polled, since `prctl(PDEATHSIG)` needs `unsafe`, which this
//! crate forbids), and exits when it is re-parented. Its workers notice their parent gone and
//! end too; every result that finished was stored atomically before.

use std::os::unix::process::parent_id;
use std::time::Duration;

/// Set (to `1`) on the child `devspec run` of `bid run`.
pub const ENV: &str = "DEVSPEC_EXIT_WITH_PARENT";

/// How often the parent is checked.
const POLL: Duration = Duration::from_millis(200);

/// Exit code of a run whose `bid run` vanished (nobody reads it).
const ORPHANED: i32 = 3;

/// Starts the watch when [`ENV`] asks for it; else does nothing.
pub fn exit_with_parent_if_asked() {
    if std::env::var_os(ENV).is_none_or(|value| value != "1") {
        return;
    }
    let parent = parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(POLL);
            // A dead parent's children are re-parented (to init or a subreaper).
            if parent_id() != parent {
                std::process::exit(ORPHANED);
            }
        }
    });
}
