//! [`CursorContext`]: what the text before the cursor says is wanted there (a step kind, a
//! field of this step, a value of that field's type, a step to be `on`, ...), read from the
//! tokens alone so it works on text that does not parse. Completion and hover both start here.

use devspec_protocol::StepKind;

use crate::registry::{self, schema::Constructor, schema::Param, schema::ValueType};

use super::lexical::{Token, TokenKind, is_name_char, tokens};

/// What owns the names written in a block or a call.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Step(StepKind),
    Ctor(&'static Constructor),
    /// A record field's record type (`resources = { ... }`).
    Record(&'static [Param]),
}

impl Owner {
    pub fn params(self) -> &'static [Param] {
        match self {
            Owner::Step(kind) => registry::step_kind(kind).fields,
            Owner::Ctor(ctor) => ctor.params,
            Owner::Record(fields) => fields,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Place {
    /// The start of a top-level item: a step kind, `let` or `import`.
    ItemStart,
    /// After `import`.
    Import,
    /// After `from` in a step's header.
    Preset,
    /// After `on` (or a comma after it) in the header of a step of this kind.
    OnTarget(Option<StepKind>),
    /// Where a field or argument name goes.
    FieldName(Owner),
    /// A value: of this type where it is known (the field or argument it is written to).
    Value(Option<ValueType>, Option<&'static Param>),
    /// After `param NAME:`: a parameter's type.
    ParamType,
    /// Inside a comment or string, or nothing known.
    Other,
}

#[derive(Debug)]
pub struct CursorContext {
    /// Where the name being typed starts (the cursor, if none).
    pub prefix_start: usize,
    pub place: Place,
    /// The step whose header or block the cursor is in, if any.
    pub step_name: Option<String>,
    /// The steps that step is `on`, as written so far.
    pub inputs: Vec<String>,
}

/// A bracket the cursor is inside.
struct Frame {
    open: char,
    owner: Option<Owner>,
    /// For a list: the type of its elements.
    element: Option<ValueType>,
    /// The field or argument last named with `NAME =` in it.
    field: Option<&'static Param>,
}

/// The context at byte `offset` of `text` (clamped to a character boundary).
pub fn at(text: &str, offset: usize) -> CursorContext {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let mut all = tokens(before);
    let prefix_start = match all.last() {
        Some(last) if last.kind == TokenKind::Name && last.end == offset => {
            let start = last.start;
            all.pop();
            start
        }
        _ => {
            offset
                - before
                    .chars()
                    .rev()
                    .take_while(|&c| is_name_char(c) || c == '.')
                    .map(char::len_utf8)
                    .sum::<usize>()
        }
    };
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let other =
        CursorContext { prefix_start, place: Place::Other, step_name: None, inputs: Vec::new() };
    if in_comment_or_string(&before[line_start..]) {
        return other;
    }
    let at_line_start = before[line_start..prefix_start].trim().is_empty();
    let mut frames: Vec<Frame> = Vec::new();
    // The first token of the top-level item being read.
    let mut item_start = 0;
    for (index, token) in all.iter().enumerate() {
        if frames.is_empty() && token.starts_line && is_item_keyword(before, token) {
            item_start = index;
        }
        match token.kind {
            TokenKind::Punct(open @ ('{' | '(' | '[')) => {
                let frame = open_frame(before, &all, index, item_start, open, &frames);
                frames.push(frame);
            }
            TokenKind::Punct('}' | ')' | ']') => {
                frames.pop();
            }
            TokenKind::Punct('=') => {
                if let (Some(frame), Some(name)) =
                    (frames.last_mut(), index.checked_sub(1).map(|i| &all[i]))
                {
                    frame.field = frame
                        .owner
                        .and_then(|owner| registry::param(owner.params(), name.text(before)));
                }
            }
            TokenKind::Punct(',') => {
                if let Some(frame) = frames.last_mut() {
                    frame.field = None;
                }
            }
            TokenKind::Name | TokenKind::Literal | TokenKind::Punct(_) => {}
        }
    }
    let header: &[Token] = all.get(item_start..).unwrap_or_default();
    let step_kind = header.first().and_then(|t| StepKind::from_name(t.text(before)));
    let step_name = step_kind.and_then(|_| name_after_kind(before, header));
    let inputs = header_inputs(before, header);
    let last = all.last();
    let last_is = |punct: char| last.is_some_and(|t| t.is(punct));
    let last_word = last.filter(|t| t.kind == TokenKind::Name).map(|t| t.text(before));
    let place = match frames.last() {
        None => {
            let in_header_on = step_kind.is_some() && header.iter().any(|t| t.text(before) == "on");
            match last_word {
                Some("import") => Place::Import,
                _ if is_param_type(before, header) => Place::ParamType,
                Some("from") if step_kind.is_some() => Place::Preset,
                Some("on") if step_kind.is_some() => Place::OnTarget(step_kind),
                _ if last_is(',') && in_header_on => Place::OnTarget(step_kind),
                _ if at_line_start && !continues_expression(before, last) => Place::ItemStart,
                _ if last_is('=') => Place::Value(None, None),
                _ => Place::Other,
            }
        }
        Some(frame) => match (frame.open, frame.owner) {
            ('{' | '(', Some(owner))
                if last_is('{')
                    || last_is('(')
                    || last_is(',')
                    || (at_line_start && !continues_expression(before, last)) =>
            {
                Place::FieldName(owner)
            }
            ('[', _) => Place::Value(frame.element, None),
            (_, _) => match frame.field {
                Some(param) => Place::Value(Some(param.ty), Some(param)),
                None => Place::Value(None, None),
            },
        },
    };
    CursorContext { prefix_start, place, step_name, inputs }
}

fn open_frame(
    text: &str,
    all: &[Token],
    index: usize,
    item_start: usize,
    open: char,
    frames: &[Frame],
) -> Frame {
    let previous = index.checked_sub(1).map(|i| &all[i]);
    let enclosing_field = frames.last().and_then(|frame| frame.field);
    let owner = match open {
        '{' if frames.is_empty() => {
            // A step's block: its header began with a step kind.
            all.get(item_start).and_then(|t| StepKind::from_name(t.text(text))).map(Owner::Step)
        }
        '{' => match enclosing_field.map(|param| param.ty) {
            Some(ValueType::Record(fields)) => Some(Owner::Record(fields)),
            _ => None,
        },
        '(' => previous
            .filter(|t| t.kind == TokenKind::Name)
            .and_then(|t| registry::constructor(t.text(text)))
            .map(Owner::Ctor),
        _ => None,
    };
    let element = match (open, enclosing_field.map(|param| param.ty)) {
        ('[', Some(ValueType::List(element))) => Some(*element),
        ('[', Some(other)) => Some(other),
        _ => None,
    };
    Frame { open, owner, element, field: None }
}

/// The names after `on` in a step's header, up to its `{`.
fn header_inputs(text: &str, header: &[Token]) -> Vec<String> {
    header
        .iter()
        .skip_while(|t| t.text(text) != "on")
        .skip(1)
        .take_while(|t| !t.is('{'))
        .filter(|t| t.kind == TokenKind::Name)
        .map(|t| t.text(text).to_owned())
        .collect()
}

/// The step's name in a header that begins with its kind.
fn name_after_kind(text: &str, header: &[Token]) -> Option<String> {
    header.get(1).filter(|t| t.kind == TokenKind::Name).map(|t| t.text(text).to_owned())
}

/// Whether the header read so far is `param NAME:`, so a type is wanted.
fn is_param_type(text: &str, header: &[Token]) -> bool {
    header.len() == 3 && header[0].text(text) == "param" && header[2].is(':')
}

fn is_item_keyword(text: &str, token: &Token) -> bool {
    let word = token.text(text);
    word == "let" || word == "param" || word == "import" || StepKind::from_name(word).is_some()
}

/// Whether the token before the cursor leaves an expression unfinished (`a +`, `x with`),
/// so a name on the next line continues it rather than starting a field or item.
fn continues_expression(text: &str, last: Option<&Token>) -> bool {
    last.is_some_and(|t| match t.kind {
        TokenKind::Punct(c) => "=+-*/.(,[".contains(c),
        TokenKind::Name => {
            matches!(t.text(text), "with" | "from" | "on" | "import" | "let" | "param" | "as")
        }
        TokenKind::Literal => false,
    })
}

/// Whether the end of `line` is inside a comment or an unfinished string.
fn in_comment_or_string(line: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (_, '"') => in_string = !in_string,
            (false, '#') => return true,
            _ => {}
        }
    }
    in_string
}
