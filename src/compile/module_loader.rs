//! Reads a spec and everything it imports: stdlib modules shipped inside devspec and files
//! relative to the importing one. Enforces the import rules (relative paths that stay inside
//! the project, no cycles) and parses each file once, however often it is imported.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{ImportSource, Item, Module};
use crate::syntax::{self, input_limits};

use super::did_you_mean;
use super::stdlib;

/// Import chains longer than this are refused: real studies import a file or two.
const MAX_IMPORT_DEPTH: usize = 64;

/// Every file of one spec, parsed, with how imports resolved.
#[derive(Debug, Default)]
pub struct LoadedModules {
    pub modules: HashMap<FileId, Module>,
    /// For each import item (by file and span): the module it loaded, if it loaded.
    pub imports: HashMap<(FileId, Span), FileId>,
}

pub struct ModuleLoader<'a> {
    sources: &'a mut SourceMap,
    project_root: PathBuf,
    loaded: LoadedModules,
    /// Files by canonical path (or `std/NAME`), so a diamond import parses once.
    by_key: HashMap<String, FileId>,
    /// The chain of files being loaded, to report import cycles.
    loading: Vec<(String, FileId)>,
    pub diagnostics: Diagnostics,
}

impl<'a> ModuleLoader<'a> {
    pub fn new(sources: &'a mut SourceMap, project_root: PathBuf) -> Self {
        ModuleLoader {
            sources,
            project_root,
            loaded: LoadedModules::default(),
            by_key: HashMap::new(),
            loading: Vec::new(),
            diagnostics: Diagnostics::default(),
        }
    }

    /// Loads the root spec from text already read, then its imports.
    pub fn load_root(&mut self, name: &str, path: Option<PathBuf>, bytes: &[u8]) -> FileId {
        let key = path
            .as_deref()
            .and_then(|p| p.canonicalize().ok())
            .map_or_else(|| format!("<{name}>"), |p| p.display().to_string());
        self.load(key, name.to_owned(), path, bytes)
    }

    pub fn finish(self) -> (LoadedModules, Diagnostics) {
        (self.loaded, self.diagnostics)
    }

    fn load(&mut self, key: String, name: String, path: Option<PathBuf>, bytes: &[u8]) -> FileId {
        let text = match input_limits::decode(bytes) {
            Ok(text) => text.to_owned(),
            Err(limit) => {
                let file =
                    self.sources.add(name, path, String::from_utf8_lossy(bytes).into_owned());
                let mut diagnostic = Diagnostic::error(file, limit.span, limit.message);
                diagnostic.hint = limit.hint;
                self.diagnostics.push(diagnostic);
                self.by_key.insert(key, file);
                return file;
            }
        };
        let file = self.sources.add(name, path, text);
        self.by_key.insert(key.clone(), file);
        let module = match syntax::parse(file, &self.sources.get(file).text) {
            Ok(module) => module,
            Err(errors) => {
                self.diagnostics.extend(errors);
                return file;
            }
        };
        self.loading.push((key, file));
        for item in &module.items {
            if let Item::Import(import) = item
                && let Some(target) = self.import(file, &import.source, import.span)
            {
                self.loaded.imports.insert((file, import.span), target);
            }
        }
        self.loading.pop();
        self.loaded.modules.insert(file, module);
        file
    }

