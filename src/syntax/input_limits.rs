//! Checks made before parsing, so no input can crash or stall the parser: size, binary or
//! non-UTF-8 content, and bracket nesting depth (the parser recurses once per level).

use crate::source::Span;

/// Files larger than this are refused (a spec is a few hundred lines; 8 MiB is a generated
/// study of tens of thousands of steps).
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Deeper nesting than this is refused; real specs nest a handful of levels.
pub const MAX_NESTING: usize = 256;

/// Why a file cannot be parsed at all, with where when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub message: String,
    pub hint: Option<String>,
    pub span: Span,
}

/// Turns raw bytes into text, or says why they are not a spec.
pub fn decode(bytes: &[u8]) -> Result<&str, LimitError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(LimitError {
            // Files are read one byte past the limit, no further: the size is not known.
            message: format!(
                "the file is larger than 8 MiB; specs are limited to {MAX_FILE_BYTES} bytes \
                 (8 MiB)"
            ),
            hint: Some("split presets into imported files, or generate fewer steps".into()),
            span: Span::default(),
        });
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(LimitError {
            message: format!("this is a binary file, not a spec (a NUL byte at byte {at})"),
            hint: Some("devspec reads `.dev` files, which are UTF-8 text".into()),
            span: Span::default(),
        });
    }
    std::str::from_utf8(bytes).map_err(|err| {
        let at = err.valid_up_to();
        let line = bytes[..at].split(|&b| b == b'\n').count();
        LimitError {
            message: format!(
                "the file is not UTF-8 text (an invalid byte on line {line}, byte {at})"
            ),
            hint: Some("save the file as UTF-8".into()),
            span: Span::default(),
        }
    })
}

/// Brackets as the parser will see them: the deepest point, and the first opening bracket
/// left unclosed (used to point a "missing `}`" error at the block it belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BracketScan {
    pub unclosed: Option<(char, usize)>,
}

/// Scans brackets outside strings and comments; fails beyond [`MAX_NESTING`].
pub fn scan_brackets(text: &str) -> Result<BracketScan, LimitError> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '#' => {
                // A comment runs to the end of the line.
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '(' | '[' | '{' => {
                stack.push((c, at));
                if stack.len() > MAX_NESTING {
                    return Err(LimitError {
                        message: format!(
                            "brackets are nested more than {MAX_NESTING} levels deep here"
                        ),
                        hint: Some("name inner values with `let` instead of nesting them".into()),
                        span: Span::new(at, at + 1),
                    });
                }
            }
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(BracketScan { unclosed: stack.first().copied() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_binary_and_non_utf8() {
        assert!(decode(b"let a = 1\0").unwrap_err().message.contains("binary"));
        let err = decode(b"let a = 1\nlet b = \xff").unwrap_err();
        assert!(err.message.contains("line 2"), "{err:?}");
        assert_eq!(decode(b"let a = 1").unwrap(), "let a = 1");
    }

    #[test]
    fn nesting_limit_counts_only_real_brackets() {
        let deep = "[".repeat(MAX_NESTING + 1);
        assert_eq!(scan_brackets(&deep).unwrap_err().span.start, MAX_NESTING);
        let quoted = format!("let a = \"{deep}\" # {deep}");
        assert_eq!(scan_brackets(&quoted).unwrap().unclosed, None);
        assert_eq!(scan_brackets("a { b = [1").unwrap().unclosed, Some(('{', 2)));
    }
}

#[cfg(test)]
mod depth_tests {
    use crate::source::FileId;

    /// The deepest nesting the limit allows must parse, evaluate and check within the stack
    /// of a test thread (2 MiB, smaller than a main thread's 8 MiB), in a debug build.
    #[test]
    fn deepest_allowed_nesting_parses_on_a_small_stack() {
        let depth = super::MAX_NESTING;
        for (open, close) in [("[", "]"), ("(", ")"), ("{ a = ", " }")] {
            let text = format!("let x = {}1{}", open.repeat(depth), close.repeat(depth));
            let module = crate::syntax::parse(FileId(0), &text).expect("parses");
            assert_eq!(module.items.len(), 1);
        }
    }
}

#[cfg(test)]
mod chain_tests {
    use crate::source::FileId;

    /// Operator, sign and `with` chains are flat in the grammar; without a limit they would
    /// build trees deep enough to overflow any recursive walk (or drop) of them.
    #[test]
    fn long_chains_are_refused_not_overflowed() {
        let plus = format!("let x = 1{}", " + 1".repeat(20_000));
        let minus = format!("let x = {}1", "-".repeat(20_000));
        let with = format!("let x = {{ a = 1 }}{}", " with { a = 2 }".repeat(20_000));
        for text in [plus, minus, with] {
            let errors = crate::syntax::parse(FileId(0), &text).unwrap_err();
            assert!(errors[0].message.contains("more than 256 levels"), "{errors:?}");
        }
        let fine = format!("let x = 1{}", " + 1".repeat(200));
        assert!(crate::syntax::parse(FileId(0), &fine).is_ok());
    }
}

#[cfg(test)]
mod evaluated_depth_tests {
    /// The deepest brackets the parser allows give a value the evaluator accepts: its own
    /// depth limit is for values nested through lets.
    #[test]
    fn the_deepest_bracketed_value_checks() {
        let depth = super::MAX_NESTING;
        let text = format!("let x = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        let mut sources = crate::source::SourceMap::new();
        let checked = crate::compile::check_bytes(
            "deep.dev",
            None,
            text.as_bytes(),
            &std::env::temp_dir(),
            &[],
            &mut sources,
        );
        assert!(checked.is_ok(), "{checked:?}");
    }
}
