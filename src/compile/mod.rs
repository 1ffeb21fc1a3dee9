//! Syntax tree to checked [`Program`]: loads imports, evaluates lets and fields against the
//! registry's schemas, checks steps and their dependencies, and reports every error found.
//!
//! ```no_run
//! # use devspec::{compile, source::SourceMap};
//! let mut sources = SourceMap::new();
//! match compile::check_path("specs/tms.dev".as_ref(), &[], &mut sources) {
//!     Ok(program) => println!("{} steps", program.steps.len()),
//!     Err(error) => eprintln!("{error:?}"),
//! }
//! ```

mod bindings;
mod checker;
pub(crate) mod did_you_mean;
mod estimate_data;
mod evaluator;
mod file_refs;
pub mod literal;
mod module_loader;
pub mod param;
pub mod program;
pub mod regular_file;
pub mod schedule;
mod shape_check;
pub(crate) mod stdlib;
mod type_check;
pub mod value;

use std::path::{Path, PathBuf};

pub use bindings::Bindings;
pub use checker::Override;
pub use param::{BoundParam, OpenParam, ParamType};
pub use program::{Axis, CheckedStep, Program};

use crate::diagnostic::Diagnostic;
use crate::failure::Failure;
use crate::project_config::ProjectConfig;
use crate::source::{SourceMap, Span};
use module_loader::ModuleLoader;

/// Why a spec did not compile.
#[derive(Debug)]
pub enum CompileError {
    /// The spec (or a file it imports) is wrong; every problem found.
    Diagnostics(Vec<Diagnostic>),
    /// The spec could not be read at all.
    Unreadable(Failure),
}

/// Reads, parses and checks the spec at `path` and everything it imports. Its parameters stay
/// open (`Program::open_params`): checked against their types, and refused by the planner.
pub fn check_path(
    path: &Path,
    sets: &[String],
    sources: &mut SourceMap,
) -> Result<Program, CompileError> {
    check_path_bound(path, sets, &Bindings::empty(), sources)
}

/// [`check_path`] with the spec's parameters bound (`--bind`, `--bind-file`): each bound value
/// is read per its parameter's type and checked against it; a name the spec does not declare
/// is an error.
pub fn check_path_bound(
    path: &Path,
    sets: &[String],
    binds: &Bindings,
    sources: &mut SourceMap,
) -> Result<Program, CompileError> {
    let bytes = regular_file::read_spec(path).map_err(|err| {
        let failure = Failure::bad_input(format!("cannot read {}: {err}", path.display()));
        CompileError::Unreadable(if err.kind() == std::io::ErrorKind::InvalidInput {
            failure.with_hint("a spec is a `.dev` text file")
        } else {
            failure
        })
    })?;
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let folder = absolute.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let project_root = ProjectConfig::discover(&folder)
        .map_err(CompileError::Unreadable)?
        .map_or(folder, |config| config.root);
    check_bytes_bound(
        &path.display().to_string(),
        Some(absolute),
        &bytes,
        &project_root,
        sets,
        binds,
        sources,
    )
    .map_err(CompileError::Diagnostics)
}

/// Checks spec text; `path` (absolute) is where relative imports are resolved from.
pub fn check_bytes(
    name: &str,
    path: Option<PathBuf>,
    bytes: &[u8],
    project_root: &Path,
    sets: &[String],
    sources: &mut SourceMap,
) -> Result<Program, Vec<Diagnostic>> {
    check_bytes_bound(name, path, bytes, project_root, sets, &Bindings::empty(), sources)
}

