//! `devspec fmt` on the layouts in `tests/fmt/*.dev`: each file's formatted text is a
//! snapshot, and every one must mean what its input meant, keep each comment exactly once and
//! be its own format.

use std::fs;

use devspec::format::{check_equivalent, format_module};
use devspec::source::FileId;
use devspec::syntax;

fn comment_texts(module: &syntax::ast::Module) -> Vec<String> {
    let mut texts: Vec<String> = module.comments.iter().map(|c| c.text.clone()).collect();
    texts.sort();
    texts
}

#[test]
fn formats() {
    insta::glob!("../fmt", "*.dev", |path| {
        let input = fs::read_to_string(path).expect("a readable fixture");
        let module = syntax::parse(FileId(0), &input).expect("fixtures parse");
        let formatted = format_module(&input, &module);

        check_equivalent(&module, &formatted).unwrap_or_else(|reason| panic!("{reason}"));
        let reparsed = syntax::parse(FileId(0), &formatted).expect("formatted text parses");
        assert_eq!(comment_texts(&reparsed), comment_texts(&module), "comments kept once each");
        assert_eq!(format_module(&formatted, &reparsed), formatted, "formatting is idempotent");
        for line in formatted.lines() {
            assert_eq!(line, line.trim_end(), "no trailing whitespace");
        }
        assert!(formatted.ends_with('\n') && !formatted.ends_with("\n\n"), "one final newline");

        insta::assert_snapshot!(formatted);
    });
}

/// The `.dev` files around the repository (specs, the stdlib, docs, the diagnostic cases that
/// parse) format to something equivalent and stable.
#[test]
fn repository_specs_format_stably() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for folder in ["specs", "stdlib", "docs", "docs/examples", "tests/ui", "tests/ui/imports"] {
        let Ok(entries) = fs::read_dir(root.join(folder)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|extension| extension != "dev") {
                continue;
            }
            let Ok(input) = fs::read_to_string(&path) else { continue };
            let Ok(module) = syntax::parse(FileId(0), &input) else { continue };
            let formatted = format_module(&input, &module);
            check_equivalent(&module, &formatted)
                .unwrap_or_else(|reason| panic!("{}: {reason}", path.display()));
            let reparsed = syntax::parse(FileId(0), &formatted).unwrap();
            assert_eq!(format_module(&formatted, &reparsed), formatted, "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0);
}

/// A comment inserted at every place of the fixtures, on its own line or at the end of one, is
/// kept once and stays put on a second run. (The unit tests of `src/format` try both kinds
/// everywhere in a smaller sample, and every pair of places.)
#[test]
fn a_comment_anywhere_in_the_fixtures_is_kept() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fmt");
    for entry in fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let sample = fs::read_to_string(&path).unwrap();
        let bytes = sample.as_bytes();
        // The start of each run of spaces: other places in the run put the comment between
        // the same two tokens.
        let places = (1..bytes.len())
            .filter(|&at| bytes[at].is_ascii_whitespace() && !bytes[at - 1].is_ascii_whitespace());
        // Parsing dominates the time here: one kind of comment per place, in turn.
        for (index, at) in places.enumerate() {
            let comment = if index % 2 == 0 { " # inserted\n" } else { "\n# inserted\n" };
            let text = format!("{}{comment}{}", &sample[..at], &sample[at..]);
            let Ok(module) = syntax::parse(FileId(0), &text) else { continue };
            let formatted = format_module(&text, &module);
            check_equivalent(&module, &formatted).unwrap_or_else(|reason| {
                panic!("{reason} at byte {at} of {}:\n{text}", path.display())
            });
            let reparsed = syntax::parse(FileId(0), &formatted).unwrap();
            assert_eq!(format_module(&formatted, &reparsed), formatted, "{text}");
        }
    }
}

/// Every `.dev` file of the repository is in the canonical layout (`devspec fmt --check`
/// passes), except the deliberately malformed or messy fixtures of `tests/ui/` and `tests/fmt/`.
#[test]
fn repository_specs_are_formatted() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let skipped =
        [root.join("target"), root.join("tests/ui"), root.join("tests/fmt"), root.join(".git")];
    let mut pending = vec![root.to_path_buf()];
    let mut checked = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if skipped.iter().any(|skip| path.starts_with(skip))
                || path.starts_with(root.join(".libtorch"))
            {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "dev") {
                let input = fs::read_to_string(&path).unwrap();
                let module = syntax::parse(FileId(0), &input).unwrap();
                assert_eq!(
                    format_module(&input, &module),
                    input,
                    "{} is not formatted: run `devspec fmt {}`",
                    path.display(),
                    path.display()
                );
                checked.push(path);
            }
        }
    }
    assert!(checked.len() >= 7, "{checked:?}");
}
