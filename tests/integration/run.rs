//! `devspec run` with the test step kind, through real worker processes and a real store:
//! caching, what invalidates what, early cutoff, failure isolation, crashes, parallelism,
//! concurrent runs on one store, corruption, and interruption.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::binaries::devspec_exe;

/// A project folder with a spec; the store lives inside it.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(spec: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("devspec.toml"), "").unwrap();
        std::fs::write(dir.path().join("study.dev"), spec).unwrap();
        Project { dir }
    }

    /// A project whose `devspec.toml` says `config`.
    pub fn with_config(spec: &str, config: &str) -> Project {
        let project = Project::new(spec);
        std::fs::write(project.dir.path().join("devspec.toml"), config).unwrap();
        project
    }

    pub fn spec(&self) -> PathBuf {
        self.dir.path().join("study.dev")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join(".devspec")
    }

    pub fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(devspec_exe());
        command
            .arg("run")
            .arg(self.spec())
            .args(extra)
            .env_remove("DEVSPEC_STORE")
            .env_remove("DEVSPEC_JOBS");
        command
    }

    /// A run (`--jobs 2`) in which whichever process reaches its `n`th rename into the store
    /// first aborts there, as `kill -9` would; asserts that the hook fired.
    pub fn crash_at_rename(&self, n: u32) {
        let crashed = self
            .command(&["--jobs", "2"])
            .env(devspec_protocol::store_layout::FAULT_KILL_BEFORE_RENAME, n.to_string())
            .output()
            .unwrap();
        assert_ne!(crashed.status.code(), Some(0), "the hook fired at rename {n}");
    }

    /// Runs another verb in the project folder (args may name the spec with `{spec}`) and
    /// returns its stdout, asserting success.
    pub fn verb(&self, args: &[&str]) -> String {
        let out = self.verb_output(args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs another verb in the project folder, whatever its exit code.
    pub fn verb_output(&self, args: &[&str]) -> Output {
        let spec = self.spec();
        let args: Vec<&std::ffi::OsStr> = args
            .iter()
            .map(|a| if *a == "{spec}" { spec.as_os_str() } else { std::ffi::OsStr::new(a) })
            .collect();
        Command::new(devspec_exe())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("DEVSPEC_STORE")
            .output()
            .unwrap()
    }

    pub fn run(&self, extra: &[&str]) -> Run {
        Run(self.command(extra).output().unwrap())
    }

    /// Every recorded manifest: instance name to its output digests.
    pub fn results(&self) -> BTreeMap<String, serde_json::Value> {
        let mut results = BTreeMap::new();
        for shard in std::fs::read_dir(self.store().join("actions")).unwrap() {
            for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                let manifest: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap())
                        .unwrap();
                results.insert(manifest["instance"].as_str().unwrap().to_owned(), manifest);
            }
        }
        results
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    /// The counts of the summary line: (ran, cached, failed, not run).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let stderr = self.stderr();
        let line = stderr
            .lines()
            .find(|l| l.contains(" ran, "))
            .unwrap_or_else(|| panic!("no summary:\n{stderr}"));
        let numbers: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        (numbers[1], numbers[2], numbers[3], numbers[4])
    }
}

const CHAIN: &str =
    "test a { value = sweep(0..3) }\ntest b on a { value = 10 }\ntest c on b { value = 20 }\n";

#[test]
fn second_run_is_all_cached_with_the_same_bytes() {
    let project = Project::new(CHAIN);
    let first = project.run(&[]);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    assert_eq!(first.counts(), (9, 0, 0, 0));
    let before = project.results();
    let second = project.run(&[]);
    assert_eq!(second.counts(), (0, 9, 0, 0), "{}", second.stderr());
    assert_eq!(project.results(), before, "a cached run records nothing new");
}

