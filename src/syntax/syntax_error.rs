//! Words a pest error for people: which symbols or values were expected, in the user's words
//! (never a rule name), what was found instead, and a hint for the common slips.

use pest::error::{ErrorVariant, InputLocation};

use super::input_limits::BracketScan;
use super::pest_parser::Rule;
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};

/// How a rule is named in "expected ..." messages; `None` for rules users never need to hear
/// about (a parent whose children are listed instead).
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::lone_expr => "a value",
        Rule::file | Rule::item | Rule::import | Rule::param_item | Rule::let_item | Rule::step => {
            "an import, a `param`, a `let` or a step"
        }
        Rule::param_type => "a parameter type such as `files` or `model`",
        Rule::std_module | Rule::kw_std => "`std.NAME` or a quoted path",
        Rule::path_import => "a quoted path",
        Rule::preset | Rule::kw_from => "`from`",
        Rule::inputs | Rule::kw_on => "`on`",
        Rule::block | Rule::lbrace => "`{`",
        Rule::field => "a field such as `steps = 1000`",
        Rule::expr
        | Rule::primary
        | Rule::number
        | Rule::digits
        | Rule::exponent
        | Rule::range_expr
        | Rule::sum
        | Rule::product
        | Rule::unary
        | Rule::paren
        | Rule::float
        | Rule::int
        | Rule::string
        | Rule::string_body
        | Rule::boolean
        | Rule::kw_auto
        | Rule::list
        | Rule::record
        | Rule::call_or_name
        | Rule::dotted_name => "a value such as a number, a string or a list",

        Rule::arg => "an argument",
        Rule::ident => "a name",
        Rule::kw_import => "`import`",
        Rule::kw_as => "`as`",
        Rule::kw_let => "`let`",
        Rule::kw_param => "`param`",
        Rule::kw_with => "`with`",
        Rule::eq => "`=`",
        Rule::comma => "`,`",
        Rule::colon => "`:`",
        Rule::dot => "`.`",
        Rule::range_op => "`..`",
        Rule::plus => "`+`",
        Rule::minus => "`-`",
        Rule::star => "`*`",
        Rule::slash => "`/`",
        Rule::lparen | Rule::call_args => "`(`",
        Rule::rparen => "`)`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::rbrace => "`}`",
        Rule::WHITESPACE | Rule::COMMENT | Rule::ident_char | Rule::keyword => return None,
    })
}

/// What may follow any complete value.
const CONTINUATIONS: &[&str] = &["`+`", "`-`", "`*`", "`/`", "`..`", "`with`", "`.`"];

/// Joins `a`, `b`, `c` as "a, b or c".
fn one_of(words: &[&str]) -> String {
    match words {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What stands at `at`: a word, a symbol, or the end of the file; and its span.
fn found_at(text: &str, at: usize) -> (String, Span) {
    let rest = &text[at.min(text.len())..];
    let Some(first) = rest.chars().next() else {
        return ("the end of the file".to_owned(), Span::new(text.len(), text.len()));
    };
    let word_len = if first.is_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len())
    } else if first == '"' {
        rest[1..].find(['"', '\n']).map_or(rest.len(), |end| end + 2).min(rest.len())
    } else {
        first.len_utf8()
    };
    let token = &rest[..word_len];
    let shown = if token.chars().count() > 30 {
        format!("`{}...`", token.chars().take(30).collect::<String>())
    } else {
        format!("`{token}`")
    };
    (shown, Span::new(at, at + word_len))
}

pub fn to_diagnostic(
    file: FileId,
    text: &str,
    error: &pest::error::Error<Rule>,
    brackets: &BracketScan,
) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(at) | InputLocation::Span((at, _)) => at,
    };
    let mut expected: Vec<&str> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|rule| describe(*rule)).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort_unstable();
    expected.dedup();
    // After a complete value, an operator could always follow; listing `+`, `*`, `..` and
    // `with` buries what the user most likely forgot, so they are named only when alone.
    let structural: Vec<&str> =
        expected.iter().copied().filter(|word| !CONTINUATIONS.contains(word)).collect();
    if !structural.is_empty() {
        expected = structural;
    }
    if expected.contains(&"`import`") {
        // At the top level: name the kinds of item, not the tokens that start them.
        expected = vec!["an import, a `param`, a `let` or a step"];
    }
    if expected.contains(&"`}`") {
        // Inside a block: a name would start the next field.
        expected.retain(|word| *word != "`,`");
        for word in &mut expected {
            if *word == "a name" {
                *word = "another field";
            }
        }
    }
    let (found, span) = found_at(text, at);
    if let ErrorVariant::CustomError { message } = &error.variant {
        // pest's own guards (stack, call budget): the input is pathological, not mistyped.
        return Diagnostic::error(
            file,
            span,
            format!("this file cannot be parsed here: {message}"),
        )
        .with_hint("nest less deeply: name inner values with `let`");
    }
    let mut diagnostic =
        Diagnostic::error(file, span, format!("expected {}, found {found}", one_of(&expected)))
            .label(format!("expected {}", one_of(&expected)));
    let at_end = span.start >= text.trim_end().len();
    if at_end {
        if let Some((bracket, open)) = brackets.unclosed {
            let close = match bracket {
                '(' => ')',
                '[' => ']',
                _ => '}',
            };
            diagnostic = diagnostic
                .also_at(file, Span::new(open, open + 1), "opened here")
                .with_hint(format!("this `{bracket}` is never closed: add `{close}`"));
        }
    } else if expected.contains(&"`=`") {
        diagnostic = diagnostic.with_hint("a field is written `name = value`");
    } else if expected.contains(&"`:`") {
        diagnostic = diagnostic.with_hint("a parameter is written `param NAME: TYPE \"doc\"`");
    } else if found == "`:`" {
        diagnostic = diagnostic.with_hint("fields use `=`, not `:`: `steps = 1000`");
    } else if expected.contains(&"`,`") && span.end > span.start {
        diagnostic = diagnostic.with_hint("separate arguments and list elements with `,`");
    } else if matches!(found.as_str(), "`}`" | "`)`" | "`]`")
        && expected.len() == 1
        && expected[0].starts_with("an import")
    {
        diagnostic = diagnostic.with_hint(format!("this {found} closes nothing: remove it"));
    }
    diagnostic
}
