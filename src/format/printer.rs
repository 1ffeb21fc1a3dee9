//! [`print`]: a [`Doc`] to text within a line width. Groups are decided outermost first: a
//! group is flat when it and what must follow it on the same line fit, so a long call breaks
//! its own arguments one per line before any argument breaks inside.

use super::doc::{Doc, text_width};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Broken,
}

/// A part of the layout still to print: its indentation and the mode of its group.
#[derive(Clone, Copy)]
struct Command<'d> {
    indent: usize,
    mode: Mode,
    doc: &'d Doc,
}

/// Prints the layout; the top level is broken (each hard line is a newline).
pub(super) fn print(doc: &Doc, width: usize) -> String {
    let mut printer = Printer {
        out: String::new(),
        column: 0,
        pending_indent: None,
        trailing_comment: None,
        width,
    };
    let mut commands = vec![Command { indent: 0, mode: Mode::Broken, doc }];
    while let Some(command) = commands.pop() {
        printer.step(command, &mut commands);
    }
    printer.flush_comment();
    printer.out
}

struct Printer<'d> {
    out: String,
    column: usize,
    /// The indentation of the line just started, written only when text follows, so empty
    /// lines carry no spaces.
    pending_indent: Option<usize>,
    trailing_comment: Option<&'d str>,
    width: usize,
}

impl<'d> Printer<'d> {
    fn step(&mut self, command: Command<'d>, commands: &mut Vec<Command<'d>>) {
        let Command { indent, mode, doc } = command;
        match doc {
            Doc::Text(text) => self.write(text),
            Doc::Concat(parts) => {
                commands.extend(parts.iter().rev().map(|doc| Command { indent, mode, doc }));
            }
            Doc::Line => match mode {
                Mode::Flat => self.write(" "),
                Mode::Broken => self.newline(indent),
            },
            Doc::SoftLine => {
                if mode == Mode::Broken {
                    self.newline(indent);
                }
            }
            Doc::HardLine => self.newline(indent),
            Doc::BlankLine => {
                if mode == Mode::Broken {
                    self.flush_comment();
                    self.out.push('\n');
                }
            }
            Doc::Indent(content) => {
                commands.push(Command { indent: indent + 2, mode, doc: content });
            }
            Doc::Group { content, broken } => {
                let flat = Command { indent, mode: Mode::Flat, doc: content };
                let mode = if !broken && (mode == Mode::Flat || self.fits(flat, commands)) {
                    Mode::Flat
                } else {
                    Mode::Broken
                };
                commands.push(Command { indent, mode, doc: content });
            }
            Doc::IfBroken { broken, flat } => {
                let doc = if mode == Mode::Broken { broken } else { flat };
                commands.push(Command { indent, mode, doc });
            }
            Doc::TrailingComment(comment) => {
                if self.trailing_comment.is_some() {
                    // Two comments on one line would read as one; the builder never asks for
                    // this, but a comment must never be lost.
                    debug_assert!(false, "two trailing comments on one line");
                    self.newline(indent);
                }
                self.trailing_comment = Some(comment);
            }
            Doc::BreakParent => {}
        }
    }

    fn write(&mut self, text: &str) {
        if let Some(indent) = self.pending_indent.take() {
            self.out.extend(std::iter::repeat_n(' ', indent));
        }
        self.out.push_str(text);
        self.column += text_width(text);
    }

    fn newline(&mut self, indent: usize) {
        self.flush_comment();
        let kept = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(kept);
        self.out.push('\n');
        self.pending_indent = Some(indent);
        self.column = indent;
    }

    fn flush_comment(&mut self) {
        if let Some(comment) = self.trailing_comment.take() {
            self.pending_indent = None;
            self.out.push(' ');
            self.out.push_str(comment);
        }
    }

    /// Whether `next`, printed flat, and what follows it up to the next line break fit in
    /// the rest of the line.
    fn fits(&self, next: Command<'d>, rest: &[Command<'d>]) -> bool {
        let mut left = self.width.saturating_sub(self.column);
        let mut stack = vec![next];
        let mut rest = rest.iter().rev();
        loop {
            let Some(Command { indent, mode, doc }) = stack.pop().or_else(|| rest.next().copied())
            else {
                return true;
            };
            match doc {
                Doc::Text(text) => match left.checked_sub(text_width(text)) {
                    Some(remaining) => left = remaining,
                    None => return false,
                },
                Doc::Concat(parts) => {
                    stack.extend(parts.iter().rev().map(|doc| Command { indent, mode, doc }));
                }
                Doc::Line | Doc::SoftLine | Doc::BlankLine if mode == Mode::Broken => return true,
                Doc::Line => match left.checked_sub(1) {
                    Some(remaining) => left = remaining,
                    None => return false,
                },
                Doc::HardLine => return true,
                Doc::SoftLine | Doc::BlankLine | Doc::TrailingComment(_) | Doc::BreakParent => {}
                Doc::Indent(content) => stack.push(Command { indent, mode, doc: content }),
                Doc::Group { content, broken } => {
                    let mode = if *broken { Mode::Broken } else { mode };
                    stack.push(Command { indent, mode, doc: content });
                }
                Doc::IfBroken { broken, flat } => {
                    let doc = if mode == Mode::Broken { broken } else { flat };
                    stack.push(Command { indent, mode, doc });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Doc {
        let mut inner = Vec::new();
        for (index, item) in items.iter().enumerate() {
            inner.push(if index == 0 { Doc::SoftLine } else { Doc::Line });
            inner.push(Doc::text(*item));
            inner.push(if index + 1 == items.len() {
                Doc::if_broken(Doc::text(","), Doc::text(""))
            } else {
                Doc::text(",")
            });
        }
        Doc::group(Doc::Concat(vec![
            Doc::text("["),
            Doc::indent(Doc::Concat(inner)),
            Doc::SoftLine,
            Doc::text("]"),
        ]))
    }

    #[test]
    fn a_group_breaks_only_when_it_does_not_fit() {
        assert_eq!(print(&list(&["1", "2"]), 20), "[1, 2]");
        assert_eq!(print(&list(&["1", "2"]), 5), "[\n  1,\n  2,\n]");
    }

    #[test]
    fn trailing_comments_end_their_line_and_empty_lines_have_no_spaces() {
        let doc = Doc::Concat(vec![
            Doc::text("a"),
            Doc::TrailingComment("# c".into()),
            Doc::indent(Doc::Concat(vec![Doc::HardLine, Doc::BlankLine, Doc::text("b")])),
        ]);
        assert_eq!(print(&doc, 100), "a # c\n\n  b");
    }
}
