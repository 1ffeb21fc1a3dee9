//! Resolves the file paths a checked spec names (data files, TorchScript models, imported
//! checkpoints) against the folder of the file that wrote each one, and reports a named file
//! that does not exist, before anything runs. A pattern (`runs/*.safetensors`) must match a
//! file; the planner lists what it matches.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;

use super::program::Program;
use super::value::{Value, ValueKind};

/// Makes every file path of `program` absolute; `fallback` is the folder for paths written
/// outside any file on disk (`--set`, the standard library): the spec's folder.
pub fn resolve(program: &mut Program, sources: &SourceMap, fallback: &Path) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for step in &mut program.steps {
        let values = step
            .fields
            .values_mut()
            .chain(step.axes.iter_mut().flat_map(|axis| axis.values.iter_mut()));
        for value in values {
            resolve_value(value, sources, fallback, &mut errors);
        }
    }
    errors
}

fn resolve_value(
    value: &mut Value,
    sources: &SourceMap,
    fallback: &Path,
    errors: &mut Vec<Diagnostic>,
) {
    let origin = value.origin;
    match &mut value.kind {
        ValueKind::File { written, path } => {
            let base = sources
                .get(origin.file)
                .path
                .as_deref()
                .and_then(Path::parent)
                .map_or_else(|| fallback.to_path_buf(), Path::to_path_buf);
            *path = base.join(&*written);
            let pattern = written.contains(['*', '?', '[']);
            if !pattern && !path.exists() {
                errors.push(missing(origin, written, &base));
            }
            // A pattern that matches nothing (or is malformed) is refused now as well; the
            // planner lists what it matches.
            let matches_nothing = || {
                glob::glob(&path.to_string_lossy())
                    .map_or(true, |mut files| !files.any(|f| f.is_ok_and(|f| f.is_file())))
            };
            if pattern && matches_nothing() {
                errors.push(
                    missing(origin, written, &base)
                        .with_hint("no file matches the pattern; check the folder and the name"),
                );
            }
        }
        ValueKind::List(items) | ValueKind::Sweep(items) => {
            for item in items {
                resolve_value(item, sources, fallback, errors);
            }
        }
        ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
            for field in fields.values_mut() {
                resolve_value(field, sources, fallback, errors);
            }
        }
        _ => {}
    }
}

fn missing(origin: super::value::Origin, written: &str, base: &Path) -> Diagnostic {
    let looked = base.join(written);
    // Shown from the working folder when it is below it, as the user would type it.
    let cwd = std::env::current_dir().ok().and_then(|cwd| cwd.canonicalize().ok());
    let shown = cwd.and_then(|cwd| looked.strip_prefix(cwd).ok().map(PathBuf::from));
    Diagnostic::error(origin.file, origin.span, format!("the file `{written}` does not exist"))
        .label(format!("looked for {}", shown.as_deref().unwrap_or(&looked).display()))
        .with_hint(
            "paths are relative to the file that names them; check the name, or create the file",
        )
}
