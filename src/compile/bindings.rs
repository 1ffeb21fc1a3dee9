//! [`Bindings`]: the values `--bind NAME=VALUE` and `--bind-file FILE.toml` give a spec's open
//! parameters, as text until the spec is read. How a value's text is read depends on the
//! parameter's declared type, known only once the spec is loaded ([`Bindings::to_overrides`]):
//! `files`, `file` and `string` take the text as written (no quotes needed), the others read
//! it as an expression, as `--set` does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::failure::Failure;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{Expr, ExprKind};

use super::checker::Override;
use super::param::ParamType;

/// The bindings of one command line, in the order given (a later one of a name wins over
/// an earlier; the command line's over the bind file's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bindings {
    entries: Vec<Binding>,
}

#[derive(Debug, Clone, PartialEq)]
struct Binding {
    name: String,
    /// The value's text: as typed after `=`, or a TOML value (a string's contents, a number's
    /// or boolean's literal).
    text: String,
    /// Where the value came from: `--bind`, or the bind file (shown in diagnostics).
    source: BindSource,
    /// A TOML string, or any `--bind` text: may stand for a path or a string. A TOML number
    /// or boolean may not.
    textual: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum BindSource {
    CommandLine,
    File(PathBuf),
}

impl BindSource {
    fn label(&self) -> String {
        match self {
            BindSource::CommandLine => "--bind".to_owned(),
            BindSource::File(path) => path.display().to_string(),
        }
    }

    /// The folder a bound path is relative to: the working folder for the command line (as
    /// a shell reads it), the bind file's own folder for the file (as a spec's paths are
    /// relative to the spec).
    fn base(&self) -> PathBuf {
        let cwd = std::env::current_dir().unwrap_or_default();
        match self {
            BindSource::CommandLine => cwd,
            BindSource::File(path) => {
                let folder = path.parent().unwrap_or(Path::new(""));
                cwd.join(folder)
            }
        }
    }
}

/// The bindings read into the spec's terms: each an override of a parameter, parsed from
/// a pseudo-file of its own, and the folder its paths are relative to.
pub(crate) struct BoundOverrides {
    pub overrides: Vec<Override>,
    pub bases: HashMap<FileId, PathBuf>,
    /// The text bound to each parameter, by the name `--bind` used.
    pub texts: Vec<(String, String)>,
}

impl Bindings {
    /// No bindings: every parameter stays open.
    pub fn empty() -> Bindings {
        Bindings::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads `--bind NAME=VALUE` arguments and, if given, a TOML file of `NAME = value`
    /// (strings, numbers, booleans). The command line's win over the file's.
    pub fn parse(binds: &[String], bind_file: Option<&Path>) -> Result<Bindings, Failure> {
        let mut entries = Vec::new();
        if let Some(path) = bind_file {
            entries.extend(read_bind_file(path)?);
        }
        for bind in binds {
            let Some((name, text)) = bind.split_once('=') else {
                return Err(Failure::bad_input(format!("`--bind {bind}`: expected `NAME=VALUE`"))
                    .with_hint("for example `--bind checkpoints=\"runs/*.safetensors\"`"));
            };
            let name = name.trim();
            if !valid_name(name) {
                return Err(Failure::bad_input(format!("`--bind {bind}`: `{name}` is not a name"))
                    .with_hint("name a parameter the spec declares with `param NAME: TYPE`"));
            }
            entries.push(Binding {
                name: name.to_owned(),
                text: text.to_owned(),
                source: BindSource::CommandLine,
                textual: true,
            });
        }
        Ok(Bindings { entries })
    }

    /// Each binding as a `--bind NAME=TEXT` argument, in order, a path's text (`is_path`: the
    /// name is a `file`/`files` parameter) made absolute against the folder it was relative
    /// to: what binds the same values later, from any folder, without the bind file.
    pub fn as_binds(&self, is_path: &dyn Fn(&str) -> bool) -> Vec<String> {
        self.entries
            .iter()
            .map(|entry| {
                let text = if is_path(&entry.name) && !Path::new(&entry.text).is_absolute() {
                    entry.source.base().join(&entry.text).display().to_string()
                } else {
                    entry.text.clone()
                };
                format!("{}={text}", entry.name)
            })
            .collect()
    }

    /// The names bound, each once, in the order first given.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for entry in &self.entries {
            if !names.contains(&entry.name.as_str()) {
                names.push(&entry.name);
            }
        }
        names
    }

