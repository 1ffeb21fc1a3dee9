//! What the benches share: running a spec with `devspec` in a fresh project, one job and one
//! thread per step, and reading the manifests it recorded (each step's own start and end).
//! A folder, not a file, so that cargo does not take it for a bench of its own.

use std::path::Path;
use std::process::Command;

const DEVSPEC: &str = env!("CARGO_BIN_EXE_devspec");

/// Runs `spec` in a new project with `--jobs 1 --threads 1` and the extra `args` and `env`;
/// returns every manifest of its store once the run has succeeded.
#[allow(dead_code)] // Each bench compiles this module; the LLC benches run their own commands.
pub fn run_manifests(spec: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp folder");
    std::fs::write(dir.path().join("devspec.toml"), "").expect("write devspec.toml");
    std::fs::write(dir.path().join("study.dev"), spec).expect("write spec");
    let status = Command::new(DEVSPEC)
        .args(["run", "--quiet", "--jobs", "1", "--threads", "1"])
        .args(args)
        .arg(dir.path().join("study.dev"))
        .env_remove("DEVSPEC_STORE")
        .envs(env.iter().copied())
        .status()
        .expect("devspec runs");
    assert!(status.success());
    store_manifests(&dir.path().join(".devspec"))
}

/// Every manifest of the store at `store` (a project's `.devspec`).
pub fn store_manifests(store: &Path) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for shard in std::fs::read_dir(store.join("actions")).expect("results") {
        for entry in std::fs::read_dir(shard.expect("a shard").path()).expect("a shard") {
            let text = std::fs::read_to_string(entry.expect("a manifest").path()).expect("read");
            all.push(serde_json::from_str(&text).expect("a manifest"));
        }
    }
    all
}

/// The seconds the worker spent in the sampling loops of the instances whose names start with
/// `prefix`: each group's log (every member's the same) says `sampled ... in X s`.
#[allow(dead_code)] // Each bench compiles this module; only the LLC benches read sampling times.
pub fn sampling_seconds(store: &Path, prefix: &str) -> f64 {
    let mut lines = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(store.join("logs")).expect("logs") {
        let text = std::fs::read_to_string(entry.expect("a log").path()).expect("read");
        if !text.starts_with(&format!("instance: {prefix}")) {
            continue;
        }
        lines.extend(text.lines().filter(|l| l.contains(" chain-steps/s)")).map(str::to_owned));
    }
    assert!(!lines.is_empty(), "no sampling time in the logs");
    lines
        .iter()
        .map(|line| {
            let seconds = line.split(" in ").nth(1).and_then(|rest| rest.split(' ').next());
            seconds.and_then(|s| s.parse::<f64>().ok()).expect("a time")
        })
        .sum()
}

/// A manifest's step time: its provenance's end minus its start, in seconds.
#[allow(dead_code)] // Each bench compiles this module; not every one times single steps.
pub fn wall_seconds(manifest: &serde_json::Value) -> f64 {
    let provenance = &manifest["provenance"];
    provenance["ended"].as_f64().expect("an end") - provenance["started"].as_f64().expect("a start")
}

/// The seconds `devspec run --log-format json` reported for `instance` when it finished (what
/// `devspec plan --cost` forecasts for it), from that run's log (its standard error).
#[allow(dead_code)] // Each bench compiles this module; only the scaling bench reads run logs.
pub fn finished_seconds(log: &str, instance: &str) -> f64 {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "finished" && e["instance"] == instance)
        .and_then(|e| e["seconds"].as_f64())
        .unwrap_or_else(|| panic!("no finished event for {instance} in the run's log"))
}
