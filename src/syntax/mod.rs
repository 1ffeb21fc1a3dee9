//! Source text to syntax tree. The only module that names pest: everything after it sees the
//! [`ast`] and [`Diagnostic`]s.
//!
//! ```
//! use devspec::source::SourceMap;
//! let mut sources = SourceMap::new();
//! let file = sources.add("a.dev", None, "let a = 1 + 2".into());
//! let module = devspec::syntax::parse(file, &sources.get(file).text).unwrap();
//! assert_eq!(module.items.len(), 1);
//! ```

pub mod ast;
mod ast_builder;
pub mod input_limits;
mod pest_parser;
mod syntax_error;

use pest::Parser;

use crate::diagnostic::Diagnostic;
use crate::source::FileId;
use ast_builder::AstBuilder;
use pest_parser::{DevParser, Rule};

/// Parses one file. Syntax errors stop at the first (the rest of the file cannot be read
/// reliably); errors in values (a number too large, a bad escape) are all reported.
pub fn parse(file: FileId, text: &str) -> Result<ast::Module, Vec<Diagnostic>> {
    on_parser_stack(|| parse_here(file, text))
}

/// Stack for parsing: pest recurses several frames per nesting level, and a caller's thread
/// (a test thread has 2 MiB) may not hold [`input_limits::MAX_NESTING`] levels. The memory is
/// reserved, not touched, so a large size costs nothing until used.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;

fn on_parser_stack<T: Send>(parse: impl Fn() -> T + Sync) -> T {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("devspec-parser".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, &parse);
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had (a process at its limit): parse here, within pest's own
            // stack guard, which fails cleanly rather than overflowing.
            Err(_) => parse(),
        }
    })
}

fn parse_here(file: FileId, text: &str) -> Result<ast::Module, Vec<Diagnostic>> {
    let brackets = input_limits::scan_brackets(text).map_err(|limit| {
        let mut diagnostic = Diagnostic::error(file, limit.span, limit.message);
        diagnostic.hint = limit.hint;
        vec![diagnostic]
    })?;
    let mut pairs = DevParser::parse(Rule::file, text)
        .map_err(|err| vec![syntax_error::to_diagnostic(file, text, &err, &brackets)])?;
    let mut builder = AstBuilder::new(file);
    let module = builder.module(pairs.next().expect("a file pair"));
    if builder.errors.is_empty() { Ok(module) } else { Err(builder.errors) }
}

/// Parses the expression that starts at byte `start` of `text` (the value of
/// `--set NAME=EXPR`); spans are positions in the whole `text`.
pub fn parse_expr(file: FileId, text: &str, start: usize) -> Result<ast::Expr, Vec<Diagnostic>> {
    on_parser_stack(|| parse_expr_here(file, text, start))
}

fn parse_expr_here(file: FileId, text: &str, start: usize) -> Result<ast::Expr, Vec<Diagnostic>> {
    // Blanking the part before `start` keeps pest's positions equal to positions in `text`.
    let padded = format!("{}{}", " ".repeat(start), &text[start..]);
    let brackets = input_limits::scan_brackets(&padded).map_err(|limit| {
        let mut diagnostic = Diagnostic::error(file, limit.span, limit.message);
        diagnostic.hint = limit.hint;
        vec![diagnostic]
    })?;
    let mut pairs = DevParser::parse(Rule::lone_expr, &padded)
        .map_err(|err| vec![syntax_error::to_diagnostic(file, &padded, &err, &brackets)])?;
    let mut builder = AstBuilder::new(file);
    let expr = builder.lone_expr(pairs.next().expect("a lone_expr pair"));
    if builder.errors.is_empty() { Ok(expr) } else { Err(builder.errors) }
}
