//! `devspec checkout` and `show --paths` on a small TMS study (2 seeds, 4 checkpoints, 300
//! steps: about a second of training): one file per checkpoint, named by point and training
//! step, the store's own file (a hard link) with its bytes, listed in `index.json`, readable as
//! safetensors with the model's tensors; a rerun keeps what is right and replaces what is not;
//! a copy where the folder is on another file system; an estimate step refused with the step to
//! ask for instead.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::run::Project;

const STUDY: &str = "import std.tms\n\
    train run {\n  model = tms.model(features = 5, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 5, sparsity = 0.9, samples = 512)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 128\n  steps = 300\n  seed = sweep([0, 1])\n  checkpoints = [1, 10, 100, 300]\n}\n\
    estimate llc on run {\n  observable = llc(sampler = sgld(lr = 3e-3, localization = 100), \
    nbeta = auto, chains = 2, draws = 20, burnin = 10)\n}\n";

const SEEDS: [u64; 2] = [0, 1];
const STEPS: [u64; 4] = [1, 10, 100, 300];

fn blob(project: &Project, digest: &str) -> PathBuf {
    project.store().join("blobs").join(&digest[..2]).join(digest)
}

fn blake3_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap()).to_hex().to_string()
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (a, b) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Checks a checkout folder against the store: one file per checkpoint at its place, with the
/// blob's bytes (the blob itself when `linked`), listed in the index with its instance, step,
/// coordinates and key, readable as the model's safetensors.
fn check_folder(project: &Project, folder: &Path, linked: bool) {
    let results = project.results();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schema_version"], 1);
    assert_eq!(index["spec"], "study.dev");
    let files = index["files"].as_array().unwrap();
    assert_eq!(files.len(), SEEDS.len() * STEPS.len(), "{index:#}");
    assert_eq!(index["missing"], serde_json::json!([]));
    let mut listed = BTreeMap::new();
    for file in files {
        listed.insert(file["path"].as_str().unwrap().to_owned(), file.clone());
    }
    for seed in SEEDS {
        let instance = format!("run[seed={seed}]");
        let manifest = &results[&instance];
        for step in STEPS {
            let relative = format!("run/seed={seed}/step_{step:06}.safetensors");
            let path = folder.join(&relative);
            let entry = listed.get(&relative).unwrap_or_else(|| panic!("{relative} not listed"));
            let digest = manifest["outputs"][format!("checkpoint@{step}")].as_str().unwrap();
            assert_eq!(entry["instance"], instance.as_str());
            assert_eq!(entry["step"], "run");
            assert_eq!(entry["coords"], serde_json::json!({ "seed": seed.to_string() }));
            assert_eq!(entry["training_step"], step);
            assert_eq!(entry["output"], format!("checkpoint@{step}"));
            assert_eq!(entry["key"], manifest["key"]);
            assert_eq!(entry["digest"], digest);
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(entry["bytes"], bytes.len());
            assert_eq!(bytes, std::fs::read(blob(project, digest)).unwrap(), "{relative}");
            assert_eq!(same_file(&path, &blob(project, digest)), linked, "{relative}");
            assert!(std::fs::metadata(&path).unwrap().permissions().readonly(), "{relative}");
            // What `safetensors.torch.load_file` reads: the toy model's W (hidden x features)
            // and b (features), and the training step in the metadata.
            let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut names = tensors.names();
            names.sort();
            assert_eq!(names, ["W", "b"]);
            assert_eq!(tensors.tensor("W").unwrap().shape(), [2, 5]);
            assert_eq!(tensors.tensor("b").unwrap().shape(), [5]);
            let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let step_text = metadata.metadata().as_ref().and_then(|m| m.get("step").cloned());
            assert_eq!(step_text, Some(step.to_string()));
        }
    }
}

