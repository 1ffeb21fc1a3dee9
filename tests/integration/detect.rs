//! The `detect` step end to end: computed by devspec itself from a run's results, cached like
//! any step, its stages printed at the end of `devspec run`, and a series it cannot read
//! refused with the reason while the rest of the study goes on.

use super::run::Project;

/// A deep linear network from a small initialization: its loss falls in steps.
const STUDY: &str = "let teacher = dln.teacher(widths = [6, 4, 6], rank = 3, seed = 1)\n\
    train fit {\n  model = dln.model(widths = [6, 4, 6], init_scale = 0.01)\n  \
    data = dln.data(teacher = teacher, samples = 500)\n  optimizer = sgd(lr = 0.05)\n  \
    batch_size = 100\n  steps = 3_000\n  checkpoints = linspace(100, 3_000, 30)\n}\n\
    detect drops on fit { series = \"train_loss\", method = change_points() }\n\
    detect turns on fit { series = \"train_loss\", method = critical_points(axis = linear, smoothing = 0.03) }\n";

#[test]
fn detect_finds_a_runs_loss_drops_and_run_prints_the_stage_tables() {
    let project = Project::new(STUDY);
    let first = project.run(&["--quiet"]);
    assert_eq!(first.counts(), (3, 0, 0, 0), "{}", first.stderr());
    // The stage tables, without the lock file's line (its path is a temporary folder's).
    let printed = |run: &super::run::Run| -> (String, String) {
        let stdout = String::from_utf8(run.0.stdout.clone()).unwrap();
        let (lock, tables): (Vec<&str>, Vec<&str>) =
            stdout.lines().partition(|line| line.starts_with("lock: "));
        (tables.join("\n") + "\n", lock.join("\n"))
    };
    let (tables, lock) = printed(&first);
    assert!(lock.ends_with("study.dev.lock (written)"), "{lock}");
    insta::assert_snapshot!("dln_loss_stages", tables);
    let results = project.results();
    let drops = &results["drops"]["metrics"];
    // The first drop, from the initialization's plateau, is between checkpoints 200 and 300.
    assert!(drops["at"].as_str().unwrap().starts_with("200-300 loss_drop"), "{drops}");
    assert_eq!(drops["stages"].as_u64(), drops["boundaries"].as_u64().map(|b| b + 1));
    // Cached on a rerun, with the same tables.
    let second = project.run(&["--quiet"]);
    assert_eq!(second.counts(), (0, 3, 0, 0));
    let (again, lock) = printed(&second);
    assert_eq!(again, tables);
    assert!(lock.ends_with("study.dev.lock (unchanged)"), "{lock}");
    // `show` lists each instance's boundaries, then its stage table; JSON carries them.
    let shown = project.verb(&["show", "{spec}", "drops"]);
    assert!(shown.contains("200-300 loss_drop"), "{shown}");
    assert!(shown.contains("drops: train_loss by change_points\n  steps"), "{shown}");
    let json: serde_json::Value =
        serde_json::from_str(&project.verb(&["show", "{spec}", "drops", "--format", "json"]))
            .unwrap();
    let detection = &json["rows"][0]["detection"];
    assert_eq!(
        detection["stages"].as_array().unwrap().len() as u64,
        drops["stages"].as_u64().unwrap()
    );
}

#[test]
fn a_series_too_short_to_search_fails_its_step_with_the_reason() {
    let project = Project::new(
        "let teacher = dln.teacher(widths = [3, 2], rank = 1)\n\
         train fit {\n  model = dln.model(widths = [3, 2])\n  \
         data = dln.data(teacher = teacher, samples = 100)\n  optimizer = sgd(lr = 0.05)\n  \
         batch_size = 10\n  steps = 20\n  checkpoints = [10, 20]\n}\n\
         detect drops on fit { series = \"train_loss\", method = bocpd() }\n\
         detect nothing on fit { series = \"accuracy\", method = change_points() }\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    assert_eq!(run.counts(), (1, 0, 2, 0));
    let stderr = run.stderr();
    assert!(stderr.contains("needs at least 3 checkpoints to find a change"), "{stderr}");
    assert!(stderr.contains("records `train_loss` and `test_loss`, not `accuracy`"), "{stderr}");
}