    fn import(&mut self, from: FileId, source: &ImportSource, span: Span) -> Option<FileId> {
        // Loading recurses once per file of an import chain.
        if self.loading.len() >= MAX_IMPORT_DEPTH {
            self.diagnostics.push(
                Diagnostic::error(
                    from,
                    span,
                    format!("imports nest more than {MAX_IMPORT_DEPTH} files deep here"),
                )
                .with_hint("import the presets a study needs from fewer files"),
            );
            return None;
        }
        match source {
            ImportSource::Std(module) => {
                let Some(text) = stdlib::source(&module.text) else {
                    let hint =
                        did_you_mean::hint(&module.text, stdlib::names()).unwrap_or_else(|| {
                            format!(
                                "the stdlib has: {}",
                                stdlib::names()
                                    .map(|n| format!("std.{n}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        });
                    self.diagnostics.push(
                        Diagnostic::error(
                            from,
                            module.span,
                            format!("there is no stdlib module `std.{}`", module.text),
                        )
                        .with_hint(hint),
                    );
                    return None;
                };
                let key = format!("std/{}", module.text);
                self.resolve(&key, from, span, |loader| {
                    loader.load(
                        key.clone(),
                        format!("std/{}.dev", module.text),
                        None,
                        text.as_bytes(),
                    )
                })
            }
            ImportSource::File { path, path_span, .. } => {
                let target = self.file_target(from, path, *path_span)?;
                let key = target.display().to_string();
                let bytes = match super::regular_file::read_spec(&target) {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                from,
                                *path_span,
                                format!("cannot read the imported file: {}", io_reason(&err)),
                            )
                            .label(self.display_name(&target))
                            .with_hint("import paths are relative to the importing file"),
                        );
                        return None;
                    }
                };
                let name = self.display_name(&target);
                self.resolve(&key, from, span, |loader| {
                    loader.load(key.clone(), name, Some(target.clone()), &bytes)
                })
            }
        }
    }

    /// Loads a module once; an import of a module still being loaded is a cycle.
    fn resolve(
        &mut self,
        key: &str,
        from: FileId,
        span: Span,
        load: impl FnOnce(&mut Self) -> FileId,
    ) -> Option<FileId> {
        if let Some(at) = self.loading.iter().position(|(k, _)| k == key) {
            let chain: Vec<String> = self.loading[at..]
                .iter()
                .map(|(_, file)| self.sources.get(*file).name.clone())
                .chain(std::iter::once(self.sources.get(self.loading[at].1).name.clone()))
                .collect();
            self.diagnostics.push(
                Diagnostic::error(from, span, "import cycle")
                    .label(format!("imports {}", chain.join(" -> ")))
                    .with_hint("move the shared lets into a file that both import"),
            );
            return None;
        }
        if let Some(&file) = self.by_key.get(key) {
            return Some(file);
        }
        Some(load(self))
    }

    /// The absolute path an import names, if it is allowed: relative, and inside the project.
    fn file_target(&mut self, from: FileId, path: &str, span: Span) -> Option<PathBuf> {
        let written = Path::new(path);
        if written.is_absolute() {
            self.diagnostics.push(
                Diagnostic::error(from, span, "import paths must be relative").with_hint(
                    "write the path relative to this file, so the study can be moved and shared",
                ),
            );
            return None;
        }
        let base = self
            .sources
            .get(from)
            .path
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| self.project_root.clone(), Path::to_path_buf);
        let joined = normalize(&base.join(written));
        let root = normalize(&self.project_root);
        if !joined.starts_with(&root) {
            self.diagnostics.push(
                Diagnostic::error(from, span, "this import leaves the project")
                    .label("outside the project folder")
                    .with_hint(
                        "imports must stay inside the project: the folder of the nearest \
                         devspec.toml, or else the spec's own folder",
                    ),
            );
            return None;
        }
        // A symbolic link inside the project may point outside it: judge where it really leads.
        if let (Ok(real), Ok(real_root)) = (joined.canonicalize(), root.canonicalize())
            && !real.starts_with(&real_root)
        {
            self.diagnostics.push(
                Diagnostic::error(from, span, "this import leaves the project")
                    .label("a link to a file outside the project folder")
                    .with_hint(
                        "copy the file into the project, so the study is complete in itself",
                    ),
            );
            return None;
        }
        Some(joined)
    }
}

impl ModuleLoader<'_> {
    /// How messages name a file: relative to the project root, as users think of it.
    fn display_name(&self, path: &Path) -> String {
        path.strip_prefix(&self.project_root)
            .map_or_else(|_| path.display().to_string(), |rel| rel.display().to_string())
    }
}

/// Resolves `.` and `..` without touching the disk, so a path that does not exist yet is still
/// judged by where it points.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => err.to_string(),
    }
}
