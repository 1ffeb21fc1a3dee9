//! Transformers and the literature's data and observables through the real worker: an ensemble
//! member trains to its solo bytes, a transformer's threads change no number, an attention-only transformer's induction score rises as it
//! learns to copy, a small MLP fits its modular pairs (accuracy), in-context regression's
//! baselines match their closed forms, and data a transformer cannot read is refused.

use super::run::Project;

fn metric(project: &Project, instance: &str, name: &str) -> f64 {
    let results = project.results();
    let manifest = results.get(instance).unwrap_or_else(|| panic!("no `{instance}`"));
    manifest["metrics"][name].as_f64().unwrap_or_else(|| panic!("{instance}: no `{name}`"))
}

/// The stored bytes of an instance's output.
fn output(project: &Project, instance: &str, name: &str) -> Vec<u8> {
    let digest = project.results()[instance]["outputs"][name].as_str().unwrap().to_owned();
    std::fs::read(project.store().join("blobs").join(&digest[..2]).join(digest)).unwrap()
}

fn outputs(project: &Project) -> std::collections::BTreeMap<String, serde_json::Value> {
    project.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
}

#[test]
fn a_transformer_ensemble_member_trains_to_the_bytes_it_gets_alone() {
    let spec = "train t {\n  model = transformer.model(layers = 2, heads = 2, d_model = 16, \
                d_mlp = 32, context = 12, vocab = 10)\n  \
                data = induction.data(vocab = 10, length = 12, samples = 300)\n  \
                optimizer = adamw(lr = 3e-3)\n  batch_size = 32\n  steps = 40\n  \
                seed = sweep(0..3)\n  checkpoints = [20, 40]\n}\n";
    let together = Project::new(spec);
    let run = together.run(&["--batch", "16"]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    let alone = Project::new(spec);
    assert_eq!(alone.run(&["--batch", "1"]).counts(), (3, 0, 0, 0));
    assert_eq!(outputs(&together), outputs(&alone), "an ensemble member differs from its solo run");
    // The checkpoint names the parameters as a PyTorch module would.
    let checkpoint = output(&together, "t[seed=0]", "checkpoint@40");
    for name in ["blocks.1.attn.q.weight", "blocks.0.mlp.fc2.bias", "pos_embed.weight"] {
        let quoted = format!("\"{name}\"");
        assert!(
            checkpoint.windows(quoted.len()).any(|w| w == quoted.as_bytes()),
            "the checkpoint has no tensor `{name}`"
        );
    }
}

#[test]
fn a_transformers_threads_run_its_members_side_by_side_and_change_no_number() {
    // Two threads run an ensemble's seeds and an LLC's chains side by side, each member's pass
    // on one thread (the worker's `train::member_threads`): every checkpoint and every chain's
    // trace is the one-thread run's, to the bit, and so with `--threads auto`.
    let spec = "train t {\n  model = transformer.model(layers = 1, heads = 2, d_model = 16, \
                d_mlp = 16, context = 12, vocab = 10)\n  \
                data = induction.data(vocab = 10, length = 12, samples = 200)\n  \
                optimizer = adamw(lr = 3e-3)\n  batch_size = 16\n  steps = 20\n  \
                seed = sweep(0..2)\n  checkpoints = [20]\n}\n\
                estimate llc on t {\n  observable = llc(sampler = sgld(lr = 1e-4, \
                localization = 10), chains = 3, draws = 8, burnin = 4, batch_size = 16)\n}\n";
    let runs: Vec<Project> = ["1", "2", "auto"]
        .iter()
        .map(|threads| {
            let project = Project::new(spec);
            let run = project.run(&["--threads", threads, "--batch", "16"]);
            assert_eq!(run.counts(), (4, 0, 0, 0), "{}", run.stderr());
            project
        })
        .collect();
    let llc = |project: &Project, instance: &str| -> serde_json::Value {
        let result: serde_json::Value =
            serde_json::from_slice(&output(project, instance, "result")).unwrap();
        serde_json::json!([result["traces"], result["distances"], result["estimate"]])
    };
    for seed in 0..2 {
        let (train, estimate) = (format!("t[seed={seed}]"), format!("llc[seed={seed}]@20"));
        assert_eq!(
            output(&runs[0], &train, "checkpoint@20"),
            output(&runs[1], &train, "checkpoint@20"),
            "{train}: two threads trained other bytes"
        );
        for run in &runs[1..] {
            assert_eq!(llc(&runs[0], &estimate), llc(run, &estimate), "{estimate}");
        }
    }
    // `auto` keys each instance with the threads it picked: a thread per chain for the LLC,
    // one for a transformer's training (a lone member).
    let lock: toml::Value = toml::from_str(
        &std::fs::read_to_string(runs[2].dir.path().join("study.dev.lock")).unwrap(),
    )
    .unwrap();
    let threads: std::collections::BTreeMap<&str, &str> = lock["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap();
            (name, i["environment"]["threads_per_step"].as_str().unwrap())
        })
        .collect();
    assert_eq!(threads["t[seed=0]"], "1", "{threads:?}");
    assert_eq!(threads["llc[seed=1]@20"], "3", "{threads:?}");
}

