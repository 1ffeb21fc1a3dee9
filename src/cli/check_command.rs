//! `devspec check FILE...`: parse and check specs (and that their plans are of a size a
//! machine can run), print every diagnostic, run nothing. Open parameters are checked against
//! their types and listed in a note; `--bind` checks a spec with them bound.

use std::path::{Path, PathBuf};

use crate::compile::{self, Bindings, CompileError, Program};
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
    bind: &super::args::BindArgs,
    format: DiagnosticFormat,
) -> Result<ExitCode, Failure> {
    let mut sources = SourceMap::new();
    let mut failed = false;
    let binds = Bindings::parse(&bind.binds, bind.bind_file.as_deref())?;
    for path in files {
        let diagnostics = match compile::check_path_bound(path, sets, &binds, &mut sources) {
            // A spec that checks may still be too large to plan, or for any machine.
            Ok(program) => match plan::check_limits(&program) {
                too_large if too_large.is_empty() => {
                    note_open_params(path, &program);
                    continue;
                }
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

/// A spec that checks with parameters still open is fine to check, not to run: say which
/// (stderr, so `--format json`'s stdout holds diagnostics alone).
fn note_open_params(path: &Path, program: &Program) {
    let open = program.open_params();
    if open.is_empty() {
        return;
    }
    eoutln!(
        "note: {} leaves {} parameter(s) open; bind them to run it (`--bind NAME=VALUE`):",
        path.display(),
        open.len()
    );
    for param in open {
        match &param.doc {
            Some(doc) => eoutln!("  {}: {}  {doc}", param.name, param.ty),
            None => eoutln!("  {}: {}", param.name, param.ty),
        }
    }
}
