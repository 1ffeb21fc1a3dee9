//! `devspec import`: being built.

use super::args::ImportArgs;
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};

pub fn run(_args: &ImportArgs) -> Result<ExitCode, Failure> {
    Err(Failure::new(FailureClass::NotImplemented, "`devspec import` is being built".to_owned()))
}
