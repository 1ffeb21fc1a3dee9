//! [`LineIndex`]: byte offsets in a document's text to LSP positions and back. LSP counts a
//! line's columns in UTF-16 code units (its default encoding, the only one every client
//! supports), our spans count bytes of UTF-8: a `é` in a comment is 2 bytes but 1 unit, a `𝜆`
//! 4 bytes but 2 units. Every position the server sends or reads goes through here.

use lsp_types::Position;

pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of each line start.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        LineIndex { text, line_starts }
    }

    /// The position of a byte offset; an offset past the end (or inside a character) is
    /// clamped to the nearest character boundary before it.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let units: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        Position { line: saturate(line), character: saturate(units) }
    }

    /// The byte offset of a position; a line past the end gives the end of the text, a column
    /// past its line's end gives the end of that line (as the protocol asks).
    pub fn offset(&self, position: Position) -> usize {
        let Some(&start) = self.line_starts.get(position.line as usize) else {
            return self.text.len();
        };
        let line_end = self
            .line_starts
            .get(position.line as usize + 1)
            .map_or(self.text.len(), |next| next - 1);
        let mut units = 0;
        for (at, ch) in self.text[start..line_end].char_indices() {
            if units >= position.character as usize {
                return start + at;
            }
            units += ch.len_utf16();
        }
        line_end
    }

    pub fn range(&self, span: crate::source::Span) -> lsp_types::Range {
        lsp_types::Range { start: self.position(span.start), end: self.position(span.end) }
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::LineIndex;
    use lsp_types::Position;

    #[test]
    fn counts_columns_in_utf16_units() {
        // `é` is 2 bytes and 1 unit; `𝜆` 4 bytes and 2 units.
        let text = "# é𝜆\nlet x = 1\r\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(index.position(x), Position { line: 1, character: 4 });
        assert_eq!(index.offset(Position { line: 1, character: 4 }), x);
        let end_of_comment = text.find('\n').unwrap();
        assert_eq!(index.position(end_of_comment), Position { line: 0, character: 5 });
        assert_eq!(index.offset(Position { line: 0, character: 5 }), end_of_comment);
        // Inside `𝜆`'s two units: a boundary, never a panic.
        assert_eq!(index.position(end_of_comment - 1), Position { line: 0, character: 3 });
        assert_eq!(index.offset(Position { line: 0, character: 99 }), end_of_comment);
        assert_eq!(index.offset(Position { line: 9, character: 0 }), text.len());
    }
}
