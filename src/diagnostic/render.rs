//! The one place diagnostics become text: plain or coloured for people (codespan-reporting),
//! or JSON lines for editors (`check --format json`).

use codespan_reporting::diagnostic as cs;
use codespan_reporting::term;

use super::{Diagnostic, Severity};
use crate::source::SourceMap;

/// A diagnostic as people read it, with the source lines around it. No colour: the same text
/// goes to snapshots, logs and terminals that cannot show it.
pub fn to_text(sources: &SourceMap, diagnostic: &Diagnostic) -> String {
    let config = term::Config::default();
    term::emit_into_string(&config, sources, &to_codespan(diagnostic)).unwrap_or_else(|err| {
        format!("error: {} (cannot show the source: {err})\n", diagnostic.message)
    })
}

/// A diagnostic in colour, for a terminal.
pub fn to_terminal(
    sources: &SourceMap,
    diagnostic: &Diagnostic,
    out: &mut dyn term::WriteStyle,
) -> std::io::Result<()> {
    let config = term::Config::default();
    term::emit_to_write_style(out, &config, sources, &to_codespan(diagnostic))
        .map_err(std::io::Error::other)
}

fn to_codespan(diagnostic: &Diagnostic) -> cs::Diagnostic<crate::source::FileId> {
    let severity = match diagnostic.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let primary = &diagnostic.primary;
    let mut labels =
        vec![cs::Label::primary(primary.file, primary.span.range()).with_message(&primary.message)];
    labels.extend(diagnostic.secondary.iter().map(|label| {
        cs::Label::secondary(label.file, label.span.range()).with_message(&label.message)
    }));
    let notes = diagnostic.hint.iter().map(|hint| format!("hint: {hint}")).collect();
    cs::Diagnostic::new(severity)
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(notes)
}

/// One JSON object per diagnostic: file, 1-based line and column, byte span, severity,
/// message, hint.
pub fn to_json_line(sources: &SourceMap, diagnostic: &Diagnostic) -> String {
    let primary = &diagnostic.primary;
    let file = sources.get(primary.file);
    let (line, column) = file.line_column(primary.span.start);
    let (end_line, end_column) = file.line_column(primary.span.end);
    serde_json::json!({
        "file": file.name,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "span": [primary.span.start, primary.span.end],
        "severity": diagnostic.severity,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
    })
    .to_string()
}
