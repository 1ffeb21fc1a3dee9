//! `devspec diff`: being built.

use std::path::PathBuf;

use super::args::DiffArgs;
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};

pub fn run(_args: &DiffArgs, _worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    Err(Failure::new(FailureClass::NotImplemented, "`devspec diff` is being built".to_owned()))
}
