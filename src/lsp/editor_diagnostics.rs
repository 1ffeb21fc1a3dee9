//! The checker's [`Diagnostic`]s in the protocol's form, grouped by the file they point into:
//! the primary label's span is the range, the secondary labels become related information
//! (an editor links them), and the hint is the message's last line, worded as `check` words it.

use std::collections::BTreeMap;

use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, Uri};

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{FileId, SourceMap, Span};

use super::analysis::Analysis;
use super::document::file_uri;
use super::line_index::LineIndex;

/// Every diagnostic of an analysis, by the URI of its file. The document's own URI is always
/// present (an empty list clears what the editor showed before). A diagnostic in a file with no
/// URI (a stdlib module) is shown on the document's first line, naming that file.
pub fn by_file(
    analysis: &Analysis,
    document_uri: &Uri,
) -> BTreeMap<String, (Uri, Vec<lsp_types::Diagnostic>)> {
    let mut files = BTreeMap::new();
    files.insert(document_uri.as_str().to_owned(), (document_uri.clone(), Vec::new()));
    for diagnostic in &analysis.diagnostics {
        let file = diagnostic.primary.file;
        let mut converted = convert(&analysis.sources, diagnostic, analysis.root, document_uri);
        let uri = if let Some(uri) = uri_of(&analysis.sources, file, analysis.root, document_uri) {
            uri
        } else {
            converted.range = lsp_types::Range::default();
            converted.message =
                format!("in {}: {}", analysis.sources.get(file).name, converted.message);
            document_uri.clone()
        };
        converted.source = Some("devspec".into());
        files.entry(uri.as_str().to_owned()).or_insert_with(|| (uri, Vec::new())).1.push(converted);
    }
    files
}

fn convert(
    sources: &SourceMap,
    diagnostic: &Diagnostic,
    root: FileId,
    document_uri: &Uri,
) -> lsp_types::Diagnostic {
    let mut message = diagnostic.message.clone();
    if !diagnostic.primary.message.is_empty() {
        message = format!("{message}: {}", diagnostic.primary.message);
    }
    if let Some(hint) = &diagnostic.hint {
        message = format!("{message}\nhint: {hint}");
    }
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .secondary
        .iter()
        .filter_map(|label| {
            let uri = uri_of(sources, label.file, root, document_uri)?;
            Some(DiagnosticRelatedInformation {
                location: Location { uri, range: range_in(sources, label.file, label.span) },
                message: if label.message.is_empty() {
                    "here".into()
                } else {
                    label.message.clone()
                },
            })
        })
        .collect();
    lsp_types::Diagnostic {
        range: range_in(sources, diagnostic.primary.file, diagnostic.primary.span),
        severity: Some(match diagnostic.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp_types::Diagnostic::default()
    }
}

pub fn range_in(sources: &SourceMap, file: FileId, span: Span) -> lsp_types::Range {
    LineIndex::new(&sources.get(file).text).range(span)
}

/// The URI an editor opens a file of the source map by: the document's own, or a file on disk.
pub fn uri_of(sources: &SourceMap, file: FileId, root: FileId, document_uri: &Uri) -> Option<Uri> {
    if file == root {
        return Some(document_uri.clone());
    }
    sources.get(file).path.as_deref().and_then(file_uri)
}