#[test]
fn a_changed_parameter_reruns_that_step_and_its_dependents_only() {
    let project = Project::new(CHAIN);
    assert_eq!(project.run(&[]).counts(), (9, 0, 0, 0));
    // b's value changes its bytes: b and c rerun for every seed, a stays cached.
    let changed = project.run(&["--set", "b.value=11"]);
    assert_eq!(changed.counts(), (6, 3, 0, 0), "{}", changed.stderr());
    // Back to the original: everything is in the store already.
    assert_eq!(project.run(&[]).counts(), (0, 9, 0, 0));
}

#[test]
fn early_cutoff_a_rerun_with_identical_bytes_does_not_rerun_dependents() {
    let project = Project::new(CHAIN);
    assert_eq!(project.run(&[]).counts(), (9, 0, 0, 0));
    // `sleep_ms` is in a's key but not in its bytes: a reruns, b and c find their keys cached.
    let changed = project.run(&["--set", "a.sleep_ms=1"]);
    assert_eq!(changed.counts(), (3, 6, 0, 0), "{}", changed.stderr());
}

#[test]
fn a_failure_fails_its_dependents_only_and_the_rest_is_recorded() {
    let project = Project::new(
        "test good { value = 1 }\ntest after_good on good { value = 2 }\n\
         test bad { fail = true }\ntest after_bad on bad { value = 3 }\n",
    );
    let run = project.run(&["--jobs", "2"]);
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.counts(), (2, 0, 1, 1), "{}", run.stderr());
    let stderr = run.stderr();
    assert!(stderr.contains("error: bad failed: bad failed on purpose"), "{stderr}");
    // The summary names the step's log, which says what ran and how it ended.
    let log = stderr.lines().find_map(|l| l.trim().strip_prefix("log: ")).expect("a log line");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.starts_with("instance: bad\nkey: "), "{log}");
    assert!(log.contains("outcome: failed: bad failed on purpose"), "{log}");
    let results = project.results();
    assert!(results.contains_key("good") && results.contains_key("after_good"), "{results:?}");
    assert!(!results.contains_key("bad"));
    // The failure is not cached: it is tried again; the good part is.
    assert_eq!(project.run(&[]).counts(), (0, 2, 1, 1));
}

#[test]
fn a_crashed_worker_fails_one_instance_and_is_replaced() {
    let project = Project::new(
        "test crash { crash = true }\ntest after_crash on crash { value = 1 }\n\
         test others { value = sweep(0..4) }\n",
    );
    let run = project.run(&["--jobs", "1"]);
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.counts(), (4, 0, 1, 1), "{}", run.stderr());
    assert!(run.stderr().contains("before answering"), "{}", run.stderr());
}

#[test]
fn independent_steps_overlap_in_time_under_two_jobs() {
    let project = Project::new("test slow { value = sweep([1, 2]), sleep_ms = 600 }\n");
    assert_eq!(project.run(&["--jobs", "2"]).counts(), (2, 0, 0, 0));
    let intervals: Vec<(f64, f64)> = project
        .results()
        .values()
        .map(|m| {
            (
                m["provenance"]["started"].as_f64().unwrap(),
                m["provenance"]["ended"].as_f64().unwrap(),
            )
        })
        .collect();
    let (a, b) = (intervals[0], intervals[1]);
    assert!(a.0 < b.1 && b.0 < a.1, "the two runs did not overlap: {intervals:?}");
}

#[test]
fn two_runs_on_one_store_compute_each_key_once() {
    let project = Project::new("test step { value = sweep(0..6), sleep_ms = 300 }\n");
    let spawn = || project.command(&["--jobs", "2"]).stderr(Stdio::piped()).spawn().unwrap();
    let (first, second) = (spawn(), spawn());
    let runs = [Run(first.wait_with_output().unwrap()), Run(second.wait_with_output().unwrap())];
    let ran: usize = runs.iter().map(|run| run.counts().0).sum();
    let cached: usize = runs.iter().map(|run| run.counts().1).sum();
    assert_eq!(
        ran,
        6,
        "each key computed exactly once: {} / {}",
        runs[0].stderr(),
        runs[1].stderr()
    );
    assert_eq!(cached, 6);
    assert!(runs.iter().all(|run| run.code() == Some(0)));
}

