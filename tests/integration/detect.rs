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
         detect drops on fit { series = \"train_loss\", method = bocpd() }\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    assert_eq!(run.counts(), (1, 0, 1, 0));
    let stderr = run.stderr();
    assert!(stderr.contains("needs at least 3 checkpoints to find a change"), "{stderr}");
    // A series the run does not record is refused before anything runs (it used to fail
    // after the training): exit 2, naming what the run does record.
    std::fs::write(
        project.spec(),
        std::fs::read_to_string(project.spec()).unwrap()
            + "detect nothing on fit { series = \"accuracy\", method = change_points() }\n",
    )
    .unwrap();
    let refused = project.run(&[]);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr());
    let stderr = refused.stderr();
    assert!(stderr.contains("`nothing` searches `accuracy`"), "{stderr}");
    assert!(stderr.contains("inputs produce: test_loss, train_loss"), "{stderr}");
}

#[test]
fn every_series_the_registry_declares_for_these_steps_is_one_a_detection_can_read() {
    // The registry's series (what `check` lets `series = ...` name) against what the worker
    // writes: a training run and five observables, each declared series searched by its own
    // detection, every one of which must run. (The studies' own observables are covered by
    // their studies: `specs/grokking.dev` searches `test_accuracy`.)
    let mut spec = String::from(
        "let teacher = dln.teacher(widths = [4, 3, 4], rank = 2, seed = 1)\n\
         train fit {\n  model = dln.model(widths = [4, 3, 4])\n  \
         data = dln.data(teacher = teacher, samples = 400)\n  optimizer = sgd(lr = 0.05)\n  \
         batch_size = 100\n  steps = 200\n  test_fraction = 0.25\n  \
         checkpoints = linspace(40, 200, 5)\n}\n\
         estimate llc on fit { observable = llc(sampler = sgld(lr = 1e-4, localization = 10), \
         draws = 40, burnin = 10) }\n\
         estimate loss on fit { observable = loss() }\n\
         estimate weight_norm on fit { observable = weight_norm() }\n\
         estimate hessian_trace on fit { observable = hessian_trace(samples = 4) }\n\
         estimate gradient_norm on fit { observable = gradient_norm() }\n",
    );
    let series = devspec::registry::series::of_observable;
    let mut detections = Vec::new();
    for (step, names) in [
        ("fit", devspec::registry::series::TRAIN),
        ("llc", series("llc").unwrap()),
        ("loss", series("loss").unwrap()),
        ("weight_norm", series("weight_norm").unwrap()),
        ("hessian_trace", series("hessian_trace").unwrap()),
        ("gradient_norm", series("gradient_norm").unwrap()),
    ] {
        for name in names {
            let detection = format!("d_{step}_{name}");
            let line = format!(
                "detect {detection} on {step} {{ series = \"{name}\", method = change_points() }}\n"
            );
            spec.push_str(&line);
            detections.push(detection);
        }
    }
    let project = Project::new(&spec);
    let run = project.run(&["--quiet"]);
    assert_eq!(run.counts().2, 0, "{}", run.stderr());
    let results = project.results();
    for detection in &detections {
        assert!(results.contains_key(detection), "{detection} did not run: {}", run.stderr());
    }
}
