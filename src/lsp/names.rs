//! The names a document defines and where each is used, read from its tokens (so it works on
//! broken text): `let`s and `param`s and their uses in values and after `from`, steps and the `on` lists
//! that name them, and names from imported groups (`tms.chen2023`). Definition, references,
//! rename and the outline all read [`roles`].

use devspec_protocol::StepKind;

use crate::source::Span;

use super::lexical::{Token, TokenKind, tokens};

/// What a name token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    LetDefinition,
    StepDefinition(StepKind),
    /// `on A, B`.
    StepUse,
    /// A bare name in a value or after `from`; a let's use if a let has that name.
    NameUse,
    /// `group.member` in a value or after `from`.
    GroupUse,
    /// `import std.NAME`.
    StdImport,
    /// `import "path" as NAME`: the path string's token.
    FileImport,
    /// A field or argument name, a keyword, a step kind: not a symbol.
    Other,
}

/// A symbol the document can rename or list.
#[derive(Debug, Clone, PartialEq)]
pub enum Symbol {
    Let(String),
    Step(String),
}

/// Every name token with its role; `import "x"` gives its string token the role `FileImport`.
pub fn roles(text: &str) -> Vec<(Token, Role)> {
    let all = tokens(text);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // In a step's header: after `on` (until its `{`).
    let mut in_on = false;
    for (index, token) in all.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| all[i].text(text));
        let next_is_eq = all.get(index + 1).is_some_and(|t| t.is('='));
        match token.kind {
            TokenKind::Punct('{' | '(' | '[') => {
                depth += 1;
                in_on = false;
                continue;
            }
            TokenKind::Punct('}' | ')' | ']') => {
                depth = depth.saturating_sub(1);
                continue;
            }
            TokenKind::Literal => {
                if previous == Some("import") && text[token.start..].starts_with('"') {
                    out.push((token.clone(), Role::FileImport));
                }
                continue;
            }
            TokenKind::Punct(_) => continue,
            TokenKind::Name => {}
        }
        let word = token.text(text);
        let top_keyword = depth == 0 && token.starts_line;
        let role = if top_keyword {
            in_on = false;
            Role::Other
        } else if depth == 0 && matches!(previous, Some("let" | "param")) {
            // A parameter is a name in scope like a let: found, renamed and listed alike.
            Role::LetDefinition
        } else if depth == 0 && previous == Some(":") {
            // `param NAME: TYPE`: the type word.
            Role::Other
        } else if let Some(kind) = previous
            .and_then(StepKind::from_name)
            .filter(|_| depth == 0 && all[index - 1].starts_line)
        {
            Role::StepDefinition(kind)
        } else if depth == 0 && previous == Some("import") && word.starts_with("std.") {
            Role::StdImport
        } else if word == "on" && depth == 0 {
            in_on = true;
            Role::Other
        } else if in_on {
            Role::StepUse
        } else if next_is_eq
            || previous == Some("as")
            || matches!(word, "from" | "with" | "as" | "import" | "let" | "param" | "on")
        {
            Role::Other
        } else if word.contains('.') {
            Role::GroupUse
        } else {
            Role::NameUse
        };
        out.push((token.clone(), role));
    }
    out
}

/// The let or step named at `offset`, with its token's span.
pub fn symbol_at(text: &str, offset: usize, roles: &[(Token, Role)]) -> Option<(Symbol, Span)> {
    let (token, role) = roles.iter().find(|(t, _)| t.start <= offset && offset <= t.end)?;
    let name = token.text(text).to_owned();
    let span = Span::new(token.start, token.end);
    let is_let =
        |name: &str| roles.iter().any(|(t, r)| *r == Role::LetDefinition && t.text(text) == name);
    let is_step = |name: &str| {
        roles.iter().any(|(t, r)| matches!(r, Role::StepDefinition(_)) && t.text(text) == name)
    };
    match role {
        Role::LetDefinition => Some((Symbol::Let(name), span)),
        Role::StepDefinition(_) => Some((Symbol::Step(name), span)),
        Role::StepUse if is_step(&name) => Some((Symbol::Step(name), span)),
        Role::NameUse if is_let(&name) => Some((Symbol::Let(name), span)),
        Role::StepUse
        | Role::NameUse
        | Role::GroupUse
        | Role::StdImport
        | Role::FileImport
        | Role::Other => None,
    }
}

/// Where a symbol is defined and used: (span, whether it is the definition).
pub fn occurrences(text: &str, symbol: &Symbol, roles: &[(Token, Role)]) -> Vec<(Span, bool)> {
    roles
        .iter()
        .filter_map(|(token, role)| {
            let matches = match symbol {
                Symbol::Let(name) => {
                    matches!(role, Role::LetDefinition | Role::NameUse) && token.text(text) == name
                }
                Symbol::Step(name) => {
                    matches!(role, Role::StepDefinition(_) | Role::StepUse)
                        && token.text(text) == name
                }
            };
            let definition = matches!(role, Role::LetDefinition | Role::StepDefinition(_));
            matches.then_some((Span::new(token.start, token.end), definition))
        })
        .collect()
}

/// Each top-level item's extent: from its first token to the last before the next item.
pub fn item_extent(text: &str, name: &Token) -> Span {
    let all = tokens(text);
    let Some(at) = all.iter().position(|t| t == name) else {
        return Span::new(name.start, name.end);
    };
    let start = all[..at].iter().rev().find(|t| t.starts_line).map_or(name.start, |t| t.start);
    Span::new(start, item_end(&all, at, |token| token.starts_line))
}

/// Where the item holding token `at` ends: at the last token before one, outside every
/// bracket, that `next_item` says begins the next item.
pub fn item_end(all: &[Token], at: usize, next_item: impl Fn(&Token) -> bool) -> usize {
    let mut depth = 0usize;
    let mut end = all[at].end;
    for token in &all[at + 1..] {
        if depth == 0 && next_item(token) {
            break;
        }
        match token.kind {
            TokenKind::Punct('{' | '(' | '[') => depth += 1,
            TokenKind::Punct('}' | ')' | ']') => depth = depth.saturating_sub(1),
            TokenKind::Name | TokenKind::Literal | TokenKind::Punct(_) => {}
        }
        end = token.end;
    }
    end
}
