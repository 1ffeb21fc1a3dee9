//! What the verbs say to people and programs, through the real binaries: a run's warning of
//! estimates with diagnostics (and `--strict`), `show`'s notes (one fix per instance) and its
//! table (significant digits, headline columns first), `status --format json`, `plan --steps`
//! and its colours, `calibrate --point` and `--set`, and the progress a run reports (a
//! training's loss and rate, an estimate's chains, the run's time left).

use std::collections::BTreeMap;

use devspec_protocol::results::DiagnosticName;

use super::run::Project;

/// Ten steps from a random initialization are far from any minimum, so the chains go downhill:
/// the estimates are flagged (`negative`, often `not_stationary` beside it). Two seeds, so the
/// warning counts two estimates.
const DOWNHILL: &str = "let teacher = dln.teacher(widths = [6, 4, 6], rank = 2)\n\
    let data = dln.data(teacher = teacher, samples = 1_000)\n\
    train early {\n  model = dln.model(widths = [6, 4, 6])\n  data = data\n  \
    optimizer = sgd(lr = 0.01)\n  batch_size = 100\n  steps = 10\n  seed = sweep([0, 1])\n}\n\
    estimate downhill on early {\n  observable = llc(sampler = sgld(lr = 1e-3, \
    localization = 1), draws = 400, burnin = 0)\n}\n";

/// Each instance's stored diagnostics, by instance name.
fn diagnostics(project: &Project) -> BTreeMap<String, Vec<DiagnosticName>> {
    project
        .results()
        .into_iter()
        .filter_map(|(name, manifest)| {
            let names = manifest["metrics"]["diagnostics"].as_str()?.to_owned();
            let names = names.split_whitespace().filter_map(DiagnosticName::from_name).collect();
            Some((name, names))
        })
        .collect()
}

#[test]
fn flagged_estimates_are_said_at_the_end_of_a_run_and_strict_makes_them_fail() {
    let project = Project::new(DOWNHILL);
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(0), "flagged is not failed: {}", run.stderr());
    let flagged = diagnostics(&project);
    assert_eq!(flagged.len(), 2, "{flagged:?}");
    assert!(flagged.values().all(|names| !names.is_empty()), "both are downhill: {flagged:?}");
    // Counted by the diagnostic whose fix comes first, in its priority's order.
    let mut firsts: BTreeMap<DiagnosticName, usize> = BTreeMap::new();
    for names in flagged.values() {
        *firsts.entry(DiagnosticName::recommended(names.iter().copied()).unwrap()).or_default() +=
            1;
    }
    let counts: Vec<String> = DiagnosticName::PRIORITY
        .iter()
        .filter_map(|name| firsts.get(name).map(|n| format!("{} {n}", name.name())))
        .collect();
    let stderr = run.stderr();
    let expected = format!(
        "warning: 2 of 2 estimates have diagnostics ({}): devspec show {} downhill",
        counts.join(", "),
        project.spec().display()
    );
    assert!(stderr.contains(&expected), "expected `{expected}` in:\n{stderr}");
    // One fix per diagnostic counted, never a contradicting one beside it.
    for name in firsts.keys() {
        assert!(stderr.contains(&format!("  {} (", name.name())), "{stderr}");
        assert!(stderr.contains(name.fix()), "{stderr}");
    }
    // Cached or not, `--strict` exits 1 on them; a clean rerun without it exits 0.
    let strict = project.run(&["--strict"]);
    assert_eq!(strict.counts().0, 0, "all cached");
    assert_eq!(strict.code(), Some(1), "{}", strict.stderr());
    assert!(strict.stderr().contains(&expected), "{}", strict.stderr());
}

