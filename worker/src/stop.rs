//! Requests to stop or to save, from outside a running step: SIGUSR1 asks a training run to
//! store a resume point now and go on; SIGTERM (a batch system's warning before its time limit,
//! or a shutdown) asks it to store one and end the worker; so does the death of the `devspec`
//! that started it. A step that is not training ignores them (SIGTERM then ends the worker at
//! once), since it has nothing to save.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static SAVE: AtomicBool = AtomicBool::new(false);
static EXIT: AtomicBool = AtomicBool::new(false);
/// Whether a training loop is running and will act on the flags.
static TRAINING: AtomicBool = AtomicBool::new(false);

/// Exit code of a worker that stopped on request after saving (nobody may be listening).
pub const STOPPED: i32 = 4;

/// How long a stop request waits for a training loop to save before the worker ends anyway.
const SAVE_GRACE: Duration = Duration::from_secs(10);

/// Installs the signal handlers (flags only: the work happens in the training loop).
pub fn listen() {
    let usr1 = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    let registered = signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&usr1))
        .and_then(|_| signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&term)));
    if registered.is_err() {
        return;
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(50));
            if usr1.swap(false, Ordering::SeqCst) {
                SAVE.store(true, Ordering::SeqCst);
            }
            if term.swap(false, Ordering::SeqCst) {
                request_exit();
            }
        }
    });
}

/// Asks the worker to end: a training loop saves first (for at most [`SAVE_GRACE`]).
pub fn request_exit() {
    if !TRAINING.load(Ordering::SeqCst) {
        std::process::exit(STOPPED);
    }
    SAVE.store(true, Ordering::SeqCst);
    EXIT.store(true, Ordering::SeqCst);
    std::thread::sleep(SAVE_GRACE);
    std::process::exit(STOPPED);
}

/// Marks a training loop as running (until the guard drops).
pub fn training() -> TrainingGuard {
    TRAINING.store(true, Ordering::SeqCst);
    TrainingGuard
}

pub struct TrainingGuard;

impl Drop for TrainingGuard {
    fn drop(&mut self) {
        TRAINING.store(false, Ordering::SeqCst);
    }
}

/// Whether a resume point was asked for (and clears the request).
pub fn take_save_request() -> bool {
    SAVE.swap(false, Ordering::SeqCst)
}

/// Whether the worker should end once it has saved.
pub fn exit_requested() -> bool {
    EXIT.load(Ordering::SeqCst)
}

/// Ends the worker after a training loop saved on request.
pub fn exit_now() -> ! {
    std::process::exit(STOPPED)
}
