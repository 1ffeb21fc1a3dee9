//! [`Analysis`]: what `devspec check` says about one open document, as the server needs it:
//! the checker's diagnostics (the same data `check` renders, from [`compile::check_bytes`] and
//! the plan's size limits) with the source map their spans point into.

use std::path::{Path, PathBuf};

use crate::compile;
use crate::diagnostic::Diagnostic;
use crate::failure::Failure;
use crate::plan;
use crate::project_config::ProjectConfig;
use crate::source::{FileId, SourceMap, Span};

use super::document::Document;

pub struct Analysis {
    pub sources: SourceMap,
    /// The document's own file in `sources`.
    pub root: FileId,
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    pub fn of(document: &Document) -> Self {
        let mut sources = SourceMap::new();
        let name = document
            .path
            .as_ref()
            .map_or_else(|| document.uri.as_str().to_owned(), |path| path.display().to_string());
        let (project_root, config_failure) = project_root(document.path.as_deref());
        let mut diagnostics = match compile::check_bytes(
            &name,
            document.path.clone(),
            document.text.as_bytes(),
            &project_root,
            &[],
            &mut sources,
        ) {
            // As `check`: a spec that checks may still be too large to plan.
            Ok(program) => plan::check_limits(&program),
            Err(diagnostics) => diagnostics,
        };
        // No `--set` here, so the spec is the first file the loader reads.
        let root = sources
            .files()
            .position(|file| file.name == name)
            .and_then(|index| u32::try_from(index).ok())
            .map_or(FileId(0), FileId);
        if let Some(failure) = config_failure {
            // `check` refuses the spec outright; here the editor learns why, on the first line.
            let mut diagnostic = Diagnostic::error(root, Span::new(0, 0), failure.message);
            diagnostic.hint = failure.hint;
            diagnostics.insert(0, diagnostic);
        }
        Analysis { sources, root, diagnostics }
    }
}

/// Where relative imports may reach, as `check_path` decides it: the folder of the nearest
/// `devspec.toml`, else the spec's own folder (the current folder for an unsaved buffer). A
/// `devspec.toml` that does not load is returned too, to be reported; the folder serves.
fn project_root(path: Option<&Path>) -> (PathBuf, Option<Failure>) {
    let folder = path.and_then(Path::parent).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    match ProjectConfig::discover(&folder) {
        Ok(Some(config)) => (config.root, None),
        Ok(None) => (folder, None),
        Err(failure) => (folder, Some(failure)),
    }
}
