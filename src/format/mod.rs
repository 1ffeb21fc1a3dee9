//! `devspec fmt`'s canonical layout of a `.dev` file: [`format_module`] turns a parsed file
//! back into text, keeping every comment, and [`check_equivalent`] proves a result means what
//! the original meant. The rules are listed in `docs/language.md` (section "The canonical layout").
//!
//! ```
//! use devspec::source::FileId;
//! let text = "let  features=6 # six\ntrain t{steps=1}";
//! let module = devspec::syntax::parse(FileId(0), text).unwrap();
//! let formatted = devspec::format::format_module(text, &module);
//! assert_eq!(formatted, "let features = 6 # six\ntrain t { steps = 1 }\n");
//! devspec::format::check_equivalent(&module, &formatted).unwrap();
//! ```
//!
//! Formatting runs in three passes: `comment_placement` decides where each comment goes,
//! `doc_builder` lays the tree out as a `Doc` (a Wadler-style layout of groups that break or
//! not), and `printer` fits it into 100 columns.

mod comment_placement;
mod doc;
mod doc_builder;
mod element;
mod equivalence;
mod printer;
mod source_text;

pub use equivalence::{NotEquivalent, check_equivalent};

use crate::syntax::ast::Module;
use comment_placement::Placements;
use doc_builder::{DocBuilder, WIDTH};
use source_text::SourceText;

/// The canonical text of a parsed file; `text` is what it was parsed from. Empty for a file
/// with neither items nor comments, else ending in exactly one newline.
pub fn format_module(text: &str, module: &Module) -> String {
    let mut comments = module.comments.clone();
    comments.sort_by_key(|comment| comment.span.start);
    let source = SourceText::new(text, &comments);
    let placements = Placements::new(&module.items, &comments, &source);
    let doc = DocBuilder::new(&source, &comments, &placements).module(&module.items);
    printer::print(&doc, WIDTH)
}

#[cfg(test)]
mod tests;