#[test]
fn checkout_lays_out_each_checkpoint_as_the_stores_file_and_reruns_idempotently() {
    let project = Project::new(STUDY);
    // Nothing stored yet: not a success, and says to run first.
    let early = project.verb_output(&["checkout", "{spec}", "run"]);
    assert_eq!(early.status.code(), Some(1));
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(said.contains("no checkpoint of `run` is stored yet"), "{said}");
    assert!(said.contains("--target run"), "{said}");

    let run = project.run(&["--target", "run"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let folder = project.dir.path().join("checkouts/study");
    let first = project.verb(&["checkout", "{spec}", "run"]);
    assert!(first.contains("checkout: 8 checkpoints of `run`"), "{first}");
    assert!(first.contains("8 linked, 0 copied, 0 already there"), "{first}");
    check_folder(&project, &folder, true);

    // A rerun keeps every file (the same inodes) and writes the same index.
    let index = std::fs::read(folder.join("index.json")).unwrap();
    let again = project.verb(&["checkout", "{spec}", "run"]);
    assert!(again.contains("0 linked, 0 copied, 8 already there"), "{again}");
    assert_eq!(std::fs::read(folder.join("index.json")).unwrap(), index);
    check_folder(&project, &folder, true);

    // A file that is not the checkpoint any more is replaced by it.
    let changed = folder.join("run/seed=1/step_000100.safetensors");
    std::fs::remove_file(&changed).unwrap();
    std::fs::write(&changed, b"edited by hand").unwrap();
    let repaired = project.verb(&["checkout", "{spec}", "run"]);
    assert!(repaired.contains("1 linked, 0 copied, 7 already there"), "{repaired}");
    check_folder(&project, &folder, true);

    // With one seed fewer, the other seed's files (what the index listed, still as written)
    // go; back with both, they come back.
    let one_seed = ["checkout", "{spec}", "run", "--set", "run.seed=sweep([0])"];
    let fewer = project.verb(&one_seed);
    assert!(fewer.contains("0 linked, 0 copied, 4 already there"), "{fewer}");
    assert!(fewer.contains("removed 4 files of an earlier checkout"), "{fewer}");
    assert!(!folder.join("run/seed=1").exists());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["files"].as_array().unwrap().len(), 4);
    let both = project.verb(&["checkout", "{spec}", "run"]);
    assert!(both.contains("4 linked, 0 copied, 4 already there"), "{both}");
    check_folder(&project, &folder, true);

    // An estimate stores results, not checkpoints: refused, naming the step it reads.
    let refused = project.verb_output(&["checkout", "{spec}", "llc"]);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("`llc` is an estimate step: it stores results, not checkpoints"),
        "{said}"
    );
    assert!(said.contains("try `devspec checkout FILE run`"), "{said}");
    let unknown = project.verb_output(&["checkout", "{spec}", "rn"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("the spec has no step `rn`"));

    // Another file system takes no hard link: a copy, with the same bytes and index.
    let shm = Path::new("/dev/shm");
    let other_device = std::fs::metadata(shm).is_ok_and(|m| {
        m.is_dir() && m.dev() != std::fs::metadata(project.dir.path()).unwrap().dev()
    });
    if other_device {
        let elsewhere = tempfile::tempdir_in(shm).unwrap();
        let out = elsewhere.path().join("co");
        let copied = project.verb(&["checkout", "{spec}", "run", "-o", out.to_str().unwrap()]);
        assert!(copied.contains("0 linked, 8 copied, 0 already there"), "{copied}");
        check_folder(&project, &out, false);
        let again = project.verb(&["checkout", "{spec}", "run", "-o", out.to_str().unwrap()]);
        assert!(again.contains("0 linked, 0 copied, 8 already there"), "{again}");
    } else {
        println!(
            "skipped the copy across file systems: /dev/shm is missing or on the test's device"
        );
    }
}

#[test]
fn show_paths_lists_each_stored_output_at_a_file_with_its_digest() {
    let project = Project::new(STUDY);
    let run = project.run(&["--target", "run"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let out = project.verb(&["show", "{spec}", "run", "--paths", "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = shown["rows"].as_array().unwrap();
    // Per seed: four checkpoints in training order, the optimizer's state at each (kept to go
    // on training from), then the loss series.
    let outputs: Vec<&str> = rows.iter().map(|row| row["output"].as_str().unwrap()).collect();
    let per_seed = [
        "checkpoint@1",
        "checkpoint@10",
        "checkpoint@100",
        "checkpoint@300",
        "optimizer@1",
        "optimizer@10",
        "optimizer@100",
        "optimizer@300",
        "result",
    ];
    assert_eq!(outputs, [per_seed, per_seed].concat());
    let results = project.results();
    for row in rows {
        let path = Path::new(row["path"].as_str().unwrap());
        let digest = row["digest"].as_str().unwrap();
        assert_eq!(blake3_of(path), digest, "{row}");
        assert_eq!(std::fs::metadata(path).unwrap().len(), row["bytes"].as_u64().unwrap());
        let manifest = &results[row["instance"].as_str().unwrap()];
        assert_eq!(manifest["outputs"][row["output"].as_str().unwrap()], digest);
    }
    // The table and CSV say the same, a line per output under a header.
    let csv = project.verb(&["show", "{spec}", "run", "--paths", "--format", "csv"]);
    assert_eq!(csv.lines().next(), Some("instance,output,digest,bytes,path"));
    assert_eq!(csv.lines().count(), 1 + rows.len());
    let table = project.verb(&["show", "{spec}", "run", "--paths"]);
    assert_eq!(table.lines().count(), 1 + rows.len(), "{table}");
    // The estimates have not run: listed as not run, no rows.
    let estimates = project.verb_output(&["show", "{spec}", "llc", "--paths", "--format", "json"]);
    assert_eq!(estimates.status.code(), Some(0));
    let said = String::from_utf8_lossy(&estimates.stderr);
    assert!(said.contains("8 of `llc`'s instances have no stored results yet"), "{said}");
    let shown: serde_json::Value = serde_json::from_slice(&estimates.stdout).unwrap();
    assert_eq!(shown["rows"], serde_json::json!([]));
}

#[test]
fn a_damaged_checkpoint_is_set_aside_and_named_never_laid_out() {
    let project = Project::new(STUDY);
    let run = project.run(&["--target", "run"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let digest =
        project.results()["run[seed=0]"]["outputs"]["checkpoint@10"].as_str().unwrap().to_owned();
    // Same size, other bytes: only its digest can tell.
    let path = blob(&project, &digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = project.verb_output(&["checkout", "{spec}", "run"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("checkpoint@10 of run[seed=0] is damaged (its bytes hash to "), "{said}");
    assert!(said.contains("set aside; `devspec run` recomputes it"), "{said}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("checkout: 7 checkpoints of `run`"), "{printed}");
    let folder = project.dir.path().join("checkouts/study");
    assert!(!folder.join("run/seed=0/step_000010.safetensors").exists());
    assert!(folder.join("run/seed=0/step_000100.safetensors").exists());
    assert!(!path.exists(), "the damaged blob is set aside");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["files"].as_array().unwrap().len(), 7);
}

#[test]
fn a_step_without_a_sweep_lays_out_under_no_sweep() {
    // A checkpoint step at a teacher's weights: one instance, one checkpoint at step 0.
    let project = Project::new(
        "import std.dln\n\
         let teacher = dln.teacher(widths = [4, 3, 4], rank = 2, seed = 0)\n\
         checkpoint truth {\n  model = dln.model(widths = [4, 3, 4])\n  weights = teacher\n  \
         data = dln.data(teacher = teacher, samples = 100)\n}\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let out = project.verb(&["checkout", "{spec}", "truth", "-o", "co"]);
    assert!(out.contains("checkout: 1 checkpoint of `truth`"), "{out}");
    let file = project.dir.path().join("co/truth/no_sweep/step_000000.safetensors");
    let digest = project.results()["truth"]["outputs"]["checkpoint@0"].as_str().unwrap().to_owned();
    assert!(same_file(&file, &blob(&project, &digest)));
    let bytes = std::fs::read(&file).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = tensors.names();
    names.sort();
    assert_eq!(names, ["layers.0.weight", "layers.1.weight"]);
}
