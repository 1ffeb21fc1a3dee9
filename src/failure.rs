//! Failures that end a command, classified by whose fault they are (the exit code follows from
//! the class) and carrying a hint for the user. Rendered only by the CLI.

use std::fmt;
use std::path::Path;

use devspec_protocol::{WorkerErrorKind, store_layout};

use crate::exit_code::ExitCode;

/// Whose fault a failure is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The user's input (spec, command line, configuration) is wrong.
    BadInput,
    /// A step failed while running.
    StepFailed,
    /// The machine or installation cannot support the run (libtorch, disk, store).
    Environment,
    /// A feature that is declared but not built yet.
    NotImplemented,
    /// A bug in devspec.
    Internal,
}

impl FailureClass {
    /// The exit code of a command that ends with a failure of this class.
    pub fn exit_code(self) -> ExitCode {
        match self {
            FailureClass::BadInput => ExitCode::BadInput,
            FailureClass::StepFailed => ExitCode::Failed,
            FailureClass::Environment => ExitCode::Environment,
            FailureClass::NotImplemented | FailureClass::Internal => ExitCode::Internal,
        }
    }

    /// The class of a failure the worker reported: its own class kept (a disk full under a
    /// step is no fault of the step).
    pub fn of_worker(kind: WorkerErrorKind) -> FailureClass {
        match kind {
            WorkerErrorKind::StepFailed => FailureClass::StepFailed,
            // Another version of the worker is an installation problem.
            WorkerErrorKind::Environment | WorkerErrorKind::ProtocolMismatch => {
                FailureClass::Environment
            }
            // devspec types every request before it sends it: one the worker cannot read is
            // devspec's bug.
            WorkerErrorKind::BadRequest => FailureClass::Internal,
        }
    }
}

/// A failure that ends a command: what went wrong, and what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Failure { class, message: message.into(), hint: None }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Failure::new(FailureClass::BadInput, message)
    }

    pub fn environment(message: impl Into<String>) -> Self {
        Failure::new(FailureClass::Environment, message)
    }

    /// What to do when the store cannot take writes, whichever way it fails.
    pub const STORE_UNWRITABLE_HINT: &'static str = "free space on the store's disk (`devspec gc` \
        removes what no spec reaches) or make it writable, or set `store.path` in devspec.toml \
        (or DEVSPEC_STORE) to another folder; then run again: what was recorded is kept";

    /// A write into the store at `store` that failed: the environment's fault (exit 3) when the
    /// filesystem is full, over its quota or read-only, with what to do about it; `None` for any
    /// other error, which is the step's or the command's to report.
    pub fn store_unwritable(store: &Path, err: &std::io::Error) -> Option<Failure> {
        let message = store_layout::unwritable_store(store, err)?;
        Some(Failure::environment(message).with_hint(Failure::STORE_UNWRITABLE_HINT))
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        self.class.exit_code()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}