#[test]
fn show_gives_one_fix_per_instance_and_a_table_of_significant_digits_headline_first() {
    let project = Project::new(DOWNHILL);
    project.run(&[]);
    let flagged = diagnostics(&project);
    let table = project.verb(&["show", "{spec}", "downhill"]);
    // Each diagnostic explained under the table.
    for (instance, names) in &flagged {
        for name in names {
            assert!(table.contains(&format!("{instance}: {}: ", name.name())), "{table}");
        }
    }
    // One fix per instance, its first diagnostic's.
    let fixes: Vec<&str> = table.lines().filter(|l| l.starts_with("  fix: ")).collect();
    assert_eq!(fixes.len(), flagged.len(), "one fix per flagged instance:\n{table}");
    for (fix, names) in fixes.iter().zip(flagged.values()) {
        let first = DiagnosticName::recommended(names.iter().copied()).unwrap();
        assert!(fix.contains(first.fix()), "{fix} for {names:?}");
        // Never both ways at once.
        assert!(
            !(fix.contains("lower the sampler's lr") && fix.contains("raise the sampler's lr"))
        );
    }
    // The headline columns first, then the rest alphabetically.
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let at = |column: &str| header.iter().position(|c| *c == column).expect(column);
    assert!(at("status") < at("llc_mean"), "{header:?}");
    assert_eq!(at("llc_se"), at("llc_mean") + 1, "{header:?}");
    assert_eq!(at("diagnostics"), at("llc_mean") + 2, "{header:?}");
    assert!(at("diagnostics") < at("acceptance") && at("acceptance") < at("ess"), "{header:?}");
    // Four significant digits by default, `--precision N` otherwise, every digit in CSV/JSON.
    let json: serde_json::Value =
        serde_json::from_str(&project.verb(&["show", "{spec}", "downhill", "--format", "json"]))
            .unwrap();
    let llc_mean = json["rows"][0]["metrics"]["llc_mean"].as_f64().unwrap();
    let cell = |text: &str| -> String {
        let line = text.lines().nth(1).unwrap();
        line.split_whitespace().nth(at("llc_mean")).unwrap().to_owned()
    };
    let digits = |cell: &str| cell.trim_start_matches(['-', '0', '.']).replace('.', "").len();
    assert_eq!(digits(&cell(&table)), 4, "{table}");
    assert!((cell(&table).parse::<f64>().unwrap() - llc_mean).abs() <= llc_mean.abs() * 1e-3);
    let six = project.verb(&["show", "{spec}", "downhill", "--precision", "6"]);
    assert_eq!(digits(&cell(&six)), 6, "{six}");
    let csv = project.verb(&["show", "{spec}", "downhill", "--format", "csv"]);
    assert!(csv.contains(&llc_mean.to_string()), "CSV keeps every digit of {llc_mean}:\n{csv}");
}

const CHAIN: &str =
    "test a { value = sweep(0..3) }\ntest b on a { value = 10 }\ntest c on b { value = 20 }\n";

#[test]
fn status_as_json_and_plan_of_steps_coloured_by_what_a_run_would_do() {
    let project = Project::new(CHAIN);
    project.run(&["--target", "b"]);
    let status: serde_json::Value =
        serde_json::from_str(&project.verb(&["status", "{spec}", "--format", "json"])).unwrap();
    assert_eq!(status["schema_version"], 1);
    assert_eq!(status["total"], 9);
    assert_eq!(status["counts"], serde_json::json!({ "cached": 6, "will run": 3 }));
    let c: Vec<&serde_json::Value> =
        status["instances"].as_array().unwrap().iter().filter(|i| i["step"] == "c").collect();
    assert_eq!(c.len(), 3);
    assert!(c.iter().all(|i| i["status"] == "will run" && i["kind"] == "test"), "{c:?}");
    let why: serde_json::Value =
        serde_json::from_str(&project.verb(&["status", "{spec}", "--format", "json", "--why"]))
            .unwrap();
    let reasons = &why["instances"].as_array().unwrap().last().unwrap()["reasons"];
    assert!(!reasons.as_array().unwrap().is_empty(), "--why gives reasons: {why}");

    let steps = project.verb(&["plan", "{spec}", "--steps"]);
    insta::assert_snapshot!("plan_steps_after_a_partial_run", steps);
    let mermaid = project.verb(&["plan", "{spec}", "--steps", "--format", "mermaid"]);
    insta::assert_snapshot!("plan_steps_mermaid_after_a_partial_run", mermaid);
    let dot = project.verb(&["plan", "{spec}", "--format", "dot"]);
    let fill = |name: &str| {
        let line = dot.lines().find(|l| l.contains(&format!("label=\"{name}\""))).expect(name);
        line.split("fillcolor=").nth(1).unwrap().to_owned()
    };
    assert_ne!(fill("a[value=0]"), fill("c[value=0]"), "cached and will-run differ:\n{dot}");
    assert_eq!(fill("a[value=0]"), fill("b[value=2]"), "{dot}");
}

