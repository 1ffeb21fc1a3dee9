//! [`DocBuilder`]: a syntax tree and its placed comments to a [`Doc`]. The layout rules of
//! `docs/language.md` (section "The canonical layout") live here; the [`printer`](super::printer) only decides which groups
//! fit on their line.

use super::comment_placement::{CommentId, FILE, Placements};
use super::doc::{Doc, text_width};
use super::element::Element;
use super::source_text::SourceText;
use crate::syntax::ast::{Comment, Expr, ExprKind, Field, ImportSource, Item, Span, Step, dotted};

/// The line width the layout keeps within where it can.
pub(super) const WIDTH: usize = 100;

pub(super) struct DocBuilder<'a> {
    source: &'a SourceText<'a>,
    /// Sorted by position; [`CommentId`]s index it.
    comments: &'a [Comment],
    placements: &'a Placements,
}

/// How a kind of container is written.
struct Brackets {
    open: &'static str,
    close: &'static str,
    /// `{ a = 1 }` rather than `{a = 1}`.
    padded: bool,
    /// Elements separated by commas (a step block separates fields by newlines only).
    commas: bool,
}

const LIST: Brackets = Brackets { open: "[", close: "]", padded: false, commas: true };
const ARGS: Brackets = Brackets { open: "(", close: ")", padded: false, commas: true };
const RECORD: Brackets = Brackets { open: "{", close: "}", padded: true, commas: true };
const BLOCK: Brackets = Brackets { open: "{", close: "}", padded: true, commas: false };

/// An element of a container, laid out but not yet punctuated.
enum Entry<'m> {
    Plain {
        span: Span,
        doc: Doc,
    },
    /// `name = value`, whose `=` lines up with its neighbours' when broken.
    Field {
        span: Span,
        name: &'m str,
        value: Doc,
    },
}

impl Entry<'_> {
    fn span(&self) -> Span {
        match self {
            Entry::Plain { span, .. } | Entry::Field { span, .. } => *span,
        }
    }
}

/// A line-level part of a container when it is broken: a comment on its own line, or an
/// element (with its comma and trailing comment).
struct Unit {
    kind: UnitKind,
    /// The element this unit is or leads; `None` for comments before the closing bracket.
    element: Option<usize>,
    /// Whether an empty line precedes it (the source had one; never for the first unit).
    blank_before: bool,
}

#[derive(Clone, Copy)]
enum UnitKind {
    Comment(CommentId),
    Element(usize),
}

impl<'a> DocBuilder<'a> {
    pub(super) fn new(
        source: &'a SourceText<'a>,
        comments: &'a [Comment],
        placements: &'a Placements,
    ) -> Self {
        DocBuilder { source, comments, placements }
    }

    /// The whole file: items one per line, an empty line kept where the source had one and
    /// always around a step written over several lines, and one final newline.
    pub(super) fn module(&self, items: &[Item]) -> Doc {
        let spans: Vec<Span> =
            items.iter().map(|item| Element::Item(item).span(self.source)).collect();
        let units = self.units(0, &spans, FILE);
        if units.is_empty() {
            return Doc::Concat(Vec::new());
        }
        let (mut laid, multi_line): (Vec<Option<Doc>>, Vec<bool>) =
            items.iter().map(|item| self.item(item)).map(|(doc, multi)| (Some(doc), multi)).unzip();
        let multi_line_step = |unit: &Unit| unit.element.is_some_and(|index| multi_line[index]);
        let mut parts = Vec::new();
        for (index, unit) in units.iter().enumerate() {
            if index > 0 {
                let previous = &units[index - 1];
                let starts_element = unit.element.is_some() && unit.element != previous.element;
                let blank = unit.blank_before
                    || (multi_line_step(unit) && starts_element)
                    || (multi_line_step(previous) && unit.element != previous.element);
                parts.push(Doc::HardLine);
                if blank {
                    parts.push(Doc::BlankLine);
                }
            }
            match unit.kind {
                UnitKind::Comment(id) => parts.push(self.comment(id)),
                UnitKind::Element(index) => {
                    parts.push(laid[index].take().expect("each item is laid out once"));
                    if let Some(id) = self.placements.trailing(spans[index]) {
                        parts.push(self.trailing_comment(id));
                    }
                }
            }
        }
        parts.push(Doc::HardLine);
        Doc::Concat(parts)
    }

    /// An item, and whether it is a step written over several lines.
    fn item(&self, item: &Item) -> (Doc, bool) {
        match item {
            Item::Import(import) => {
                let text = match &import.source {
                    ImportSource::Std(module) => format!("import std.{}", module.text),
                    ImportSource::File { path, alias, .. } => {
                        format!("import {} as {}", quote(path), alias.text)
                    }
                };
                (Doc::text(text), false)
            }
            // `param NAME: TYPE "doc"`, one line: the doc string is the parameter's to keep.
            Item::Param(param) => {
                let mut text = format!("param {}: {}", param.name.text, param.ty.text);
                if let Some((doc, _)) = &param.doc {
                    text.push(' ');
                    text.push_str(&quote(doc));
                }
                (Doc::text(text), false)
            }
            Item::Let(item) => (
                Doc::Concat(vec![
                    Doc::text(format!("let {} = ", item.name.text)),
                    self.expr(&item.value),
                ]),
                false,
            ),
            Item::Step(step) => self.step(step),
        }
    }

