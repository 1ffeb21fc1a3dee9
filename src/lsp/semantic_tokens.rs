//! Semantic tokens: each token of the document classified (keywords, step kinds, steps, lets,
//! constructors, fields, enumeration values, groups, strings, numbers, comments), from the
//! lexical reading and [`names::roles`], so a broken document is highlighted too.

use devspec_protocol::StepKind;
use lsp_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensLegend,
};

use crate::registry;

use super::lexical::{TokenKind, tokens_and_comments};
use super::line_index::LineIndex;
use super::names::{self, Role};

/// The token types, in the order their indices are sent.
const TYPES: [SemanticTokenType; 10] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::CLASS,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
];

/// How a token is shown: its discriminant is its index in [`TYPES`] (a step is a `class`:
/// the document's things, as classes are a program's).
#[derive(Clone, Copy)]
enum Kind {
    Keyword,
    Step,
    Let,
    Constructor,
    Field,
    EnumValue,
    Group,
    Str,
    Number,
    Comment,
}

/// The one modifier: a let's or step's own definition.
const DECLARATION: u32 = 1;

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![SemanticTokenModifier::DECLARATION],
    }
}

pub fn tokens(text: &str) -> SemanticTokens {
    let roles = names::roles(text);
    let lets: Vec<&str> = roles
        .iter()
        .filter(|(_, role)| *role == Role::LetDefinition)
        .map(|(token, _)| token.text(text))
        .collect();
    let index = LineIndex::new(text);
    let all = tokens_and_comments(text);
    let mut data = Vec::new();
    let (mut line, mut column) = (0, 0);
    for (at, token) in all.iter().enumerate() {
        let word = token.text(text);
        let role = roles.iter().find(|(t, _)| t.start == token.start).map(|(_, role)| role);
        let next_is = |c: char| all.get(at + 1).is_some_and(|t| t.is(c));
        let classified = match (&token.kind, role) {
            (TokenKind::Punct('#'), _) => Some((Kind::Comment, 0)),
            (TokenKind::Punct(_), _) => None,
            (TokenKind::Literal, _) if word.starts_with('"') => Some((Kind::Str, 0)),
            (TokenKind::Literal, _) if word.starts_with(|c: char| c.is_ascii_digit()) => {
                Some((Kind::Number, 0))
            }
            (TokenKind::Literal, _) => Some((Kind::Keyword, 0)),
            (TokenKind::Name, Some(Role::LetDefinition)) => Some((Kind::Let, DECLARATION)),
            (TokenKind::Name, Some(Role::StepDefinition(_))) => Some((Kind::Step, DECLARATION)),
            (TokenKind::Name, Some(Role::StepUse)) => Some((Kind::Step, 0)),
            (TokenKind::Name, Some(Role::StdImport)) => Some((Kind::Group, 0)),
            (TokenKind::Name, _) => {
                name_kind(word, token.starts_line, next_is('='), next_is('('), &lets)
                    .map(|kind| (kind, 0))
            }
        };
        let Some((kind, modifiers)) = classified else { continue };
        let start = index.position(token.start);
        let end = index.position(token.end);
        // Tokens never span lines (strings and comments end at a newline).
        let length = end.character.saturating_sub(start.character);
        let delta_line = start.line - line;
        let delta_start = if delta_line == 0 { start.character - column } else { start.character };
        data.push(SemanticToken {
            delta_line,
            delta_start,
            length,
            token_type: kind as u32,
            token_modifiers_bitset: modifiers,
        });
        (line, column) = (start.line, start.character);
    }
    SemanticTokens { result_id: None, data }
}

fn name_kind(
    word: &str,
    starts_line: bool,
    before_eq: bool,
    before_call: bool,
    lets: &[&str],
) -> Option<Kind> {
    if matches!(word, "import" | "param" | "let" | "from" | "on" | "with" | "as")
        || (starts_line && StepKind::from_name(word).is_some())
    {
        return Some(Kind::Keyword);
    }
    if before_eq {
        return Some(Kind::Field);
    }
    if registry::constructor(word).is_some() && (before_call || !registry::is_enum_value(word)) {
        return Some(Kind::Constructor);
    }
    if registry::is_enum_value(word) {
        return Some(Kind::EnumValue);
    }
    if lets.contains(&word) {
        return Some(Kind::Let);
    }
    word.contains('.').then_some(Kind::Group)
}
