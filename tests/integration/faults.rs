//! The fault-injection suite: a run interrupted or starved in every way the store must survive
//! (`kill -9` of the driver and of a worker at several points, a crash just before a rename into
//! the store, a full disk, a read-only store, `gc` while a run goes on), each followed by the
//! rerun a user would do; each ends with a lock byte-identical to an uninterrupted run's.
//!
//! The disk cases mount a small tmpfs over the project's store, so they need root; without it
//! they say so and pass. Every mount is undone by a guard, whatever the test's outcome.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::run::{Project, Run, children_of, gone};

/// Small and fast: two steps, twelve instances, long enough to be interrupted halfway.
const SPEC: &str = "test a { value = sweep(0..6), sleep_ms = 150 }\ntest b on a { value = 10 }\n";

/// The lock of an uninterrupted run of [`SPEC`], computed once per test process.
fn reference_lock() -> &'static str {
    static LOCK: OnceLock<String> = OnceLock::new();
    LOCK.get_or_init(|| {
        let project = Project::new(SPEC);
        let run = project.run(&["-q"]);
        assert_eq!(run.code(), Some(0), "{}", run.stderr());
        lock_of(&project)
    })
}

fn lock_of(project: &Project) -> String {
    std::fs::read_to_string(project.dir.path().join("study.dev.lock")).unwrap_or_default()
}

/// The rerun after a fault: it finishes, with the lock of a run that was never interrupted.
fn rerun_finishes_with_the_reference_lock(project: &Project, what: &str) {
    let rerun = project.run(&["-q", "--jobs", "2"]);
    assert_eq!(rerun.code(), Some(0), "{what}: the rerun failed:\n{}", rerun.stderr());
    assert_eq!(lock_of(project), reference_lock(), "{what}: the lock differs");
}

fn recorded(project: &Project) -> usize {
    let Ok(shards) = std::fs::read_dir(project.store().join("actions")) else { return 0 };
    shards.flatten().map(|shard| std::fs::read_dir(shard.path()).map_or(0, Iterator::count)).sum()
}

