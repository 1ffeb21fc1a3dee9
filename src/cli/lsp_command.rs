//! `devspec lsp`: serve one editor over stdin and stdout ([`crate::lsp`]). Stdout carries the
//! protocol alone, so this verb prints nothing there; a broken connection is an environment
//! failure.

use crate::exit_code::ExitCode;
use crate::failure::Failure;

pub fn run() -> Result<ExitCode, Failure> {
    crate::lsp::serve_stdio().map_err(Failure::environment)?;
    Ok(ExitCode::Success)
}
