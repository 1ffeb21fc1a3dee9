//! A store that checks what it reads, and an honest `verify`: each kind of damage (an edited
//! lock, an edited manifest, a flipped byte in a checkpoint or a detection's result, a broken
//! name index or trajectory state) is named, set aside and recomputed in the same run, or found
//! by `store check`, and every run ends with the lock of an uninterrupted one.

use std::path::PathBuf;

use serde_json::Value;

use super::run::Project;
use super::study::STUDY;

/// A finished `STUDY` and its lock.
fn finished() -> (Project, String) {
    let project = Project::new(STUDY);
    let first = project.run(&["-q"]);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    let lock = lock_of(&project);
    (project, lock)
}

fn lock_of(project: &Project) -> String {
    std::fs::read_to_string(project.dir.path().join("study.dev.lock")).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The manifest file of an instance.
fn action(project: &Project, instance: &str) -> PathBuf {
    let key = project.results()[instance]["key"].as_str().unwrap().to_owned();
    project.store().join("actions").join(&key[..2]).join(format!("{key}.json"))
}

/// The blob of an instance's output.
fn blob(project: &Project, instance: &str, output: &str) -> PathBuf {
    let digest = project.results()[instance]["outputs"][output].as_str().unwrap().to_owned();
    project.store().join("blobs").join(&digest[..2]).join(digest)
}

/// Flips one bit in the middle of a file: same size, other bytes.
fn flip_a_bit(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

/// Replaces the first `"NAME": NUMBER` of a manifest with `value`, keeping it valid JSON.
fn edit_metric(path: &std::path::Path, name: &str, value: &str) -> f64 {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
    let end = start + text[start..].find([',', '\n']).unwrap();
    let truth: f64 = text[start..end].parse().unwrap();
    std::fs::write(path, format!("{}{value}{}", &text[..start], &text[end..])).unwrap();
    truth
}

#[test]
fn verify_finds_an_edited_number_in_the_lock() {
    let (project, lock) = finished();
    // The LLC of one estimate, changed in the lock only: its digests still match.
    let at = lock.find("name = \"llc[seed=1]@600\"").unwrap();
    let start = at + lock[at..].find("llc_mean = ").unwrap() + "llc_mean = ".len();
    let end = start + lock[start..].find('\n').unwrap();
    let edited = format!("{}0.929{}", &lock[..start], &lock[end..]);
    std::fs::write(project.dir.path().join("study.dev.lock"), edited).unwrap();
    let verify = project.verb_output(&["verify", "{spec}", "--steps", "llc"]);
    let out = text(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{out}");
    let row = out.lines().find(|l| l.contains("0.9290")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("DIFFER") && row.contains("llc"), "{row}");
    assert!(out.contains("1 differ"), "{out}");
}

#[test]
fn an_edited_manifest_is_damage_recomputed_in_the_same_run() {
    let (project, lock) = finished();
    let truth = edit_metric(&action(&project, "llc[seed=1]@600"), "llc_mean", "0.929");
    let status = text(&project.verb_output(&["status", "{spec}"]).stdout);
    assert!(
        status.lines().any(|l| l.contains("damaged") && l.contains("llc[seed=1]@600")),
        "{status}"
    );
    let rerun = project.run(&["-q"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    assert!(
        rerun.stderr().contains("store: the record of llc[seed=1]@600 is damaged"),
        "{}",
        rerun.stderr()
    );
    assert_eq!(rerun.counts().0, 1, "only the damaged estimate reruns: {}", rerun.stderr());
    assert_eq!(lock_of(&project), lock, "the lock holds the true value");
    assert!(project.store().join("damaged/actions").is_dir(), "the damaged record is kept");
    let shown: Value =
        serde_json::from_str(&project.verb(&["show", "{spec}", "llc", "--format", "json"]))
            .unwrap();
    let row = shown["rows"].as_array().unwrap().iter().find(|r| r["instance"] == "llc[seed=1]@600");
    assert_eq!(row.unwrap()["metrics"]["llc_mean"].as_f64(), Some(truth));
}

#[test]
fn a_flipped_byte_in_a_checkpoint_retrains_the_run_that_made_it() {
    let (project, lock) = finished();
    flip_a_bit(&blob(&project, "run[seed=0]", "checkpoint@8"));
    // The estimate on it must be computed again (as a new step reading it would be).
    std::fs::remove_file(action(&project, "llc[seed=0]@8")).unwrap();
    let rerun = project.run(&["-q"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    assert!(
        rerun.stderr().contains("store: checkpoint@8 of run[seed=0] is damaged"),
        "{}",
        rerun.stderr()
    );
    // The run that made it, and the estimate.
    assert_eq!(rerun.counts(), (2, 11, 0, 0), "{}", rerun.stderr());
    assert_eq!(lock_of(&project), lock);
    let again = project.run(&["-q"]);
    assert_eq!(again.counts(), (0, 13, 0, 0), "{}", again.stderr());
}

#[test]
fn a_flipped_byte_in_a_detection_is_recomputed_in_the_same_run() {
    let (project, lock) = finished();
    flip_a_bit(&blob(&project, "stages[seed=1]", "result"));
    let rerun = project.run(&["-q"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    assert!(
        rerun.stderr().contains("store: the result of stages[seed=1] is damaged"),
        "{}",
        rerun.stderr()
    );
    assert_eq!(rerun.counts().0, 1, "{}", rerun.stderr());
    let out = text(&rerun.0.stdout);
    assert!(out.contains("stages[seed=1]: llc_mean by critical_points"), "{out}");
    assert!(out.contains("lock: ") && !out.contains("left as it is"), "{out}");
    assert_eq!(lock_of(&project), lock);
}

#[test]
fn store_check_finds_each_kind_of_damage_and_repair_lets_the_next_run_finish() {
    let (project, lock) = finished();
    let check = |extra: &[&str]| project.verb_output(&[&["store", "check"][..], extra].concat());
    assert_eq!(check(&[]).status.code(), Some(0), "{}", text(&check(&[]).stdout));
    // A blob (a checkpoint), a manifest, the name index, a trajectory's state.
    flip_a_bit(&blob(&project, "run[seed=1]", "checkpoint@71"));
    edit_metric(&action(&project, "llc[seed=0]@71"), "llc_std", "7");
    let names = std::fs::read_dir(project.store().join("names")).unwrap().next().unwrap();
    std::fs::write(names.unwrap().path(), "{\"torn").unwrap();
    let trajectory = std::fs::read_dir(project.store().join("trajectories")).unwrap();
    let trajectory = trajectory.map(|t| t.unwrap().path()).find(|t| {
        // The other run's: its states are all intact otherwise.
        let blob = blob(&project, "run[seed=1]", "checkpoint@71");
        let digest = blob.file_name().unwrap().to_str().unwrap();
        !std::fs::read_dir(t)
            .unwrap()
            .any(|p| std::fs::read_to_string(p.unwrap().path()).unwrap().contains(digest))
    });
    let point = std::fs::read_dir(trajectory.unwrap()).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&point, "not json").unwrap();

    let found = check(&[]);
    let out = text(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{out}");
    for what in [
        "checkpoint@71 of run[seed=1]",
        "the record of llc[seed=0]@71",
        "names/",
        "a trajectory state: it is not readable JSON",
    ] {
        assert!(out.contains(what), "{what} not found:\n{out}");
    }
    assert!(!project.store().join("damaged").exists(), "a check without --repair moves nothing");
    let repaired = check(&["--repair"]);
    assert_eq!(repaired.status.code(), Some(1), "{}", text(&repaired.stdout));
    assert!(text(&repaired.stdout).contains("set aside"), "{}", text(&repaired.stdout));
    assert_eq!(check(&[]).status.code(), Some(0), "{}", text(&check(&[]).stdout));
    let rerun = project.run(&["-q"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    assert_eq!(lock_of(&project), lock);
}

#[test]
fn a_store_of_the_previous_version_is_checked_and_sealed_in_place_not_recomputed() {
    let (project, lock) = finished();
    // Manifests as the previous devspec wrote them: pretty JSON, no seal.
    for path in project.results().keys().map(|name| action(&project, name)) {
        let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        manifest.as_object_mut().unwrap().remove("checksum");
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }
    let rerun = project.run(&["-q"]);
    assert_eq!(rerun.counts(), (0, 13, 0, 0), "{}", rerun.stderr());
    assert!(!rerun.stderr().contains("damaged"), "{}", rerun.stderr());
    assert_eq!(lock_of(&project), lock);
    for path in project.results().keys().map(|name| action(&project, name)) {
        assert!(std::fs::read_to_string(path).unwrap().contains("\"checksum\""));
    }
}