    /// A step: one line when it has one field, no comment inside and fits; else one field per
    /// line.
    fn step(&self, step: &Step) -> (Doc, bool) {
        let mut header = format!("{} {}", step.kind.text, step.name.text);
        if let Some(preset) = &step.preset {
            header.push_str(" from ");
            header.push_str(&dotted(preset));
        }
        if !step.inputs.is_empty() {
            let inputs: Vec<&str> = step.inputs.iter().map(|name| name.text.as_str()).collect();
            header.push_str(" on ");
            header.push_str(&inputs.join(", "));
        }
        header.push(' ');
        let open = self.source.block_open(step);
        if step.fields.len() == 1 {
            let block = self.bracketed(open, &BLOCK, self.field_entries(&step.fields), false);
            let line = Doc::Concat(vec![Doc::text(header.clone()), block]);
            if line.flat_width().is_some_and(|width| width <= WIDTH) {
                return (line, false);
            }
        }
        let block = self.bracketed(open, &BLOCK, self.field_entries(&step.fields), true);
        let multi_line = block.flat_width().is_none();
        (Doc::Concat(vec![Doc::text(header), block]), multi_line)
    }

    fn field_entries<'m>(&self, fields: &'m [Field]) -> Vec<Entry<'m>> {
        fields
            .iter()
            .map(|field| Entry::Field {
                span: Element::Field(field).span(self.source),
                name: &field.name.text,
                value: self.expr(&field.value),
            })
            .collect()
    }

    fn expr(&self, expr: &Expr) -> Doc {
        match &expr.kind {
            ExprKind::Int { text, .. } | ExprKind::Float { text, .. } => Doc::text(text.clone()),
            ExprKind::Str(value) => Doc::text(quote(value)),
            ExprKind::Bool(value) => Doc::text(if *value { "true" } else { "false" }),
            ExprKind::Auto => Doc::text("auto"),
            ExprKind::Path(names) => Doc::text(dotted(names)),
            ExprKind::List(items) => {
                let entries = items
                    .iter()
                    .map(|item| Entry::Plain {
                        span: Element::Value(item).span(self.source),
                        doc: self.expr(item),
                    })
                    .collect();
                self.bracketed(expr.span.start, &LIST, entries, false)
            }
            ExprKind::Record(fields) => {
                self.bracketed(expr.span.start, &RECORD, self.field_entries(fields), false)
            }
            ExprKind::Range(start, end) => {
                Doc::Concat(vec![self.expr(start), Doc::text(".."), self.expr(end)])
            }
            ExprKind::Binary { .. } => {
                // `a + b + c` nests on the left and may run to thousands of terms: walked in
                // a loop, so the depth of the recursion stays that of the brackets.
                let mut operations = Vec::new();
                let mut first = expr;
                while let ExprKind::Binary { op, lhs, rhs } = &first.kind {
                    operations.push((op, rhs));
                    first = lhs;
                }
                let mut parts = vec![self.expr(first)];
                for (op, rhs) in operations.into_iter().rev() {
                    parts.push(Doc::text(format!(" {} ", op.symbol())));
                    parts.push(self.expr(rhs));
                }
                Doc::Concat(parts)
            }
            ExprKind::Neg(_) => {
                let mut signs = 0;
                let mut value = expr;
                while let ExprKind::Neg(inner) = &value.kind {
                    signs += 1;
                    value = inner;
                }
                // `- -1`, not `--1`: each sign reads as one.
                let mut text = "- ".repeat(signs - 1);
                text.push('-');
                Doc::Concat(vec![Doc::text(text), self.expr(value)])
            }
            ExprKind::Paren(inner) => {
                Doc::Concat(vec![Doc::text("("), self.expr(inner), Doc::text(")")])
            }
            ExprKind::Call { callee, args } => {
                let entries = args
                    .iter()
                    .map(|arg| {
                        let value = self.expr(&arg.value);
                        let doc = match &arg.name {
                            Some(name) => {
                                Doc::Concat(vec![Doc::text(format!("{} = ", name.text)), value])
                            }
                            None => value,
                        };
                        Entry::Plain { span: Element::Arg(arg).span(self.source), doc }
                    })
                    .collect();
                Doc::Concat(vec![
                    Doc::text(dotted(callee)),
                    self.bracketed(self.source.call_open(callee), &ARGS, entries, false),
                ])
            }
            ExprKind::With { .. } => {
                // `base with { .. } with { .. }` nests on the left, like a sum.
                let mut overrides = Vec::new();
                let mut base = expr;
                while let ExprKind::With { base: inner, overrides: fields } = &base.kind {
                    overrides.push((self.source.with_open(inner), fields));
                    base = inner;
                }
                let mut parts = vec![self.expr(base)];
                for (open, fields) in overrides.into_iter().rev() {
                    parts.push(Doc::text(" with "));
                    parts.push(self.bracketed(open, &RECORD, self.field_entries(fields), false));
                }
                Doc::Concat(parts)
            }
        }
    }

    /// A container: on one line if it fits and holds no comment, else one element per line,
    /// indented, with the comments placed in it.
    fn bracketed(
        &self,
        open: usize,
        brackets: &Brackets,
        entries: Vec<Entry<'_>>,
        force_break: bool,
    ) -> Doc {
        let spans: Vec<Span> = entries.iter().map(Entry::span).collect();
        let units = self.units(open + 1, &spans, open);
        let after_open = self.placements.after_open(open);
        if units.is_empty() && after_open.is_none() {
            return Doc::text(format!("{}{}", brackets.open, brackets.close));
        }
        let padding = alignment(&entries, &units);
        let mut entries: Vec<Option<Entry<'_>>> = entries.into_iter().map(Some).collect();
        let edge = if brackets.padded { Doc::Line } else { Doc::SoftLine };
        let mut inner = Vec::new();
        for (index, unit) in units.iter().enumerate() {
            inner.push(if index == 0 { edge.clone() } else { Doc::Line });
            if unit.blank_before {
                inner.push(Doc::BlankLine);
            }
            let element = match unit.kind {
                UnitKind::Comment(id) => {
                    inner.push(self.comment(id));
                    continue;
                }
                UnitKind::Element(element) => element,
            };
            match entries[element].take().expect("each element is laid out once") {
                Entry::Plain { doc, .. } => inner.push(doc),
                Entry::Field { name, value, .. } => inner.push(Doc::Concat(vec![
                    Doc::text(name),
                    Doc::if_broken(Doc::text(" ".repeat(padding[element])), Doc::text("")),
                    Doc::text(" = "),
                    value,
                ])),
            }
            if brackets.commas {
                inner.push(if element + 1 == spans.len() {
                    Doc::if_broken(Doc::text(","), Doc::text(""))
                } else {
                    Doc::text(",")
                });
            }
            if let Some(id) = self.placements.trailing(spans[element]) {
                inner.push(self.trailing_comment(id));
            }
        }
        let mut parts = vec![Doc::text(brackets.open)];
        if let Some(id) = after_open {
            parts.push(self.trailing_comment(id));
        }
        parts.extend([Doc::indent(Doc::Concat(inner)), edge, Doc::text(brackets.close)]);
        let content = Doc::Concat(parts);
        if force_break { Doc::broken_group(content) } else { Doc::group(content) }
    }

    /// The units of a container in order, each element preceded by its leading comments and
    /// the comments before the closing bracket last. `start` is where the container's inside
    /// begins; `key` identifies it.
    fn units(&self, start: usize, spans: &[Span], key: usize) -> Vec<Unit> {
        let mut units = Vec::new();
        let mut previous_end = start;
        let mut push = |units: &mut Vec<Unit>, kind, element, span: Span, end: usize| {
            let blank_before = self.source.has_blank_line(previous_end, span.start);
            units.push(Unit { kind, element, blank_before });
            previous_end = previous_end.max(end);
        };
        for (index, &span) in spans.iter().enumerate() {
            for &id in self.placements.leading(span) {
                let comment = self.comments[id].span;
                push(&mut units, UnitKind::Comment(id), Some(index), comment, comment.end);
            }
            let end =
                self.placements.trailing(span).map_or(span.end, |id| self.comments[id].span.end);
            push(&mut units, UnitKind::Element(index), Some(index), span, end);
        }
        for &id in self.placements.dangling(key) {
            let comment = self.comments[id].span;
            push(&mut units, UnitKind::Comment(id), None, comment, comment.end);
        }
        if let Some(first) = units.first_mut() {
            first.blank_before = false;
        }
        units
    }

    /// A comment on a line of its own: whatever follows goes on the next line.
    fn comment(&self, id: CommentId) -> Doc {
        Doc::Concat(vec![Doc::text(self.comments[id].text.clone()), Doc::BreakParent])
    }

    fn trailing_comment(&self, id: CommentId) -> Doc {
        Doc::TrailingComment(self.comments[id].text.clone())
    }
}

/// The spaces after each field's name that line up the `=` of consecutive fields; an empty
/// line starts a new run.
fn alignment(entries: &[Entry<'_>], units: &[Unit]) -> Vec<usize> {
    let mut padding = vec![0; entries.len()];
    let mut run: Vec<usize> = Vec::new();
    let close = |run: &mut Vec<usize>, padding: &mut Vec<usize>| {
        let width = |index: usize| match &entries[index] {
            Entry::Field { name, .. } => text_width(name),
            Entry::Plain { .. } => 0,
        };
        let widest = run.iter().map(|&index| width(index)).max().unwrap_or(0);
        for &index in run.iter() {
            padding[index] = widest - width(index);
        }
        run.clear();
    };
    for unit in units {
        if unit.blank_before {
            close(&mut run, &mut padding);
        }
        if let UnitKind::Element(index) = unit.kind
            && matches!(entries[index], Entry::Field { .. })
        {
            run.push(index);
        }
    }
    close(&mut run, &mut padding);
    padding
}

/// A string literal with the canonical escapes: `\"`, `\\`, `\n` and `\t`.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
