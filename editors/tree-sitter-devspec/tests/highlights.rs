//! The highlight queries give the parts of a spec the captures editors colour: checked on
//! `specs/tms.dev` with nvim-treesitter's names (Neovim, Zed) and with Helix's.

use std::collections::BTreeMap;
use std::path::Path;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Parser, Query, QueryCursor};

/// Each captured text's first capture name (the one a Helix theme uses; in Neovim the patterns
/// here never capture one node twice, comments' `@spell` aside).
fn captures(query_source: &str, text: &str) -> BTreeMap<String, String> {
    let language: tree_sitter::Language = tree_sitter_devspec::LANGUAGE.into();
    let mut parser = Parser::new();
    parser.set_language(&language).expect("a supported ABI");
    let tree = parser.parse(text, None).expect("a tree");
    let query = Query::new(&language, query_source).expect("the query compiles");
    let mut cursor = QueryCursor::new();
    let mut found = BTreeMap::new();
    let mut captures = cursor.captures(&query, tree.root_node(), text.as_bytes());
    while let Some((found_match, index)) = captures.next() {
        let capture = found_match.captures()[*index];
        let node_text = text[capture.node.byte_range()].to_owned();
        found
            .entry(node_text)
            .or_insert_with(|| query.capture_names()[capture.index as usize].to_owned());
    }
    found
}

fn tms() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/tms.dev"))
        .expect("specs/tms.dev")
}

fn check(found: &BTreeMap<String, String>, expected: &[(&str, &str)]) {
    for (text, capture) in expected {
        assert_eq!(found.get(*text).map(String::as_str), Some(*capture), "the capture of `{text}`");
    }
}

#[test]
fn neovim_and_zed_captures() {
    let found = captures(tree_sitter_devspec::HIGHLIGHTS_QUERY, &tms());
    check(
        &found,
        &[
            ("import", "keyword.import"),
            ("std", "keyword.import"),
            ("let", "keyword"),
            ("features", "constant"),
            ("train", "keyword"),
            ("tms_run", "function"),
            ("model", "property"),
            ("sgd", "function.call"),
            ("30_000", "number"),
            ("3e-3", "number.float"),
            ("true", "boolean"),
            ("auto", "constant.builtin"),
            ("\"train_loss\"", "string"),
            ("..", "operator"),
            ("{", "punctuation.bracket"),
            ("# four runs; dependents fan out with them", "comment"),
        ],
    );
}

#[test]
fn helix_captures() {
    let helix = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../helix/queries/devspec/highlights.scm"),
    )
    .expect("Helix's highlights");
    let found = captures(&helix, &tms());
    check(
        &found,
        &[
            ("import", "keyword.control.import"),
            ("train", "keyword"),
            ("tms_run", "function"),
            ("model", "variable.other.member"),
            ("30_000", "constant.numeric.integer"),
            ("3e-3", "constant.numeric.float"),
            ("true", "constant.builtin.boolean"),
            ("\"train_loss\"", "string"),
        ],
    );
}
