//! Training through the real worker: determinism, ensembles equal to solo runs, convergence on
//! known problems (a deep linear network reaches its teacher's loss; the toy model of
//! superposition passes a plateau to the 5-gon), checkpoints at a known point, and bad input.

use std::collections::BTreeMap;

use super::run::Project;

const DLN: &str = "
let teacher = dln.teacher(widths = [6, 4, 6], rank = 2, seed = 0)

train fit {
  model = dln.model(widths = [6, 4, 6], init_scale = 0.3)
  data = dln.data(teacher = teacher, samples = 512)
  optimizer = adam(lr = 0.01)
  batch_size = 64
  steps = 1500
  seed = sweep([1, 2, 3])
  checkpoints = logspace(10, 1500, 4)
}
";

fn outputs(project: &Project) -> BTreeMap<String, serde_json::Value> {
    project.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
}

fn blob(project: &Project, digest: &str) -> Vec<u8> {
    std::fs::read(project.store().join("blobs").join(&digest[..2]).join(digest)).unwrap()
}

/// A train instance's loss series, from its result.
fn series(project: &Project, instance: &str) -> (Vec<u64>, Vec<f64>) {
    let results = project.results();
    let digest = results[instance]["outputs"]["result"].as_str().unwrap().to_owned();
    let result: serde_json::Value = serde_json::from_slice(&blob(project, &digest)).unwrap();
    let steps = result["series"]["steps"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap());
    let losses =
        result["series"]["train_loss"].as_array().unwrap().iter().map(|l| l.as_f64().unwrap());
    (steps.collect(), losses.collect())
}

/// The tensor names and shapes in a safetensors file's header.
fn safetensors_header(bytes: &[u8]) -> BTreeMap<String, Vec<u64>> {
    let length = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, info)| {
            let shape = info["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap());
            (name.clone(), shape.collect())
        })
        .collect()
}

