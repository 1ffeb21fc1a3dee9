//! Source text and positions: the files a command reads (specs, imports, stdlib modules) and
//! the byte spans that diagnostics point at.

mod source_map;
mod span;

pub use source_map::{FileId, SourceFile, SourceMap};
pub use span::Span;
