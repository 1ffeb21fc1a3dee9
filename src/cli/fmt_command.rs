//! `devspec fmt [--check] FILE...`: rewrite specs in the canonical layout of
//! [`crate::format`], or with `--check` only say which would change.
//!
//! A file that does not parse is reported and left alone while the others are formatted. A
//! rewrite is atomic (a temporary file beside the spec, then a rename), so an interrupted
//! `fmt` never leaves half a spec; a file already formatted is not written at all, so its
//! modification time stays and build tools watching it stay quiet.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, render};
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};
use crate::format;
use crate::source::SourceMap;
use crate::syntax::{self, input_limits};

pub fn run(files: &[PathBuf], check: bool) -> Result<ExitCode, Failure> {
    let mut sources = SourceMap::new();
    let mut bad_input = false;
    let mut would_change = false;
    for path in files {
        let formatted = match read_and_format(path, &mut sources)? {
            Outcome::Unchanged => continue,
            Outcome::Changed(formatted) => formatted,
            Outcome::Refused(diagnostics) => {
                bad_input = true;
                for diagnostic in &diagnostics {
                    eout!("{}", render::to_text(&sources, diagnostic));
                }
                continue;
            }
            Outcome::Unreadable(failure) => {
                bad_input = true;
                eoutln!("{failure}");
                continue;
            }
        };
        if check {
            would_change = true;
            eoutln!("would reformat {}", path.display());
        } else {
            write_atomically(path, &formatted)?;
        }
    }
    Ok(if bad_input {
        ExitCode::BadInput
    } else if would_change {
        ExitCode::Failed
    } else {
        ExitCode::Success
    })
}

/// What formatting one file came to.
enum Outcome {
    Unchanged,
    Changed(String),
    /// Not a spec, or not one that parses: the diagnostics say why.
    Refused(Vec<Diagnostic>),
    /// The file could not be read.
    Unreadable(Failure),
}

fn read_and_format(path: &Path, sources: &mut SourceMap) -> Result<Outcome, Failure> {
    let bytes = match crate::compile::regular_file::read_spec(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            let message = format!("cannot read {}: {err}", path.display());
            return Ok(Outcome::Unreadable(Failure::bad_input(message)));
        }
    };
    let name = path.display().to_string();
    let text = match input_limits::decode(&bytes) {
        Ok(text) => text.to_owned(),
        Err(limit) => {
            let shown = String::from_utf8_lossy(&bytes).into_owned();
            let file = sources.add(name, Some(path.to_path_buf()), shown);
            let mut diagnostic = Diagnostic::error(file, limit.span, limit.message);
            diagnostic.hint = limit.hint;
            return Ok(Outcome::Refused(vec![diagnostic]));
        }
    };
    let file = sources.add(name, Some(path.to_path_buf()), text);
    let text = &sources.get(file).text;
    let module = match syntax::parse(file, text) {
        Ok(module) => module,
        Err(diagnostics) => return Ok(Outcome::Refused(diagnostics)),
    };
    let formatted = format::format_module(text, &module);
    if formatted == *text {
        return Ok(Outcome::Unchanged);
    }
    // A formatter bug must cost a bug report, never a user's spec.
    format::check_equivalent(&module, &formatted).map_err(|reason| {
        Failure::new(
            FailureClass::Internal,
            format!("formatting {} went wrong ({reason}); the file is unchanged", path.display()),
        )
        .with_hint("this is a bug in devspec; please report it with the file")
    })?;
    Ok(Outcome::Changed(formatted))
}

