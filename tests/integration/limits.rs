//! Issue 19: no input hangs `devspec`, overflows its stack, or asks for more than a machine
//! has. Files that are not regular files are refused by `check`; generated specs near the
//! 8 MiB input limit check, format and plan without crashing; absurd sizes are refused by
//! `check`, and sizes beyond this machine by `run`, before anything starts.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::binaries::devspec_exe;
use super::run::Project;

/// Runs `devspec ARGS` in `dir`, killed after `limit` (a hang fails the test, not the suite).
fn devspec_in(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(devspec_exe())
        .args(args)
        .current_dir(dir)
        .env_remove("DEVSPEC_STORE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("devspec {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_fifo_named_as_data_is_refused_by_check_at_once() {
    let project = Project::new("test reader { reads = \"pipe\" }\n");
    nix::unistd::mkfifo(&project.dir.path().join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = devspec_in(project.dir.path(), &["check", "study.dev"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`pipe` is a FIFO (a named pipe), not a file"),
        "{}",
        stderr(&out)
    );
    // `run` refuses it the same way, instead of waiting forever for a writer.
    let out = devspec_in(project.dir.path(), &["run", "study.dev"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A spec that is a FIFO is refused too, without blocking on it.
    for verb in ["check", "fmt"] {
        let out = devspec_in(project.dir.path(), &[verb, "pipe"], Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{verb}: {}", stderr(&out));
        let says = "it is a FIFO (a named pipe), not a file";
        assert!(stderr(&out).contains(says), "{verb}: {}", stderr(&out));
    }
}

/// `count` lines, the i-th written by `line(i)`.
fn lines(count: usize, line: impl Fn(usize) -> String) -> String {
    (0..count).fold(String::new(), |mut text, i| {
        let _ = writeln!(text, "{}", line(i));
        text
    })
}

/// A chain of lets, each naming the next: evaluated on demand, it once recursed once per let.
fn let_chain(lets: usize) -> String {
    lines(lets, |i| format!("let a{i} = a{}", i + 1))
        + &format!("let a{lets} = 1\ntest t {{ value = a0 }}\n")
}

#[test]
fn a_chain_of_ten_thousand_lets_checks_formats_and_plans() {
    let project = Project::new(&let_chain(10_000));
    for verb in
        [&["check", "study.dev"][..], &["plan", "study.dev"], &["fmt", "--check", "study.dev"]]
    {
        let out = devspec_in(project.dir.path(), verb, Duration::from_secs(120));
        assert_eq!(out.status.code(), Some(0), "{verb:?}: {}", stderr(&out));
    }
}

#[test]
fn deep_inputs_near_the_limits_are_refused_or_pass_without_crashing() {
    // Steps chained by `on` (petgraph's recursive Tarjan overflowed), a cycle of lets, values
    // nested through lets, an import chain: each a clean answer, never a signal.
    let steps = lines(20_000, |i| match i {
        0 => "test s0 { value = 0 }".to_owned(),
        _ => format!("test s{i} on s{} {{ value = {i} }}", i - 1),
    });
    let cycle =
        lines(20_000, |i| format!("let a{i} = a{}", (i + 1) % 20_000)) + "test t { value = a0 }\n";
    let nested = lines(5_000, |i| format!("let a{i} = [a{}]", i + 1)) + "let a5000 = 1\n";
    // Lets that each name the one before twice: 2^40 numbers from 40 lines, once copied until
    // memory ran out; now counted before they are copied.
    let doubling = lines(40, |i| match i {
        0 => "let a0 = [1, 2]".to_owned(),
        _ => format!("let a{i} = [a{}, a{}]", i - 1, i - 1),
    });
    for (spec, code, says) in [
        (steps, 0, ""),
        (cycle, 2, "is defined in terms of itself"),
        (nested, 2, "nests more than 512 levels deep"),
        (doubling, 2, "the spec's values hold more than 4000000 numbers"),
    ] {
        let project = Project::new(&spec);
        let out = devspec_in(project.dir.path(), &["check", "study.dev"], Duration::from_secs(120));
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let project = Project::new("import \"m0.dev\" as m\ntest t { value = m.v }\n");
    for i in 0..200 {
        let text = format!("import \"m{}.dev\" as n\nlet v = n.v\n", i + 1);
        std::fs::write(project.dir.path().join(format!("m{i}.dev")), text).unwrap();
    }
    std::fs::write(project.dir.path().join("m200.dev"), "let v = 1\n").unwrap();
    let out = devspec_in(project.dir.path(), &["check", "study.dev"], Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("imports nest more than 64 files deep"), "{}", stderr(&out));
}

/// A TMS run of `hidden` units on one sample: about 44 bytes per hidden unit (5 x 4 for the
/// weights, as much for their gradients, 4 for the activation).
fn tms_spec(hidden: u64) -> String {
    format!(
        "train run {{\n  model = tms.model(features = 5, hidden = {hidden})\n  data = tms.data(features \
         = 5, sparsity = 0.9, samples = 1)\n  optimizer = sgd(lr = 0.1)\n  batch_size = 1\n  \
         steps = 10\n}}\n"
    )
}

#[test]
fn run_refuses_an_instance_larger_than_this_machine_before_starting_it() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // Twice this machine's memory, and below the 1 TiB that `check` refuses.
    let bytes = 2.0 * kib * 1024.0;
    if bytes > 0.9 * 1024f64.powi(4) {
        eprintln!("skipped: this machine has more than 450 GiB; no instance fits between");
        return;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // positive, far below 2^53
    let hidden = (bytes / 44.0) as u64;
    let project = Project::new(&tms_spec(hidden));
    let out = devspec_in(project.dir.path(), &["check", "study.dev"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let start = Instant::now();
    let out = devspec_in(project.dir.path(), &["run", "study.dev"], Duration::from_secs(30));
    // An environment failure: the spec is right, the machine too small.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("error: run needs about "), "{}", stderr(&out));
    assert!(stderr(&out).contains("; this machine has "), "{}", stderr(&out));
    assert!(!stderr(&out).contains(" ran, "), "nothing may start: {}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn the_memory_setting_refuses_and_lets_an_instance_start() {
    // A tiny run, refused under a tinier limit set in devspec.toml ...
    let project = Project::with_config(&tms_spec(2), "[run]\nmax_memory_gb = 0.0000001\n");
    let out = devspec_in(project.dir.path(), &["run", "study.dev"], Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("; `--max-memory` allows 107 B"), "{}", stderr(&out));
    // ... and started when the command line sets a larger one.
    let out = devspec_in(
        project.dir.path(),
        &["run", "study.dev", "--max-memory", "1"],
        Duration::from_secs(120),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 instances: 1 ran"), "{}", stderr(&out));
    // What is cached needs no memory: the rerun under the tiny limit is not refused.
    let out = devspec_in(project.dir.path(), &["run", "study.dev"], Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 instances: 0 ran, 1 cached"), "{}", stderr(&out));
}

#[test]
fn the_issues_absurd_sizes_are_refused_by_check() {
    // Issue 19's three: each passed `check` and then took the machine down.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (set, says) in [
        ("tms_run.seed=sweep(0..1000000)", "this spec plans 26,000,001 instances"),
        (
            "tms_run.model=tms.model(features = 6, hidden = 10000000000)",
            "an instance of `tms_run` needs about 149.4 TiB of memory",
        ),
        (
            "tms_run.data=tms.data(features = 6, sparsity = 0.95, samples = 100000000000)",
            "needs about 9.5 TiB of memory (activations 5.1 TiB, data 4.4 TiB)",
        ),
    ] {
        let args = ["check", "specs/tms.dev", "--set", set];
        let out = devspec_in(root, &args, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(2), "{set}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{set}: {}", stderr(&out));
        // `status` (like every verb that plans) refuses it the same way, before planning.
        let args = ["status", "specs/tms.dev", "--set", set, "--store", "/nonexistent/store"];
        let out = devspec_in(root, &args, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(2), "{set}: {}", stderr(&out));
    }
}

/// The worker process that computed each instance, from the store's logs.
fn workers_by_instance(project: &Project) -> std::collections::BTreeMap<String, u32> {
    let mut workers = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(project.store().join("logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let field =
            |name: &str| text.lines().find_map(|line| line.strip_prefix(name)).map(str::to_owned);
        if let (Some(instance), Some(process)) = (field("instance: "), field("worker: process ")) {
            workers.insert(instance, process.parse().unwrap());
        }
    }
    workers
}

/// A worker keeps what its steps free for the next (its allocator's setting), so one that ran a
/// step estimated at 1 GiB or more is replaced before the next request; one that ran small
/// steps serves the next. The test step claims the memory and allocates none of it; each sleeps
/// a little so that it reports progress, and so gets a log (a quiet step that ran alone has none).
#[test]
fn a_worker_that_ran_a_large_step_is_replaced_and_one_that_ran_small_steps_is_kept() {
    let spec = "test big { value = 1  sleep_ms = 20  memory_mb = 1024 }\n\
                test after on big { value = 2  sleep_ms = 20 }\n\
                test last on after { value = 3  sleep_ms = 20 }\n";
    let project = Project::new(spec);
    let run = project.run(&["--jobs", "1"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let workers = workers_by_instance(&project);
    assert_eq!(workers.len(), 3, "every instance's log names its worker: {workers:?}");
    assert_ne!(workers["big"], workers["after"], "a fresh worker after the large step");
    assert_eq!(workers["after"], workers["last"], "the same worker after a small step");

    // Just below the line, the worker stays.
    let spec = spec.replace("memory_mb = 1024", "memory_mb = 1023");
    let project = Project::new(&spec);
    let run = project.run(&["--jobs", "1"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let workers = workers_by_instance(&project);
    assert_eq!(workers["big"], workers["after"], "{workers:?}");
}
