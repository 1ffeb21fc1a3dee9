//! The one table of exit codes; the README's table is checked against [`ExitCode::TABLE`] by a
//! test, so the two cannot drift apart.

/// Every way `devspec` can end, and the number a shell sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    /// A step failed while running, `verify` found a difference, `fmt --check` would change
    /// a file, or `run --strict` ended with estimates that have diagnostics.
    Failed = 1,
    /// Something found before any step starts is wrong: the spec, the command line, a refused
    /// bundle.
    BadInput = 2,
    /// The run as a whole cannot go on: libtorch missing, disk full, store unwritable.
    Environment = 3,
    /// Not implemented yet, or an internal bug.
    Internal = 4,
}

impl ExitCode {
    /// Code and meaning, as the README lists them.
    pub const TABLE: [(ExitCode, &'static str); 5] = [
        (ExitCode::Success, "success"),
        (
            ExitCode::Failed,
            "a step failed while running (whatever the cause: a bad data file found at step \
             start, a NaN, a worker killed by the OS), `verify` found a difference, \
             `fmt --check` would change a file, or `run --strict` ended with estimates that \
             have diagnostics",
        ),
        (
            ExitCode::BadInput,
            "something found before any step starts is wrong: the spec, the command line, a \
             refused bundle",
        ),
        (
            ExitCode::Environment,
            "the run as a whole cannot go on: libtorch missing, disk full, store unwritable, a \
             worker that does not answer or speaks another protocol, an instance larger than \
             the memory it would run in",
        ),
        (ExitCode::Internal, "not implemented yet, or an internal bug"),
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}
