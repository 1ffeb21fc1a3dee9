//! Grammar-aware fuzzing of the whole front end: specs from `tests/ui/` and `specs/`, cut into
//! tokens and mutated (tokens deleted, duplicated, swapped, replaced by other tokens of the
//! language, the file truncated), must never panic, and every diagnostic must point inside its
//! file. 10,000 cases per run.

use std::fmt::Write as _;
use std::path::Path;

use devspec::compile;
use devspec::source::SourceMap;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Tokens the mutations insert: every piece of the language's syntax, and some near misses.
const VOCABULARY: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    ",",
    ".",
    "..",
    "+",
    "-",
    "*",
    "/",
    "\"",
    "#",
    "\n",
    " ",
    "import",
    "std",
    "as",
    "let",
    "on",
    "from",
    "with",
    "true",
    "false",
    "auto",
    "train",
    "checkpoint",
    "estimate",
    "detect",
    "report",
    "sweep(",
    "0..4",
    "1e-3",
    "20_000",
    "-1",
    "0",
    "9999999999999999999999",
    "1e999",
    "\"x\"",
    "\"\\q\"",
    "tms.model(",
    "sgd(lr = 0.1)",
    "llc(",
    "logspace(1, 10, 3)",
    "std.tms",
    "tms.chen2023",
    "pelt",
    "relu",
    "x",
    "é",
    "\u{0}",
];

/// Cuts source into tokens: words, numbers, strings, comments, whitespace, symbols.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut token = c.to_string();
        let continues: fn(char) -> bool = if c.is_alphanumeric() || c == '_' {
            |c| c.is_alphanumeric() || c == '_' || c == '.'
        } else if c == '"' {
            |c| c != '"' && c != '\n'
        } else if c == '#' {
            |c| c != '\n'
        } else if c == ' ' {
            |c| c == ' '
        } else {
            |_| false
        };
        while let Some(&next) = chars.peek() {
            if !continues(next) {
                break;
            }
            token.push(next);
            chars.next();
        }
        if c == '"' && chars.peek() == Some(&'"') {
            token.push('"');
            chars.next();
        }
        out.push(token);
    }
    out
}

fn seeds() -> Vec<Vec<String>> {
    let mut texts = Vec::new();
    for folder in ["tests/ui", "tests/ui/imports", "specs", "stdlib", "docs/examples"] {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "dev") {
                let bytes = std::fs::read(&path).unwrap();
                texts.push(tokens(&String::from_utf8_lossy(&bytes)));
            }
        }
    }
    texts.sort();
    texts
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), 0..VOCABULARY.len()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), 0..VOCABULARY.len()).prop_map(|(a, t)| Mutation::Replace(a, t)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(tokens: &mut Vec<String>, mutation: &Mutation) {
    if tokens.is_empty() {
        tokens.push(String::new());
    }
    let at = |i: usize| i % tokens.len();
    match *mutation {
        Mutation::Delete(i) => {
            tokens.remove(at(i));
        }
        Mutation::Duplicate(i) => {
            let token = tokens[at(i)].clone();
            tokens.insert(at(i), token);
        }
        Mutation::Swap(a, b) => {
            let (a, b) = (at(a), at(b));
            tokens.swap(a, b);
        }
        Mutation::Insert(i, t) => tokens.insert(at(i), VOCABULARY[t].to_owned()),
        Mutation::Replace(i, t) => {
            let i = at(i);
            VOCABULARY[t].clone_into(&mut tokens[i]);
        }
        Mutation::Truncate(i) => tokens.truncate(at(i)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn mutated_specs_never_panic_and_spans_stay_inside(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = SEEDS.with(Clone::clone);
        let mut tokens = seeds[seed.index(seeds.len())].clone();
        for mutation in &mutations {
            apply(&mut tokens, mutation);
        }
        let text = tokens.concat();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
        let mut sources = SourceMap::new();
        if let Err(diagnostics) =
            compile::check_bytes("fuzz.dev", Some(dir.join("fuzz.dev")), text.as_bytes(), &dir, &[], &mut sources)
        {
            for diagnostic in &diagnostics {
                for label in std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary) {
                    let len = sources.get(label.file).text.len();
                    prop_assert!(label.span.start <= label.span.end && label.span.end <= len,
                        "{diagnostic:?} outside a file of {len} bytes; input:\n{text}");
                }
            }
        }
    }
}

thread_local! {
    static SEEDS: Vec<Vec<String>> = seeds();
}

#[test]
fn tokens_reassemble_the_source() {
    for seed in seeds() {
        let text = seed.concat();
        assert_eq!(tokens(&text), seed);
    }
}

/// One let of a generated graph: what it is made of, naming lets by number.
#[derive(Debug, Clone)]
enum LetShape {
    Number,
    Name(usize),
    Sum(usize, usize),
    List(usize),
    Record(usize),
    With(usize),
}

fn let_shape() -> impl Strategy<Value = LetShape> {
    prop_oneof![
        Just(LetShape::Number),
        any::<usize>().prop_map(LetShape::Name),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| LetShape::Sum(a, b)),
        any::<usize>().prop_map(LetShape::List),
        any::<usize>().prop_map(LetShape::Record),
        any::<usize>().prop_map(LetShape::With),
    ]
}

/// Lets that name one another at random (chains, cycles, values nested through lets), most
/// naming the next let so that long chains are common.
fn let_graph(shapes: &[LetShape], forward: bool) -> String {
    let n = shapes.len();
    let name = |i: usize, at: usize| if forward { (at + 1) % n } else { i % n };
    let mut text = String::new();
    for (at, shape) in shapes.iter().enumerate() {
        let value = match *shape {
            LetShape::Number => "1".to_owned(),
            LetShape::Name(i) => format!("a{}", name(i, at)),
            LetShape::Sum(i, j) => format!("a{} + a{}", name(i, at), j % n),
            LetShape::List(i) => format!("[a{}, 2]", name(i, at)),
            LetShape::Record(i) => format!("{{ x = a{} }}", name(i, at)),
            LetShape::With(i) => format!("{{ x = 1 }} with {{ x = a{} }}", name(i, at)),
        };
        let _ = writeln!(text, "let a{at} = {value}");
    }
    text + "test t { value = a0 }\n"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))), ..ProptestConfig::default() })]

    /// Issue 19: evaluated on demand, a chain of lets recursed once per let and overflowed the
    /// stack. On a test thread's small stack, thousands of lets naming each other in any shape
    /// must check to an answer.
    #[test]
    fn lets_naming_each_other_never_overflow(
        shapes in prop::collection::vec(let_shape(), 1..2_000),
        forward in any::<bool>(),
    ) {
        let text = let_graph(&shapes, forward);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
        let mut sources = SourceMap::new();
        let checked =
            compile::check_bytes("lets.dev", None, text.as_bytes(), &dir, &[], &mut sources);
        if let Err(diagnostics) = checked {
            prop_assert!(!diagnostics.is_empty());
        }
    }
}
