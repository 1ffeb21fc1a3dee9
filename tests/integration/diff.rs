//! `devspec diff` on two runs of a small TMS study that differ in one parameter (the
//! optimizer's learning rate): it names exactly that parameter, and sets the final losses and
//! LLCs the two lock files hold side by side with their changes; a lock against the spec's own
//! current results has no differences.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::run::Project;

/// One seed, four checkpoints, few draws: a run takes about a second.
const STUDY: &str = "import std.tms\n\
    train run {\n  model = tms.model(features = 6, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 6, sparsity = 0.95, samples = 1024)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 256\n  steps = 500\n  seed = sweep(0..1)\n  checkpoints = logspace(1, 500, 4)\n}\n\
    estimate llc on run {\n  observable = llc(sampler = sgld(lr = 3e-3, localization = 100), \
    nbeta = auto, chains = 2, draws = 20, burnin = 10)\n}\n\
    detect stages on llc { method = critical_points(smoothing = 0.1) }\n";

/// A lock file's headline results: instance name to its `results` table.
fn locked_results(path: &Path) -> BTreeMap<String, toml::Value> {
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    lock["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_owned(), i["results"].clone()))
        .collect()
}

/// Checks each number of a diff's JSON against the two lock files' results, and a detection's
/// boundaries; how many numbers it checked.
fn checked_against_locks(
    json: &Value,
    before: &BTreeMap<String, toml::Value>,
    after: &BTreeMap<String, toml::Value>,
) -> usize {
    let mut compared = 0;
    for step in json["steps"].as_array().unwrap() {
        for row in step["rows"].as_array().unwrap() {
            let name = row["instance"].as_str().unwrap();
            assert_eq!(row["same_key"], false, "{name}: a changed train changes its dependents");
            for q in row["quantities"].as_array().unwrap() {
                let field = q["name"].as_str().unwrap();
                let (a, b) = (before[name][field].as_float(), after[name][field].as_float());
                assert_eq!((q["a"].as_f64(), q["b"].as_f64()), (a, b), "{name}.{field}");
                let (a, b) = (a.unwrap(), b.unwrap());
                assert!(a != b, "{name}.{field} did not change: {a}");
                assert_eq!(q["change"].as_f64(), Some(b - a), "{name}.{field}");
                if field == "llc_mean" {
                    let se = |results: &BTreeMap<String, toml::Value>| {
                        results[name]["llc_se"].as_float().unwrap()
                    };
                    let expected = (b - a).abs() / se(before).hypot(se(after));
                    assert_eq!(q["standard_errors"].as_f64(), Some(expected), "{name}");
                }
                compared += 1;
            }
            if step["kind"] == "detect" {
                let boundaries = &row["boundaries"];
                let locked = |results: &BTreeMap<String, toml::Value>| {
                    serde_json::to_value(&results[name]["boundaries"]).unwrap()
                };
                assert_eq!((&boundaries["a"], &boundaries["b"]), (&locked(before), &locked(after)));
            }
        }
    }
    compared
}

#[test]
fn diff_of_two_runs_that_differ_in_one_parameter() {
    let project = Project::new(STUDY);
    let first = project.run(&["-q"]);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    let (old, new) =
        (project.dir.path().join("old.lock"), project.dir.path().join("study.dev.lock"));
    std::fs::copy(&new, &old).unwrap();
    std::fs::write(project.spec(), STUDY.replace("sgd(lr = 0.1)", "sgd(lr = 0.05)")).unwrap();
    let second = project.run(&["-q"]);
    assert_eq!(second.code(), Some(0), "{}", second.stderr());
    let (before, after) = (locked_results(&old), locked_results(&new));

    let table = project.verb(&["diff", "old.lock", "study.dev.lock"]);
    let parameters: Vec<&str> = table
        .split("parameters that differ:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no parameters:\n{table}"))
        .lines()
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(
        parameters,
        ["  run.optimizer: sgd(lr = 0.1, ...) -> sgd(lr = 0.05, ...)  (1 instance)"],
        "{table}"
    );
    for name in ["run[seed=0]", "llc[seed=0]@1", "llc[seed=0]@500"] {
        assert!(table.contains(&format!("\n  {name}  ")), "{name} not shown:\n{table}");
    }

    let json: Value = serde_json::from_str(&project.verb(&[
        "diff",
        "old.lock",
        "study.dev.lock",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        (json["a"].as_str(), json["b"].as_str()),
        (Some("old.lock"), Some("study.dev.lock"))
    );
    let parameters = json["parameters"].as_array().unwrap();
    assert_eq!(parameters.len(), 1, "{parameters:?}");
    assert_eq!(parameters[0]["parameter"], "optimizer");
    assert_eq!(parameters[0]["steps"], serde_json::json!(["run"]));
    let change = &parameters[0]["changes"][0];
    assert!(change["a"].as_str().unwrap().contains("lr = 0.1,"), "{change}");
    assert!(change["b"].as_str().unwrap().contains("lr = 0.05,"), "{change}");
    assert_eq!(json["only_in_a"], serde_json::json!([]));
    assert_eq!(json["only_in_b"], serde_json::json!([]));
    let steps: Vec<&str> =
        json["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["run", "llc", "stages"]);

    // Every shown number is the one its lock file holds, and the change is between them.
    let compared = checked_against_locks(&json, &before, &after);
    assert_eq!(compared, 5, "the final loss and four LLCs:\n{json}");

    // The lock against the spec's current results: the same computations.
    let same = project.verb(&["diff", "study.dev.lock", "{spec}"]);
    assert!(
        same.contains("\nno differences: the same 6 instances the same computations"),
        "{same}"
    );
    let same: Value = serde_json::from_str(&project.verb(&[
        "diff",
        "study.dev.lock",
        "{spec}",
        "--format",
        "json",
    ]))
    .unwrap();
    let rows: Vec<&Value> = same["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|row| row["same_key"] == true), "{same}");

    // A spec changed again but not run: it says which instances have no results yet.
    std::fs::write(project.spec(), STUDY.replace("draws = 20", "draws = 25")).unwrap();
    let partial = project.verb_output(&["diff", "old.lock", "{spec}"]);
    assert_eq!(partial.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&partial.stderr);
    assert!(stderr.contains("B: 5 instance(s) of"), "{stderr}");
    assert!(stderr.contains("have no results yet; compared: the other 1"), "{stderr}");
}

#[test]
fn an_unreadable_lock_is_bad_input() {
    let project = Project::new(STUDY);
    let out = project.verb_output(&["diff", "missing.lock", "{spec}"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: cannot read the lock file missing.lock"), "{stderr}");
}
