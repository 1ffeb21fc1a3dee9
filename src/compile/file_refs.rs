//! Resolves the file paths a checked spec names (data files, TorchScript models, imported
//! checkpoints) against the folder of the file that wrote each one, and reports a named file
//! that does not exist, before anything runs. A pattern (`runs/*.safetensors`) must match a
//! file; the planner lists what it matches. A path that is not a regular file (a device, a
//! FIFO, a socket; a folder where only `tensors` takes one) is refused too: reading it would
//! never end, or wait forever for a writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, SourceMap};

use super::program::Program;
use super::regular_file::special_kind;
use super::value::{Origin, Value, ValueKind};

/// Makes every file path of `program` absolute; `fallback` is the folder for paths written
/// outside any file on disk (`--set`, the standard library): the spec's folder.
/// `bases`: the folder of each pseudo-file of bindings (`--bind`: the working folder).
pub fn resolve(
    program: &mut Program,
    sources: &SourceMap,
    fallback: &Path,
    bases: &HashMap<FileId, PathBuf>,
) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for step in &mut program.steps {
        let values = step
            .fields
            .values_mut()
            .chain(step.axes.iter_mut().flat_map(|axis| axis.values.iter_mut()));
        for value in values {
            resolve_value(value, &Bases { sources, fallback, bound: bases }, false, &mut errors);
        }
    }
    errors
}

/// Where relative paths are resolved from: the folder of the file that wrote them, a binding's
/// folder, else the fallback.
struct Bases<'a> {
    sources: &'a SourceMap,
    fallback: &'a Path,
    bound: &'a HashMap<FileId, PathBuf>,
}

impl Bases<'_> {
    fn of(&self, file: FileId) -> PathBuf {
        if let Some(base) = self.bound.get(&file) {
            return base.clone();
        }
        self.sources
            .get(file)
            .path
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| self.fallback.to_path_buf(), Path::to_path_buf)
    }
}

/// `folder_ok`: the value is an argument that may name a folder (`tensors(path)`).
fn resolve_value(
    value: &mut Value,
    bases: &Bases<'_>,
    folder_ok: bool,
    errors: &mut Vec<Diagnostic>,
) {
    let origin = value.origin;
    match &mut value.kind {
        ValueKind::File { written, path } => {
            let base = bases.of(origin.file);
            *path = base.join(&*written);
            let pattern = written.contains(['*', '?', '[']);
            if !pattern && !path.exists() {
                errors.push(missing(origin, written, &base));
            } else if !pattern && let Some(error) = special(origin, written, path, folder_ok) {
                errors.push(error);
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
        ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
            for item in items {
                resolve_value(item, bases, folder_ok, errors);
            }
        }
        ValueKind::Ctor { name: "tensors", args, .. } => {
            for (arg, field) in args.iter_mut() {
                resolve_value(field, bases, arg == "path", errors);
            }
        }
        ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
            for field in fields.values_mut() {
                resolve_value(field, bases, false, errors);
            }
        }
        _ => {}
    }
}

/// Why an existing path cannot be read as the file it should be, if it cannot: it is not a
/// regular file (nor a folder, where `folder_ok`), or it is a folder holding something that is
/// neither.
fn special(origin: Origin, written: &str, path: &Path, folder_ok: bool) -> Option<Diagnostic> {
    let refuse = |what: &str, shown: &Path, hint: &str| {
        Diagnostic::error(origin.file, origin.span, format!("`{written}` is {what}, not a file"))
            .label(format!("{} is {what}", shown_path(shown).display()))
            .with_hint(hint.to_owned())
    };
    let never_ends = "name a regular file: reading a device or a FIFO never ends, or waits \
                      forever for a writer; copy the data into a file first";
    let meta = std::fs::metadata(path).ok()?;
    match special_kind(&meta) {
        None => None,
        Some("a folder") if folder_ok => {
            // The folder's own entries are read as files too.
            let entries = std::fs::read_dir(path).ok()?;
            entries.filter_map(Result::ok).find_map(|entry| {
                let inside = entry.path();
                let what = special_kind(&std::fs::metadata(&inside).ok()?)?;
                (what != "a folder").then(|| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    Diagnostic::error(
                        origin.file,
                        origin.span,
                        format!("the folder `{written}` holds `{name}`, which is {what}"),
                    )
                    .label(format!("{} is {what}", shown_path(&inside).display()))
                    .with_hint(never_ends)
                })
            })
        }
        Some("a folder") => Some(refuse("a folder", path, "name a file inside it")),
        Some(what) => Some(refuse(what, path, never_ends)),
    }
}

/// A path shown from the working folder when it is below it, as the user would type it.
fn shown_path(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().ok().and_then(|cwd| cwd.canonicalize().ok());
    cwd.and_then(|cwd| path.strip_prefix(cwd).ok().map(PathBuf::from))
        .unwrap_or_else(|| path.to_path_buf())
}

fn missing(origin: Origin, written: &str, base: &Path) -> Diagnostic {
    let looked = base.join(written);
    Diagnostic::error(origin.file, origin.span, format!("the file `{written}` does not exist"))
        .label(format!("looked for {}", shown_path(&looked).display()))
        .with_hint(
            "paths are relative to the file that names them; check the name, or create the file",
        )
}
