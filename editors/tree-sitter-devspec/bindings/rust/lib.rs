//! The tree-sitter grammar of devspec's `.dev` files, for editors and tools that read them with
//! tree-sitter. devspec itself parses with its pest grammar (`grammar/devspec.pest`); this one is
//! checked against it by `tests/same_tree.rs`.
//!
//! ```
//! let mut parser = tree_sitter::Parser::new();
//! parser.set_language(&tree_sitter_devspec::LANGUAGE.into()).expect("a compatible tree-sitter");
//! let tree = parser.parse("let a = 1", None).expect("a tree");
//! assert!(!tree.root_node().has_error());
//! ```

use tree_sitter_language::LanguageFn;

// The generated parser's entry point, compiled from `src/parser.c` by build.rs.
#[allow(unsafe_code)]
unsafe extern "C" {
    fn tree_sitter_devspec() -> *const ();
}

/// The language, for `tree_sitter::Parser::set_language(&LANGUAGE.into())`.
#[allow(unsafe_code)]
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_devspec) };

/// The node types, as `tree-sitter generate` wrote them.
pub const NODE_TYPES: &str = include_str!("../../src/node-types.json");

/// Highlights with nvim-treesitter's capture names (Neovim 0.10+, Zed).
pub const HIGHLIGHTS_QUERY: &str = include_str!("../../queries/highlights.scm");

/// Scopes, definitions and references (Neovim).
pub const LOCALS_QUERY: &str = include_str!("../../queries/locals.scm");

/// Folds (Neovim, Zed).
pub const FOLDS_QUERY: &str = include_str!("../../queries/folds.scm");
