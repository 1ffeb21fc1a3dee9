//! Open parameters (`param NAME: TYPE "doc"`) end to end: `check` passes a spec with open
//! parameters and lists them; every verb that plans refuses one unbound; `--bind` and
//! `--bind-file` bind them (unknown names, `--set` on a parameter and values of the wrong type
//! refused); a bound run keys exactly as the same value written into the spec, and its lock
//! records the bound files' digests, which `verify` holds the files to.
//!
//! The checkpoints are a tiny TMS run's (100 steps, two checkpoints), checked out to files.

use std::path::Path;

use super::run::Project;

const TRAIN: &str = "import std.tms\n\
    train run {\n  model = tms.model(features = 5, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 5, sparsity = 0.9, samples = 512)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 128\n  steps = 100\n  checkpoints = [10, 100]\n}\n";

/// The checkpoints as a parameter; `FILES` is replaced by the parameter or a written glob.
const OPEN: &str = "import std.tms\n\
    param checkpoints: files \"the training checkpoints, one per step\"\n\
    param draws: integer\n\
    checkpoint ckpts {\n  model = tms.model(features = 5, hidden = 2, init_scale = 0.1)\n  \
    files = FILES\n  data = tms.data(features = 5, sparsity = 0.9, samples = 512)\n}\n\
    estimate llc on ckpts {\n  observable = llc(sampler = sgld(lr = 3e-3, localization = 100), \
    nbeta = auto, chains = 2, draws = draws, burnin = 10)\n}\n";

fn open_spec() -> String {
    OPEN.replace("FILES", "checkpoints")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A project holding `spec` and the two checkpoints of the tiny training run, copied (writable)
/// into `ckpt/`.
fn with_checkpoints(spec: &str) -> Project {
    let project = Project::new(TRAIN);
    project.verb(&["run", "study.dev", "-q"]);
    project.verb(&["checkout", "study.dev", "run", "-o", "out"]);
    let folder = project.dir.path().join("ckpt");
    std::fs::create_dir(&folder).unwrap();
    for step in [10, 100] {
        let name = format!("step_{step:06}.safetensors");
        let from = project.dir.path().join("out/run/no_sweep").join(&name);
        std::fs::write(folder.join(&name), std::fs::read(from).unwrap()).unwrap();
    }
    std::fs::write(project.spec(), spec).unwrap();
    project
}

fn blake3_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap()).to_hex().to_string()
}

fn keys(lock: &str) -> Vec<String> {
    let lock: toml::Table = toml::from_str(lock).unwrap();
    lock["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} {}", i["name"].as_str().unwrap(), i["key"].as_str().unwrap()))
        .collect()
}