/// [`check_bytes`] with the spec's parameters bound.
pub fn check_bytes_bound(
    name: &str,
    path: Option<PathBuf>,
    bytes: &[u8],
    project_root: &Path,
    sets: &[String],
    binds: &Bindings,
    sources: &mut SourceMap,
) -> Result<Program, Vec<Diagnostic>> {
    let root_dir = project_root.canonicalize().unwrap_or_else(|_| project_root.to_path_buf());
    let mut overrides = Vec::new();
    let mut errors = Vec::new();
    for set in sets {
        match parse_override(set, sources) {
            Ok(over) => overrides.push(over),
            Err(more) => errors.extend(more),
        }
    }
    // Paths written outside a file on disk (`--set`) are relative to the spec's folder.
    let spec_folder = path.as_deref().and_then(Path::parent).unwrap_or(&root_dir).to_path_buf();
    let mut loader = ModuleLoader::new(sources, root_dir);
    let root = loader.load_root(name, path, bytes);
    let (modules, load_errors) = loader.finish();
    errors.extend(load_errors.into_vec());
    if !errors.is_empty() {
        // Checking a file with syntax errors or missing imports would mostly report echoes.
        return Err(errors);
    }
    let declared = checker::declared_params(&modules, root);
    let names: Vec<String> = declared.iter().map(|param| param.name.clone()).collect();
    let type_of = |name: &str| {
        declared.iter().find(|p| p.name == name).and_then(|p| ParamType::from_word(&p.item.ty.text))
    };
    let (bound, mut bind_errors) = binds.to_overrides(sources, &type_of, &names);
    let mut program = match checker::check(&modules, root, &overrides, &bound.overrides) {
        Ok(program) if bind_errors.is_empty() => program,
        Ok(_) => return Err(bind_errors),
        Err(errors) => {
            bind_errors.extend(errors);
            return Err(bind_errors);
        }
    };
    let mut errors = file_refs::resolve(&mut program, sources, &spec_folder, &bound.bases);
    program.bound = bound_params(&program, &bound);
    errors.extend(shape_check::check(&program));
    errors.extend(estimate_data::check(&program));
    if errors.is_empty() { Ok(program) } else { Err(errors) }
}

/// What each bound parameter was given, with the files a `file` or `files` binding matched
/// (absolute, sorted), for the lock.
fn bound_params(program: &Program, bound: &bindings::BoundOverrides) -> Vec<BoundParam> {
    let mut out = Vec::new();
    for (name, text) in &bound.texts {
        let Some(param) = program.params.iter().find(|p| &p.name == name) else { continue };
        let files = match param.ty {
            ParamType::Files | ParamType::File => {
                let base = bound
                    .overrides
                    .iter()
                    .find(|o| &o.target == name)
                    .and_then(|o| bound.bases.get(&o.file))
                    .cloned()
                    .unwrap_or_default();
                let pattern = base.join(text);
                let mut files: Vec<PathBuf> = glob::glob(&pattern.to_string_lossy())
                    .map(|paths| paths.filter_map(Result::ok).filter(|f| f.is_file()).collect())
                    .unwrap_or_default();
                files.sort();
                files
            }
            ParamType::Model
            | ParamType::Data
            | ParamType::Number
            | ParamType::Integer
            | ParamType::String
            | ParamType::Boolean => Vec::new(),
        };
        out.push(BoundParam { name: name.clone(), ty: param.ty, text: text.clone(), files });
    }
    out
}

/// Parses `TARGET=EXPR` from `--set`, kept in the source map as a file named `--set` so its
/// diagnostics point into the text the user typed.
fn parse_override(text: &str, sources: &mut SourceMap) -> Result<Override, Vec<Diagnostic>> {
    let file = sources.add("--set", None, text.to_owned());
    let Some((target, _)) = text.split_once('=') else {
        return Err(vec![
            Diagnostic::error(
                file,
                Span::new(0, text.len()),
                "`--set` expects `NAME=VALUE` or `STEP.FIELD=VALUE`",
            )
            .with_hint("for example `--set tms_run.seed=1` or `--set features=8`"),
        ]);
    };
    let target_span = Span::new(0, target.len());
    let trimmed = target.trim();
    let valid = !trimmed.is_empty()
        && trimmed.split('.').count() <= 2
        && trimmed.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !valid {
        return Err(vec![
            Diagnostic::error(file, target_span, format!("`--set` cannot set `{trimmed}`"))
                .with_hint("name a let (`features`) or a step's field (`tms_run.seed`)"),
        ]);
    }
    let value = crate::syntax::parse_expr(file, text, target.len() + 1)?;
    Ok(Override { target: trimmed.to_owned(), target_span, value, file })
}
