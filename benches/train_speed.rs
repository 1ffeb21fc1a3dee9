//! Training speed against an equivalent PyTorch loop (`benches/train_speed.py`, run with the
//! bench venv's torch 2.13.0; `make bench` makes the venv): the toy model of superposition 6 -> 2,
//! batch 1024 from a fixed pool of 8,192 samples, 20,000 steps of Adam at lr 1e-3, one thread, no
//! checkpoint but the last. Targets: one run at least 1.2x the Python loop's steps per second;
//! 16 seeds as an ensemble at least 5x faster than 16 sequential Python runs. The script also
//! times a leaner loop (the pool gathered once per epoch, fused Adam), the fastest plain PyTorch
//! we found, so the one-run ratio is also shown against it. And the ensemble against one devspec
//! run: goal at least 6x its steps per second in member-steps per second (issue 25), each member
//! keeping the bytes it has alone.
//!
//! devspec's time is the train step's own (its manifest's start to end: data, training and
//! its one checkpoint), so the process start of `devspec run` is left out, as the Python
//! interpreter's start is.

use std::path::Path;
use std::process::Command;

mod common;

const STEPS: u64 = 20_000;

/// The ensemble's member-steps per second against one run's steps per second.
const ENSEMBLE_GOAL: f64 = 6.0;

fn spec(seeds: &str) -> String {
    format!(
        "train tms {{\n  model = tms.model(features = 6, hidden = 2, init_scale = 0.1)\n  \
         data = tms.data(features = 6, sparsity = 0.95, samples = 8192)\n  \
         optimizer = adam(lr = 1e-3)\n  batch_size = 1024\n  steps = {STEPS}\n  seed = {seeds}\n}}\n"
    )
}

/// Member-steps per second of a devspec run of `spec` (all its instances together).
fn devspec_speed(spec: &str) -> f64 {
    let (mut first, mut last, mut members) = (f64::MAX, 0.0f64, 0u32);
    for manifest in common::run_manifests(spec, &["--batch", "16"], &[]) {
        first = first.min(manifest["provenance"]["started"].as_f64().expect("a start"));
        last = last.max(manifest["provenance"]["ended"].as_f64().expect("an end"));
        members += 1;
    }
    f64::from(members) * STEPS as f64 / (last - first)
}

fn main() {
    let one = devspec_speed(&spec("0"));
    let ensemble = devspec_speed(&spec("sweep(0..16)"));
    let scaling = ensemble / one;
    println!(
        "devspec: one run {one:.0} steps/s; 16 seeds as an ensemble {ensemble:.0} member-steps/s \
         ({scaling:.1}x one run; goal at least {ENSEMBLE_GOAL}x: {})",
        if scaling >= ENSEMBLE_GOAL { "MET" } else { "MISSED" }
    );
    let python = std::env::var("DEVSPEC_BENCH_PYTHON").unwrap_or_default();
    if python.is_empty() || !Path::new(&python).exists() {
        println!("PyTorch loop: skipped (DEVSPEC_BENCH_PYTHON is not set; `make bench` sets it)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/train_speed.py");
    let out = Command::new(&python)
        .arg(script)
        .args([STEPS.to_string(), "16".into()])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let python_one = result["one_run_steps_per_s"].as_f64().expect("a number");
    let python_sequential = result["sequential_steps_per_s"].as_f64().expect("a number");
    let python_lean = result["lean_one_run_steps_per_s"].as_f64().expect("a number");
    println!(
        "PyTorch 2.13.0 loop: one run {python_one:.0} steps/s; 16 sequential runs {python_sequential:.0} steps/s; the leaner loop (epoch slices, fused Adam) one run {python_lean:.0} steps/s"
    );
    println!(
        "one run: {:.2}x the PyTorch loop, {:.2}x the leaner loop (target 1.2x); 16 seeds: {:.2}x 16 sequential runs (target 5x)",
        one / python_one,
        one / python_lean,
        ensemble / python_sequential
    );
}