#[test]
fn check_passes_open_parameters_and_lists_them() {
    let project = Project::new(&open_spec());
    let out = project.verb_output(&["check", "study.dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stderr(&out), @r"
    note: study.dev leaves 2 parameter(s) open; bind them to run it (`--bind NAME=VALUE`):
      checkpoints: files  the training checkpoints, one per step
      draws: integer
    ");
    // The API says the same: both declared, neither bound.
    let mut sources = devspec::source::SourceMap::new();
    let program = devspec::compile::check_path(&project.spec(), &[], &mut sources).unwrap();
    let params: Vec<String> = program
        .params()
        .iter()
        .map(|p| format!("{}: {} {:?} bound={}", p.name, p.ty, p.doc, p.bound))
        .collect();
    assert_eq!(
        params,
        [
            "checkpoints: files Some(\"the training checkpoints, one per step\") bound=false",
            "draws: integer None bound=false"
        ]
    );
    assert_eq!(program.open_params().len(), 2);
}

#[test]
fn every_verb_that_plans_refuses_an_unbound_parameter() {
    let project = Project::new(&open_spec());
    let out = project.verb_output(&["run", "study.dev", "--bind", "draws=20"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&out), @r#"
    error: the parameter `checkpoints` (files) is not bound: the training checkpoints, one per step
      ┌─ study.dev:2:7
      │
    2 │ param checkpoints: files "the training checkpoints, one per step"
      │       ^^^^^^^^^^^ `param checkpoints: files` needs a value to plan
      │
      = hint: give it one: `--bind checkpoints="runs/*.safetensors"` (or a `--bind-file` TOML table)
    "#);
    for verb in ["plan", "status", "show"] {
        let mut args = vec![verb, "study.dev"];
        if verb == "show" {
            args.push("llc");
        }
        let out = project.verb_output(&args);
        assert_eq!(out.status.code(), Some(2), "{verb}: {}", stderr(&out));
        assert!(stderr(&out).contains("`draws` (integer) is not bound"), "{verb}");
    }
}

#[test]
fn bad_bindings_are_diagnostics() {
    let project = Project::new(&format!("{}param one: file\n", open_spec()));
    let out = project.verb_output(&[
        "check",
        "study.dev",
        "--bind",
        "checkpont=x",
        "--bind",
        "draws=many",
        "--bind",
        "one=ckpt/*.bin",
        "--set",
        "checkpoints=\"a\"",
    ]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&out));
    // A value of the wrong type, once the name is right.
    let out = project.verb_output(&["check", "study.dev", "--bind", "draws=0.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the parameter `draws` (declared `integer`) expects a whole number"),
        "{}",
        stderr(&out)
    );
    let out = project.verb_output(&["check", "study.dev", "--bind", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected `NAME=VALUE`"), "{}", stderr(&out));
}

#[test]
fn a_bound_run_keys_as_the_written_one_and_its_lock_holds_the_files() {
    let project = with_checkpoints(&open_spec());
    let dir = project.dir.path();
    // Bound on the command line, the glob without quotes or escapes, relative to the working
    // folder.
    let bound = project.verb_output(&[
        "run",
        "study.dev",
        "-q",
        "--bind",
        "checkpoints=ckpt/*.safetensors",
        "--bind",
        "draws=20",
    ]);
    assert_eq!(bound.status.code(), Some(0), "{}", stderr(&bound));
    assert!(stderr(&bound).contains("4 instances: 4 ran"), "{}", stderr(&bound));
    let bound_lock = std::fs::read_to_string(dir.join("study.dev.lock")).unwrap();

    // The lock records the binding and each file's digest, relative to the project.
    let lock: toml::Table = toml::from_str(&bound_lock).unwrap();
    let binding = &lock["binding"].as_array().unwrap()[0];
    assert_eq!(binding["name"].as_str(), Some("checkpoints"));
    assert_eq!(binding["type"].as_str(), Some("files"));
    assert_eq!(binding["value"].as_str(), Some("ckpt/*.safetensors"));
    let files: Vec<(String, String)> = binding["file"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["digest"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [10, 100]
        .map(|step| {
            let path = format!("ckpt/step_{step:06}.safetensors");
            let digest = blake3_of(&dir.join(&path));
            (path, digest)
        })
        .into();
    assert_eq!(files, expected);

    // Verify needs the bindings; with them it agrees.
    let unbound = project.verb_output(&["verify", "study.dev"]);
    assert_eq!(unbound.status.code(), Some(2), "{}", stderr(&unbound));
    assert!(
        stderr(&unbound).contains(
            "hint: bind them as the locked run did: --bind checkpoints='ckpt/*.safetensors' \
             --bind draws=20"
        ),
        "{}",
        stderr(&unbound)
    );
    let binds = ["--bind", "checkpoints=ckpt/*.safetensors", "--bind", "draws=20"];
    let verify = project.verb_output(&[&["verify", "study.dev"][..], &binds].concat());
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        stderr(&verify)
    );

    // The same values written into the spec: every key the same, so all of it is cached.
    std::fs::write(
        project.spec(),
        OPEN.replace("FILES", "\"ckpt/*.safetensors\"")
            .replace("param checkpoints: files \"the training checkpoints, one per step\"\n", "")
            .replace("param draws: integer\n", "")
            .replace("draws = draws", "draws = 20"),
    )
    .unwrap();
    let written = project.verb_output(&["run", "study.dev", "-q"]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert!(stderr(&written).contains("4 instances: 0 ran, 4 cached"), "{}", stderr(&written));
    let written_lock = std::fs::read_to_string(dir.join("study.dev.lock")).unwrap();
    assert_eq!(keys(&written_lock), keys(&bound_lock));
    assert!(!written_lock.contains("[[binding]]"), "no binding, none recorded");

    // A bind file, its paths relative to its own folder: the same keys again.
    std::fs::write(project.spec(), open_spec()).unwrap();
    std::fs::create_dir(dir.join("binds")).unwrap();
    std::fs::write(
        dir.join("binds/owner.toml"),
        "checkpoints = \"../ckpt/*.safetensors\"\ndraws = 20\n",
    )
    .unwrap();
    let from_file =
        project.verb_output(&["run", "study.dev", "-q", "--bind-file", "binds/owner.toml"]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    assert!(stderr(&from_file).contains("4 instances: 0 ran, 4 cached"), "{}", stderr(&from_file));
    let file_lock = std::fs::read_to_string(dir.join("study.dev.lock")).unwrap();
    assert_eq!(keys(&file_lock), keys(&bound_lock));
    assert!(file_lock.contains("path = \"ckpt/step_000010.safetensors\""), "{file_lock}");

    // A bound file changed since the lock: verify refuses before recomputing anything.
    std::fs::copy(
        dir.join("ckpt/step_000100.safetensors"),
        dir.join("ckpt/step_000010.safetensors"),
    )
    .unwrap();
    let changed = project.verb_output(&["verify", "study.dev", "--bind-file", "binds/owner.toml"]);
    assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains(
            "the bound file `ckpt/step_000010.safetensors` (parameter `checkpoints`) changed since"
        ),
        "{}",
        stderr(&changed)
    );
}

#[test]
fn an_imported_files_parameter_is_bound_by_its_alias() {
    let project = Project::new(
        "import std.tms\nimport \"lib/iface.dev\" as iface\n\
         train run {\n  model = tms.model(features = 5, hidden = iface.width)\n  \
         data = tms.data(features = 5, sparsity = 0.9, samples = 64)\n  optimizer = sgd(lr = 0.1)\n  \
         batch_size = 8\n  steps = iface.width * 5\n  checkpoints = [1]\n}\n",
    );
    std::fs::create_dir(project.dir.path().join("lib")).unwrap();
    std::fs::write(project.dir.path().join("lib/iface.dev"), "param width: integer \"hidden\"\n")
        .unwrap();
    let mut sources = devspec::source::SourceMap::new();
    let open = devspec::compile::check_path(&project.spec(), &[], &mut sources).unwrap();
    assert_eq!(
        open.open_params().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["iface.width"]
    );
    assert!(devspec::plan::plan(&open).is_err(), "an open parameter does not plan");
    let binds = devspec::compile::Bindings::parse(&["iface.width=2".into()], None).unwrap();
    let bound =
        devspec::compile::check_path_bound(&project.spec(), &[], &binds, &mut sources).unwrap();
    assert!(bound.open_params().is_empty());
    assert!(bound.params()[0].bound);
    let run = bound.step("run").unwrap();
    // Arithmetic on the bound value, and the value where it is used.
    assert_eq!(run.fields["steps"].to_string(), "10");
    assert!(run.fields["model"].to_string().contains("hidden = 2"), "{}", run.fields["model"]);
    assert_eq!(devspec::plan::plan(&bound).unwrap().order.len(), 1);
}
