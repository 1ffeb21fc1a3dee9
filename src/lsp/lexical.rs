//! A forgiving lexical reading of a document, for requests on text that may not parse (the
//! user is typing): tokens with byte offsets, comments and strings skipped, every input
//! accepted. [`Outline`] lists the lets, steps and imports a scan of the tokens finds, so
//! completion and hover know the document's names even while it is broken.

use devspec_protocol::StepKind;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A name, dots included: `tms.model`.
    Name,
    /// A number, a string, `true`, `false`, `auto`: a finished value.
    Literal,
    /// Any other character (`{`, `=`, `,`, ...).
    Punct(char),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
    /// Whether a newline separates it from the token before.
    pub starts_line: bool,
}

impl Token {
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }

    pub fn is(&self, punct: char) -> bool {
        self.kind == TokenKind::Punct(punct)
    }
}

/// Every token of `text`; a string or comment left open runs to the end (of the line).
pub fn tokens(text: &str) -> Vec<Token> {
    scan(text, false)
}

/// The tokens and the comments (as `Punct('#')` tokens spanning the comment), for highlighting.
pub fn tokens_and_comments(text: &str) -> Vec<Token> {
    scan(text, true)
}

fn scan(text: &str, keep_comments: bool) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut newline = true;
    while let Some((at, ch)) = chars.next() {
        let kind = match ch {
            '\n' => {
                newline = true;
                continue;
            }
            c if c.is_whitespace() => continue,
            '#' => {
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
                if !keep_comments {
                    continue;
                }
                TokenKind::Punct('#')
            }
            '"' => {
                while let Some((_, c)) = chars.next_if(|&(_, c)| c != '\n') {
                    if c == '\\' {
                        chars.next_if(|&(_, c)| c != '\n');
                    } else if c == '"' {
                        break;
                    }
                }
                TokenKind::Literal
            }
            c if c.is_ascii_digit() => {
                // `1e-3`, `20_000`, `0.5`; `0..4` is a number, `..`, a number.
                while chars
                    .next_if(|&(i, c)| {
                        c.is_ascii_alphanumeric()
                            || c == '_'
                            || (c == '.'
                                && text[i + 1..].starts_with(|d: char| d.is_ascii_digit())
                                && !text[..i].ends_with('.'))
                            || ((c == '-' || c == '+') && text[..i].ends_with(['e', 'E']))
                    })
                    .is_some()
                {}
                TokenKind::Literal
            }
            c if is_name_char(c) => {
                while chars
                    .next_if(|&(i, c)| {
                        is_name_char(c)
                            || (c == '.'
                                && !text[i + 1..].starts_with('.')
                                && !text[..i].ends_with('.'))
                    })
                    .is_some()
                {}
                TokenKind::Name
            }
            other => TokenKind::Punct(other),
        };
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        let token = Token { kind, start: at, end, starts_line: newline };
        newline = false;
        let token = match token.kind {
            TokenKind::Name if matches!(token.text(text), "true" | "false" | "auto") => {
                Token { kind: TokenKind::Literal, ..token }
            }
            _ => token,
        };
        tokens.push(token);
    }
    tokens
}

pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names a document declares, read from its tokens.
#[derive(Debug, Default)]
pub struct Outline {
    /// `let NAME = ...`: the name's token and whether its value starts with `{` (a preset).
    pub lets: Vec<(Token, bool)>,
    /// `KIND NAME ...`: each step's kind and name.
    pub steps: Vec<(StepKind, Token)>,
    /// `import std.NAME` (the group `NAME`) and `import "path" as NAME`.
    pub std_imports: Vec<String>,
    /// `param NAME: TYPE "doc"`: the name's token, the type as written, the doc string as
    /// written (quotes included) if any.
    pub params: Vec<(Token, String, Option<String>)>,
}

impl Outline {
    pub fn of(text: &str, tokens: &[Token]) -> Outline {
        let mut outline = Outline::default();
        let mut depth = 0usize;
        for (index, token) in tokens.iter().enumerate() {
            match token.kind {
                TokenKind::Punct('{' | '(' | '[') => depth += 1,
                TokenKind::Punct('}' | ')' | ']') => depth = depth.saturating_sub(1),
                TokenKind::Name if depth == 0 => {
                    let next = tokens.get(index + 1);
                    let word = token.text(text);
                    match (word, next) {
                        ("let", Some(name)) if name.kind == TokenKind::Name => {
                            let preset = tokens.get(index + 2).is_some_and(|eq| eq.is('='))
                                && tokens.get(index + 3).is_some_and(|open| open.is('{'));
                            outline.lets.push((name.clone(), preset));
                        }
                        ("param", Some(name)) if name.kind == TokenKind::Name => {
                            let ty = tokens
                                .get(index + 2)
                                .filter(|colon| colon.is(':'))
                                .and_then(|_| tokens.get(index + 3))
                                .filter(|ty| ty.kind == TokenKind::Name);
                            let doc = ty
                                .and_then(|_| tokens.get(index + 4))
                                .filter(|doc| {
                                    doc.kind == TokenKind::Literal
                                        && doc.text(text).starts_with('"')
                                })
                                .map(|doc| doc.text(text).to_owned());
                            let ty = ty.map_or_else(String::new, |ty| ty.text(text).to_owned());
                            outline.params.push((name.clone(), ty, doc));
                        }
                        ("import", Some(module)) => {
                            if let Some(group) = module.text(text).strip_prefix("std.") {
                                outline.std_imports.push(group.to_owned());
                            }
                        }
                        (kind, Some(name)) if name.kind == TokenKind::Name && token.starts_line => {
                            if let Some(kind) = StepKind::from_name(kind) {
                                outline.steps.push((kind, name.clone()));
                            }
                        }
                        _ => {}
                    }
                }
                TokenKind::Name | TokenKind::Literal | TokenKind::Punct(_) => {}
            }
        }
        outline
    }

    pub fn step_kind(&self, text: &str, name: &str) -> Option<StepKind> {
        self.steps.iter().find(|(_, token)| token.text(text) == name).map(|(kind, _)| *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::{Outline, TokenKind, tokens};

    #[test]
    fn reads_half_typed_text() {
        let text = "import std.tms\nlet p = { steps = 1 }\ntrain a from p { seed = sweep(0..4) # é\n  model = \"unterminated\nestimate b on a {";
        let tokens = tokens(text);
        let words: Vec<&str> = tokens.iter().map(|t| t.text(text)).collect();
        assert!(words.contains(&"0"), "{words:?}");
        assert!(words.contains(&"4"), "{words:?}");
        assert!(words.contains(&"std.tms"));
        assert_eq!(tokens.iter().filter(|t| t.kind == TokenKind::Literal).count(), 4);
        let outline = Outline::of(text, &tokens);
        assert_eq!(outline.std_imports, ["tms"]);
        assert_eq!(outline.lets.len(), 1);
        assert!(outline.lets[0].1, "a record let is a preset");
        // `estimate b` is inside `a`'s unclosed block, so only `a` is a step at the top level.
        let steps: Vec<&str> = outline.steps.iter().map(|(_, t)| t.text(text)).collect();
        assert_eq!(steps, ["a"]);
    }
}
