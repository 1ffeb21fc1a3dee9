//! [`Doc`]: a layout to be printed, in the manner of Wadler's "prettier printer": text, places
//! where a line may break, indentation, and groups that are printed on one line when they fit
//! and with every break taken when they do not. The [`printer`](super::printer) decides.

/// A layout. Built by the [`doc_builder`](super::doc_builder), printed by the
/// [`printer`](super::printer).
#[derive(Debug, Clone)]
pub(super) enum Doc {
    /// Text without newlines.
    Text(String),
    Concat(Vec<Doc>),
    /// A space when its group is flat, a newline when broken.
    Line,
    /// Nothing when its group is flat, a newline when broken.
    SoftLine,
    /// Always a newline; the groups around it break.
    HardLine,
    /// An empty line when its group is broken (after a line break), nothing when flat.
    BlankLine,
    /// Its content is indented two more spaces after each newline.
    Indent(Box<Doc>),
    /// Printed flat if it fits in the line, else broken. `broken` is set when the content must
    /// break (it holds a newline or a comment), so the printer never has to look inside.
    Group {
        content: Box<Doc>,
        broken: bool,
    },
    /// One or the other, as the enclosing group is broken or flat (a trailing comma, padding).
    IfBroken {
        broken: Box<Doc>,
        flat: Box<Doc>,
    },
    /// A comment printed at the end of the current line, after whatever else the line holds.
    TrailingComment(String),
    /// Prints nothing, but breaks the groups around it (a comment on its own line follows).
    BreakParent,
}

impl Doc {
    pub(super) fn text(text: impl Into<String>) -> Doc {
        Doc::Text(text.into())
    }

    pub(super) fn indent(content: Doc) -> Doc {
        Doc::Indent(Box::new(content))
    }

    /// A group that breaks only if it does not fit (or must).
    pub(super) fn group(content: Doc) -> Doc {
        let broken = content.must_break();
        Doc::Group { content: Box::new(content), broken }
    }

    /// A group printed broken whatever its width.
    pub(super) fn broken_group(content: Doc) -> Doc {
        Doc::Group { content: Box::new(content), broken: true }
    }

    pub(super) fn if_broken(broken: Doc, flat: Doc) -> Doc {
        Doc::IfBroken { broken: Box::new(broken), flat: Box::new(flat) }
    }

    /// Whether this layout cannot be printed on one line.
    pub(super) fn must_break(&self) -> bool {
        match self {
            Doc::Text(_) | Doc::Line | Doc::SoftLine | Doc::BlankLine => false,
            Doc::HardLine | Doc::TrailingComment(_) | Doc::BreakParent => true,
            Doc::Concat(parts) => parts.iter().any(Doc::must_break),
            Doc::Indent(content) => content.must_break(),
            Doc::Group { broken, .. } => *broken,
            Doc::IfBroken { flat, .. } => flat.must_break(),
        }
    }

    /// The width of this layout printed on one line, or `None` if it cannot be.
    pub(super) fn flat_width(&self) -> Option<usize> {
        match self {
            Doc::Text(text) => Some(text_width(text)),
            Doc::Line => Some(1),
            Doc::SoftLine | Doc::BlankLine => Some(0),
            Doc::HardLine | Doc::TrailingComment(_) | Doc::BreakParent => None,
            Doc::Concat(parts) => parts.iter().map(Doc::flat_width).sum(),
            Doc::Indent(content) => content.flat_width(),
            Doc::Group { content, broken } => {
                if *broken {
                    None
                } else {
                    content.flat_width()
                }
            }
            Doc::IfBroken { flat, .. } => flat.flat_width(),
        }
    }
}

/// Columns taken by a text: one per character (specs are mostly ASCII; wide characters in
/// strings or comments at worst make a line look a little longer than counted).
pub(super) fn text_width(text: &str) -> usize {
    text.chars().count()
}
