//! Half-typed text never crashes or stalls the server: every prefix of every spec shipped
//! (line by line; character by character for `specs/tms.dev`) is checked, and completion and
//! hover are asked for at its end, each answer within a second. In-process, for speed; the
//! integration test `lsp::prefixes_over_stdio` sends prefixes through the binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::analysis::Analysis;
use super::document::{Document, file_uri};
use super::{completion, editor_diagnostics, hover, navigation, semantic_tokens};

const SLOWEST: Duration = Duration::from_secs(1);

fn specs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for folder in ["specs", "specs/gpu", "stdlib", "docs/examples"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(folder))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "dev"))
            .collect();
        files.sort();
        found.extend(files);
    }
    assert!(found.len() >= 10, "{found:?}");
    found
}

/// Everything the server computes for a document, each part timed.
fn exercise(path: &Path, text: &str) {
    let uri = file_uri(path).unwrap();
    let document = Document::new(uri.clone(), 1, text.to_owned());
    let end = text.len();
    let timed = |what: &str, work: &mut dyn FnMut()| {
        let started = Instant::now();
        work();
        let took = started.elapsed();
        assert!(
            took < SLOWEST,
            "{what} took {took:?} at the end of this prefix of {}:\n{text}",
            path.display()
        );
    };
    timed("diagnostics", &mut || {
        let analysis = Analysis::of(&document);
        editor_diagnostics::by_file(&analysis, &uri);
    });
    timed("completion", &mut || drop(completion::complete(text, end)));
    timed("hover", &mut || drop(hover::hover(text, end.saturating_sub(1))));
    timed("outline", &mut || drop(navigation::symbols(text)));
    timed("semantic tokens", &mut || drop(semantic_tokens::tokens(text)));
    timed("definition", &mut || drop(navigation::definition(&document, end.saturating_sub(1))));
}

#[test]
fn every_line_prefix_of_every_spec_gets_answers() {
    for path in specs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut prefix_end = 0;
        for line in text.split_inclusive('\n') {
            prefix_end += line.len();
            exercise(&path, &text[..prefix_end]);
            // The line without its newline: the cursor at the end of a half-typed line.
            exercise(&path, text[..prefix_end].trim_end_matches('\n'));
        }
    }
}

#[test]
fn every_character_prefix_of_one_spec_gets_answers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/tms.dev");
    let text = std::fs::read_to_string(&path).unwrap();
    for (at, _) in text.char_indices() {
        exercise(&path, &text[..at]);
    }
    exercise(&path, &text);
}
