//! [`Element`] and [`Container`]: the parts of a file that are laid out one per line and so can
//! carry comments (items, fields, list elements, call arguments), and the brackets that hold
//! them. Comment placement and layout walk the file through these, so both see the same spans.

use super::source_text::SourceText;
use crate::syntax::ast::{Arg, Expr, ExprKind, Field, Item, Span};

/// Something laid out on lines of its own when its container breaks.
#[derive(Debug, Clone, Copy)]
pub(super) enum Element<'m> {
    Item(&'m Item),
    Field(&'m Field),
    /// A list element.
    Value(&'m Expr),
    Arg(&'m Arg),
}

/// A bracketed sequence of elements: a step block, a record, a list, call arguments.
#[derive(Debug)]
pub(super) struct Container<'m> {
    /// Where the opening bracket is; it identifies the container.
    pub open: usize,
    /// Where the closing bracket is.
    pub close: usize,
    pub elements: Vec<Element<'m>>,
}

impl<'m> Element<'m> {
    /// From its first to its last character.
    pub(super) fn span(self, source: &SourceText<'_>) -> Span {
        let loose = match self {
            Element::Item(item) => item.span(),
            Element::Field(field) => field.span,
            Element::Value(value) => value.span,
            Element::Arg(arg) => arg_span(arg),
        };
        source.tight(loose)
    }

    /// The containers inside this element that are not inside another one of them.
    pub(super) fn containers(self, source: &SourceText<'_>) -> Vec<Container<'m>> {
        let mut found = Vec::new();
        match self {
            Element::Item(Item::Import(_) | Item::Param(_)) => {}
            Element::Item(Item::Let(item)) => expr_containers(&item.value, source, &mut found),
            Element::Item(Item::Step(step)) => found.push(Container {
                open: source.block_open(step),
                close: source.close_of(step.span),
                elements: step.fields.iter().map(Element::Field).collect(),
            }),
            Element::Field(field) => expr_containers(&field.value, source, &mut found),
            Element::Value(value) => expr_containers(value, source, &mut found),
            Element::Arg(arg) => expr_containers(&arg.value, source, &mut found),
        }
        found
    }
}

/// An argument has no span of its own: from its name (if named) to the end of its value.
pub(super) fn arg_span(arg: &Arg) -> Span {
    let start = arg.name.as_ref().map_or(arg.value.span.start, |name| name.span.start);
    Span::new(start, arg.value.span.end)
}

/// Walks with a stack rather than recursion: sums and `with` chains nest on the left without
/// limit.
fn expr_containers<'m>(expr: &'m Expr, source: &SourceText<'_>, found: &mut Vec<Container<'m>>) {
    let mut stack = vec![expr];
    while let Some(expr) = stack.pop() {
        match &expr.kind {
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Auto
            | ExprKind::Path(_) => {}
            ExprKind::List(items) => found.push(Container {
                open: expr.span.start,
                close: source.close_of(expr.span),
                elements: items.iter().map(Element::Value).collect(),
            }),
            ExprKind::Record(fields) => found.push(Container {
                open: expr.span.start,
                close: source.close_of(expr.span),
                elements: fields.iter().map(Element::Field).collect(),
            }),
            ExprKind::Call { callee, args } => found.push(Container {
                open: source.call_open(callee),
                close: source.close_of(expr.span),
                elements: args.iter().map(Element::Arg).collect(),
            }),
            ExprKind::With { base, overrides } => {
                stack.push(base);
                found.push(Container {
                    open: source.with_open(base),
                    close: source.close_of(expr.span),
                    elements: overrides.iter().map(Element::Field).collect(),
                });
            }
            ExprKind::Range(start, end) => stack.extend([start, end].map(AsRef::as_ref)),
            ExprKind::Binary { lhs, rhs, .. } => stack.extend([lhs, rhs].map(AsRef::as_ref)),
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => stack.push(inner),
        }
    }
}
