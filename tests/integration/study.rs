//! Reproducible studies end to end: the lock file's stability, export -> import -> a no-op run
//! and the same report, every refusal of a bad bundle (with nothing written), and `verify` on
//! an honest study, on one whose lock and store were doctored consistently, and across a
//! machine part that differs.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::run::Project;

pub const STUDY: &str = "import std.tms\n\
    train run {\n  model = tms.model(features = 5, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 5, sparsity = 0.9, samples = 512)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 128\n  steps = 600\n  seed = sweep(0..2)\n  checkpoints = logspace(1, 600, 4)\n}\n\
    estimate llc on run {\n  observable = llc(sampler = sgld(lr = 3e-3, localization = 100), \
    nbeta = auto, chains = 2, draws = 30, burnin = 10)\n}\n\
    detect stages on llc { method = critical_points(smoothing = 0.1) }\n\
    report summary on run, llc, stages { title = \"a small study\" }\n";

/// Instances of `STUDY`: 2 trains, 8 estimates, 2 detections, 1 report.
const INSTANCES: usize = 13;

fn lock_of(project: &Project) -> String {
    std::fs::read_to_string(project.dir.path().join("study.dev.lock")).unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The locked instances by name.
fn instances(lock: &str) -> std::collections::BTreeMap<String, toml::Value> {
    let lock: toml::Value = toml::from_str(lock).unwrap();
    lock["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_owned(), i.clone()))
        .collect()
}

#[test]
fn the_lock_is_stable_and_a_change_touches_only_its_step_and_dependents() {
    let project = Project::new(STUDY);
    let first = project.run(&["-q"]);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    assert!(stdout(&first.0).contains("lock: ") && stdout(&first.0).contains("(written)"));
    let locked = lock_of(&project);
    assert_eq!(instances(&locked).len(), INSTANCES);
    let train = &instances(&locked)["run[seed=0]"];
    assert!(train["results"]["final_train_loss"].as_float().unwrap() > 0.0);
    assert_eq!(train["environment"]["threads_per_step"].as_str(), Some("1"));
    let estimate = &instances(&locked)["llc[seed=1]@600"];
    assert!(estimate["results"]["llc_se"].as_float().unwrap() > 0.0, "{estimate}");
    assert_eq!(estimate["outputs"]["result"].as_str().unwrap().len(), 64);

    // A rerun, and a rerun after deleting the store (everything recomputed): the same bytes.
    let again = project.run(&["-q"]);
    assert!(stdout(&again.0).contains("(unchanged)"), "{}", stdout(&again.0));
    std::fs::remove_dir_all(project.store()).unwrap();
    let recomputed = project.run(&["-q"]);
    assert_eq!(recomputed.counts().0, INSTANCES, "{}", recomputed.stderr());
    assert_eq!(lock_of(&project), locked, "recomputing from scratch changed the lock");

    // Runs that are not the whole study leave it alone and say so.
    for (extra, why) in [
        (&["--set", "run.batch_size=64"][..], "the run used --set"),
        (&["--target", "run"][..], "the run used --target"),
    ] {
        let partial = project.run(&[&["-q"][..], extra].concat());
        assert!(stdout(&partial.0).contains(why), "{}", stdout(&partial.0));
        assert_eq!(lock_of(&project), locked);
    }

    // A lock that does not match the results is not exported.
    let bundle = project.dir.path().join("stale.tar.zst");
    let export = ["export", "{spec}", "-o", bundle.to_str().unwrap()];
    std::fs::write(project.dir.path().join("study.dev.lock"), locked.replace("= 1\n", "= 2\n"))
        .unwrap();
    let stale = project.verb_output(&export);
    assert_eq!(stale.status.code(), Some(2), "{}", stderr(&stale));
    assert!(stderr(&stale).contains("does not match the results"), "{}", stderr(&stale));
    assert!(!bundle.exists());
    std::fs::write(project.dir.path().join("study.dev.lock"), &locked).unwrap();

    // More draws: the estimates, detections and report change; the trains' entries do not.
    std::fs::write(project.spec(), STUDY.replace("draws = 30", "draws = 35")).unwrap();
    assert_eq!(project.run(&["-q"]).code(), Some(0));
    let (before, after) = (instances(&locked), instances(&lock_of(&project)));
    // And until it runs again, the study is incomplete: nothing to export.
    std::fs::write(project.spec(), STUDY.replace("draws = 30", "draws = 36")).unwrap();
    let incomplete = project.verb_output(&export);
    assert_eq!(incomplete.status.code(), Some(2), "{}", stderr(&incomplete));
    assert!(stderr(&incomplete).contains("without results"), "{}", stderr(&incomplete));
    for (name, entry) in &before {
        let changed = after[name] != *entry;
        assert_eq!(changed, !name.starts_with("run["), "{name} changed: {changed}");
    }

    // Renaming a step changes no result and no key of its own (keys name inputs by place),
    // but the report records its inputs' names and keys: it is computed again, and the page
    // names the new step. (Its key once held only its inputs' digests, and the old names were
    // served.)
    let renamed = STUDY.replace("draws = 30", "draws = 35").replace("stages", "phases");
    std::fs::write(project.spec(), renamed).unwrap();
    let status = project.verb(&["status", "{spec}", "--why"]);
    let line = status.lines().find(|l| l.trim_start().starts_with("will run")).unwrap_or_default();
    assert!(
        line.contains("summary") && line.contains("input stages[seed=0] renamed to phases[seed=0]"),
        "{status}"
    );
    let run = project.run(&["-q"]);
    assert_eq!(run.counts().0, 1, "only the report: {}", run.stderr());
    let page = String::from_utf8(report_page(project.dir.path())).unwrap();
    assert!(page.contains("phases[seed=0]"), "the new name is not on the page");
    assert!(!page.contains("stages["), "the old name is still on the page");
}

#[test]
fn a_report_on_what_a_failed_training_streamed_is_still_drawn() {
    // The training streams its checkpoint at step 1, then diverges (loss inf at step 4) and
    // fails; the loss at step 1 is measured all the same, and the report on it is keyed with
    // that estimate's key as it ran: recomputed, it would need the failed training's outputs,
    // which a failure drops (the run once stopped there).
    let project = Project::new(
        "train run {\n  model = tms.model(features = 5, hidden = 2)\n  \
         data = tms.data(features = 5, sparsity = 0.9, samples = 512)\n  optimizer = sgd(lr = 1e4)\n  \
         batch_size = 128\n  steps = 200\n  seed = 0\n  checkpoints = [1, 200]\n}\n\
         estimate loss_at on run { at = [1], observable = loss() }\n\
         report summary on loss_at {}\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.counts(), (2, 0, 1, 0), "{}", run.stderr());
    assert!(run.stderr().contains("the training loss became inf"), "{}", run.stderr());
    assert!(project.dir.path().join("reports/study/summary/report.html").is_file());
}

/// A finished study, exported (with checkpoints or not) and imported into a fresh folder.
struct Shared {
    sender: Project,
    receiver: tempfile::TempDir,
    bundle: PathBuf,
}

impl Shared {
    fn new(with_checkpoints: bool) -> Shared {
        let sender = Project::new(STUDY);
        assert_eq!(sender.run(&["-q"]).code(), Some(0));
        let bundle = sender.dir.path().join("study.tar.zst");
        let mut export = vec!["export", "{spec}", "-o", bundle.to_str().unwrap()];
        if with_checkpoints {
            export.push("--with-checkpoints");
        }
        sender.verb(&export);
        let receiver = tempfile::tempdir().unwrap();
        Shared { sender, receiver, bundle }
    }

    fn import(&self) -> std::process::Output {
        self.sender.verb_output(&[
            "import",
            self.bundle.to_str().unwrap(),
            self.folder().to_str().unwrap(),
        ])
    }

    fn folder(&self) -> PathBuf {
        self.receiver.path().join("colleague")
    }

    /// A verb run in the imported folder.
    fn there(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(super::binaries::devspec_exe())
            .args(args)
            .current_dir(self.folder())
            .env_remove("DEVSPEC_STORE")
            .env_remove("DEVSPEC_THREADS")
            .output()
            .unwrap()
    }
}

/// The report a run or `devspec report` drew in a project.
fn report_page(root: &Path) -> Vec<u8> {
    std::fs::read(root.join("reports/study/summary/report.html")).unwrap()
}

#[test]
fn an_imported_study_runs_as_a_no_op_and_draws_the_same_report() {
    let shared = Shared::new(true);
    let imported = shared.import();
    assert_eq!(imported.status.code(), Some(0), "{}", stderr(&imported));
    let folder = shared.folder();
    assert!(folder.join("study.dev").is_file() && folder.join("study.dev.lock").is_file());
    let config = std::fs::read_to_string(folder.join("devspec.toml")).unwrap();
    assert!(config.contains("threads_per_step = 1") && config.contains("device = \"cpu\""));
    let run = shared.there(&["run", "study.dev", "-q"]);
    let summary = stderr(&run);
    assert!(
        summary.contains(&format!("{INSTANCES} instances: 0 ran, {INSTANCES} cached")),
        "{summary}"
    );
    assert!(stdout(&run).contains("(unchanged)"), "the lock moved: {}", stdout(&run));
    assert_eq!(report_page(&folder), report_page(shared.sender.dir.path()));
    // Another thread count is another machine part: named, and the results recomputed.
    let threads = shared.there(&["run", "study.dev", "-q", "--threads", "2"]);
    assert!(
        stderr(&threads).contains("computed with threads_per_step = 1; here it is 2"),
        "{}",
        stderr(&threads)
    );
}

#[test]
fn without_checkpoints_the_report_still_draws_and_a_run_retrains_only() {
    let shared = Shared::new(false);
    assert_eq!(shared.import().status.code(), Some(0));
    let folder = shared.folder();
    // Before any run: the sender's report, from the results the lock records.
    let drawn = shared.there(&["report", "study.dev"]);
    assert_eq!(drawn.status.code(), Some(0), "{}", stderr(&drawn));
    assert_eq!(report_page(&folder), report_page(shared.sender.dir.path()));
    // A run restores the checkpoints by retraining; everything else is the bundle's.
    let run = shared.there(&["run", "study.dev", "-q"]);
    assert!(
        stderr(&run).contains(&format!("{INSTANCES} instances: 2 ran, 11 cached")),
        "{}",
        stderr(&run)
    );
    assert!(stdout(&run).contains("(unchanged)"), "{}", stdout(&run));
}

/// The good bundle's entries, to build bad ones from.
fn entries(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let decoder = zstd::Decoder::new(std::fs::File::open(bundle).unwrap()).unwrap();
    let mut archive = tar::Archive::new(decoder);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

/// An entry header with `name` written raw (tar's own setters refuse the bad ones).
fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

fn pack(path: &Path, entries: &[(String, Vec<u8>)], extra: Option<(tar::Header, Vec<u8>)>) {
    let encoder = zstd::Encoder::new(std::fs::File::create(path).unwrap(), 3).unwrap();
    let mut archive = tar::Builder::new(encoder);
    for (name, bytes) in entries {
        archive
            .append(&header(name, tar::EntryType::Regular, bytes.len() as u64), &bytes[..])
            .unwrap();
    }
    if let Some((header, bytes)) = extra {
        archive.append(&header, &bytes[..]).unwrap();
    }
    archive.into_inner().unwrap().finish().unwrap();
}

#[test]
fn bad_bundles_are_refused_with_exit_2_and_nothing_written() {
    let shared = Shared::new(false);
    let good = entries(&shared.bundle);
    let spec = good.iter().position(|(p, _)| p == "study/study.dev").unwrap();
    let dir = shared.receiver.path();
    let mut cases: Vec<(&str, PathBuf, Vec<&str>)> = Vec::new();
    let mut case = |name: &str, entries: &[(String, Vec<u8>)], extra, expected| {
        let path = dir.join(format!("{name}.tar.zst"));
        pack(&path, entries, extra);
        cases.push((expected, path, Vec::new()));
    };
    let link = {
        let mut h = header("study/link", tar::EntryType::Symlink, 0);
        h.set_link_name("/etc/passwd").unwrap();
        h.set_cksum();
        h
    };
    case(
        "absolute",
        &good,
        Some((header("/tmp/evil", tar::EntryType::Regular, 1), vec![b'x'])),
        "has an absolute path",
    );
    case(
        "dotdot",
        &good,
        Some((header("study/../../evil", tar::EntryType::Regular, 1), vec![b'x'])),
        "leaves its folder",
    );
    case("link", &good, Some((link, Vec::new())), "is a link");
    case(
        "device",
        &good,
        Some((header("study/dev", tar::EntryType::Char, 0), Vec::new())),
        "is a device",
    );
    let mut changed = good.clone();
    // One byte changed, the size kept: only the digest tells.
    changed[spec].1[0] ^= 1;
    case("digest", &changed, None, "does not match its manifest");
    let mut longer = good.clone();
    longer[spec].1.extend_from_slice(b"# changed\n");
    case("size", &longer, None, "bytes, the manifest says");
    case(
        "unlisted",
        &good,
        Some((header("study/extra.dev", tar::EntryType::Regular, 1), vec![b'x'])),
        "is not in its manifest",
    );
    let mut dropped = good.clone();
    dropped.remove(spec);
    case("missing", &dropped, None, "is in its manifest but not in it");
    let mut total = cases;
    total.push(("over the limit of 1024", shared.bundle.clone(), vec!["--max-size", "1K"]));
    for (expected, bundle, extra) in &total {
        let target = dir.join("colleague");
        let mut args = vec!["import", bundle.to_str().unwrap(), target.to_str().unwrap()];
        args.extend(extra);
        let out = shared.sender.verb_output(&args);
        assert_eq!(out.status.code(), Some(2), "{expected}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{expected}: {}", stderr(&out));
        assert!(stderr(&out).contains("nothing was written"), "{}", stderr(&out));
        assert!(!target.exists(), "{expected}: {} was written", target.display());
    }
    // A folder that already holds one of the files: refused, and the file is untouched.
    let target = dir.join("occupied");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("study.dev"), "mine").unwrap();
    let out = shared.sender.verb_output(&[
        "import",
        shared.bundle.to_str().unwrap(),
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("would be overwritten"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(target.join("study.dev")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1, "something else was written");

    // A failure while writing (here: a file where a folder of the store must go) removes what
    // the import wrote and keeps what was there.
    let target = dir.join("half");
    let action = good.iter().find(|(p, _)| p.starts_with("store/actions/")).unwrap();
    let action_shard = action.0.split('/').nth(2).unwrap();
    std::fs::create_dir_all(target.join(".devspec/actions")).unwrap();
    std::fs::write(target.join(".devspec/actions").join(action_shard), "in the way").unwrap();
    let out = shared.sender.verb_output(&[
        "import",
        shared.bundle.to_str().unwrap(),
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!target.join("study.dev").exists(), "a written file was left behind");
    assert!(!target.join("devspec.toml").exists());
    assert_eq!(
        std::fs::read_to_string(target.join(".devspec/actions").join(action_shard)).unwrap(),
        "in the way"
    );
}

/// Rewrites one estimate's recorded LLC, consistently: a new result blob and its manifest
/// (output, size, metric); then a run recomputes what reads it and rewrites the lock. Returns
/// the true value and the doctored one.
fn doctor(project: &Project, name: &str) -> (f64, f64) {
    let results = project.results();
    let manifest = &results[name];
    let key = manifest["key"].as_str().unwrap();
    let digest = manifest["outputs"]["result"].as_str().unwrap();
    let blob = |d: &str| project.store().join("blobs").join(&d[..2]).join(d);
    let mut result: Value = serde_json::from_slice(&std::fs::read(blob(digest)).unwrap()).unwrap();
    let truth = result["estimate"]["llc_mean"].as_f64().unwrap();
    let doctored = truth * 1.5 + 1.0;
    result["estimate"]["llc_mean"] = doctored.into();
    let bytes = serde_json::to_vec(&result).unwrap();
    let new_digest = blake3::hash(&bytes).to_hex().to_string();
    std::fs::create_dir_all(blob(&new_digest).parent().unwrap()).unwrap();
    std::fs::write(blob(&new_digest), &bytes).unwrap();
    let mut manifest = manifest.clone();
    manifest["outputs"]["result"] = new_digest.clone().into();
    manifest["sizes"] = serde_json::json!({ new_digest.clone(): bytes.len() });
    manifest["metrics"]["llc_mean"] = doctored.into();
    let action = project.store().join("actions").join(&key[..2]).join(format!("{key}.json"));
    std::fs::write(action, serde_json::to_vec(&manifest).unwrap()).unwrap();
    // The run takes the doctored result as cached, recomputes what reads it, and writes the
    // lock from the store: a study consistent in every digest.
    let rerun = project.run(&["-q"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    assert!(lock_of(project).contains(&format!("llc_mean = {doctored:?}")));
    (truth, doctored)
}

#[test]
fn verify_agrees_on_an_honest_study_and_catches_a_doctored_one() {
    let project = Project::new(STUDY);
    assert_eq!(project.run(&["-q"]).code(), Some(0));
    let honest = project.verb_output(&["verify", "{spec}"]);
    assert_eq!(honest.status.code(), Some(0), "{}{}", stdout(&honest), stderr(&honest));
    assert!(
        stdout(&honest)
            .contains(&format!("{INSTANCES} compared with the lock ({INSTANCES} byte for byte, 0 statistically): {INSTANCES} agree, 0 differ")),
        "{}",
        stdout(&honest)
    );
    // Another thread count: compared within the tolerances, and said so.
    let statistical =
        project.verb_output(&["verify", "{spec}", "--steps", "llc", "--threads", "2"]);
    assert!(
        stdout(&statistical).contains("compared statistically: threads_per_step: 1 -> 2"),
        "{}",
        stdout(&statistical)
    );
    assert_eq!(statistical.status.code(), Some(0), "{}", stdout(&statistical));

    let (truth, doctored) = doctor(&project, "llc[seed=1]@600");
    // Consistent: the store serves the doctored result, and `show` reports it.
    let shown = project.verb(&["show", "{spec}", "llc", "--format", "json"]);
    assert!(shown.contains(&format!("{doctored}")), "{shown}");
    let caught = project.verb_output(&["verify", "{spec}", "--steps", "llc"]);
    let text = stdout(&caught);
    assert_eq!(caught.status.code(), Some(1), "{text}");
    let row = text.lines().skip_while(|l| !l.starts_with("llc[seed=1]@600")).nth(1).unwrap();
    assert!(
        row.contains(&format!("{doctored:.4}")) && row.contains(&format!("{truth:.4}")),
        "{row}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("llc[seed=1]@600") && l.contains("DIFFER")),
        "{text}"
    );
    assert!(text.contains("1 differ"), "{text}");
    // The same doctored study, bundled and checked by a colleague: every digest matches (the
    // doctoring was consistent), and only recomputing catches it.
    let bundle = project.dir.path().join("doctored.tar.zst");
    project.verb(&["export", "{spec}", "-o", bundle.to_str().unwrap()]);
    let colleague = tempfile::tempdir().unwrap();
    let folder = colleague.path().join("study");
    project.verb(&["import", bundle.to_str().unwrap(), folder.to_str().unwrap()]);
    let theirs = std::process::Command::new(super::binaries::devspec_exe())
        .args(["verify", "study.dev", "--steps", "llc"])
        .current_dir(&folder)
        .env_remove("DEVSPEC_STORE")
        .env_remove("DEVSPEC_THREADS")
        .output()
        .unwrap();
    assert_eq!(theirs.status.code(), Some(1), "{}{}", stdout(&theirs), stderr(&theirs));
    assert!(stdout(&theirs).contains(&format!("{truth:.4}")), "{}", stdout(&theirs));
    // A sample recomputes fewer instances, chosen by key: the same ones every time.
    let sample = |k: &str| stdout(&project.verb_output(&["verify", "{spec}", "--sample", k]));
    assert_eq!(sample("2"), sample("2"));
}
