//! The checker's diagnostics, exactly as users see them: one `.dev` file per mistake in
//! `tests/ui/`, each with an insta snapshot of the rendered text. Files imported by those cases
//! live in `tests/ui/imports/`, which the glob does not visit.

use std::path::Path;

use devspec::compile::{self, CompileError};
use devspec::diagnostic::render;
use devspec::source::SourceMap;

/// Checks `path` (relative to the package root, so file names in snapshots are stable) and
/// renders every diagnostic, asserting each points inside its file.
fn rendered(path: &Path) -> String {
    let mut sources = SourceMap::new();
    let diagnostics = match compile::check_path(path, &[], &mut sources) {
        // Sizes are checked on a spec that compiled, as `devspec check` does.
        Ok(program) => devspec::plan::check_limits(&program),
        Err(CompileError::Diagnostics(diagnostics)) => diagnostics,
        Err(CompileError::Unreadable(failure)) => panic!("{}: {failure}", path.display()),
    };
    assert!(!diagnostics.is_empty(), "{} should not check clean", path.display());
    let mut text = String::new();
    for diagnostic in &diagnostics {
        for label in std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary) {
            let len = sources.get(label.file).text.len();
            assert!(label.span.start <= label.span.end && label.span.end <= len, "{diagnostic:?}");
        }
        text.push_str(&render::to_text(&sources, diagnostic));
    }
    text
}

#[test]
fn ui_diagnostics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../ui", "*.dev", |path| {
        let relative = path.strip_prefix(root).expect("fixture inside the package");
        insta::assert_snapshot!(rendered(relative));
    });
}

#[test]
fn file_over_the_size_limit_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.dev");
    let line = "let a = 1\n";
    std::fs::write(&path, line.repeat(8 * 1024 * 1024 / line.len() + 1)).unwrap();
    let mut sources = SourceMap::new();
    let Err(CompileError::Diagnostics(diagnostics)) = compile::check_path(&path, &[], &mut sources)
    else {
        panic!("an oversized file must be refused");
    };
    assert_eq!(diagnostics.len(), 1);
    assert!(diagnostics[0].message.contains("limited to 8388608 bytes"), "{diagnostics:?}");
}

#[test]
fn set_overrides_replace_values_and_report_bad_targets() {
    let spec = Path::new("specs/tms.dev");
    let mut sources = SourceMap::new();
    let program = compile::check_path(spec, &["tms_run.seed=1".into()], &mut sources).unwrap();
    let train = program.step("tms_run").unwrap();
    assert!(train.axes.is_empty(), "--set replaced the sweep by one value");
    assert_eq!(train.fields["seed"].to_string(), "1");

    let program = compile::check_path(spec, &["features=8".into()], &mut sources).unwrap();
    let model = program.step("tms_run").unwrap().fields["model"].to_string();
    assert!(model.contains("features = 8"), "{model}");

    let sets =
        ["tms_rn.seed=1".to_owned(), "featurs=2".to_owned(), "tms_run.steps=\"x\"".to_owned()];
    let Err(CompileError::Diagnostics(diagnostics)) =
        compile::check_path(spec, &sets, &mut sources)
    else {
        panic!("bad --set values must be reported");
    };
    let text: Vec<String> = diagnostics.iter().map(|d| render::to_text(&sources, d)).collect();
    insta::assert_snapshot!(text.join(""));
}

#[test]
fn import_through_a_link_that_leaves_the_project_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("presets.dev"), "let lr = 0.1\n").unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("devspec.toml"), "").unwrap();
    std::os::unix::fs::symlink(outside.path().join("presets.dev"), project.path().join("link.dev"))
        .unwrap();
    let spec = project.path().join("study.dev");
    std::fs::write(&spec, "import \"link.dev\" as presets\nlet lr = presets.lr\n").unwrap();
    let mut sources = SourceMap::new();
    let Err(CompileError::Diagnostics(diagnostics)) = compile::check_path(&spec, &[], &mut sources)
    else {
        panic!("a link out of the project must be refused");
    };
    assert!(diagnostics[0].message.contains("leaves the project"), "{diagnostics:?}");

    // The same file inside the project imports fine.
    std::fs::remove_file(project.path().join("link.dev")).unwrap();
    std::fs::copy(outside.path().join("presets.dev"), project.path().join("link.dev")).unwrap();
    assert!(compile::check_path(&spec, &[], &mut sources).is_ok());
}
