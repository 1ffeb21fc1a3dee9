//! Hover: the registry's documentation of the step kind, field, constructor or enumeration value
//! under the cursor, a `let`'s value, a step's kind. Read lexically, so it answers on text that
//! does not parse.

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use crate::compile::stdlib;
use crate::registry::{self, schema::CtorKind};

use super::cursor_context::{self, Place};
use super::lexical::{Outline, Token, TokenKind, is_name_char, tokens};
use super::line_index::LineIndex;
use super::names;
use super::registry_docs;

/// Longest `let` value shown; a long one is cut with `...`.
const MAX_VALUE_CHARS: usize = 600;

pub fn hover(text: &str, offset: usize) -> Option<Hover> {
    let (start, end) = word_at(text, offset)?;
    let word = &text[start..end];
    let context = cursor_context::at(text, start);
    let calls = text[end..].trim_start().starts_with('(');
    let markdown = match context.place {
        Place::ItemStart => {
            devspec_protocol::StepKind::from_name(word).map(registry_docs::step_kind)
        }
        Place::FieldName(owner) => registry::param(owner.params(), word).map(registry_docs::param),
        Place::ParamType => crate::compile::ParamType::from_word(word)
            .map(|ty| format!("parameter type `{ty}`: {}", ty.doc())),
        Place::Import | Place::Preset | Place::OnTarget(_) | Place::Value(..) | Place::Other => {
            None
        }
    }
    .or_else(|| {
        let ctor = registry::constructor(word)?;
        let doc =
            (calls || !registry::is_enum_value(word)).then(|| registry_docs::constructor(ctor))?;
        let points = (ctor.kind == CtorKind::Sweep).then(|| sweep_points(&text[end..])).flatten();
        Some(points.map_or(doc.clone(), |points| format!("{points}\n\n{doc}")))
    })
    .or_else(|| {
        registry::is_enum_value(word).then(|| {
            let accepting = match &context.place {
                Place::Value(_, Some(param)) => Some(*param),
                _ => None,
            };
            registry_docs::enum_value(word, accepting)
        })
    })
    .or_else(|| name_in_document(text, word))?;
    let index = LineIndex::new(text);
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(index.range(crate::source::Span::new(start, end))),
    })
}

/// Most points a sweep's hover lists.
const MAX_POINTS_SHOWN: usize = 20;

/// "4 points: 0, 1, 2, 3" for the sweep whose arguments start `after` its name, when they are
/// written out (a range of whole numbers or a list); `None` for anything computed.
fn sweep_points(after: &str) -> Option<String> {
    let inner = after.trim_start().strip_prefix('(')?;
    let mut depth = 0usize;
    let close = inner.char_indices().find_map(|(at, c)| match c {
        '(' | '[' | '{' => {
            depth += 1;
            None
        }
        ')' | ']' | '}' if depth == 0 => Some(at),
        ')' | ']' | '}' => {
            depth -= 1;
            None
        }
        _ => None,
    })?;
    let argument = inner[..close].trim();
    let points: Vec<String> = if let Some((start, end)) = argument.split_once("..") {
        let number = |text: &str| text.trim().replace('_', "").parse::<i64>().ok();
        let (start, end) = (number(start)?, number(end)?);
        if end <= start || end - start > 1_000_000 {
            return None;
        }
        (start..end).map(|n| n.to_string()).collect()
    } else {
        let list = argument.strip_prefix('[')?.strip_suffix(']')?;
        let mut items = Vec::new();
        let (mut depth, mut from) = (0usize, 0);
        for (at, c) in list.char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    items.push(list[from..at].trim().to_owned());
                    from = at + 1;
                }
                _ => {}
            }
        }
        items.push(list[from..].trim().to_owned());
        items.retain(|item| !item.is_empty());
        items
    };
    let shown: Vec<&str> = points.iter().take(MAX_POINTS_SHOWN).map(String::as_str).collect();
    let more = if points.len() > shown.len() { ", ..." } else { "" };
    let noun = if points.len() == 1 { "point" } else { "points" };
    Some(format!("{} {noun}: {}{more}", points.len(), shown.join(", ")))
}

/// The (dotted) name around `offset`.
fn word_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let is_word = |c: char| is_name_char(c) || c == '.';
    let start = offset
        - text[..offset]
            .chars()
            .rev()
            .take_while(|&c| is_word(c))
            .map(char::len_utf8)
            .sum::<usize>();
    let end = offset
        + text[offset..].chars().take_while(|&c| is_word(c)).map(char::len_utf8).sum::<usize>();
    let word = text[start..end].trim_matches('.');
    let start = start + text[start..end].find(word).unwrap_or(0);
    (!word.is_empty() && !word.starts_with(|c: char| c.is_ascii_digit()))
        .then_some((start, start + word.len()))
}

/// A let's value or a step's kind, from this document or a stdlib module it imports.
fn name_in_document(text: &str, word: &str) -> Option<String> {
    let all = tokens(text);
    let outline = Outline::of(text, &all);
    if let Some((_, ty, doc)) = outline.params.iter().find(|(token, ..)| token.text(text) == word) {
        return Some(param_text(word, ty, doc.as_deref()));
    }
    if let Some((name, _)) = outline.lets.iter().find(|(token, _)| token.text(text) == word) {
        return Some(let_text(text, &all, name));
    }
    if let Some(kind) = outline.step_kind(text, word) {
        return Some(format!("`{kind} {word}`\n\n{}", registry::step_kind(kind).doc));
    }
    let (group, member) = word.split_once('.')?;
    if !outline.std_imports.iter().any(|g| g == group) {
        return None;
    }
    let source = stdlib::source(group)?;
    let std_tokens = tokens(source);
    let std_outline = Outline::of(source, &std_tokens);
    let (name, _) = std_outline.lets.iter().find(|(token, _)| token.text(source) == member)?;
    Some(format!("{}\n\n(from `std.{group}`)", let_text(source, &std_tokens, name)))
}

/// `param NAME: TYPE`, its doc, what the type takes, and that it is bound on the command line.
fn param_text(name: &str, ty: &str, doc: Option<&str>) -> String {
    let mut parts = vec![format!("```devspec\nparam {name}: {ty}\n```")];
    parts.extend(doc.map(|doc| doc.trim_matches('"').to_owned()));
    parts.extend(crate::compile::ParamType::from_word(ty).map(|ty| {
        format!("An open parameter: {}. Bound when the spec runs: `--bind {name}=...`.", ty.doc())
    }));
    parts.join("\n\n")
}

/// `let NAME = VALUE` as written: the value runs to the next top-level item.
fn let_text(text: &str, all: &[Token], name: &Token) -> String {
    let Some(at) = all.iter().position(|t| t == name) else { return String::new() };
    // The value runs on over lines (a record, a long call) until the next `let`, `import` or
    // step begins a line.
    let end = names::item_end(all, at, |token| {
        let word = token.text(text);
        token.starts_line
            && token.kind == TokenKind::Name
            && (word == "let"
                || word == "import"
                || devspec_protocol::StepKind::from_name(word).is_some())
    });
    let mut shown: String = text[name.start..end].chars().take(MAX_VALUE_CHARS).collect();
    if shown.len() < end - name.start {
        shown.push_str(" ...");
    }
    format!("```devspec\nlet {shown}\n```")
}
