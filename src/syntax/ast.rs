//! The syntax tree of one `.dev` file, as written: every node keeps its byte span, numbers keep
//! their spelling (for `fmt`), and nothing is resolved yet. `compile` gives it meaning.

pub use crate::source::Span;

/// A name as written, with where.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
    /// Every comment, in order; `fmt` puts them back, the checker ignores them.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The text from `#` to the end of the line, without the newline.
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Import(Import),
    Param(Param),
    Let(Let),
    Step(Step),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(import) => import.span,
            Item::Param(param) => param.span,
            Item::Let(item) => item.span,
            Item::Step(step) => step.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub source: ImportSource,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImportSource {
    /// `import std.NAME`: a module shipped inside devspec; its lets join the group `NAME`.
    Std(Name),
    /// `import "path.dev" as NAME`: a file relative to the importing one.
    File { path: String, path_span: Span, alias: Name },
}

/// `param NAME: TYPE "doc"`: a value the spec leaves open. The type is kept as written; the
/// checker reads it (`compile::ParamType`), so a misspelt type gets a did-you-mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Name,
    pub ty: Name,
    /// The doc string, unescaped, and where it was written.
    pub doc: Option<(String, Span)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Name,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: Name,
    pub name: Name,
    /// `from PRESET`: a dotted name whose record supplies default fields.
    pub preset: Option<Vec<Name>>,
    /// `on A, B`.
    pub inputs: Vec<Name>,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `name = value`, in a step block or a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Name,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A whole number and its spelling (`20_000`).
    Int {
        value: i64,
        text: String,
    },
    /// A number with a fraction or exponent and its spelling (`1e-3`).
    Float {
        value: f64,
        text: String,
    },
    Str(String),
    Bool(bool),
    Auto,
    List(Vec<Expr>),
    Record(Vec<Field>),
    /// `start..end`, end excluded.
    Range(Box<Expr>, Box<Expr>),
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
    /// `( expr )`, kept so `fmt` does not drop parentheses the user wrote.
    Paren(Box<Expr>),
    /// A name, possibly dotted: `features`, `tms.chen2023`.
    Path(Vec<Name>),
    /// `callee(args)`.
    Call {
        callee: Vec<Name>,
        args: Vec<Arg>,
    },
    /// `base with { field = value, ... }`.
    With {
        base: Box<Expr>,
        overrides: Vec<Field>,
    },
}

impl Expr {
    /// The expressions directly inside this one, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Auto
            | ExprKind::Path(_) => Vec::new(),
            ExprKind::List(items) => items.iter().collect(),
            ExprKind::Record(fields) => fields.iter().map(|field| &field.value).collect(),
            ExprKind::Range(a, b) | ExprKind::Binary { lhs: a, rhs: b, .. } => vec![a, b],
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => vec![inner],
            ExprKind::Call { args, .. } => args.iter().map(|arg| &arg.value).collect(),
            ExprKind::With { base, overrides } => {
                std::iter::once(&**base).chain(overrides.iter().map(|field| &field.value)).collect()
            }
        }
    }
}

/// A call argument: positional (`name` is `None`) or named.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Name>,
    pub value: Expr,
}

/// Joins a dotted name back into text: `tms.model`.
pub fn dotted(names: &[Name]) -> String {
    names.iter().map(|name| name.text.as_str()).collect::<Vec<_>>().join(".")
}