#[test]
fn the_induction_score_rises_as_an_attention_only_transformer_learns_to_copy() {
    // Measured (debug build, 2 cores): the score rises from 0.06 (attention spread evenly) to
    // 0.10 by step 355 and 0.13 by step 1032 with d_model 64; this smaller model trains in
    // about 10 s.
    let spec = "train t {\n  model = transformer.model(layers = 2, heads = 2, d_model = 32, \
                d_mlp = 0, context = 16, vocab = 16)\n  \
                data = induction.data(vocab = 16, length = 16, segment = 6)\n  \
                optimizer = adamw(lr = 3e-3)\n  batch_size = 64\n  steps = 800\n  \
                seed = 0\n  checkpoints = [1, 800]\n}\n\
                estimate induction on t { observable = induction_score() }\n";
    let project = Project::new(spec);
    let run = project.run(&[]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    let before = metric(&project, "induction@1", "induction_score");
    let after = metric(&project, "induction@800", "induction_score");
    // At initialization attention is near uniform: about the mean of 1/(i+1) over positions.
    assert!(before < 0.2, "induction score {before} at initialization");
    assert!(after > 2.0 * before, "induction score {before} -> {after}");
}

#[test]
fn a_small_mlp_fits_its_modular_training_pairs_and_accuracy_measures_both_parts() {
    let spec = "train t {\n  model = mlp.model(widths = [46, 128, 23])\n  \
                data = modular.data(p = 23, train_fraction = 0.5, seed = 2)\n  \
                optimizer = adamw(lr = 3e-3, weight_decay = 0.5)\n  batch_size = full\n  \
                steps = 600\n  seed = 0\n  checkpoints = [1, 600]\n}\n\
                estimate acc on t { observable = accuracy() }\n";
    let project = Project::new(spec);
    let run = project.run(&[]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    // At initialization the classes are a guess among 23; 264 of the 529 pairs are trained on.
    assert!(metric(&project, "acc@1", "accuracy") < 0.2);
    assert_eq!(metric(&project, "acc@600", "accuracy"), 1.0);
    let test = metric(&project, "acc@600", "test_accuracy");
    assert!((0.0..=1.0).contains(&test));
    let shown = project.verb(&["show", "{spec}", "t"]);
    assert!(shown.contains("test_loss"), "the held-out pairs give a test loss:\n{shown}");
}

#[test]
fn in_context_regression_baselines_match_their_closed_forms() {
    let spec = "train t {\n  model = transformer.model(layers = 1, heads = 2, d_model = 16, \
                context = 32, input_dim = 5, output_dim = 1)\n  \
                data = icl.regression(dims = 4, context = 16, tasks = 1)\n  \
                optimizer = adam(lr = 1e-3)\n  batch_size = 16\n  steps = 3\n  seed = 0\n  \
                checkpoints = [1, 2, 3]\n}\n\
                estimate baselines on t { observable = icl.baselines() }\n\
                detect d on baselines { method = change_points() }\n";
    let project = Project::new(spec);
    let run = project.run(&[]);
    assert_eq!(run.counts(), (5, 0, 0, 0), "{}", run.stderr());
    // Without `series`, detection reads the number the result names as its headline.
    assert_eq!(project.results()["d"]["metrics"]["series"], "model_loss");
    let result: serde_json::Value =
        serde_json::from_slice(&output(&project, "baselines@2", "result")).unwrap();
    let curves = &result["per_position"];
    let curve = |name: &str| -> Vec<f64> {
        curves[name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let (ridge, dmmse) = (curve("ridge"), curve("dmmse"));
    // With no pairs seen ridge predicts 0: its error is E[y^2] = |t|^2 + sigma^2 for the one
    // task. It then falls towards sigma^2 = 0.125 as pairs accumulate (the prior's pull fades;
    // at 15 pairs over 4 dimensions the excess is about sigma^2 D / (K - D - 1): within a factor
    // 2). The posterior over a set of one task is that task from the start, so dMMSE's error is
    // sigma^2 at every position (512 sequences: a standard error of about 0.008).
    assert!(ridge[15] < 0.25, "ridge at 15 pairs: {}", ridge[15]);
    assert!(ridge[0] > ridge[15] + 0.1, "ridge: {ridge:?}");
    for (j, &error) in dmmse.iter().enumerate() {
        assert!((error - 0.125).abs() < 0.04, "dMMSE at position {j}: {error}");
    }
}

#[test]
fn a_transformer_refuses_data_it_cannot_read_naming_both() {
    for (model, data, expected) in [
        (
            "vocab = 10, context = 8",
            "induction.data(vocab = 12, length = 8)",
            "tokens up to 11, but the model's `vocab` is 10",
        ),
        (
            "vocab = 10, context = 8",
            "induction.data(vocab = 10, length = 16)",
            "sequences of 16 positions, but the model's `context` is 8",
        ),
        (
            "input_dim = 3, output_dim = 1, context = 32",
            "icl.regression(dims = 4, context = 16)",
            "vectors of 5 numbers per position, but the model's `input_dim` is 3",
        ),
        (
            "vocab = 10, context = 8",
            "tms.data(features = 4, sparsity = 0.5, samples = 10)",
            "is not sequence data",
        ),
    ] {
        let spec = format!(
            "train t {{\n  model = transformer.model(layers = 1, heads = 1, d_model = 8, \
             {model})\n  data = {data}\n  optimizer = adam(lr = 1e-3)\n  batch_size = 4\n  \
             steps = 2\n  seed = 0\n}}\n"
        );
        let project = Project::new(&spec);
        let run = project.run(&[]);
        assert_eq!(run.counts().2, 1, "{}", run.stderr());
        assert!(run.stderr().contains(expected), "expected {expected:?} in:\n{}", run.stderr());
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    }
}
