//! The CLI's stdout and stderr: every line devspec prints goes through `outln!` and
//! `eoutln!` (and `out!`, `eout!` without the newline).
//!
//! Rust ignores SIGPIPE, so a write to a reader that went away (`devspec status | head -1`)
//! fails with `BrokenPipe`, which `println!` turns into a panic. Here a stream that cannot be
//! written any more is closed instead: what follows for it is dropped, quietly, and the command
//! finishes its work with its own exit code (`show | head -3` exits 0; `run | head -1`, which
//! prints only once its steps are done, still writes the lock). While `run` runs steps, a
//! closed stream stops the run as Ctrl-C does (see [`stop_on_close`]): nobody reads its
//! progress any more, and what finished is already recorded. A write that fails otherwise (a
//! full disk under a redirection) is reported at the end, with exit 3.
//!
//! ```ignore
//! outln!("{} instances: {}", total, summary);
//! ```

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// The first write error that was not a reader going away.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// What a stream closing does while `run` runs steps; `None`: nothing (the output ends).
static ON_CLOSE: Mutex<Option<fn()>> = Mutex::new(None);

/// Writes to stdout; see the module's documentation.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_stdout(format_args!($($arg)*)) };
}

/// Writes a line to stdout; see the module's documentation.
macro_rules! outln {
    () => { $crate::cli::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stderr; see the module's documentation.
macro_rules! eout {
    ($($arg:tt)*) => { $crate::cli::output::write_stderr(format_args!($($arg)*)) };
}

/// Writes a line to stderr; see the module's documentation.
macro_rules! eoutln {
    () => { $crate::cli::output::write_stderr(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub fn write_stdout(args: fmt::Arguments<'_>) {
    write_to(&mut io::stdout().lock(), &STDOUT_CLOSED, args);
}

pub fn write_stderr(args: fmt::Arguments<'_>) {
    write_to(&mut io::stderr().lock(), &STDERR_CLOSED, args);
}

fn write_to(stream: &mut dyn Write, closed: &AtomicBool, args: fmt::Arguments<'_>) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let Err(err) = stream.write_fmt(args).and_then(|()| stream.flush()) else { return };
    closed.store(true, Ordering::Relaxed);
    if err.kind() != io::ErrorKind::BrokenPipe {
        let mut failed = FAILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failed.get_or_insert(err);
    }
    let action = *ON_CLOSE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(action) = action {
        action();
    }
}

/// While `f` runs, a stream closing calls `stop` once (`run`: stop as Ctrl-C does).
pub fn stop_on_close<T>(stop: fn(), f: impl FnOnce() -> T) -> T {
    let set = |action: Option<fn()>| {
        *ON_CLOSE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = action;
    };
    set(Some(stop));
    let result = f();
    set(None);
    result
}

/// The first write that failed for another reason than its reader going away, if any.
pub fn write_failure() -> Option<io::Error> {
    FAILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose reader went away.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stream_whose_reader_went_away_is_closed_quietly() {
        let closed = AtomicBool::new(false);
        write_to(&mut Gone, &closed, format_args!("first"));
        assert!(closed.load(Ordering::Relaxed));
        // Nothing more is tried, and a broken pipe is no failure to report.
        write_to(&mut Gone, &closed, format_args!("second"));
        assert!(write_failure().is_none());
    }
}
