//! `devspec plan --cost` against the real run, in a test binary of its own: cargo runs test
//! binaries one after another, so this one times its runs with no other test sharing the two
//! cores (inside the integration binary, a dozen tests ran beside it and the runs it timed
//! varied by more than the tolerance).
//!
//! The runs: scaled-down copies of the studies of `specs/`
//! (fewer steps, chains and draws, through `--set`, so each run takes 5 to 12 s with the debug
//! build), each forecast and then run three times, after one calibration of the same
//! binaries; the forecast's total must fall within ±30% of the median run's wall time, and a
//! training step's within ±30% of its median measured seconds.
//!
//! Why ±30%: the forecast is a cost model extrapolated from sub-second calibration requests to
//! other shapes and lengths (a part per step and layer, per FLOP, per activation, per fresh
//! sample); tighter would not hold on the 2-core development machine, looser would not tell a
//! researcher whether a study takes an hour or two.
//!
//! Why the median of three runs: that machine has slow spells of 10 to 30 seconds in which
//! everything on both cores goes up to twice as slow (a matrix product on one core and an
//! arithmetic probe on the other fell together, from 190 to 87 and from 860 to 500 iterations
//! per 2 seconds, with nothing else running), and the same 30,000-step training took 2.7 s to
//! 4.0 s in four runs a minute apart. No forecast can know a spell to come; what it can be
//! judged on is the machine's usual time, which a spell moves in one run of three at most.
//! The calibration keeps each request's quickest of three passes for the same reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

fn devspec_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_devspec"))
}

/// The tolerance of a forecast against the measured wall time (see the module's comment).
const TOLERANCE: f64 = 0.30;

/// A study of `specs/`, scaled down by these `--set`s; its training step, if it has one.
struct Scaled {
    spec: &'static str,
    sets: Vec<String>,
    train: Option<&'static str>,
}

fn scaled_studies() -> Vec<Scaled> {
    let dln_llc = "llc(sampler = sgld(lr = 2e-5, localization = 1), nbeta = dataset, chains = 4, \
                   burnin = 500, draws = 6000, batch_size = 500)";
    let sets = |pairs: &[&str]| pairs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        Scaled {
            spec: "tms.dev",
            sets: sets(&[
                "tms_run.steps=30000",
                "tms_run.checkpoints=logspace(1, 30000, 8)",
                "tms_run.seed=sweep(0..4)",
                "llc.observable=llc(sampler = sgld(lr = 3e-3, localization = 3), companion = true, \
                 nbeta = auto, chains = 4, draws = 1500, burnin = 300)",
            ]),
            train: Some("tms_run"),
        },
        Scaled {
            spec: "dln.dev",
            sets: ["llc_4_layers", "llc_rank_0", "llc_5_layers", "llc_rrr"]
                .iter()
                .map(|step| format!("{step}.observable={dln_llc}"))
                .collect(),
            train: None,
        },
        Scaled {
            spec: "induction.dev",
            sets: sets(&[
                "attn.steps=400",
                "attn.checkpoints=logspace(1, 400, 4)",
                "llc.observable=llc(sampler = sgld(lr = 1e-4, localization = 10), chains = 2, \
                 draws = 60, burnin = 20)",
            ]),
            train: Some("attn"),
        },
        Scaled {
            spec: "icl.dev",
            sets: sets(&[
                "icl.steps=1000",
                "icl.checkpoints=logspace(1, 1000, 4)",
                "llc.observable=llc(sampler = sgld(lr = 1e-4, localization = 10), chains = 2, \
                 draws = 100, burnin = 20)",
            ]),
            train: Some("icl"),
        },
        Scaled {
            spec: "grokking.dev",
            sets: sets(&[
                "grok.steps=800",
                "grok.checkpoints=logspace(10, 800, 4)",
                "llc.observable=llc(sampler = sgld(lr = 1e-4, localization = 10), companion = true, \
                 chains = 4, draws = 100, burnin = 40, batch_size = 256)",
            ]),
            train: Some("grok"),
        },
    ]
}

/// `devspec VERB SPEC --store STORE --jobs 2 --set ... EXTRA`, asserting success; its stdout
/// and stderr.
fn devspec_output(
    verb: &str,
    spec: &Path,
    store: &Path,
    sets: &[String],
    extra: &[&str],
) -> (String, String) {
    let mut command = Command::new(devspec_exe());
    command.arg(verb).arg(spec).arg("--store").arg(store).args(["--jobs", "2"]);
    for set in sets {
        command.arg("--set").arg(set);
    }
    let out = command.args(extra).env_remove("DEVSPEC_STORE").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "devspec {verb} {}: {}",
        spec.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// The same, its stdout.
fn devspec(verb: &str, spec: &Path, store: &Path, sets: &[String], extra: &[&str]) -> String {
    devspec_output(verb, spec, store, sets, extra).0
}

/// Each finished instance's seconds, from a run's JSON log.
fn finished(log: &str) -> Vec<(String, f64)> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "finished")
        .map(|event| {
            (event["instance"].as_str().unwrap().to_owned(), event["seconds"].as_f64().unwrap())
        })
        .collect()
}

fn within(forecast: f64, measured: f64) -> bool {
    (forecast - measured).abs() <= TOLERANCE * measured
}