/// A trained estimate swept over two seeds, for `calibrate`.
const SEEDS: &str = "let t = dln.teacher(widths = [4, 3], rank = 3)\n\
    let data = dln.data(teacher = t, samples = 2_000)\n\
    train fit {\n  model = dln.model(widths = [4, 3])\n  data = data\n  \
    optimizer = adam(lr = 0.01)\n  batch_size = 200\n  steps = 400\n  \
    checkpoints = [200, 400]\n  seed = sweep([0, 1])\n}\n\
    estimate llc on fit {\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 1), \
    nbeta = dataset, draws = 200, burnin = 100, batch_size = 200)\n}\n";

#[test]
fn calibrate_picks_its_sweep_point_refuses_an_unknown_one_and_takes_set() {
    let project = Project::new(SEEDS);
    let refused = |args: &[&str]| {
        let out = project.verb_output(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let axis = refused(&["calibrate", "{spec}", "llc", "--point", "sed=1"]);
    assert!(axis.contains("has no sweep axis `sed`") && axis.contains("`seed`"), "{axis}");
    let value = refused(&["calibrate", "{spec}", "llc", "--point", "seed=7"]);
    assert!(value.contains("has no value `7`") && value.contains("0, 1"), "{value}");
    // Each checkpoint once, however many seeds measure it.
    let checkpoint = refused(&["calibrate", "{spec}", "llc", "--checkpoint", "30"]);
    assert!(checkpoint.contains("its checkpoints: [200, 400]"), "{checkpoint}");

    // `--set` as `run` takes it (a shorter training), at the second seed.
    let out = project.verb_output(&[
        "calibrate",
        "{spec}",
        "llc",
        "--point",
        "seed=1",
        "--lr",
        "1e-5,1e-4,1e-3",
        "--set",
        "fit.steps=200",
        "--set",
        "fit.checkpoints=[100, 200]",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("calibrating `llc` [seed=1] at checkpoint 200: 3 cells"), "{stderr}");
    let computed: Vec<String> =
        project.results().into_keys().filter(|name| name.starts_with("llc")).collect();
    assert_eq!(computed.len(), 3, "{computed:?}");
    assert!(computed.iter().all(|name| name.contains("seed=1") && name.ends_with("@200")));
    // The calibration's record says where it was run, for the report.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "a cell is recommended: {stdout}{stderr}");
    let records: Vec<serde_json::Value> = std::fs::read_dir(project.store().join("calibrations"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["point"], "seed=1");
    assert_eq!(records[0]["checkpoint"], 200);
}

#[test]
fn progress_says_a_trainings_loss_and_rate_an_estimates_chains_and_then_the_time_left() {
    let spec = "let t = dln.teacher(widths = [4, 3], rank = 3)\n\
        train fit {\n  model = dln.model(widths = [4, 3])\n  \
        data = dln.data(teacher = t, samples = 2_000)\n  optimizer = sgd(lr = 0.05)\n  \
        batch_size = 200\n  steps = 3_000\n}\n\
        estimate llc on fit {\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 1), \
        draws = 2_000, burnin = 100, batch_size = 200)\n}\n";
    let project = Project::new(spec);
    let run = project.run(&["--log-format", "json"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let events: Vec<serde_json::Value> =
        run.stderr().lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let progress = |instance: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == "progress" && e["instance"] == instance).collect()
    };
    let training = progress("fit");
    assert!(training.len() > 10, "{events:?}");
    // A loss with every report; no rate nor time left before a second report gives one.
    assert!(
        training.iter().all(|e| e["loss"].as_f64().is_some_and(f64::is_finite)),
        "{training:?}"
    );
    assert!(training[0].get("steps_per_second").is_none(), "{:?}", training[0]);
    assert!(training[0].get("run_seconds_left").is_none(), "{:?}", training[0]);
    let later = training.last().unwrap();
    assert!(later["steps_per_second"].as_f64().is_some_and(|r| r > 0.0), "{later}");
    // Once the training has a rate and nothing else waits: the estimate waits for it, and
    // nothing of this run has finished, so the time left is still unsaid.
    assert!(later.get("run_seconds_left").is_none(), "{later}");
    let estimate = progress("llc@3000");
    assert!(!estimate.is_empty(), "{events:?}");
    assert!(estimate.iter().all(|e| e["message"].as_str().unwrap().contains("4 chains")));
    assert!(estimate.iter().all(|e| e.get("loss").is_none()), "{estimate:?}");
    // The estimate is the last thing running: with its rate, the run's time left is said.
    let last = estimate.last().unwrap();
    assert!(last["run_seconds_left"].as_f64().is_some_and(|s| s >= 0.0), "{last}");
}
