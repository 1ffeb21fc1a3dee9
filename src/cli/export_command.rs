//! `devspec export`: being built.

use std::path::PathBuf;

use super::args::ExportArgs;
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};

pub fn run(_args: &ExportArgs, _worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    Err(Failure::new(FailureClass::NotImplemented, "`devspec export` is being built".to_owned()))
}