/// Replaces the file's content: a temporary file in the same folder (so the rename stays on
/// one file system), flushed to disk, given the original's permissions, then renamed over it.
/// A link is followed, so the file it points to is rewritten and the link stays a link.
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let cannot = |what: &str, err: std::io::Error| {
        Failure::environment(format!("cannot {what} {}: {err}", path.display()))
    };
    let target = fs::canonicalize(path).map_err(|err| cannot("find", err))?;
    let permissions = fs::metadata(&target).map_err(|err| cannot("read", err))?.permissions();
    let folder = target.parent().unwrap_or_else(|| Path::new("."));
    let file_name = target.file_name().map_or_else(|| "spec".into(), |name| name.to_string_lossy());
    let temporary = folder.join(format!(".{file_name}.{}.devspec-fmt", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(|err| cannot("write", err))?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::set_permissions(&temporary, permissions))
        .and_then(|()| fs::rename(&temporary, &target));
    written.map_err(|err| {
        // Best effort: the failure that matters is the one reported.
        let _ = fs::remove_file(&temporary);
        cannot("write", err)
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    const MESSY: &str = "let a=1\ntrain t{x=1 y=2}";
    const TIDY: &str = "let a = 1\n";

    /// A folder with the given files, and a time in the past their mtimes are set to.
    fn folder(files: &[(&str, &[u8])]) -> (tempfile::TempDir, SystemTime) {
        let dir = tempfile::tempdir().unwrap();
        let past = SystemTime::now() - Duration::from_secs(3600);
        for (name, bytes) in files {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            fs::File::options().write(true).open(&path).unwrap().set_modified(past).unwrap();
        }
        (dir, past)
    }

    fn read(dir: &tempfile::TempDir, name: &str) -> String {
        fs::read_to_string(dir.path().join(name)).unwrap()
    }

    fn modified(dir: &tempfile::TempDir, name: &str) -> SystemTime {
        fs::metadata(dir.path().join(name)).unwrap().modified().unwrap()
    }

    fn names(dir: &tempfile::TempDir) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn check_reports_without_writing() {
        let (dir, past) = folder(&[("messy.dev", MESSY.as_bytes()), ("tidy.dev", TIDY.as_bytes())]);
        let files = [dir.path().join("messy.dev"), dir.path().join("tidy.dev")];
        assert_eq!(run(&files, true).unwrap(), ExitCode::Failed);
        assert_eq!(read(&dir, "messy.dev"), MESSY);
        assert_eq!(modified(&dir, "messy.dev"), past);
        assert_eq!(run(&files[1..], true).unwrap(), ExitCode::Success);
    }

    #[test]
    fn rewrites_changed_files_and_leaves_the_others_untouched() {
        let (dir, past) = folder(&[("messy.dev", MESSY.as_bytes()), ("tidy.dev", TIDY.as_bytes())]);
        let files = [dir.path().join("messy.dev"), dir.path().join("tidy.dev")];
        assert_eq!(run(&files, false).unwrap(), ExitCode::Success);
        assert_eq!(read(&dir, "messy.dev"), "let a = 1\n\ntrain t {\n  x = 1\n  y = 2\n}\n");
        assert_eq!(modified(&dir, "tidy.dev"), past);
        assert_eq!(names(&dir), ["messy.dev", "tidy.dev"], "no temporary file is left");
        assert_eq!(run(&files, true).unwrap(), ExitCode::Success);
    }

    #[test]
    fn bad_files_are_reported_and_the_others_still_formatted() {
        let (dir, _) = folder(&[
            ("broken.dev", b"let a = \n"),
            ("binary.dev", b"let a = 1\0"),
            ("messy.dev", MESSY.as_bytes()),
        ]);
        let files = [
            dir.path().join("broken.dev"),
            dir.path().join("binary.dev"),
            dir.path().join("missing.dev"),
            dir.path().join("messy.dev"),
        ];
        assert_eq!(run(&files, false).unwrap(), ExitCode::BadInput);
        assert_eq!(read(&dir, "broken.dev"), "let a = \n");
        assert!(read(&dir, "messy.dev").starts_with("let a = 1\n"));
        assert_eq!(run(&files, true).unwrap(), ExitCode::BadInput);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_stays_a_link_and_permissions_stay() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _) = folder(&[("messy.dev", MESSY.as_bytes())]);
        let target = dir.path().join("messy.dev");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.dev");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(run(std::slice::from_ref(&link), false).unwrap(), ExitCode::Success);
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(read(&dir, "messy.dev").starts_with("let a = 1\n"));
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
    }
}
