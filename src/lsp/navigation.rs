//! Go to definition, find references, rename and the outline (document symbols), over the
//! names [`names::roles`] finds. A definition may be in another file: a relative import's file,
//! or a stdlib module, which is written once to a read-only copy in the temporary folder so an
//! editor can open it (the modules are embedded in the binary, not installed as files).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{DocumentSymbol, Location, SymbolKind, TextEdit, Uri, WorkspaceEdit};

use crate::compile::stdlib;
use crate::source::Span;

use super::document::{Document, file_uri};
use super::lexical::{Outline, Token, tokens};
use super::line_index::LineIndex;
use super::names::{self, Role};

pub fn definition(document: &Document, offset: usize) -> Option<Location> {
    let text = &document.text;
    let roles = names::roles(text);
    if let Some((symbol, _)) = names::symbol_at(text, offset, &roles) {
        let (span, _) = names::occurrences(text, &symbol, &roles)
            .into_iter()
            .find(|(_, definition)| *definition)?;
        return Some(Location {
            uri: document.uri.clone(),
            range: LineIndex::new(text).range(span),
        });
    }
    let (token, role) = roles.iter().find(|(t, _)| t.start <= offset && offset <= t.end)?;
    match role {
        Role::StdImport => {
            let group = token.text(text).strip_prefix("std.")?;
            location_in(&stdlib_file(group)?, None)
        }
        Role::FileImport => location_in(&imported_file(document, token.text(text))?, None),
        Role::GroupUse => {
            let (group, member) = token.text(text).split_once('.')?;
            location_in(&group_file(document, &roles, group)?, Some(member))
        }
        Role::LetDefinition
        | Role::StepDefinition(_)
        | Role::StepUse
        | Role::NameUse
        | Role::Other => None,
    }
}

pub fn references(document: &Document, offset: usize, include_declaration: bool) -> Vec<Location> {
    let text = &document.text;
    let roles = names::roles(text);
    let Some((symbol, _)) = names::symbol_at(text, offset, &roles) else { return Vec::new() };
    let index = LineIndex::new(text);
    names::occurrences(text, &symbol, &roles)
        .into_iter()
        .filter(|(_, definition)| include_declaration || !definition)
        .map(|(span, _)| Location { uri: document.uri.clone(), range: index.range(span) })
        .collect()
}

/// Every occurrence of the let or step at `offset` renamed; `Err` says why not.
// `WorkspaceEdit` keys its changes by `Uri`, whose parse cache is a `Cell`; a key's hash and
// equality read only its text, which never changes.
#[allow(clippy::mutable_key_type)]
pub fn rename(
    document: &Document,
    offset: usize,
    new_name: &str,
) -> Result<Option<WorkspaceEdit>, String> {
    let text = &document.text;
    if !is_identifier(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: a letter or `_`, then letters, digits or `_`"
        ));
    }
    let roles = names::roles(text);
    let Some((symbol, _)) = names::symbol_at(text, offset, &roles) else { return Ok(None) };
    let taken = roles.iter().any(|(token, role)| {
        matches!(role, Role::LetDefinition | Role::StepDefinition(_))
            && token.text(text) == new_name
    });
    if taken {
        return Err(format!("`{new_name}` already names a let or a step"));
    }
    let index = LineIndex::new(text);
    let edits = names::occurrences(text, &symbol, &roles)
        .into_iter()
        .map(|(span, _)| TextEdit { range: index.range(span), new_text: new_name.to_owned() })
        .collect();
    let changes: HashMap<Uri, Vec<TextEdit>> =
        std::iter::once((document.uri.clone(), edits)).collect();
    Ok(Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }))
}

fn is_identifier(name: &str) -> bool {
    const KEYWORDS: [&str; 10] =
        ["import", "param", "let", "from", "on", "with", "true", "false", "auto", "as"];
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

/// The outline: each let and step, the step's kind as its detail.
#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written; `tags` replaced it.
pub fn symbols(text: &str) -> Vec<DocumentSymbol> {
    let index = LineIndex::new(text);
    names::roles(text)
        .into_iter()
        .filter_map(|(token, role)| {
            let (kind, detail) = match role {
                Role::LetDefinition => (SymbolKind::VARIABLE, "let".to_owned()),
                Role::StepDefinition(kind) => (SymbolKind::FUNCTION, kind.name().to_owned()),
                Role::StepUse
                | Role::NameUse
                | Role::GroupUse
                | Role::StdImport
                | Role::FileImport
                | Role::Other => return None,
            };
            let name_span = Span::new(token.start, token.end);
            Some(DocumentSymbol {
                name: token.text(text).to_owned(),
                detail: Some(detail),
                kind,
                tags: None,
                deprecated: None,
                range: index.range(names::item_extent(text, &token)),
                selection_range: index.range(name_span),
                children: None,
            })
        })
        .collect()
}

/// The start of a file, or the let `member` in it.
fn location_in(path: &Path, member: Option<&str>) -> Option<Location> {
    let uri = file_uri(path)?;
    let Some(member) = member else {
        return Some(Location { uri, range: lsp_types::Range::default() });
    };
    let text = std::fs::read_to_string(path).ok()?;
    let outline = Outline::of(&text, &tokens(&text));
    let (token, _): &(Token, bool) = outline.lets.iter().find(|(t, _)| t.text(&text) == member)?;
    Some(Location { uri, range: LineIndex::new(&text).range(Span::new(token.start, token.end)) })
}

/// The file behind a group name: `import std.NAME` or `import "path" as NAME`.
fn group_file(document: &Document, roles: &[(Token, Role)], group: &str) -> Option<PathBuf> {
    let text = &document.text;
    for (at, (token, role)) in roles.iter().enumerate() {
        match role {
            Role::StdImport if token.text(text).strip_prefix("std.") == Some(group) => {
                return stdlib_file(group);
            }
            Role::FileImport => {
                let alias = roles.get(at + 1).map(|(t, _)| t.text(text));
                if alias == Some(group) {
                    return imported_file(document, token.text(text));
                }
            }
            _ => {}
        }
    }
    None
}

/// `"path.dev"` relative to the document's folder.
fn imported_file(document: &Document, quoted: &str) -> Option<PathBuf> {
    let relative = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let folder = document.path.as_deref()?.parent()?;
    let path = folder.join(relative);
    path.is_file().then_some(path)
}

/// A stdlib module as a file an editor can open: written once per devspec version.
fn stdlib_file(group: &str) -> Option<PathBuf> {
    let source = stdlib::source(group)?;
    let folder = std::env::temp_dir().join(format!("devspec-{}-stdlib", env!("CARGO_PKG_VERSION")));
    let path = folder.join(format!("{group}.dev"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(source) {
        std::fs::create_dir_all(&folder).ok()?;
        // Another server may write it at the same time: write beside it, then rename.
        let partial = tempfile::NamedTempFile::new_in(&folder).ok()?;
        std::fs::write(partial.path(), source).ok()?;
        partial.persist(&path).ok()?;
    }
    Some(path)
}
