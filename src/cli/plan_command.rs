//! `devspec plan FILE`: the instances a run would execute, in order, with their status.

use std::path::Path;

use crate::compile::{self, CompileError};
use crate::diagnostic::render;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::plan::{self, PlanFormat};
use crate::source::SourceMap;

pub fn run(file: &Path, sets: &[String], format: PlanFormat) -> Result<ExitCode, Failure> {
    let mut sources = SourceMap::new();
    let program = match compile::check_path(file, sets, &mut sources) {
        Ok(program) => program,
        Err(CompileError::Unreadable(failure)) => return Err(failure),
        Err(CompileError::Diagnostics(diagnostics)) => {
            for diagnostic in &diagnostics {
                eprint!("{}", render::to_text(&sources, diagnostic));
            }
            return Ok(ExitCode::BadInput);
        }
    };
    match plan::plan(&program) {
        Ok(plan) => {
            print!("{}", plan::render(&plan, format));
            Ok(ExitCode::Success)
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprint!("{}", render::to_text(&sources, diagnostic));
            }
            Ok(ExitCode::BadInput)
        }
    }
}
