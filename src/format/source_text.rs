//! [`SourceText`]: what the formatter reads from the original text beyond the syntax tree:
//! tight spans, where comments sit on their lines, blank lines, and the opening brackets the
//! tree does not record.
//!
//! pest lets a rule's span run over the spaces and comments that follow it (a field's span
//! reaches the next field), so every span the formatter compares with a comment is first made
//! tight with [`SourceText::tight`].

use crate::syntax::ast::{Comment, Expr, Name, Span, Step};

pub(super) struct SourceText<'a> {
    text: &'a str,
    /// Sorted by position.
    comments: &'a [Comment],
}

impl<'a> SourceText<'a> {
    pub(super) fn new(text: &'a str, comments: &'a [Comment]) -> Self {
        debug_assert!(comments.is_sorted_by_key(|comment| comment.span.start));
        SourceText { text, comments }
    }

    /// The span without the spaces and comments at its end.
    pub(super) fn tight(&self, span: Span) -> Span {
        let bytes = self.text.as_bytes();
        let mut end = span.end.min(bytes.len());
        loop {
            while end > span.start && bytes[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            // The last comment starting before `end`; `end` lies inside it or after it.
            let before = self.comments.partition_point(|comment| comment.span.start < end);
            match before.checked_sub(1).map(|index| &self.comments[index]) {
                Some(comment) if comment.span.start >= span.start && end <= comment.span.end => {
                    end = comment.span.start;
                }
                _ => return Span::new(span.start, end),
            }
        }
    }

    /// Whether only spaces precede the comment on its line: such a comment stays on a line of
    /// its own; the others end a line of code.
    pub(super) fn is_own_line(&self, comment: &Comment) -> bool {
        let before = &self.text[..comment.span.start];
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        before[line_start..].trim().is_empty()
    }

    /// Whether the text between two positions holds an empty line.
    pub(super) fn has_blank_line(&self, from: usize, to: usize) -> bool {
        if from >= to {
            return false;
        }
        let mut newlines = 0;
        for byte in self.text[from..to].bytes() {
            match byte {
                b'\n' => {
                    newlines += 1;
                    if newlines == 2 {
                        return true;
                    }
                }
                b' ' | b'\t' | b'\r' => {}
                _ => newlines = 0,
            }
        }
        false
    }

    /// The `(` of a call: after the callee, past any spaces and comments.
    pub(super) fn call_open(&self, callee: &[Name]) -> usize {
        let after = callee.last().map_or(0, |name| name.span.end);
        self.next_outside_comments(after, b'(')
    }

    /// The `{` of `base with { ... }`: after the base, past `with`, spaces and comments.
    pub(super) fn with_open(&self, base: &Expr) -> usize {
        self.next_outside_comments(self.tight(base.span).end, b'{')
    }

    /// The `{` of a step's block: after the header.
    pub(super) fn block_open(&self, step: &Step) -> usize {
        let header_end = [
            Some(step.name.span.end),
            step.preset.as_ref().and_then(|preset| preset.last()).map(|name| name.span.end),
            step.inputs.last().map(|name| name.span.end),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(step.span.start);
        self.next_outside_comments(header_end, b'{')
    }

    /// The position of the closing bracket of a bracketed node (a list, record, call, block).
    pub(super) fn close_of(&self, span: Span) -> usize {
        self.tight(span).end.saturating_sub(1)
    }

    /// The next `target` byte at or after `from` that is not inside a comment. Only called
    /// where the grammar allows nothing but spaces, comments and keywords before it.
    fn next_outside_comments(&self, from: usize, target: u8) -> usize {
        let bytes = self.text.as_bytes();
        let mut at = from;
        while at < bytes.len() {
            match bytes[at] {
                b'#' => {
                    while at < bytes.len() && bytes[at] != b'\n' {
                        at += 1;
                    }
                }
                byte if byte == target => return at,
                _ => at += 1,
            }
        }
        from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(text: &str, at: &str) -> Comment {
        let start = text.find(at).unwrap();
        Comment { text: at.trim_end().to_owned(), span: Span::new(start, start + at.len()) }
    }

    #[test]
    fn tight_drops_trailing_spaces_and_comments() {
        let text = "a = q # g\n  # h  \n b";
        let comments = [comment(text, "# g"), comment(text, "# h  ")];
        let source = SourceText::new(text, &comments);
        assert_eq!(source.tight(Span::new(0, 20)), Span::new(0, 20));
        assert_eq!(source.tight(Span::new(0, 19)), Span::new(0, 5));
    }

    #[test]
    fn blank_lines_need_an_empty_line() {
        let source = SourceText::new("a,\n  \r\n b\n, c", &[]);
        assert!(source.has_blank_line(0, 9));
        assert!(!source.has_blank_line(8, 13));
    }
}
