//! The tree-sitter grammar reads every spec in the repository as devspec's own parser does.
//!
//! Both trees are written out in one small S-expression form (items; each step's kind, name,
//! preset, inputs and fields; every expression down to its literals) and compared. Every
//! line-prefix of every spec is compared too: a prefix devspec rejects must give tree-sitter an
//! error, and one it accepts must give the same tree. A grammar that accepts anything, or reads
//! anything differently, fails here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use devspec::source::SourceMap;
use devspec::syntax::ast::{self, ExprKind, ImportSource, Item};
use tree_sitter::{Node, Parser, Query, Tree};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.dev` file under the folders that hold specs, sorted.
fn all_specs() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "dev") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for dir in ["specs", "stdlib", "docs/examples", "tests"] {
        walk(&repo_root().join(dir), &mut found);
    }
    found.sort();
    found
}

fn tree_sitter_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_devspec::LANGUAGE.into())
        .expect("the grammar's ABI is supported");
    parser
}

/// devspec's tree, written out; `None` when devspec rejects the text.
fn devspec_tree(text: &str) -> Option<String> {
    let mut sources = SourceMap::new();
    let file = sources.add("spec.dev", None, text.to_owned());
    let module = devspec::syntax::parse(file, text).ok()?;
    let mut out = String::new();
    for item in &module.items {
        match item {
            Item::Import(import) => match &import.source {
                ImportSource::Std(name) => writeln!(out, "(import std {})", name.text),
                ImportSource::File { path_span, alias, .. } => {
                    writeln!(out, "(import {} as {})", &text[path_span.range()], alias.text)
                }
            },
            Item::Param(param) => {
                write!(out, "(param {} {}", param.name.text, param.ty.text).unwrap();
                if let Some((_, span)) = &param.doc {
                    write!(out, " {}", &text[span.range()]).unwrap();
                }
                writeln!(out, ")")
            }
            Item::Let(item) => {
                writeln!(out, "(let {} {})", item.name.text, devspec_expr(text, &item.value))
            }
            Item::Step(step) => {
                write!(out, "(step {} {}", step.kind.text, step.name.text).unwrap();
                if let Some(preset) = &step.preset {
                    write!(out, " (from {})", ast::dotted(preset)).unwrap();
                }
                if !step.inputs.is_empty() {
                    let inputs: Vec<_> =
                        step.inputs.iter().map(|input| input.text.as_str()).collect();
                    write!(out, " (on {})", inputs.join(" ")).unwrap();
                }
                writeln!(out, "{})", devspec_fields(text, &step.fields))
            }
        }
        .unwrap();
    }
    Some(out)
}

fn devspec_fields(text: &str, fields: &[ast::Field]) -> String {
    let mut out = String::new();
    for field in fields {
        write!(out, " (= {} {})", field.name.text, devspec_expr(text, &field.value)).unwrap();
    }
    out
}

fn devspec_expr(text: &str, expr: &ast::Expr) -> String {
    match &expr.kind {
        ExprKind::Int { text: spelling, .. } | ExprKind::Float { text: spelling, .. } => {
            spelling.clone()
        }
        // The string as written, quotes and escapes included: tree-sitter does not decode it.
        ExprKind::Str(_) => text[expr.span.range()].to_owned(),
        ExprKind::Bool(value) => value.to_string(),
        ExprKind::Auto => "auto".to_owned(),
        ExprKind::List(items) => {
            let items: Vec<_> = items.iter().map(|item| devspec_expr(text, item)).collect();
            format!("[{}]", items.join(" "))
        }
        ExprKind::Record(fields) => format!("{{{}}}", devspec_fields(text, fields)),
        ExprKind::Range(start, end) => {
            format!("(.. {} {})", devspec_expr(text, start), devspec_expr(text, end))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), devspec_expr(text, lhs), devspec_expr(text, rhs))
        }
        ExprKind::Neg(inner) => format!("(neg {})", devspec_expr(text, inner)),
        ExprKind::Paren(inner) => format!("(paren {})", devspec_expr(text, inner)),
        ExprKind::Path(names) => ast::dotted(names),
        ExprKind::Call { callee, args } => {
            let mut out = format!("(call {}", ast::dotted(callee));
            for arg in args {
                match &arg.name {
                    Some(name) => {
                        write!(out, " (= {} {})", name.text, devspec_expr(text, &arg.value))
                    }
                    None => write!(out, " {}", devspec_expr(text, &arg.value)),
                }
                .unwrap();
            }
            out + ")"
        }
        ExprKind::With { base, overrides } => {
            format!("(with {} {{{}}})", devspec_expr(text, base), devspec_fields(text, overrides))
        }
    }
}

/// The named children of `node` that are not comments (comments may sit anywhere).
fn children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|child| child.kind() != "comment").collect()
}

fn child<'tree>(node: Node<'tree>, field: &str) -> Node<'tree> {
    node.child_by_field_name(field).unwrap_or_else(|| panic!("a `{field}` in {}", node.to_sexp()))
}

fn node_text<'a>(text: &'a str, node: Node<'_>) -> &'a str {
    &text[node.byte_range()]
}

/// tree-sitter's tree, written out as [`devspec_tree`] writes devspec's.
fn tree_sitter_tree(text: &str, tree: &Tree) -> String {
    let mut out = String::new();
    for item in children(tree.root_node()) {
        match item.kind() {
            "import" => {
                let source = children(item)[0];
                match source.kind() {
                    "std_module" => {
                        writeln!(out, "(import std {})", node_text(text, child(source, "name")))
                    }
                    "path_import" => writeln!(
                        out,
                        "(import {} as {})",
                        node_text(text, child(source, "path")),
                        node_text(text, child(source, "alias"))
                    ),
                    other => panic!("an import's source is a {other}"),
                }
            }
            "param_declaration" => {
                write!(
                    out,
                    "(param {} {}",
                    node_text(text, child(item, "name")),
                    node_text(text, child(item, "type"))
                )
                .unwrap();
                if let Some(doc) = item.child_by_field_name("doc") {
                    write!(out, " {}", node_text(text, doc)).unwrap();
                }
                writeln!(out, ")")
            }
            "let_declaration" => writeln!(
                out,
                "(let {} {})",
                node_text(text, child(item, "name")),
                tree_sitter_expr(text, child(item, "value"))
            ),
            "step" => {
                write!(
                    out,
                    "(step {} {}",
                    node_text(text, child(item, "kind")),
                    node_text(text, child(item, "name"))
                )
                .unwrap();
                for part in children(item) {
                    match part.kind() {
                        "preset" => {
                            write!(out, " (from {})", node_text(text, children(part)[0])).unwrap();
                        }
                        "inputs" => {
                            let inputs: Vec<_> = children(part)
                                .into_iter()
                                .map(|input| node_text(text, input))
                                .collect();
                            write!(out, " (on {})", inputs.join(" ")).unwrap();
                        }
                        // The kind, the name and the block, written out around this loop.
                        "identifier" | "block" => {}
                        other => panic!("a step holds a {other}"),
                    }
                }
                writeln!(out, "{})", tree_sitter_fields(text, child(item, "body")))
            }
            other => panic!("a top-level {other}"),
        }
        .unwrap();
    }
    out
}

fn tree_sitter_fields(text: &str, block: Node<'_>) -> String {
    let mut out = String::new();
    for field in children(block) {
        let (name, value) = (child(field, "name"), child(field, "value"));
        write!(out, " (= {} {})", node_text(text, name), tree_sitter_expr(text, value)).unwrap();
    }
    out
}

fn tree_sitter_expr(text: &str, node: Node<'_>) -> String {
    match node.kind() {
        "integer" | "float" | "string" | "boolean" | "auto" => node_text(text, node).to_owned(),
        "name" => node_text(text, children(node)[0]).to_owned(),
        "list" => {
            let items: Vec<_> =
                children(node).into_iter().map(|item| tree_sitter_expr(text, item)).collect();
            format!("[{}]", items.join(" "))
        }
        "record" => format!("{{{}}}", tree_sitter_fields(text, node)),
        "range_expression" => format!(
            "(.. {} {})",
            tree_sitter_expr(text, child(node, "start")),
            tree_sitter_expr(text, child(node, "end"))
        ),
        "binary_expression" => format!(
            "({} {} {})",
            node_text(text, child(node, "operator")),
            tree_sitter_expr(text, child(node, "left")),
            tree_sitter_expr(text, child(node, "right"))
        ),
        "unary_expression" => format!("(neg {})", tree_sitter_expr(text, child(node, "operand"))),
        "parenthesized_expression" => {
            format!("(paren {})", tree_sitter_expr(text, children(node)[0]))
        }
        "call" => {
            let mut out = format!("(call {}", node_text(text, child(node, "function")));
            for arg in children(child(node, "arguments")) {
                let value = tree_sitter_expr(text, child(arg, "value"));
                match arg.child_by_field_name("name") {
                    Some(name) => write!(out, " (= {} {value})", node_text(text, name)),
                    None => write!(out, " {value}"),
                }
                .unwrap();
            }
            out + ")"
        }
        "with_expression" => format!(
            "(with {} {{{}}})",
            tree_sitter_expr(text, child(node, "base")),
            tree_sitter_fields(text, child(node, "overrides"))
        ),
        other => panic!("an expression is a {other}: {}", node.to_sexp()),
    }
}

/// Compares the two parsers on `text`; the error says how they differ.
fn compare(parser: &mut Parser, text: &str) -> Result<(), String> {
    let tree = parser.parse(text, None).expect("tree-sitter returns a tree");
    match (devspec_tree(text), tree.root_node().has_error()) {
        (Some(expected), false) => {
            let found = tree_sitter_tree(text, &tree);
            if found == expected {
                Ok(())
            } else {
                Err(format!("devspec reads\n{expected}\ntree-sitter reads\n{found}"))
            }
        }
        (Some(_), true) => Err(format!(
            "tree-sitter finds an error devspec does not: {}",
            tree.root_node().to_sexp()
        )),
        (None, false) => Err(format!(
            "devspec rejects it, tree-sitter accepts it as {}",
            tree.root_node().to_sexp()
        )),
        (None, true) => Ok(()),
    }
}

#[test]
fn every_spec_and_its_line_prefixes_read_the_same() {
    let mut parser = tree_sitter_parser();
    let (mut specs, mut prefixes, mut rejected) = (0, 0, 0);
    for path in all_specs() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut sources = SourceMap::new();
        let file = sources.add("spec.dev", None, text.clone());
        if devspec::syntax::parse(file, &text).is_err() {
            // A spec written to be rejected (tests/ui): some of its errors are in values (a bad
            // escape, a number too large), which only devspec's parser checks.
            rejected += 1;
            continue;
        }
        specs += 1;
        let ends = text.match_indices('\n').map(|(at, _)| at + 1).chain([text.len()]);
        for end in ends {
            prefixes += 1;
            if let Err(difference) = compare(&mut parser, &text[..end]) {
                panic!("{} up to byte {end}:\n{difference}", path.display());
            }
        }
    }
    // The repository's specs, at least the ones at the time of writing: an empty walk proves nothing.
    assert!(specs >= 40, "only {specs} specs parsed ({rejected} rejected)");
    assert!(prefixes > 1000, "only {prefixes} prefixes");
}

/// Every character-prefix of two specs, as an editor sees them while they are typed: cut
/// tokens (`3e`, `tms.`, an open string) and open blocks too.
#[test]
fn character_prefixes_read_the_same() {
    let mut parser = tree_sitter_parser();
    for spec in ["specs/tms.dev", "stdlib/tms.dev"] {
        let text = std::fs::read_to_string(repo_root().join(spec)).expect("the spec exists");
        for (end, _) in text.char_indices().skip(1).chain([(text.len(), ' ')]) {
            if let Err(difference) = compare(&mut parser, &text[..end]) {
                panic!("{spec} up to byte {end}:\n{difference}");
            }
        }
    }
}

/// The specs written with a syntax error give tree-sitter an ERROR node (or a MISSING one where
/// the error is a token left out).
#[test]
fn syntax_errors_give_error_nodes() {
    let mut parser = tree_sitter_parser();
    for (name, want_error_node) in [
        ("syntax_colon_for_equals", true),
        ("syntax_missing_comma", true),
        ("syntax_missing_equals", true),
        ("syntax_stray_token", true),
        ("syntax_missing_brace", false),
    ] {
        let path = repo_root().join("tests/ui").join(format!("{name}.dev"));
        let text = std::fs::read_to_string(&path).expect("the spec exists");
        let tree = parser.parse(&text, None).expect("a tree");
        let root = tree.root_node();
        assert!(root.has_error(), "{name}: no error in {}", root.to_sexp());
        if want_error_node {
            assert!(
                root.to_sexp().contains("(ERROR"),
                "{name}: no ERROR node in {}",
                root.to_sexp()
            );
        }
    }
}

/// The parser is generated for ABI 14, the newest that Neovim 0.10 (tree-sitter 0.22) loads:
/// `tree-sitter generate --abi 14` (see docs/editors.md). ABI 14 has no reserved words, so a
/// keyword where only a name can stand is a name to tree-sitter (devspec rejects it); where a
/// keyword can stand, it is the keyword.
#[test]
fn abi_14_and_its_keywords() {
    let language: tree_sitter::Language = tree_sitter_devspec::LANGUAGE.into();
    assert_eq!(language.abi_version(), 14, "regenerate with `tree-sitter generate --abi 14`");
    let mut parser = tree_sitter_parser();
    for text in ["let on = 1", "train with { }"] {
        assert!(devspec_tree(text).is_none(), "{text}: devspec accepts it, the test is wrong");
        let tree = parser.parse(text, None).expect("a tree");
        assert!(!tree.root_node().has_error(), "{text}: {}", tree.root_node().to_sexp());
    }
    // Where the keyword fits, it is read as one: `on` starts the inputs, not a second name.
    let tree = parser.parse("train run on a { }", None).expect("a tree");
    assert!(
        tree.root_node().to_sexp().contains("(inputs (identifier))"),
        "{}",
        tree.root_node().to_sexp()
    );
}

#[test]
fn queries_compile_against_the_grammar() {
    let language: tree_sitter::Language = tree_sitter_devspec::LANGUAGE.into();
    let helix =
        std::fs::read_to_string(repo_root().join("editors/helix/queries/devspec/highlights.scm"))
            .expect("Helix's highlights exist");
    for (name, source) in [
        ("highlights", tree_sitter_devspec::HIGHLIGHTS_QUERY),
        ("locals", tree_sitter_devspec::LOCALS_QUERY),
        ("folds", tree_sitter_devspec::FOLDS_QUERY),
        ("helix highlights", helix.as_str()),
    ] {
        if let Err(error) = Query::new(&language, source) {
            panic!("the {name} query: {error}");
        }
    }
}
