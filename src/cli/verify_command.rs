//! `devspec verify`: being built.

use std::path::PathBuf;

use super::args::VerifyArgs;
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};

pub fn run(_args: &VerifyArgs, _worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    Err(Failure::new(FailureClass::NotImplemented, "`devspec verify` is being built".to_owned()))
}
