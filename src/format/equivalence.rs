//! [`check_equivalent`]: the proof that formatting changed only the layout. The formatted text
//! must parse to the same tree (spans aside) and hold the same comments; `devspec fmt` checks
//! this before it writes, so a bug in the formatter can never change what a spec means.

use crate::source::FileId;
use crate::syntax::ast::{Arg, Expr, ExprKind, Field, ImportSource, Item, Module, dotted};

/// Why a formatted text is not the original in another layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEquivalent(pub String);

impl std::fmt::Display for NotEquivalent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that `formatted` is `original` laid out anew: the same tree (numbers with the same
/// spelling, strings with the same value) and the same comment texts, as many times each.
pub fn check_equivalent(original: &Module, formatted: &str) -> Result<(), NotEquivalent> {
    let reparsed = crate::syntax::parse(FileId(0), formatted).map_err(|diagnostics| {
        let first = diagnostics.first().map_or("", |diagnostic| diagnostic.message.as_str());
        NotEquivalent(format!("the formatted text does not parse: {first}"))
    })?;
    if shape(&original.items) != shape(&reparsed.items) {
        return Err(NotEquivalent("the formatted text reads as a different spec".into()));
    }
    if comment_texts(original) != comment_texts(&reparsed) {
        return Err(NotEquivalent("the formatted text lost, split or repeated a comment".into()));
    }
    Ok(())
}

fn comment_texts(module: &Module) -> Vec<&str> {
    let mut texts: Vec<&str> = module.comments.iter().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    texts
}

/// The tree without its spans, one line per node in prefix order; each line names how many
/// children follow, so equal shapes are equal trees. Built with a stack, not recursion: sums
/// nest on the left without limit, and the derived `PartialEq` would recurse through them.
pub(super) fn shape(items: &[Item]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack: Vec<Node<'_>> = items.iter().rev().map(Node::Item).collect();
    while let Some(node) = stack.pop() {
        match node {
            Node::Item(Item::Import(import)) => lines.push(match &import.source {
                ImportSource::Std(module) => format!("import std.{}", module.text),
                ImportSource::File { path, alias, .. } => {
                    format!("import {path:?} as {}", alias.text)
                }
            }),
            Node::Item(Item::Param(param)) => lines.push(format!(
                "param {}: {} {:?}",
                param.name.text,
                param.ty.text,
                param.doc.as_ref().map(|(doc, _)| doc)
            )),
            Node::Item(Item::Let(item)) => {
                lines.push(format!("let {}", item.name.text));
                stack.push(Node::Expr(&item.value));
            }
            Node::Item(Item::Step(step)) => {
                let inputs: Vec<&str> = step.inputs.iter().map(|name| name.text.as_str()).collect();
                lines.push(format!(
                    "step {} {} from {:?} on {inputs:?}, {} fields",
                    step.kind.text,
                    step.name.text,
                    step.preset.as_deref().map(dotted),
                    step.fields.len()
                ));
                stack.extend(step.fields.iter().rev().map(Node::Field));
            }
            Node::Field(field) => {
                lines.push(format!("field {}", field.name.text));
                stack.push(Node::Expr(&field.value));
            }
            Node::Arg(arg) => {
                lines.push(format!("arg {:?}", arg.name.as_ref().map(|name| &name.text)));
                stack.push(Node::Expr(&arg.value));
            }
            Node::Expr(expr) => lines.push(expr_line(expr, &mut stack)),
        }
    }
    lines
}

enum Node<'m> {
    Item(&'m Item),
    Field(&'m Field),
    Arg(&'m Arg),
    Expr(&'m Expr),
}

/// One expression's line; its children go on the stack, first child on top.
fn expr_line<'m>(expr: &'m Expr, stack: &mut Vec<Node<'m>>) -> String {
    match &expr.kind {
        ExprKind::Int { value, text } => format!("int {value} {text}"),
        ExprKind::Float { text, .. } => format!("float {text}"),
        ExprKind::Str(value) => format!("string {value:?}"),
        ExprKind::Bool(value) => format!("bool {value}"),
        ExprKind::Auto => "auto".into(),
        ExprKind::Path(names) => format!("path {}", dotted(names)),
        ExprKind::List(items) => {
            stack.extend(items.iter().rev().map(Node::Expr));
            format!("list of {}", items.len())
        }
        ExprKind::Record(fields) => {
            stack.extend(fields.iter().rev().map(Node::Field));
            format!("record of {}", fields.len())
        }
        ExprKind::Range(start, end) => {
            stack.extend([Node::Expr(end), Node::Expr(start)]);
            "range".into()
        }
        ExprKind::Binary { op, lhs, rhs } => {
            stack.extend([Node::Expr(rhs), Node::Expr(lhs)]);
            format!("binary {}", op.symbol())
        }
        ExprKind::Neg(inner) => {
            stack.push(Node::Expr(inner));
            "neg".into()
        }
        ExprKind::Paren(inner) => {
            stack.push(Node::Expr(inner));
            "paren".into()
        }
        ExprKind::Call { callee, args } => {
            stack.extend(args.iter().rev().map(Node::Arg));
            format!("call {} of {}", dotted(callee), args.len())
        }
        ExprKind::With { base, overrides } => {
            stack.extend(overrides.iter().rev().map(Node::Field));
            stack.push(Node::Expr(base));
            format!("with {}", overrides.len())
        }
    }
}
