//! Turns pest's parse tree into the [`ast`](super::ast). The grammar already guarantees the
//! shape, so a mismatch here is a bug in this file (an `expect`), never a user error; the user
//! errors found here are about values the grammar cannot judge (a number too large, an unknown
//! escape, a positional argument after a named one).

use pest::iterators::Pair;

use super::ast::{
    Arg, BinaryOp, Comment, Expr, ExprKind, Field, Import, ImportSource, Item, Let, Module, Name,
    Param, Step,
};
use super::pest_parser::Rule;
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};

use super::input_limits::MAX_NESTING;

pub struct AstBuilder {
    file: FileId,
    pub errors: Vec<Diagnostic>,
    /// One "nests too deep" report per file: a long chain would otherwise repeat it.
    too_deep_reported: bool,
}

/// The meaningful children of a pair: comments are collected separately.
fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| p.as_rule() != Rule::COMMENT)
}

/// A pair's span without the whitespace and comments pest may include at its end (after an
/// optional part that was tried and not found), so messages underline only the code.
fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let (start, end) = (pair.as_span().start(), pair.as_span().end());
    let text = pair.as_str();
    // Cheap tests first: this runs for every node, and most end in code.
    let may_end_in_filler = text.ends_with(char::is_whitespace)
        || text.rsplit('\n').next().is_some_and(|last_line| last_line.contains('#'));
    if !may_end_in_filler {
        return Span::new(start, end);
    }
    let last_code = pair.clone().into_inner().filter(|p| p.as_rule() != Rule::COMMENT).last();
    let end = last_code.map_or(start + text.trim_end().len(), |last| span_of(&last).end);
    Span::new(start, end)
}

impl AstBuilder {
    pub fn new(file: FileId) -> Self {
        AstBuilder { file, errors: Vec::new(), too_deep_reported: false }
    }

    pub fn module(&mut self, file: Pair<'_, Rule>) -> Module {
        let comments = file
            .clone()
            .into_inner()
            .flatten()
            .filter(|p| p.as_rule() == Rule::COMMENT)
            .map(|p| Comment { text: p.as_str().trim_end().to_owned(), span: span_of(&p) })
            .collect();
        let items = children(file)
            .filter(|p| p.as_rule() != Rule::EOI)
            .map(|item| self.item(item))
            .collect();
        Module { items, comments }
    }