/// What one attempt at a study saw: a line per figure, and the figures outside ±30%.
#[derive(Default)]
struct Attempt {
    table: Vec<String>,
    missed: Vec<String>,
}

/// How many times each study runs: its measured time is the median.
const RUNS: usize = 3;

/// The median of three or more numbers.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Forecasts `study` with the rates cached in `store` (measuring them first when it has
/// none), runs it [`RUNS`] times (in `store`, then in fresh stores beside it), and compares the
/// median run: its wall time, and its training step's seconds.
fn forecast_and_run(study: &Scaled, spec: &Path, store: &Path) -> Attempt {
    let mut attempt = Attempt::default();
    let json = devspec("plan", spec, store, &study.sets, &["--cost", "--format", "json"]);
    let forecast: Value = serde_json::from_str(&json).unwrap();
    let total = forecast["total_seconds"].as_f64().expect("every step is priced");
    let mut walls = Vec::new();
    let mut trainings = Vec::new();
    for run in 0..RUNS {
        let store =
            if run == 0 { store.to_owned() } else { store.with_extension(format!("run{run}")) };
        let started = Instant::now();
        // The run's log lines (JSON events) go to stderr.
        let (_, log) = devspec_output("run", spec, &store, &study.sets, &["--log-format", "json"]);
        walls.push(started.elapsed().as_secs_f64());
        if let Some(train) = study.train {
            // The training instances of a sweep run as one request: its seconds are the
            // longest member's.
            trainings.push(
                finished(&log)
                    .into_iter()
                    .filter(|(name, _)| name == train || name.starts_with(&format!("{train}[")))
                    .map(|(_, seconds)| seconds)
                    .fold(0.0, f64::max),
            );
        }
    }
    let runs =
        |values: &[f64]| values.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(", ");
    let measured = median(walls.clone());
    attempt.table.push(format!(
        "{:<14} total  forecast {total:6.1} s  measured {measured:6.1} s  (runs {})",
        study.spec,
        runs(&walls)
    ));
    if !within(total, measured) {
        attempt
            .missed
            .push(format!("{}: forecast {total:.1} s, measured {measured:.1} s", study.spec));
    }
    if let Some(train) = study.train {
        let step = forecast["steps"].as_array().unwrap().iter().find(|s| s["step"] == train);
        let predicted = step.and_then(|s| s["seconds"].as_f64()).unwrap();
        let measured = median(trainings.clone());
        attempt.table.push(format!(
            "{:<14} {train:<6} forecast {predicted:6.1} s  measured {measured:6.1} s  (runs {})",
            study.spec,
            runs(&trainings)
        ));
        if !within(predicted, measured) {
            attempt.missed.push(format!(
                "{} step {train}: forecast {predicted:.1} s, measured {measured:.1} s",
                study.spec
            ));
        }
    }
    // Now everything is in the store: the forecast says so, and costs nothing.
    let again = devspec("plan", spec, store, &study.sets, &["--cost"]);
    for line in again.lines().skip(1).take_while(|line| !line.starts_with("total")) {
        assert!(line.ends_with("cached"), "{}: {line}\n{again}", study.spec);
    }
    attempt
}

// A study that misses is measured once more, from a fresh calibration in a fresh store, and
// fails the test only if it misses again: a fault of the cost model misses both times; a slow
// spell of the host during the calibration does not.
//
// Not in `make test`: run by `make bench` (`-- --ignored`), where timing goals are judged, on a
// quiet machine (4 to 5 minutes). History: with one run per study and two calibration passes
// it passed one quiet run in four (the first calibration forecast 25-45% high in most, one
// request in a slow spell moving a family's cost per step); with three of each it passed three
// quiet runs of three, one of them after measuring one study again (docs/estimation.md has the
// figures).
#[test]
#[ignore = "a timing test, judged by `make bench` on a quiet machine: see the comment above"]
fn the_forecast_is_within_30_percent_of_each_scaled_down_studys_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("devspec.toml"), "").unwrap();
    let store = dir.path().join(".devspec");
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let studies = scaled_studies();
    let copy = |name: &str| -> PathBuf {
        let to = dir.path().join(name);
        std::fs::copy(specs.join(name), &to).unwrap();
        to
    };
    // One calibration of these binaries, with the runs' jobs, just before the runs.
    let first = copy(studies[0].spec);
    let text = devspec("plan", &first, &store, &studies[0].sets, &["--cost", "--recalibrate"]);
    assert!(text.contains("a fresh calibration"), "{text}");
    let mut table = Vec::new();
    let mut missed = Vec::new();
    for (index, study) in studies.iter().enumerate() {
        let spec = copy(study.spec);
        let first = forecast_and_run(study, &spec, &store);
        table.extend(first.table);
        if first.missed.is_empty() {
            continue;
        }
        let fresh_store = dir.path().join(format!(".devspec-again-{index}"));
        let again = forecast_and_run(study, &spec, &fresh_store);
        table.extend(again.table.iter().map(|line| format!("{line}  (again)")));
        if !again.missed.is_empty() {
            missed.extend(first.missed);
            missed.extend(again.missed.iter().map(|line| format!("{line} (again)")));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        missed.is_empty(),
        "outside ±30% twice:\n{}\n\n{}",
        missed.join("\n"),
        table.join("\n")
    );
}
