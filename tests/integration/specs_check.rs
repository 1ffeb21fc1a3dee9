//! Every spec the project ships checks clean: the studies in `specs/` (and `specs/gpu/`), the examples in
//! `docs/examples/`, and each stdlib module (checked through a spec that imports it, since the
//! stdlib is reached only by import). And `devspec check` behaves as documented.

use std::path::{Path, PathBuf};
use std::process::Command;

use devspec::compile::{self, CompileError};
use devspec::diagnostic::render;
use devspec::source::SourceMap;

use super::binaries::devspec_exe;

fn dev_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|err| panic!("{folder}: {err}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "dev"))
        .collect();
    files.sort();
    files
}

fn assert_checks_clean(path: &Path) {
    let mut sources = SourceMap::new();
    match compile::check_path(path, &[], &mut sources) {
        Ok(_) => {}
        Err(CompileError::Diagnostics(diagnostics)) => {
            let text: String = diagnostics.iter().map(|d| render::to_text(&sources, d)).collect();
            panic!("{} does not check clean:\n{text}", path.display());
        }
        Err(CompileError::Unreadable(failure)) => panic!("{failure}"),
    }
}

#[test]
fn shipped_specs_and_examples_check_clean() {
    let files: Vec<PathBuf> = dev_files("specs")
        .into_iter()
        .chain(dev_files("specs/gpu"))
        .chain(dev_files("docs/examples"))
        .collect();
    assert!(files.len() >= 2, "expected specs and examples, found {files:?}");
    for file in files {
        assert_checks_clean(&file);
    }
}

#[test]
fn every_stdlib_module_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let modules = dev_files("stdlib");
    assert!(modules.len() >= 5, "{modules:?}");
    for module in modules {
        let name = module.file_stem().unwrap().to_string_lossy().into_owned();
        let spec = dir.path().join(format!("{name}.dev"));
        std::fs::write(&spec, format!("import std.{name}\n")).unwrap();
        assert_checks_clean(&spec);
    }
}

#[test]
fn check_is_silent_on_success_and_exits_2_on_errors() {
    let out = Command::new(devspec_exe()).args(["check", "specs/tms.dev"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");

    let out = Command::new(devspec_exe())
        .args(["check", "tests/ui/unknown_field.dev", "tests/ui/wrong_type.dev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no field `sed`") && stderr.contains("found a string"), "{stderr}");

    let out = Command::new(devspec_exe()).args(["check", "no/such/spec.dev"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read no/such/spec.dev"));
}

#[test]
fn check_json_prints_one_object_per_diagnostic_on_stdout() {
    let out = Command::new(devspec_exe())
        .args(["check", "--format", "json", "tests/ui/unknown_argument.dev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![serde_json::json!({
            "file": "tests/ui/unknown_argument.dev",
            "line": 1, "column": 31, "end_line": 1, "end_column": 43,
            "span": [30, 42],
            "severity": "error",
            "message": "`sgld` has no argument `localisation`",
            "hint": "did you mean `localization`?",
        })]
    );
}