/// Files left in the store's `tmp/` (none, or a missing folder, after any failure but a kill).
fn temp_files(project: &Project) -> Vec<PathBuf> {
    std::fs::read_dir(project.store().join("tmp"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Waits (up to 20 s) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_gone(pids: &[u32]) {
    wait_for("the workers of a killed run to exit", || pids.iter().all(|pid| gone(*pid)));
}

#[test]
fn a_driver_killed_at_several_points_loses_nothing() {
    for after in [0, 3, 8] {
        let project = Project::new(SPEC);
        let mut child = project.command(&["--jobs", "2"]).stderr(Stdio::null()).spawn().unwrap();
        wait_for("results to be recorded", || after == 0 || recorded(&project) >= after);
        if after == 0 {
            // Before anything is recorded: once its first worker is up.
            wait_for("a worker", || !children_of(child.id()).is_empty());
        }
        let workers = children_of(child.id());
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        wait_gone(&workers);
        rerun_finishes_with_the_reference_lock(&project, &format!("driver killed after {after}"));
    }
}

#[test]
fn a_worker_killed_at_several_points_fails_its_steps_only() {
    for after in [0, 4] {
        let project = Project::new(SPEC);
        let child = project
            .command(&["--jobs", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("results to be recorded", || recorded(&project) >= after);
        let mut workers = Vec::new();
        wait_for("a worker", || {
            workers = children_of(child.id());
            !workers.is_empty()
        });
        Command::new("kill").arg("-9").arg(workers[0].to_string()).status().unwrap();
        let run = Run(child.wait_with_output().unwrap());
        // The killed worker's steps failed (1), or, had it finished them, nothing did (0); killed
        // while it reported its version, before any step, the run could not start (3).
        assert!(
            matches!(run.code(), Some(0 | 1 | 3)),
            "worker killed after {after}: {}",
            run.stderr()
        );
        rerun_finishes_with_the_reference_lock(&project, &format!("worker killed after {after}"));
    }
}

#[test]
fn a_crash_just_before_a_rename_into_the_store_loses_nothing() {
    // Whichever process gets to its Nth rename first (the driver recording a manifest, or a
    // worker writing a blob) aborts there, as `kill -9` would, leaving a complete temp file.
    for n in [1, 4, 9] {
        let project = Project::new(SPEC);
        project.crash_at_rename(n);
        rerun_finishes_with_the_reference_lock(&project, &format!("crash at rename {n}"));
        // The crash left its complete temp file behind; gc removes it (its writer is gone),
        // and nothing the study needs.
        assert!(!temp_files(&project).is_empty(), "crash at rename {n} left no temp file");
        project.verb(&["gc", "--min-age", "0"]);
        assert_eq!(temp_files(&project), Vec::<PathBuf>::new(), "crash at rename {n}");
        rerun_finishes_with_the_reference_lock(&project, &format!("gc after rename {n}"));
    }
}

/// A filesystem mounted for a test, unmounted when dropped (also when the test fails).
struct Mount {
    at: PathBuf,
}

impl Mount {
    /// A tmpfs of `size` (`2m`) at `at`; `None`, having said why, where this process cannot
    /// mount (not root, or no permission to mount here).
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata("/proc/self").map_or(1, |m| m.uid()) != 0 {
            eprintln!("skipped: mounting a small tmpfs for the store needs root");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("skipped: this machine refuses to mount a tmpfs at {}", at.display());
            return None;
        }
        Some(Mount { at: at.to_path_buf() })
    }

    /// Remounts it read-only (`true`) or writable.
    fn read_only(&self, read_only: bool) {
        let options = if read_only { "remount,ro" } else { "remount,rw" };
        let status = Command::new("mount").args(["-o", options]).arg(&self.at).status().unwrap();
        assert!(status.success(), "mount -o {options} {}", self.at.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazily: a process of a failed test may still have a file open there.
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Fills the filesystem of `folder` up, in a file of its own; leaves about `slack` bytes free
/// (whole pages) by removing a file of that size written first.
fn fill(folder: &Path, slack: usize) -> PathBuf {
    use std::io::Write;
    let spare = folder.join("spare");
    if slack > 0 {
        std::fs::write(&spare, vec![1u8; slack]).unwrap();
    }
    let filler = folder.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![1u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    let _ = std::fs::remove_file(&spare);
    filler
}

/// Asserts that a run failed for its environment as a user should see it: exit 3, one error
/// with `what` and a hint, no line per step, no log path, nothing left in the store's `tmp/`.
fn one_environment_failure(project: &Project, run: &Run, what: &str) {
    let stderr = run.stderr();
    assert_eq!(run.code(), Some(3), "{what}:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one message:\n{stderr}");
    assert!(errors[0].contains(what), "{what}:\n{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(!stderr.contains("FAILED") && !stderr.contains("log:"), "{stderr}");
    assert_eq!(temp_files(project), Vec::<PathBuf>::new(), "temp files left:\n{stderr}");
}

#[test]
fn a_full_store_stops_the_run_with_exit_3_and_a_rerun_after_freeing_space_finishes() {
    // Issue 19, finding 4: on a full 2 MB tmpfs, exit 1 with a failure per step, temp files
    // left in `tmp/`, and log paths that did not exist.
    let project = Project::new(SPEC);
    let Some(mount) = Mount::tmpfs(&project.store(), "2m") else { return };
    let holding = mount.at.join("holding");
    std::fs::create_dir_all(&holding).unwrap();
    // Full before the run: it ends before starting anything.
    let filler = fill(&holding, 0);
    let full = project.run(&["-q", "--jobs", "2"]);
    one_environment_failure(&project, &full, "has no space left");
    // Full halfway: what was recorded is kept, the rest stops at the first full write.
    std::fs::remove_file(&filler).unwrap();
    let filler = fill(&holding, 24 << 10);
    let halfway = project.run(&["-q", "--jobs", "2"]);
    one_environment_failure(&project, &halfway, "has no space left");
    std::fs::remove_file(&filler).unwrap();
    rerun_finishes_with_the_reference_lock(&project, "after freeing space");
    drop(mount);
}

#[test]
fn a_read_only_store_exits_3_and_a_rerun_once_writable_finishes() {
    // Issue 19, finding 4: an existing read-only store gave exit 1, "cannot lock the store".
    // (Root ignores permissions, so the store is a tmpfs remounted read-only.)
    let project = Project::new(SPEC);
    let Some(mount) = Mount::tmpfs(&project.store(), "16m") else { return };
    let part = project.run(&["-q", "--target", "a"]);
    assert_eq!(part.code(), Some(0), "{}", part.stderr());
    mount.read_only(true);
    let refused = project.run(&["-q", "--jobs", "2"]);
    one_environment_failure(&project, &refused, "is on a read-only filesystem");
    mount.read_only(false);
    rerun_finishes_with_the_reference_lock(&project, "once writable");
    drop(mount);
}

#[test]
fn gc_during_a_run_removes_nothing_the_run_wrote_or_reads() {
    // Issue 19, finding 10: `gc --min-age 0` deleted what a running run had just written. Here
    // gc keeps only another spec's results, so everything of the live run is fair game to it
    // but for the run's registration.
    let project = Project::new(SPEC);
    std::fs::write(project.dir.path().join("other.dev"), "test other { value = 99 }\n").unwrap();
    // Half the study is in the store already (older than the run: what it will read).
    let part = project.run(&["-q", "--target", "a"]);
    assert_eq!(part.code(), Some(0), "{}", part.stderr());
    // The rest must take a while: `b` slower, so gc runs while the run goes on.
    let spec = SPEC.replace("value = 10 }", "value = 10, sleep_ms = 200 }");
    std::fs::write(project.spec(), &spec).unwrap();
    let child = project
        .command(&["-q", "--jobs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let gc = || {
        let out = project.verb_output(&["gc", "--keep", "other.dev", "--min-age", "0"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // From the moment the run has registered (before its first step) to its end.
    let registered = || {
        std::fs::read_dir(project.store().join("runs")).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
        })
    };
    wait_for("the run to register", registered);
    // Until the run's registration goes (just before it exits, after its lock is written).
    // A round can still start in the instant between the look and the removal: such a round
    // sees no live run and may rightly remove everything, so what the rerun below finds
    // cached depends on whether the last round saw the run.
    let mut rounds = 0;
    let mut live_seen = false;
    let mut last_saw_the_run = true;
    while registered() {
        let said = gc();
        last_saw_the_run = said.contains("in progress");
        live_seen |= last_saw_the_run;
        rounds += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = Run(child.wait_with_output().unwrap());
    assert!(live_seen && rounds >= 2, "gc ran {rounds} times during the run");
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    // What it read (a, cached before it started) was there all along: not recomputed.
    assert_eq!(run.counts(), (6, 6, 0, 0), "{}", run.stderr());
    // The spec now has b slower: its lock is that of an uninterrupted run of the same spec.
    let reference = Project::new(&spec);
    assert_eq!(reference.run(&["-q"]).code(), Some(0));
    assert_eq!(lock_of(&project), lock_of(&reference), "the run's lock differs");
    let again = project.run(&["--jobs", "2"]);
    let expected = if last_saw_the_run { (0, 12, 0, 0) } else { (12, 0, 0, 0) };
    assert_eq!(again.counts(), expected, "{}", again.stderr());
    // Once no run is live, gc may remove them.
    assert!(gc().starts_with("removed 12 results"), "{}", gc());
}

// The damaged-entry cases (a damaged blob, manifest, name index and resume point, each
// followed by a rerun that ends with the reference lock) are built with the store's own checks
// of what it reads (issue 19, "a store that checks what it reads"): they go here.

#[test]
fn an_entry_removed_between_the_survey_and_the_run_is_computed_again() {
    // A run surveys the store before it registers itself, so a `gc` in that instant sees no
    // live run and may remove entries the survey found cached. The executor takes the survey's
    // hits without keying them again; it must still notice the removal (here: the records of
    // `b`, which a gc removes before their blobs) and compute them again.
    use devspec::compile;
    use devspec::exec::{InstanceStatus, survey};
    use devspec::ops::{Quiet, Session, Settings};
    use devspec::source::SourceMap;
    use devspec_protocol::store_layout;

    let project = Project::new(SPEC);
    let first = project.run(&["-q"]);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    let settings = Settings { worker: Some(super::binaries::worker_exe()), ..Settings::default() };
    let session = Session::resolve(&project.spec(), &settings).unwrap();
    let program = compile::check_path(&project.spec(), &[], &mut SourceMap::new()).unwrap();
    let plan = devspec::plan::plan(&program).unwrap();
    let surveyed = survey(&plan, &session.store, &session.options);
    let cached = |status: &InstanceStatus| matches!(status, InstanceStatus::Cached(_));
    assert!(surveyed.iter().all(cached), "all 12 instances were cached");
    for status in &surveyed {
        let InstanceStatus::Cached(manifest) = status else { unreachable!() };
        if manifest.instance.starts_with('b') {
            let record = store_layout::action_path(&project.store(), &manifest.key);
            std::fs::remove_file(&record).unwrap_or_else(|e| panic!("{}: {e}", record.display()));
        }
    }
    let summary = session.execute_surveyed(&plan, &session.options, surveyed, &mut Quiet);
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    assert_eq!((summary.cached, summary.executed), (6, 6));
}
