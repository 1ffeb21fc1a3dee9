//! `devspec plan --cost` against the full studies' real runs (release build under `make bench`;
//! `cargo test --bench cost_forecast` runs it with the debug build): the cheap studies
//! of `specs/` (default `dln`, `tms`, `grokking`; `COST_FORECAST_STUDIES=dln,tms,...` picks),
//! each copied into a fresh project, forecast and then run, back to back, after one fresh
//! calibration of these binaries; prints the forecast against the measured wall time, per
//! study and per training step, with MET or MISSED against ±30% (the tolerance of the
//! test `tests/cost_forecast.rs`, whose comment says why).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const DEVSPEC: &str = env!("CARGO_BIN_EXE_devspec");
const TOLERANCE: f64 = 0.30;

fn devspec(args: &[&str], spec: &Path, store: &Path) -> (String, String) {
    let out = Command::new(DEVSPEC)
        .args(&args[..1])
        .arg(spec)
        .args(&args[1..])
        .arg("--store")
        .arg(store)
        .env_remove("DEVSPEC_STORE")
        .env("DEVSPEC_WORKER", Path::new(DEVSPEC).with_file_name("devspec-worker"))
        .output()
        .expect("devspec runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn verdict(forecast: f64, measured: f64) -> &'static str {
    if (forecast - measured).abs() <= TOLERANCE * measured { "MET" } else { "MISSED" }
}

fn main() {
    let studies =
        std::env::var("COST_FORECAST_STUDIES").unwrap_or_else(|_| "dln,tms,grokking".to_owned());
    let dir = tempfile::tempdir().expect("temp folder");
    std::fs::write(dir.path().join("devspec.toml"), "").expect("write devspec.toml");
    let store = dir.path().join(".devspec");
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut calibrated = false;
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!("cost forecast against the full studies ({build} build, ±30%):");
    for name in studies.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let file = format!("{name}.dev");
        let spec = dir.path().join(&file);
        std::fs::copy(specs.join(&file), &spec).expect("copy the spec");
        if !calibrated {
            let (text, _) = devspec(&["plan", "--cost", "--recalibrate"], &spec, &store);
            let rates = text.lines().find(|l| l.starts_with("rates:")).unwrap_or_default();
            println!("  {rates}");
            calibrated = true;
        }
        let (json, _) = devspec(&["plan", "--cost", "--format", "json"], &spec, &store);
        let forecast: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        let total = forecast["total_seconds"].as_f64().expect("every step priced");
        let started = Instant::now();
        let (_, log) = devspec(&["run", "--log-format", "json"], &spec, &store);
        let measured = started.elapsed().as_secs_f64();
        println!(
            "  {name:<10} forecast {total:8.1} s  measured {measured:8.1} s  ({:+.0}%)  {}",
            (total / measured - 1.0) * 100.0,
            verdict(total, measured)
        );
        // Each training step: its longest member's seconds (a sweep's members run as one
        // request, all ending with it).
        for step in forecast["steps"].as_array().expect("steps") {
            if step["kind"] != "train" {
                continue;
            }
            let train = step["step"].as_str().expect("name");
            let predicted = step["seconds"].as_f64().expect("priced");
            let measured = log
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|e| e["event"] == "finished")
                .filter(|e| {
                    let instance = e["instance"].as_str().unwrap_or_default();
                    instance == train || instance.starts_with(&format!("{train}["))
                })
                .filter_map(|e| e["seconds"].as_f64())
                .fold(0.0, f64::max);
            println!(
                "    step {train:<10} forecast {predicted:8.1} s  measured {measured:8.1} s  ({:+.0}%)  {}",
                (predicted / measured - 1.0) * 100.0,
                verdict(predicted, measured)
            );
        }
    }
}