    pub fn lone_expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let inner =
            children(pair).find(|p| p.as_rule() == Rule::expr).expect("lone_expr holds an expr");
        self.expr(inner)
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::import => Item::Import(self.import(pair, span)),
            Rule::let_item => {
                let mut parts =
                    children(pair).filter(|p| !matches!(p.as_rule(), Rule::kw_let | Rule::eq));
                let name = name(parts.next().expect("let has a name"));
                let value = self.expr(parts.next().expect("let has a value"));
                Item::Let(Let { name, value, span })
            }
            Rule::param_item => Item::Param(self.param(pair, span)),
            Rule::step => Item::Step(self.step(pair, span)),
            other => unreachable!("grammar: unexpected item {other:?}"),
        }
    }

    fn param(&mut self, pair: Pair<'_, Rule>, span: Span) -> Param {
        let mut parts =
            children(pair).filter(|p| !matches!(p.as_rule(), Rule::kw_param | Rule::colon));
        let param_name = name(parts.next().expect("param has a name"));
        let ty = parts.next().expect("param has a type");
        let ty = name(children(ty).next().expect("a type is a name"));
        let doc = parts.next().map(|doc| (self.string(&doc), span_of(&doc)));
        Param { name: param_name, ty, doc, span }
    }

    fn import(&mut self, pair: Pair<'_, Rule>, span: Span) -> Import {
        let source = children(pair).find(|p| p.as_rule() != Rule::kw_import).expect("import body");
        let source = match source.as_rule() {
            Rule::std_module => {
                let module = children(source).find(|p| p.as_rule() == Rule::ident).expect("module");
                ImportSource::Std(name(module))
            }
            Rule::path_import => {
                let mut parts = children(source).filter(|p| p.as_rule() != Rule::kw_as);
                let path = parts.next().expect("path string");
                let path_span = span_of(&path);
                let path_text = self.string(&path);
                ImportSource::File {
                    path: path_text,
                    path_span,
                    alias: name(parts.next().expect("alias")),
                }
            }
            other => unreachable!("grammar: unexpected import {other:?}"),
        };
        Import { source, span }
    }

    fn step(&mut self, pair: Pair<'_, Rule>, span: Span) -> Step {
        let mut parts = children(pair);
        let kind = name(parts.next().expect("step kind"));
        let step_name = name(parts.next().expect("step name"));
        let mut step = Step {
            kind,
            name: step_name,
            preset: None,
            inputs: Vec::new(),
            fields: Vec::new(),
            span,
        };
        for part in parts {
            match part.as_rule() {
                Rule::preset => {
                    let dotted = children(part)
                        .find(|p| p.as_rule() == Rule::dotted_name)
                        .expect("preset name");
                    step.preset = Some(dotted_name(dotted));
                }
                Rule::inputs => {
                    step.inputs =
                        children(part).filter(|p| p.as_rule() == Rule::ident).map(name).collect();
                }
                Rule::block => step.fields = self.fields(part),
                other => unreachable!("grammar: unexpected step part {other:?}"),
            }
        }
        step
    }

    /// The fields of a block or record.
    fn fields(&mut self, pair: Pair<'_, Rule>) -> Vec<Field> {
        children(pair)
            .filter(|p| p.as_rule() == Rule::field)
            .map(|field| self.field(field))
            .collect()
    }

    fn field(&mut self, pair: Pair<'_, Rule>) -> Field {
        let span = span_of(&pair);
        let mut parts = children(pair).filter(|p| p.as_rule() != Rule::eq);
        let field_name = name(parts.next().expect("field name"));
        let value = self.expr(parts.next().expect("field value"));
        Field { name: field_name, value, span }
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::expr => {
                let _ = span;
                let mut parts = children(pair);
                let mut expr = self.expr(parts.next().expect("expr base"));
                for part in parts {
                    if part.as_rule() == Rule::record {
                        let span = expr.span.to(span_of(&part));
                        let overrides = self.fields(part);
                        expr = self.bounded(Expr {
                            kind: ExprKind::With { base: Box::new(expr), overrides },
                            span,
                        });
                        if self.too_deep_reported {
                            break; // the file is refused; the rest of the chain adds nothing
                        }
                    }
                }
                expr
            }
            Rule::range_expr => {
                let mut parts = children(pair).filter(|p| p.as_rule() != Rule::range_op);
                let start = self.expr(parts.next().expect("range start"));
                match parts.next() {
                    Some(end) => {
                        let end = self.expr(end);
                        Expr { kind: ExprKind::Range(Box::new(start), Box::new(end)), span }
                    }
                    None => start,
                }
            }
            Rule::sum | Rule::product => {
                let mut parts = children(pair);
                let mut lhs = self.expr(parts.next().expect("operand"));
                while let Some(op) = parts.next() {
                    let op = match op.as_rule() {
                        Rule::plus => BinaryOp::Add,
                        Rule::minus => BinaryOp::Sub,
                        Rule::star => BinaryOp::Mul,
                        Rule::slash => BinaryOp::Div,
                        other => unreachable!("grammar: unexpected operator {other:?}"),
                    };
                    let rhs = self.expr(parts.next().expect("right operand"));
                    let span = lhs.span.to(rhs.span);
                    lhs = self.bounded(Expr {
                        kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
                        span,
                    });
                    if self.too_deep_reported {
                        break; // the file is refused; the rest of the chain adds nothing
                    }
                }
                lhs
            }
            Rule::unary => {
                let parts: Vec<_> = children(pair).collect();
                let (signs, value) = parts.split_at(parts.len() - 1);
                let mut expr = self.expr(value[0].clone());
                for sign in signs.iter().rev() {
                    let span = span_of(sign).to(expr.span);
                    expr = self.bounded(Expr { kind: ExprKind::Neg(Box::new(expr)), span });
                    if self.too_deep_reported {
                        break; // the file is refused; the rest of the chain adds nothing
                    }
                }
                expr
            }
            Rule::paren => {
                let inner = children(pair).find(|p| p.as_rule() == Rule::expr).expect("paren body");
                Expr { kind: ExprKind::Paren(Box::new(self.expr(inner))), span }
            }
            Rule::int => self.int(&pair, span),
            Rule::float => self.float(&pair, span),
            Rule::string => Expr { kind: ExprKind::Str(self.string(&pair)), span },
            Rule::boolean => Expr { kind: ExprKind::Bool(pair.as_str() == "true"), span },
            Rule::kw_auto => Expr { kind: ExprKind::Auto, span },
            Rule::list => {
                let items = children(pair)
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr(p))
                    .collect();
                Expr { kind: ExprKind::List(items), span }
            }
            Rule::record => Expr { kind: ExprKind::Record(self.fields(pair)), span },
            Rule::call_or_name => {
                let mut parts = children(pair);
                let callee = dotted_name(parts.next().expect("name"));
                match parts.next() {
                    Some(args) => {
                        Expr { kind: ExprKind::Call { callee, args: self.args(args) }, span }
                    }
                    None => Expr { kind: ExprKind::Path(callee), span },
                }
            }
            other => unreachable!("grammar: unexpected expression {other:?}"),
        }
    }

    /// Chains of operators, signs and `with` are repetitions in the grammar, so only this
    /// check keeps their trees (and every recursive walk over them: evaluation, formatting,
    /// dropping) within [`MAX_NESTING`] levels. Called on each node a chain adds, so no tree
    /// deeper than the limit plus one is ever built.
    fn bounded(&mut self, expr: Expr) -> Expr {
        if !deeper_than(&expr, MAX_NESTING) {
            return expr;
        }
        let span = expr.span;
        // Dropped here, at most one level past the limit, so dropping cannot overflow either.
        drop(expr);
        if std::mem::replace(&mut self.too_deep_reported, true) {
            return Expr { kind: ExprKind::Int { value: 0, text: "0".into() }, span };
        }
        self.errors.push(
            Diagnostic::error(
                self.file,
                span,
                format!("this expression nests more than {MAX_NESTING} levels deep"),
            )
            .with_hint("split it into several `let`s"),
        );
        Expr { kind: ExprKind::Int { value: 0, text: "0".into() }, span }
    }

    fn args(&mut self, pair: Pair<'_, Rule>) -> Vec<Arg> {
        let mut args = Vec::new();
        let mut first_named: Option<Span> = None;
        // One report per call: the first positional argument out of place.
        let mut reported = false;
        for arg in children(pair).filter(|p| p.as_rule() == Rule::arg) {
            let mut parts = children(arg).filter(|p| p.as_rule() != Rule::eq).peekable();
            let arg_name = if parts.peek().is_some_and(|p| p.as_rule() == Rule::ident) {
                parts.next().map(name)
            } else {
                None
            };
            let value = self.expr(parts.next().expect("argument value"));
            match (&arg_name, first_named) {
                (Some(n), None) => first_named = Some(n.span),
                (None, Some(named)) if !reported => {
                    reported = true;
                    self.errors.push(
                        Diagnostic::error(
                            self.file,
                            value.span,
                            "a positional argument after a named one",
                        )
                        .label("positional")
                        .also_at(self.file, named, "named argument")
                        .with_hint("write positional arguments first, or name this one too"),
                    );
                }
                _ => {}
            }
            args.push(Arg { name: arg_name, value });
        }
        args
    }

    fn int(&mut self, pair: &Pair<'_, Rule>, span: Span) -> Expr {
        let text = pair.as_str().to_owned();
        let value = text.replace('_', "").parse::<i64>().unwrap_or_else(|_| {
            self.errors.push(
                Diagnostic::error(self.file, span, "this whole number is too large")
                    .label("larger than 9223372036854775807")
                    .with_hint("write it as a float (`1e20`) if it is not a count"),
            );
            0
        });
        Expr { kind: ExprKind::Int { value, text }, span }
    }

    fn float(&mut self, pair: &Pair<'_, Rule>, span: Span) -> Expr {
        let text = pair.as_str().to_owned();
        let value = text.replace('_', "").parse::<f64>().unwrap_or(f64::INFINITY);
        if !value.is_finite() {
            self.errors.push(
                Diagnostic::error(self.file, span, "this number is too large")
                    .label("beyond the largest float, about 1.8e308"),
            );
        }
        Expr { kind: ExprKind::Float { value, text }, span }
    }

    fn string(&mut self, pair: &Pair<'_, Rule>) -> String {
        let body = pair.clone().into_inner().next().expect("string body");
        let start = body.as_span().start();
        let mut out = String::new();
        let mut chars = body.as_str().char_indices();
        while let Some((at, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                other => {
                    let end = start + at + 1 + other.map_or(0, |(_, c)| c.len_utf8());
                    self.errors.push(
                        Diagnostic::error(
                            self.file,
                            Span::new(start + at, end),
                            "unknown escape in a string",
                        )
                        .with_hint(
                            r#"strings know `\"`, `\\`, `\n` and `\t`; write `\\` for a backslash"#,
                        ),
                    );
                }
            }
        }
        out
    }
}

/// Whether the tree under `expr` is more than `limit` levels deep; never recurses deeper than
/// `limit` itself.
fn deeper_than(expr: &Expr, limit: usize) -> bool {
    limit == 0 || expr.children().into_iter().any(|child| deeper_than(child, limit - 1))
}

#[allow(clippy::needless_pass_by_value)] // used as `.map(name)` over owned pairs
fn name(pair: Pair<'_, Rule>) -> Name {
    Name { text: pair.as_str().to_owned(), span: span_of(&pair) }
}

fn dotted_name(pair: Pair<'_, Rule>) -> Vec<Name> {
    pair.into_inner().filter(|p| p.as_rule() == Rule::ident).map(name).collect()
}