#[test]
fn a_corrupted_output_is_detected_and_recomputed() {
    let project = Project::new("test a { value = 7 }\n");
    assert_eq!(project.run(&[]).counts(), (1, 0, 0, 0));
    let digest = project.results()["a"]["outputs"]["result"].as_str().unwrap().to_owned();
    let blob = project.store().join("blobs").join(&digest[..2]).join(&digest);
    let intact = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, b"garbage").unwrap();
    assert_eq!(project.run(&[]).counts(), (1, 0, 0, 0), "the corrupted result is not served");
    assert_eq!(std::fs::read(&blob).unwrap(), intact);
}

#[test]
fn two_steps_with_the_same_key_are_computed_once_and_both_feed_their_dependents() {
    // Both checkpoint steps have one key; they were once grouped together and the group waited
    // on its own lock.
    let project = Project::new(
        "let t = dln.teacher(widths = [3, 2], rank = 1)\n\
         checkpoint a {\n  model = dln.model(widths = [3, 2])\n  weights = t\n}\n\
         checkpoint b {\n  model = dln.model(widths = [3, 2])\n  weights = t\n}\n\
         estimate na on a { observable = weight_norm() }\n\
         estimate nb on b { observable = weight_norm(restrict = [\"layers.*\"]) }\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let (ran, cached, failed, _) = run.counts();
    assert_eq!((ran + cached, failed), (4, 0), "{}", run.stderr());
    let results = project.results();
    assert_eq!(results["na@0"]["metrics"], results["nb@0"]["metrics"]);
}

#[test]
fn a_killed_run_loses_nothing_and_its_workers_exit() {
    let spec =
        "test step { value = sweep(0..8), sleep_ms = 250 }\ntest after on step { value = 1 }\n";
    let project = Project::new(spec);
    let mut child = project.command(&["--jobs", "2"]).stderr(Stdio::null()).spawn().unwrap();
    // Kill it once some results are recorded and more are being computed.
    let recorded = || std::fs::read_dir(project.store().join("actions")).map_or(0, Iterator::count);
    for _ in 0..200 {
        if recorded() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let workers = children_of(child.id());
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(!workers.is_empty(), "workers were running");
    // A worker checks on its parent every 200 ms; a loaded machine (the other tests run
    // beside this one) may take a few periods to schedule it.
    for _ in 0..100 {
        if workers.iter().all(|pid| gone(*pid)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in &workers {
        assert!(gone(*pid), "worker {pid} outlived the killed run by 5 s");
    }
    let partial = project.results();
    assert!(!partial.is_empty() && partial.len() < 16, "{} results", partial.len());
    // The resume computes only what is missing, and ends with the same bytes as a run that
    // was never interrupted.
    let resumed = project.run(&["--jobs", "2"]);
    assert_eq!(resumed.counts().0 + partial.len(), 16, "{}", resumed.stderr());
    let clean = Project::new(spec);
    assert_eq!(clean.run(&[]).counts().0, 16);
    let outputs = |p: &Project| -> BTreeMap<String, serde_json::Value> {
        p.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
    };
    assert_eq!(outputs(&project), outputs(&clean));
}

/// The child processes of `pid`, whichever of its threads started them.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>()
        })
        .collect()
}

pub fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn status_says_what_will_run_and_why() {
    let project = Project::new(CHAIN);
    let status = |extra: &[&str]| project.verb(&[&["status", "{spec}"], extra].concat());
    let before = status(&["--why"]);
    assert_eq!(project.run(&[]).counts(), (9, 0, 0, 0));
    let after = status(&["--why"]);
    let changed = status(&["--why", "--set", "b.value=11", "--set", "a.sleep_ms=5"]);
    insta::assert_snapshot!(format!(
        "before any run:\n{before}\nafter a run:\n{after}\nafter changes:\n{changed}"
    ));
}

#[test]
fn gc_removes_what_no_spec_reaches_and_keeps_the_rest() {
    let project = Project::new(CHAIN);
    assert_eq!(project.run(&[]).counts(), (9, 0, 0, 0));
    // The study changes: b and c get new keys; the old b and c results become unreachable.
    std::fs::write(project.spec(), CHAIN.replace("value = 10", "value = 11")).unwrap();
    assert_eq!(project.run(&[]).counts(), (6, 3, 0, 0));
    assert_eq!(project.results().len(), 9, "results are recorded per instance name");
    // A failed attempt leaves a log for each of its 3 instances, and no result.
    assert_eq!(project.run(&["--set", "c.fail=true"]).counts(), (0, 6, 3, 0));
    // Logs whose key has no kept result: the failures' (and those of old results).
    let orphan_logs = || {
        let kept: Vec<String> =
            project.results().values().map(|m| m["key"].as_str().unwrap().to_owned()).collect();
        std::fs::read_dir(project.store().join("logs"))
            .unwrap()
            .map(|entry| entry.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
            .filter(|key| !kept.contains(key))
            .count()
    };
    assert!(orphan_logs() >= 3);
    let gc = |extra: &[&str]| project.verb(&[&["gc"], extra].concat());
    // By default, recent entries are kept: a run could be writing them.
    assert!(gc(&[]).starts_with("removed 0 results, 0 blobs and 0 logs"), "{}", gc(&["--dry-run"]));
    assert!(gc(&["--dry-run", "--min-age", "0"]).starts_with("would remove 6 results, 6 blobs"));
    assert!(gc(&["--min-age", "0"]).starts_with("removed 6 results, 6 blobs"));
    assert_eq!(orphan_logs(), 0, "the logs of what was removed, and of failures, go too");
    // What the current spec needs is all still there.
    assert_eq!(project.run(&[]).counts(), (0, 9, 0, 0));
}

#[test]
fn target_runs_a_step_and_what_it_needs_and_dry_run_runs_nothing() {
    let project = Project::new(CHAIN);
    let dry = project.command(&["--dry-run"]).output().unwrap();
    assert_eq!(dry.status.code(), Some(0));
    let listed = String::from_utf8(dry.stdout).unwrap();
    assert_eq!(listed.lines().count(), 9, "{listed}");
    assert!(!project.store().join("actions").exists() || project.results().is_empty());
    assert_eq!(project.run(&["--target", "b"]).counts(), (6, 0, 0, 0));
    assert_eq!(project.run(&[]).counts(), (3, 6, 0, 0));
    let unknown = project.run(&["--target", "nope"]);
    assert_eq!(unknown.code(), Some(2));
    assert!(unknown.stderr().contains("the spec has no step `nope`"), "{}", unknown.stderr());
}

#[test]
fn show_lists_a_steps_results_as_table_csv_and_json() {
    let project = Project::new(CHAIN);
    let show = |format: &str| project.verb(&["show", "{spec}", "b", "--format", format]);
    let before = show("table");
    project.run(&["--target", "b"]);
    let json: serde_json::Value = serde_json::from_str(&show("json")).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["rows"][1]["metrics"]["value"], 10);
    insta::assert_snapshot!(format!(
        "before:\n{before}\nafter:\n{}\ncsv:\n{}",
        show("table"),
        show("csv")
    ));
}

#[test]
fn fail_fast_starts_nothing_after_the_first_failure() {
    let project = Project::new(
        "test bad { fail = true }\ntest later on bad { }\ntest others { value = sweep(0..4) }\n",
    );
    let run = project.run(&["--jobs", "1", "--fail-fast"]);
    assert_eq!(run.code(), Some(1));
    let (ran, cached, failed, not_run) = run.counts();
    assert_eq!((cached, failed), (0, 1), "{}", run.stderr());
    assert_eq!(ran + failed + not_run, 6, "every instance is accounted for: {}", run.stderr());
    assert!(ran < 4, "fail-fast stopped starting instances: {}", run.stderr());
}

#[test]
fn a_dependent_starts_on_a_streamed_checkpoint_before_its_producer_ends() {
    // `train` writes checkpoints 1, 2, 3 at 0.4 s intervals (four phases of 0.4 s), streaming
    // each; `probe` reads each checkpoint, one instance per checkpoint.
    let project = Project::new(
        "test train { steps = 3, checkpoints = [1, 2], sleep_ms = 1600 }\n\
         test probe on train { at = all, value = 5 }\n",
    );
    let run = project.run(&["--jobs", "2"]);
    assert_eq!(run.counts(), (4, 0, 0, 0), "{}", run.stderr());
    let results = project.results();
    let time = |name: &str, at: &str| results[name]["provenance"][at].as_f64().unwrap();
    assert!(
        time("probe@1", "ended") < time("train", "ended") - 0.5,
        "probe@1 ended at {}, train at {}",
        time("probe@1", "ended"),
        time("train", "ended")
    );
    // It read the checkpoint streamed then, the one the producer's manifest lists.
    let streamed = results["train"]["outputs"]["checkpoint@1"].as_str().unwrap();
    let probe = results["probe@1"]["outputs"]["result"].as_str().unwrap();
    let bytes =
        std::fs::read_to_string(project.store().join("blobs").join(&probe[..2]).join(probe))
            .unwrap();
    assert!(bytes.contains(&format!("inputs={streamed}")), "{bytes}");
    assert_eq!(project.run(&[]).counts(), (0, 4, 0, 0));
}

#[test]
fn batching_is_invisible_in_the_bytes_for_groups_of_1_3_and_16() {
    let spec = "test member { value = sweep(0..16), sleep_ms = 200 }\n\
                test after on member { value = 1 }\n";
    let outputs = |batch: &str| {
        let project = Project::new(spec);
        let run = project.run(&["--jobs", "1", "--batch", batch]);
        assert_eq!(run.counts(), (32, 0, 0, 0), "{}", run.stderr());
        // The logs say how the members were grouped.
        let logs = std::fs::read_dir(project.store().join("logs")).unwrap();
        let largest = logs
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .filter_map(|log| {
                let line = log.lines().find(|l| l.starts_with("group: "))?.to_owned();
                line["group: ".len()..].split(' ').next()?.parse::<usize>().ok()
            })
            .max()
            .unwrap_or(1);
        assert_eq!(largest.to_string(), batch, "the largest group");
        project
            .results()
            .into_iter()
            .map(|(name, manifest)| (name, manifest["outputs"].clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let alone = outputs("1");
    assert_eq!(alone.len(), 32);
    assert_eq!(outputs("3"), alone, "groups of 3 wrote other bytes");
    assert_eq!(outputs("16"), alone, "one group of 16 wrote other bytes");
}

#[test]
fn threads_and_device_follow_command_line_then_environment_then_devspec_toml() {
    let project = Project::new("test a { value = 1 }\n");
    assert_eq!(project.run(&[]).counts(), (1, 0, 0, 0));
    let with_env = |name: &str, value: &str, extra: &[&str]| {
        let mut command = project.command(extra);
        Run(command.env(name, value).output().unwrap())
    };
    // Threads per step are in the key: two threads is another result, the command line wins.
    assert_eq!(with_env("DEVSPEC_THREADS", "2", &[]).counts(), (1, 0, 0, 0));
    assert_eq!(with_env("DEVSPEC_THREADS", "2", &["--threads", "1"]).counts(), (0, 1, 0, 0));
    std::fs::write(project.dir.path().join("devspec.toml"), "[run]\nthreads_per_step = 2\n")
        .unwrap();
    assert_eq!(project.run(&[]).counts(), (0, 1, 0, 0), "devspec.toml's 2 threads: cached");
    assert_eq!(with_env("DEVSPEC_THREADS", "1", &[]).counts(), (0, 1, 0, 0));
    // A device that does not exist is refused, naming where it was asked for.
    let bad = with_env("DEVSPEC_DEVICE", "tpu", &[]);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());
    assert!(bad.stderr().contains("DEVSPEC_DEVICE: unknown device `tpu`"), "{}", bad.stderr());
    let wins = with_env("DEVSPEC_DEVICE", "tpu", &["--device", "cpu"]);
    assert_eq!(wins.code(), Some(0), "{}", wins.stderr());
}

#[test]
fn a_crash_between_a_temp_write_and_its_rename_loses_nothing() {
    // Each run aborts (as kill -9 would) just before its Nth rename into the store, whichever
    // process gets there (devspec recording a manifest, or a worker writing a blob), then a
    // resume finishes the study.
    let spec = "test a { value = sweep(0..3) }\ntest b on a { value = 10 }\n";
    let clean = Project::new(spec);
    assert_eq!(clean.run(&[]).counts(), (6, 0, 0, 0));
    let outputs = |p: &Project| -> BTreeMap<String, serde_json::Value> {
        p.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
    };
    for n in [1, 2, 3, 5, 8, 13] {
        let project = Project::new(spec);
        project.crash_at_rename(n);
        // No partial entry: every manifest parses, and every blob it names is whole.
        for (name, manifest) in project.results() {
            for digest in manifest["outputs"].as_object().unwrap().values() {
                let digest = digest.as_str().unwrap();
                let blob = project.store().join("blobs").join(&digest[..2]).join(digest);
                let bytes = std::fs::read(&blob).unwrap();
                assert_eq!(blake3::hash(&bytes).to_hex().as_str(), digest, "{name} at {n}");
            }
        }
        let resumed = project.run(&["--jobs", "2"]);
        assert_eq!(resumed.code(), Some(0), "rename {n}: {}", resumed.stderr());
        assert_eq!(outputs(&project), outputs(&clean), "rename {n}");
    }
}

#[test]
fn a_file_a_step_reads_is_keyed_by_its_content_not_its_path_or_its_time() {
    let project = Project::new("test reader { reads = \"data.csv\" }\n");
    let data = project.dir.path().join("data.csv");
    std::fs::write(&data, "x,y\n1,2\n").unwrap();
    assert_eq!(project.run(&[]).counts(), (1, 0, 0, 0));
    assert_eq!(project.run(&[]).counts(), (0, 1, 0, 0));
    // Touched, same bytes: still cached. Moved, and the spec follows: still cached.
    std::fs::File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    assert_eq!(project.run(&[]).counts(), (0, 1, 0, 0));
    std::fs::rename(&data, project.dir.path().join("moved.csv")).unwrap();
    std::fs::write(project.spec(), "test reader { reads = \"moved.csv\" }\n").unwrap();
    assert_eq!(project.run(&[]).counts(), (0, 1, 0, 0));
    // New content: it runs again, and `status --why` says which field's file changed.
    std::fs::write(project.dir.path().join("moved.csv"), "x,y\n1,3\n").unwrap();
    let why = project.verb(&["status", "{spec}", "--why"]);
    assert!(why.contains("reads"), "{why}");
    assert_eq!(project.run(&[]).counts(), (1, 0, 0, 0));
}

#[test]
fn what_read_a_streamed_checkpoint_still_runs_when_its_producer_fails_later() {
    // The producer streams checkpoints 1, 2 and 3, then fails: the probes of those checkpoints
    // have their inputs and run; what needs its final result does not.
    let project = Project::new(
        "test train { steps = 3, checkpoints = [1, 2], sleep_ms = 400, fail = true }\n\
         test probe on train { at = all }\ntest summary on train { value = 1 }\n",
    );
    let run = project.run(&["--jobs", "2"]);
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.counts(), (3, 0, 1, 1), "{}", run.stderr());
    let results = project.results();
    assert!(["probe@1", "probe@2", "probe@3"].iter().all(|p| results.contains_key(*p)));
    assert!(!results.contains_key("train") && !results.contains_key("summary"));
}