#[test]
fn an_ensemble_trains_each_seed_to_the_bytes_it_gets_alone_and_reruns_to_the_same_bytes() {
    let together = Project::new(DLN);
    let run = together.run(&["--batch", "16"]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    let alone = Project::new(DLN);
    assert_eq!(alone.run(&["--batch", "1"]).counts(), (3, 0, 0, 0));
    assert_eq!(outputs(&together), outputs(&alone), "an ensemble member differs from its solo run");
    let again = Project::new(DLN);
    assert_eq!(again.run(&[]).counts(), (3, 0, 0, 0));
    assert_eq!(outputs(&again), outputs(&together), "the same seed gave other bytes");
    // Checkpoints at 10, ~53, ~282 and 1500, named as PyTorch names a module's parameters.
    let checkpoints: Vec<String> = outputs(&together)["fit[seed=1]"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("checkpoint@"))
        .cloned()
        .collect();
    assert_eq!(checkpoints.len(), 4, "{checkpoints:?}");
    let digest = outputs(&together)["fit[seed=1]"]["checkpoint@1500"].as_str().unwrap().to_owned();
    let header = safetensors_header(&blob(&together, &digest));
    let expected: BTreeMap<String, Vec<u64>> =
        [("layers.0.weight".to_owned(), vec![4, 6]), ("layers.1.weight".to_owned(), vec![6, 4])]
            .into();
    assert_eq!(header, expected);
}

#[test]
fn a_deep_linear_network_reaches_its_teachers_loss() {
    let project = Project::new(DLN);
    assert_eq!(project.run(&["--target", "fit"]).counts(), (3, 0, 0, 0));
    for seed in 1..=3 {
        let (steps, losses) = series(&project, &format!("fit[seed={seed}]"));
        assert_eq!(steps[0], 0);
        assert!(steps.len() >= 150, "the series has {} points", steps.len());
        // Noise-free labels from a teacher the student can express: the loss goes to zero.
        // Measured here: from about 0.5 to below 1e-9; 1e-6 leaves room for other kernels.
        let (first, last) = (losses[0], *losses.last().unwrap());
        assert!(first > 0.05, "seed {seed} starts at {first}");
        assert!(last < 1e-6, "seed {seed} ends at {last}");
    }
    // `show` gives the series a row per recorded step.
    let csv = project.verb(&["show", "{spec}", "fit", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("seed,step,checkpoint,status,train_loss"));
    assert!(lines.count() >= 3 * 150, "{csv}");
}

#[test]
fn a_checkpoint_at_the_teacher_holds_its_weights_under_the_models_names() {
    // The exact text: the next issue estimates on it.
    let project = Project::new(
        "import std.dln\n\n\
         let teacher = dln.teacher(widths = [10, 5, 5, 10], rank = 2, seed = 0)\n\n\
         checkpoint truth {\n  model   = dln.model(widths = [10, 5, 5, 10])\n  weights = teacher\n  \
         data    = dln.data(teacher = teacher, samples = 10_000, noise = 0)\n}\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.counts(), (1, 0, 0, 0), "{}", run.stderr());
    let digest = outputs(&project)["truth"]["checkpoint@0"].as_str().unwrap().to_owned();
    let header = safetensors_header(&blob(&project, &digest));
    let names: Vec<(&str, Vec<u64>)> =
        header.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
    assert_eq!(
        names,
        [
            ("layers.0.weight", vec![5, 10]),
            ("layers.1.weight", vec![5, 5]),
            ("layers.2.weight", vec![10, 5])
        ]
    );
}

#[test]
fn data_that_does_not_fit_the_model_fails_naming_both_shapes() {
    let project = Project::new(
        "train fit {\n  model = dln.model(widths = [4, 3])\n  \
         data = dln.data(teacher = dln.teacher(widths = [6, 3], rank = 1), samples = 64)\n  \
         optimizer = sgd(lr = 0.1)\n  batch_size = 8\n  steps = 10\n}\n",
    );
    // The checker catches it before anything runs (tests/ui/data_shape_mismatch.dev shows the
    // whole diagnostic).
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(2));
    let stderr = run.stderr();
    assert!(stderr.contains("`data` has 6 inputs and 3 targets per sample, but the model takes 4 inputs and gives 3 outputs"), "{stderr}");
    assert!(!stderr.contains("libtorch") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_diverging_run_fails_naming_the_step_it_diverged_at() {
    let project = Project::new(
        "train fit {\n  model = dln.model(widths = [6, 4, 6])\n  \
         data = dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 64)\n  \
         optimizer = sgd(lr = 50)\n  batch_size = 8\n  steps = 200\n  checkpoints = [1]\n}\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(1));
    let stderr = run.stderr();
    assert!(stderr.contains("the training loss became"), "{stderr}");
    let step: u64 = stderr
        .split("at step ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step named: {stderr}"));
    assert!((2..=200).contains(&step), "{stderr}");
}

/// The flattest log-log slope of a loss series after step 1,000 while the loss is still 20%
/// above its end, and the steepest slope after that point; slopes over windows of 1.3x steps.
fn plateau_then_drop(steps: &[u64], losses: &[f64]) -> (f64, f64) {
    let end = *losses.last().unwrap();
    let slope = |i: usize| {
        let j = (i + 1..steps.len()).find(|&j| steps[j] as f64 >= 1.3 * steps[i] as f64)?;
        Some((losses[j] / losses[i]).ln() / (steps[j] as f64 / steps[i] as f64).ln())
    };
    let slopes: Vec<(usize, f64)> = (0..steps.len())
        .filter(|&i| steps[i] >= 1000)
        .filter_map(|i| Some((i, slope(i)?.abs())))
        .collect();
    let (flat_at, flattest) = slopes
        .iter()
        .filter(|(i, _)| losses[*i] >= 1.2 * end)
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("the loss is above its end after step 1,000");
    let steepest_after = slopes
        .iter()
        .filter(|(i, _)| *i > flat_at && losses[*i] >= 1.05 * end)
        .map(|(_, s)| *s)
        .fold(0.0, f64::max);
    (flattest, steepest_after)
}

#[test]
fn the_toy_model_of_superposition_passes_a_plateau_and_reaches_the_5_gon_on_every_pinned_seed() {
    let project =
        Project::new("import std.tms\ntrain run from tms.chen2023 { seed = tms.chen2023_seeds }\n");
    let run = project.run(&[]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    for seed in [1, 2, 3] {
        let (steps, losses) = series(&project, &format!("run[seed={seed}]"));
        let end = *losses.last().unwrap();
        // The 5-gon's loss is about 0.0040 here and the 4-gon plateau's 0.0052 (measured, and in
        // the reference); 0.0043 separates them.
        assert!(end <= 0.0043, "seed {seed} ends at {end}, above the 5-gon");
        let (flattest, steepest) = plateau_then_drop(&steps, &losses);
        // Measured: flattest 0.20 to 0.24 against drops of 0.70 to 0.97.
        assert!(flattest < 0.5 * steepest, "seed {seed}: no plateau ({flattest} vs {steepest})");
    }
}

#[test]
fn a_killed_training_run_resumes_from_its_latest_checkpoint_with_the_same_bytes() {
    let spec = "train fit {\n  model = dln.model(widths = [6, 4, 6])\n  \
                data = dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 256)\n  \
                optimizer = adam(lr = 0.01)\n  batch_size = 32\n  steps = 30000\n  \
                checkpoints = every(1000)\n}\n";
    let project = Project::new(spec);
    let mut child = project.command(&[]).stderr(std::process::Stdio::null()).spawn().unwrap();
    // Kill it (no chance to clean up) once a state of its trajectory is stored.
    let stored = || {
        let (checkpoints, resume_points) = trajectory_states(&project);
        checkpoints + resume_points
    };
    for _ in 0..400 {
        if stored() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let workers = super::run::children_of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned worker stores a resume point as it ends: wait for it, or that point could
    // land after the resumed run below has finished the trajectory.
    for _ in 0..200 {
        if workers.iter().all(|&pid| super::run::gone(pid)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(stored() > 0, "no state of the trajectory was stored");
    assert!(project.results().is_empty(), "the run finished before it was killed");
    // `gc` keeps the resume point of what will run, and the blobs it names.
    project.verb(&["gc", "--min-age", "0"]);
    let resumed = project.run(&[]);
    assert_eq!(resumed.counts(), (1, 0, 0, 0), "{}", resumed.stderr());
    let metrics = project.results()["fit"]["metrics"].clone();
    let from = metrics["resumed_from"].as_u64().expect("it resumed");
    // At least its first checkpoint; the orphaned worker saves where it is before it ends, so
    // usually later than its latest checkpoint.
    assert!(from >= 1000, "{metrics}");
    assert_eq!(metrics["steps_trained"].as_u64(), Some(30000 - from));
    assert_eq!(trajectory_states(&project), (30, 0), "a finished run leaves no resume point");
    let clean = Project::new(spec);
    assert_eq!(clean.run(&[]).counts(), (1, 0, 0, 0));
    assert_eq!(outputs(&project), outputs(&clean), "the resumed run wrote other bytes");
}

#[test]
fn a_toy_model_ensemble_with_hand_derived_gradients_matches_its_solo_runs() {
    // A pool of 3,000 and batches of 256: some minibatches span two epochs, the rest are
    // slices of one. In f32 on the CPU the toy model's lanes read them from the pool in host
    // memory (the trainer's unit test checks those rows against both ways of gathering).
    let spec = "train t {\n  model = tms.model(features = 6, hidden = 2)\n  \
                data = tms.data(features = 6, sparsity = 0.9, samples = 3000)\n  \
                optimizer = adam(lr = 0.01)\n  batch_size = 256\n  steps = 400\n  \
                seed = sweep(0..5)\n  checkpoints = [100]\n}\n";
    let together = Project::new(spec);
    assert_eq!(together.run(&["--batch", "16"]).counts(), (5, 0, 0, 0));
    let alone = Project::new(spec);
    assert_eq!(alone.run(&["--batch", "1"]).counts(), (5, 0, 0, 0));
    assert_eq!(outputs(&together), outputs(&alone));
    let log = std::fs::read_dir(together.store().join("logs"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .find(|log| log.contains("group: 5 siblings"));
    assert!(log.is_some(), "the five seeds were not one group");
}

#[test]
fn a_worker_told_to_stop_saves_where_it_is_and_the_run_resumes_there() {
    // Checkpoints only at the end: without the resume point the worker stores on SIGTERM (as a
    // batch system sends before its time limit), everything would be trained again.
    let spec = "train fit {\n  model = dln.model(widths = [6, 4, 6])\n  \
                data = dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 256)\n  \
                optimizer = adam(lr = 0.01)\n  batch_size = 32\n  steps = 30000\n}\n";
    let project = Project::new(spec);
    let child = project.command(&[]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Let it train a while (the worker loads libtorch first; a first worker may only have
    // answered the version report), then ask the training worker to stop.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let workers = super::run::children_of(child.id());
    assert!(!workers.is_empty(), "no worker is running");
    for worker in &workers {
        std::process::Command::new("kill").args(["-TERM", &worker.to_string()]).status().unwrap();
    }
    let stopped = super::run::Run(child.wait_with_output().unwrap());
    assert_eq!(stopped.code(), Some(1), "{}", stopped.stderr());
    let resumed = project.run(&[]);
    assert_eq!(resumed.counts(), (1, 0, 0, 0), "{}", resumed.stderr());
    let metrics = project.results()["fit"]["metrics"].clone();
    let from = metrics["resumed_from"].as_u64().expect("it resumed");
    assert!(from > 0 && from < 30000, "{metrics}");
    let clean = Project::new(spec);
    assert_eq!(clean.run(&[]).counts(), (1, 0, 0, 0));
    assert_eq!(outputs(&project), outputs(&clean), "the resumed run wrote other bytes");
}

/// The states stored for a project's trajectories: (checkpoints, resume points).
fn trajectory_states(project: &Project) -> (usize, usize) {
    let mut counts = (0, 0);
    let folders = std::fs::read_dir(project.store().join("trajectories")).into_iter().flatten();
    for folder in folders {
        for entry in std::fs::read_dir(folder.unwrap().path()).unwrap() {
            let point: serde_json::Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            if point["checkpoint"].as_bool().unwrap() {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
    }
    counts
}

/// A small deep linear network trained for `steps` with checkpoints `grid` and `schedule`.
fn extendable(steps: u32, grid: &str, schedule: &str) -> String {
    format!(
        "train fit {{\n  model = dln.model(widths = [6, 4, 6])\n  \
         data = dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 256)\n  \
         optimizer = adam(lr = 0.01, schedule = {schedule})\n  batch_size = 32\n  \
         steps = {steps}\n  checkpoints = {grid}\n}}\n"
    )
}

/// Runs `spec` in `project` (rewriting its file) and returns the train's steps trained, the
/// step it went on from, and its outputs.
fn train_again(project: &Project, spec: &str) -> (u64, u64, serde_json::Value) {
    std::fs::write(project.spec(), spec).unwrap();
    let before = manifests(project);
    let run = project.run(&[]);
    assert_eq!(run.counts(), (1, 0, 0, 0), "{}", run.stderr());
    let new: Vec<_> = manifests(project).into_iter().filter(|m| !before.contains(m)).collect();
    assert_eq!(new.len(), 1, "one new result");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&new[0]).unwrap()).unwrap();
    let metrics = &result["metrics"];
    let from = metrics["resumed_from"].as_u64().unwrap_or(0);
    (metrics["steps_trained"].as_u64().unwrap(), from, result["outputs"].clone())
}

#[test]
fn a_longer_run_trains_only_the_new_steps_and_writes_what_a_fresh_run_writes() {
    let project = Project::new("");
    let (trained, _, short) = train_again(&project, &extendable(1000, "every(250)", "constant"));
    assert_eq!(trained, 1000);
    // Twice as long: it goes on from step 1000; the checkpoints it had are the same entries.
    let longer = extendable(2000, "every(250)", "constant");
    std::fs::write(project.spec(), &longer).unwrap();
    let status = project.verb(&["status", "{spec}", "--why"]);
    assert!(status.contains("steps: 1000 -> 2000"), "{status}");
    assert!(status.contains("goes on from step 1000"), "{status}");
    let (trained, from, long) = train_again(&project, &longer);
    assert_eq!((trained, from), (1000, 1000));
    for step in [250, 500, 750, 1000] {
        let name = format!("checkpoint@{step}");
        assert_eq!(short[&name], long[&name], "{name} changed");
    }
    let fresh = Project::new(&longer);
    assert_eq!(fresh.run(&[]).counts(), (1, 0, 0, 0));
    // Every output, the loss series included, is what a run of 2,000 steps from scratch writes.
    assert_eq!(long, fresh.results()["fit"]["outputs"], "the continued run wrote other bytes");

    // A grid that moves reuses the checkpoints that coincide: 300 is new, so training goes on
    // from 250, the last state before it.
    let moved = extendable(2500, "[250, 300, 1000, 2500]", "constant");
    let (trained, from, outputs) = train_again(&project, &moved);
    assert_eq!((trained, from), (2250, 250));
    assert_eq!(outputs["checkpoint@250"], short["checkpoint@250"]);
    assert_eq!(outputs["checkpoint@1000"], short["checkpoint@1000"]);
    let fresh = Project::new(&moved);
    assert_eq!(fresh.run(&[]).counts(), (1, 0, 0, 0));
    assert_eq!(outputs, fresh.results()["fit"]["outputs"]);

    // A shorter run whose checkpoints all exist trains nothing.
    let (trained, from, _) = train_again(&project, &extendable(500, "every(250)", "constant"));
    assert_eq!((trained, from), (0, 500));
}

#[test]
fn a_schedule_that_depends_on_the_length_starts_over_when_the_length_changes() {
    // A cosine schedule decays to 0 at the last step: the run to 1,200 steps is not the run to
    // 1,000 continued.
    let project = Project::new("");
    let (trained, _, _) = train_again(&project, &extendable(1000, "every(500)", "cosine"));
    assert_eq!(trained, 1000);
    let (trained, from, _) = train_again(&project, &extendable(1200, "every(500)", "cosine"));
    assert_eq!((trained, from), (1200, 0));
    // The grid alone does not change its course.
    let (trained, from, _) =
        train_again(&project, &extendable(1200, "[500, 1000, 1100]", "cosine"));
    assert_eq!((trained, from), (200, 1000));
}

/// The paths of every result recorded in a project's store.
fn manifests(project: &Project) -> Vec<std::path::PathBuf> {
    let shards = std::fs::read_dir(project.store().join("actions")).into_iter().flatten();
    shards
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn learning_rates_and_seeds_train_as_one_ensemble_with_each_members_solo_bytes() {
    for (model, data, optimizer) in [
        // Hand-derived gradients, and Adam's per-member step size.
        (
            "tms.model(features = 6, hidden = 2)",
            "tms.data(features = 6, sparsity = 0.9, samples = 1000)",
            "adam(lr = sweep([0.005, 0.01, 0.02]))",
        ),
        // Autograd, and SGD with momentum and decoupled rates in its buffer.
        (
            "dln.model(widths = [6, 4, 6])",
            "dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 256)",
            "sgd(lr = sweep([0.01, 0.02, 0.05]), momentum = 0.9)",
        ),
    ] {
        let spec = format!(
            "train t {{\n  model = {model}\n  data = {data}\n  optimizer = {optimizer}\n  \
             batch_size = 64\n  steps = 300\n  seed = sweep(0..2)\n  checkpoints = [100]\n}}\n"
        );
        let together = Project::new(&spec);
        assert_eq!(together.run(&["--batch", "16"]).counts(), (6, 0, 0, 0));
        let alone = Project::new(&spec);
        assert_eq!(alone.run(&["--batch", "1"]).counts(), (6, 0, 0, 0));
        assert_eq!(outputs(&together), outputs(&alone), "{optimizer}");
        let log = std::fs::read_dir(together.store().join("logs"))
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .find(|log| log.contains("group: 6 siblings"));
        assert!(log.is_some(), "the six settings were not one group ({optimizer})");
    }
}

#[test]
fn every_activation_the_registry_lists_trains_as_itself_and_another_is_refused_by_check() {
    // Issue 21: the worker once turned any unknown activation into ReLU. Each listed value must
    // reach the worker as itself: the same run under each gives a different loss (a fallback
    // arm would make two of them equal); a value the registry does not list exits 2 at check.
    let mlp = devspec::registry::constructor("mlp.model").unwrap();
    let param = mlp.params.iter().find(|p| p.name == "activation").unwrap();
    let devspec::registry::schema::ValueType::Enum(activations) = param.ty else {
        panic!("activation is an enum")
    };
    let spec = |activation: &str| {
        format!(
            "train fit {{\n  model = mlp.model(widths = [10, 16, 5], activation = {activation})\n  \
             data = modular.data(p = 5)\n  optimizer = sgd(lr = 0.1)\n  batch_size = full\n  \
             steps = 20\n}}\n"
        )
    };
    let mut losses = BTreeMap::new();
    for activation in activations {
        let project = Project::new(&spec(activation));
        let run = project.run(&["-q"]);
        assert_eq!(run.code(), Some(0), "{activation}: {}", run.stderr());
        let loss = project.results()["fit"]["metrics"]["final_train_loss"].as_f64().unwrap();
        losses.insert(loss.to_bits(), *activation);
    }
    assert_eq!(losses.len(), activations.len(), "two activations trained alike: {losses:?}");
    let refused = Project::new(&spec("softplus")).run(&["-q"]);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr());
    assert!(refused.stderr().contains("softplus"), "{}", refused.stderr());
}
