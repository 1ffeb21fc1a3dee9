//! Formatting: `devspec fmt`'s canonical layout as one edit over the whole document. A
//! document that does not parse gets no edits (its diagnostics say why); a result the
//! formatter cannot prove equivalent is refused, as `fmt` refuses it.

use lsp_types::TextEdit;

use crate::format;
use crate::source::{FileId, Span};
use crate::syntax;

use super::line_index::LineIndex;

pub fn format_document(text: &str) -> Result<Vec<TextEdit>, String> {
    let Ok(module) = syntax::parse(FileId(0), text) else { return Ok(Vec::new()) };
    let formatted = format::format_module(text, &module);
    if formatted == text {
        return Ok(Vec::new());
    }
    format::check_equivalent(&module, &formatted)
        .map_err(|reason| format!("formatting went wrong ({reason}); this is a bug in devspec"))?;
    let range = LineIndex::new(text).range(Span::new(0, text.len()));
    Ok(vec![TextEdit { range, new_text: formatted }])
}
