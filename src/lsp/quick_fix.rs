//! Quick fixes: every diagnostic whose hint is "did you mean `NAME`?" (the checker's
//! `did_you_mean` wording) offers to write `NAME` in place of the misspelt name it points at.

use crate::source::Span;

use super::analysis::Analysis;

/// One replacement in the document's own text.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickFix {
    pub title: String,
    pub span: Span,
    pub new_text: String,
    /// The index of its diagnostic in the analysis.
    pub diagnostic: usize,
}

pub fn of(analysis: &Analysis) -> Vec<QuickFix> {
    let text = &analysis.sources.get(analysis.root).text;
    analysis
        .diagnostics
        .iter()
        .enumerate()
        .filter(|(_, diagnostic)| diagnostic.primary.file == analysis.root)
        .filter_map(|(index, diagnostic)| {
            let suggestion = suggested(diagnostic.hint.as_deref()?)?;
            let span = diagnostic.primary.span;
            let written = text.get(span.range())?;
            if !is_dotted_name(written) || !is_dotted_name(suggestion) {
                return None;
            }
            // `tms.modle` with the hint `model` names the member only: replace the member.
            let span = match written.rfind('.') {
                Some(dot) if !suggestion.contains('.') => Span::new(span.start + dot + 1, span.end),
                Some(_) | None => span,
            };
            Some(QuickFix {
                title: format!("Change to `{suggestion}`"),
                span,
                new_text: suggestion.to_owned(),
                diagnostic: index,
            })
        })
        .collect()
}

/// `NAME` from "did you mean `NAME`?".
fn suggested(hint: &str) -> Option<&str> {
    hint.strip_prefix("did you mean `")?.strip_suffix("`?")
}

fn is_dotted_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}
