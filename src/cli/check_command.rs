//! `devspec check FILE...`: parse and check specs (and that their plans are of a size a
//! machine can run), print every diagnostic, run nothing.

use std::path::PathBuf;

use crate::compile::{self, CompileError};
use crate::diagnostic::render;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::plan;
use crate::source::SourceMap;

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticFormat {
    /// For people: the message with the source lines around it.
    Text,
    /// For editors: one JSON object per line.
    Json,
}

pub fn run(
    files: &[PathBuf],
    sets: &[String],
    format: DiagnosticFormat,
) -> Result<ExitCode, Failure> {
    let mut sources = SourceMap::new();
    let mut failed = false;
    for path in files {
        let diagnostics = match compile::check_path(path, sets, &mut sources) {
            // A spec that checks may still be too large to plan, or for any machine.
            Ok(program) => match plan::check_limits(&program) {
                too_large if too_large.is_empty() => continue,
                too_large => too_large,
            },
            Err(CompileError::Diagnostics(diagnostics)) => diagnostics,
            Err(CompileError::Unreadable(failure)) => return Err(failure),
        };
        failed = true;
        for diagnostic in &diagnostics {
            match format {
                DiagnosticFormat::Text => eout!("{}", render::to_text(&sources, diagnostic)),
                DiagnosticFormat::Json => {
                    outln!("{}", render::to_json_line(&sources, diagnostic));
                }
            }
        }
    }
    Ok(if failed { ExitCode::BadInput } else { ExitCode::Success })
}