    /// Each binding as an override of the parameter it names, read per the parameter's type
    /// (`type_of`: `None` for a name the spec does not declare, reported with a did-you-mean
    /// among `declared`), and the errors of those that could not be read (the rest are
    /// still checked, so every mistake is reported at once).
    pub(crate) fn to_overrides(
        &self,
        sources: &mut SourceMap,
        type_of: &dyn Fn(&str) -> Option<ParamType>,
        declared: &[String],
    ) -> (BoundOverrides, Vec<Diagnostic>) {
        let mut bound =
            BoundOverrides { overrides: Vec::new(), bases: HashMap::new(), texts: Vec::new() };
        let mut errors = Vec::new();
        // The last binding of a name wins; the earlier are dropped, not reported.
        let last: Vec<&Binding> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(index, entry)| {
                !self.entries[index + 1..].iter().any(|later| later.name == entry.name)
            })
            .map(|(_, entry)| entry)
            .collect();
        for entry in last {
            let line = format!("{}={}", entry.name, entry.text);
            let file = sources.add(entry.source.label(), None, line.clone());
            let name_span = Span::new(0, entry.name.len());
            let value_span = Span::new(entry.name.len() + 1, line.len());
            let Some(ty) = type_of(&entry.name) else {
                let mut diagnostic = Diagnostic::error(
                    file,
                    name_span,
                    format!("`--bind`: the spec declares no parameter `{}`", entry.name),
                );
                diagnostic.hint =
                    super::did_you_mean::hint(&entry.name, declared.iter().map(String::as_str))
                        .or_else(|| {
                            Some(if declared.is_empty() {
                                "the spec declares no parameters: `--set` changes a let or a field"
                                    .into()
                            } else {
                                format!("its parameters are: {}", declared.join(", "))
                            })
                        });
                errors.push(diagnostic);
                continue;
            };
            let value = if ty.takes_raw_text() {
                if !entry.textual {
                    errors.push(
                        Diagnostic::error(
                            file,
                            value_span,
                            format!(
                                "the parameter `{}` is `{ty}`: bind it to a string, found `{}`",
                                entry.name, entry.text
                            ),
                        )
                        .with_hint(format!("write `{} = \"...\"`", entry.name)),
                    );
                    continue;
                }
                Expr { kind: ExprKind::Str(entry.text.clone()), span: value_span }
            } else {
                match crate::syntax::parse_expr(file, &line, entry.name.len() + 1) {
                    Ok(expr) => expr,
                    Err(more) => {
                        errors.extend(more);
                        continue;
                    }
                }
            };
            bound.bases.insert(file, entry.source.base());
            bound.texts.push((entry.name.clone(), entry.text.clone()));
            bound.overrides.push(Override {
                target: entry.name.clone(),
                target_span: name_span,
                value,
                file,
            });
        }
        (bound, errors)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').count() <= 2
        && name.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A bind file: a TOML table of `NAME = value`, strings, numbers or booleans.
fn read_bind_file(path: &Path) -> Result<Vec<Binding>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Failure::bad_input(format!("cannot read the bind file {}: {err}", path.display()))
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|err| {
        Failure::bad_input(format!("{} is not a TOML table: {}", path.display(), err.message()))
            .with_hint("a bind file holds lines `NAME = \"value\"`, numbers or booleans")
    })?;
    let mut entries = Vec::new();
    for (name, value) in table {
        let (text, textual) = match value {
            toml::Value::String(text) => (text, true),
            toml::Value::Integer(number) => (number.to_string(), false),
            toml::Value::Float(number) => (number.to_string(), false),
            toml::Value::Boolean(value) => (value.to_string(), false),
            toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => {
                return Err(Failure::bad_input(format!(
                    "{}: `{name}` is {}, and a binding is a string, a number or a boolean",
                    path.display(),
                    value.type_str()
                ))
                .with_hint("write a model or data set as a string: `model = \"tms.model(...)\"`"));
            }
        };
        if !valid_name(&name) {
            return Err(Failure::bad_input(format!(
                "{}: `{name}` is not a parameter's name",
                path.display()
            )));
        }
        entries.push(Binding { name, text, source: BindSource::File(path.to_path_buf()), textual });
    }
    Ok(entries)
}
