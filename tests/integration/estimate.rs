//! The LLC estimator against theory (deep linear networks, reduced-rank regression and a
//! regular model at their teacher, where the learning coefficient is known in closed form), its
//! diagnostics, and its batching (sibling checkpoints sampled together give each one's bytes).

use std::collections::BTreeMap;

use super::learning_coefficients::{deep_linear_network, reduced_rank_regression};
use super::run::Project;

/// slt.md's setting that lands within about 8% of theory on deep linear networks: n = 10,000
/// noiseless Gaussian inputs, `n_beta = n / ln n`, localization 1, batch 500, lr 2e-5, 2,000
/// burn-in steps and 8,000 draws on 4 chains.
const LLC: &str = "llc(sampler = sgld(lr = 2e-5, localization = 1), nbeta = dataset, chains = 4, \
                   draws = 8_000, burnin = 2_000, batch_size = 500)";

/// A checkpoint at a teacher of `widths` and `rank`, and the LLC estimated there (with `extra`
/// arguments for `llc`).
fn at_teacher(name: &str, widths: &[i64], rank: i64, extra: &str) -> String {
    let widths = format!("{widths:?}");
    let observable = format!("{}{extra})", LLC.strip_suffix(')').expect("a call"));
    format!(
        "let teacher_{name} = dln.teacher(widths = {widths}, rank = {rank}, seed = 0)\n\
         checkpoint {name} {{\n  model = dln.model(widths = {widths})\n  weights = teacher_{name}\n  \
         data = dln.data(teacher = teacher_{name}, samples = 10_000, noise = 0)\n}}\n\
         estimate llc_{name} on {name} {{ observable = {observable} }}\n"
    )
}

/// A checkpoint `c` at the teacher of a linear regression 4 -> 3 (a regular model of 12
/// parameters), with `samples` noiseless samples.
fn regression_truth(samples: u32) -> String {
    format!(
        "let t = dln.teacher(widths = [4, 3], rank = 3)\n\
         checkpoint c {{\n  model = dln.model(widths = [4, 3])\n  weights = t\n  \
         data = dln.data(teacher = t, samples = {samples})\n}}\n"
    )
}

fn metrics(project: &Project) -> BTreeMap<String, serde_json::Value> {
    project.results().into_iter().map(|(name, m)| (name, m["metrics"].clone())).collect()
}

/// A model at its teacher: name, widths, teacher rank, extra `llc` arguments, the true learning
/// coefficient and the relative tolerance.
type Case = (&'static str, Vec<i64>, i64, &'static str, f64, f64);

#[test]
fn the_llc_at_a_teacher_matches_the_closed_form_learning_coefficient() {
    // (name, widths, rank, theory, tolerance). A regular model within 10% of d / 2 and the
    // singular ones within 15%, as the issue asks. slt.md's reference implementation lands
    // within about 8% with these settings; this one measured 1.4% to 7.3% over these cases,
    // with a standard error of the mean over its 4 chains near 1% (llc_se / llc_mean), so the
    // bounds leave room for the sampler's bias, not for a wrong estimator.
    let five_layers = [4, 3, 3, 3, 4];
    let rrr = reduced_rank_regression;
    let cases: Vec<Case> = vec![
        ("regular", vec![4, 3], 3, "", 6.0, 0.10),
        ("dln4", vec![10, 5, 5, 10], 2, "", 22.5, 0.15),
        ("dln4_rank0", vec![4, 4, 4, 4], 0, "", 5.5, 0.15),
        ("dln5", five_layers.to_vec(), 1, "", deep_linear_network(&five_layers, 1), 0.15),
        ("rrr_wide_out", vec![2, 2, 6], 1, "", rrr(2, 2, 6, 1), 0.15),
        ("rrr_wide_in", vec![6, 2, 2], 1, "", rrr(6, 2, 2, 1), 0.15),
        ("rrr_wide_hidden", vec![2, 6, 2], 1, "", rrr(2, 6, 2, 1), 0.15),
        ("rrr_balanced", vec![5, 3, 5], 1, "", rrr(5, 3, 5, 1), 0.15),
        // Each chain its own minibatches: the same quantity.
        ("independent", vec![10, 5, 5, 10], 2, ", independent_batches = true", 22.5, 0.15),
        // Weight-restricted: dln.teacher puts its rank in the first layer, so the later layers'
        // product has full rank 5 and the first layer alone is a regular model of 50
        // parameters (25); the last layer sees inputs of rank 2, so only 10 x 2 of its 50
        // weights matter (10).
        ("first_layer", vec![10, 5, 5, 10], 2, ", restrict = [\"layers.0.*\"]", 25.0, 0.15),
        ("last_layer", vec![10, 5, 5, 10], 2, ", restrict = [\"layers.2.*\"]", 10.0, 0.15),
        // One chain at a time (the path of models that cannot be batched). A unit test shows
        // its traces within 1e-5 of the batched ones; these two show it against theory.
        ("dln4_one_chain", vec![10, 5, 5, 10], 2, ", batched = false", 22.5, 0.15),
        (
            "dln5_one_chain",
            five_layers.to_vec(),
            1,
            ", batched = false",
            deep_linear_network(&five_layers, 1),
            0.15,
        ),
    ];
    let spec: String =
        cases.iter().map(|(name, w, r, extra, _, _)| at_teacher(name, w, *r, extra)).collect();
    let project = Project::new(&spec);
    let run = project.run(&[]);
    assert_eq!(run.counts().2, 0, "{}", run.stderr());
    let results = metrics(&project);
    let mut report = Vec::new();
    for (name, widths, rank, _, theory, tolerance) in &cases {
        let m = &results[&format!("llc_{name}@0")];
        let estimate = m["llc_mean"].as_f64().unwrap();
        let error = (estimate - theory).abs() / theory;
        let sensitivity = m["localization_sensitivity"].as_f64().unwrap();
        report.push(format!(
            "{name} {widths:?} r={rank}: {estimate:.3} vs {theory} ({:.1}%), localization \
             sensitivity {sensitivity:.4}",
            error * 100.0
        ));
        assert!(error <= *tolerance, "{}", report.join("\n"));
        // Issue 20: the settings that reach theory are not dominated by the localization, and
        // their draws say so with confidence (`localization_unknown` neither).
        let flags = m["diagnostics"].as_str().unwrap();
        assert!(!flags.contains("localization_"), "{}", report.join("\n"));
        assert_eq!(m["nbeta"].as_f64().unwrap(), 10_000.0 / 10_000f64.ln());
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn the_localization_sensitivity_has_its_closed_form_on_a_regular_model_and_flags_biased_estimates()
{
    // A regular model's posterior is Gaussian: with curvature h in every direction the
    // estimate is (d / 2) / (1 + x) and its sensitivity x / (1 + x), x = γ / (n_beta h); a
    // companion at γ / 2 measures log2((1 + x) / (1 + x / 2)). Linear regression 4 -> 3 (d = 12)
    // under the mean squared error over 3 outputs has h = 2 / 3 times the inputs' second moment
    // (1 for standard normal inputs, up to the sample's ±2%). Both ways of measuring are swept.
    let nbeta = 10_000.0 / 10_000f64.ln();
    let h = 2.0 / 3.0;
    let observable = |gamma: &str| {
        format!(
            "llc(sampler = sgld(lr = 2e-5, localization = {gamma}), nbeta = dataset, chains = 4, \
             draws = 4_000, burnin = 1_000, batch_size = 500, companion = sweep([false, true]))"
        )
    };
    let xs = [0.1, 1.0, 10.0];
    let gammas: Vec<String> = xs.iter().map(|x| format!("{}", x * nbeta * h)).collect();
    let dln = "let t2 = dln.teacher(widths = [10, 5, 5, 10], rank = 2, seed = 0)\n\
               checkpoint dln {\n  model = dln.model(widths = [10, 5, 5, 10])\n  weights = t2\n  \
               data = dln.data(teacher = t2, samples = 10_000, noise = 0)\n}\n";
    let spec = format!(
        "{}estimate regular on c {{ observable = {} }}\n{dln}estimate deep on dln {{ observable = {} }}\n",
        regression_truth(10_000).replace("rank = 3)", "rank = 3, seed = 0)"),
        observable(&format!("sweep([{}])", gammas.join(", "))),
        observable("sweep([10, 1000])"),
    );
    let project = Project::new(&spec);
    let run = project.run(&[]);
    assert_eq!(run.counts().2, 0, "{}", run.stderr());
    let results = metrics(&project);
    let mut report = Vec::new();
    let flagged = |m: &serde_json::Value| {
        m["diagnostics"].as_str().unwrap().contains("localization_dominated")
    };
    // An instance's metrics by the texts its name holds.
    let find = |parts: &[&str]| {
        let found = results.iter().find(|(name, _)| parts.iter().all(|p| name.contains(p)));
        found.map_or_else(|| panic!("no instance {parts:?} among {:?}", results.keys()), |f| f.1)
    };
    for ((x, gamma), companion) in xs.iter().zip(&gammas).flat_map(|g| [(g, false), (g, true)]) {
        let m = find(&[
            "regular[",
            &format!("localization={gamma}"),
            &format!("companion={companion}"),
        ]);
        let (estimate, sensitivity, se) = (
            m["llc_mean"].as_f64().unwrap(),
            m["localization_sensitivity"].as_f64().unwrap(),
            m["localization_sensitivity_se"].as_f64().unwrap(),
        );
        let theory = 6.0 / (1.0 + x);
        let theory_sensitivity =
            if companion { ((1.0 + x) / (1.0 + x / 2.0)).log2() } else { x / (1.0 + x) };
        report.push(format!(
            "x = {x}, companion {companion}: {estimate:.3} vs {theory:.3}, sensitivity \
             {sensitivity:.3} ± {se:.3} vs {theory_sensitivity:.3}"
        ));
        // The sensitivity within 3 of its standard errors plus 5% for the sample's curvature
        // (up to 2% from 2/3) and the sampler's bias at this lr (measured: within 0.024 from
        // the draws, standard errors 0.01 to 0.06; within 0.03 from a companion, standard
        // errors 0.002 to 0.02); the estimate within 10%, the sampler's bias at this lr
        // (measured: 3.5% at γ = 1).
        let room = 3.0 * se + 0.05 * theory_sensitivity;
        assert!((sensitivity - theory_sensitivity).abs() <= room, "{}", report.join("\n"));
        assert!((estimate - theory).abs() <= 0.1 * theory, "{}", report.join("\n"));
        // Flagged exactly where the localization takes a third or more of the estimate.
        assert_eq!(flagged(m), *x >= 1.0, "{}\n{m}", report.join("\n"));
    }
    // The deep linear network (theory 22.5): at γ = 10 within 15% and not flagged; at γ = 1000
    // more than 30% below theory (measured: 11.6) and flagged.
    for companion in [false, true] {
        let with = format!("companion={companion}");
        let near = find(&["deep[", "localization=10.0", &with]);
        let far = find(&["deep[", "localization=1000.0", &with]);
        let estimate = |m: &serde_json::Value| m["llc_mean"].as_f64().unwrap();
        report.push(format!(
            "dln, companion {companion}: γ = 10 {:.3}, γ = 1000 {:.3}",
            estimate(near),
            estimate(far)
        ));
        assert!(
            (estimate(near) - 22.5).abs() <= 0.15 * 22.5 && !flagged(near),
            "{}",
            report.join("\n")
        );
        assert!(estimate(far) < 0.7 * 22.5 && flagged(far), "{}", report.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn a_small_modular_mlp_is_flagged_at_localization_100_and_calibrate_finds_a_gamma_it_does_not_depend_on()
 {
    // Issue 20's second finding: an MLP 46-128-23 on modular addition mod 23, at its last
    // checkpoint, estimated with the finding's sampler (lr 1e-4, γ = 100, n_beta = 64 / ln 64)
    // gives 0.25, where γ = 10 gives 2.4: the localization sets the estimate.
    let spec = "train small {\n  model = mlp.model(widths = [46, 128, 23])\n  \
                data = modular.data(p = 23, train_fraction = 0.6)\n  \
                optimizer = adamw(lr = 3e-3, weight_decay = 0.5)\n  batch_size = full\n  \
                steps = 4_000\n  seed = 0\n}\n\
                estimate finding on small {\n  at = [4_000]\n  observable = llc(sampler = \
                sgld(lr = 1e-4, localization = 100), chains = 4, draws = 300, burnin = 200, \
                batch_size = 64)\n}\n\
                estimate tuned on small {\n  at = [4_000]\n  observable = llc(sampler = \
                sgld(lr = 3e-5, localization = 1), nbeta = 3_000, chains = 4, draws = 3_000, \
                burnin = 2_000, batch_size = 64)\n}\n";
    let project = Project::new(spec);
    let run = project.run(&["--target", "finding"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let finding = &metrics(&project)["finding@4000"];
    assert!(
        finding["diagnostics"].as_str().unwrap().contains("localization_dominated"),
        "{finding}"
    );
    // A higher n_beta (the loss pulls harder) and a localization sweep: calibrate recommends a
    // cell without diagnostics whose estimate agrees with the next smaller γ.
    let out = project.verb(&[
        "calibrate",
        "{spec}",
        "tuned",
        "--lr",
        "1e-5,3e-5",
        "--localization",
        "0.3,0.1,0.03",
    ]);
    let recommended = out.lines().find(|l| l.starts_with("recommended: ")).expect(&out);
    assert!(recommended.contains("within 3 standard errors"), "{out}");
    let cells = metrics(&project);
    let number = |text: &str| text.parse::<f64>().expect(&out);
    let (lr, gamma) = (field(recommended, "lr = "), field(recommended, "localization = "));
    // A cell's metrics by its coordinates, read from its name
    // (`tuned[calibrate.localization=1.0,calibrate.lr=3e-5]`: the grid's own axes).
    let cell = |gamma: &str| {
        let wanted = [("calibrate.lr", number(lr)), ("calibrate.localization", number(gamma))];
        cells
            .iter()
            .find(|(name, _)| {
                let Some(coords) = name.strip_prefix("tuned[").and_then(|r| r.split(']').next())
                else {
                    return false;
                };
                wanted.iter().all(|(axis, value)| {
                    coords.split(',').any(|c| {
                        c.split_once('=').is_some_and(|(a, v)| a == *axis && number(v) == *value)
                    })
                })
            })
            .map(|(_, m)| m.clone())
            .expect(&out)
    };
    let best = cell(gamma);
    assert_eq!(best["diagnostics"].as_str(), Some(""), "{out}");
    // The next smaller γ of the grid, and the agreement the recommendation claims.
    let smaller = field(recommended, "agrees with localization = ");
    let next = cell(smaller);
    let (a, b) = (&best, &next);
    let value = |m: &serde_json::Value, k: &str| m[k].as_f64().unwrap();
    let combined = value(a, "llc_se").hypot(value(b, "llc_se"));
    assert!((value(a, "llc_mean") - value(b, "llc_mean")).abs() <= 3.0 * combined, "{out}");
}

#[test]
fn the_grokking_networks_llc_at_localization_100_is_flagged_by_the_draws_and_by_a_companion() {
    // Issue 20's first finding, shortened: `specs/grokking.dev`'s MLP (118-256-59, modular
    // addition mod 59, full-batch AdamW with weight decay 1.0) at step 1,000, estimated with the
    // study's former sampler (lr 1e-4, localization 100, 4 chains x 300 draws after 200, batch
    // 256). In the full study every one of its 20 estimates was flagged. Measured here: the
    // estimate 13.9; sensitivity 34 ± 10 from the draws (too large to be an elasticity: the
    // checkpoint is not a minimum of the loss alone) and 0.875 ± 0.016 from a companion, whose
    // estimate at localization 50 is 2^0.875 = 1.8 times as large.
    let spec = "train grok {\n  model = mlp.model(widths = [118, 256, 59])\n  \
                data = modular.data(p = 59, train_fraction = 0.4, seed = 1)\n  \
                optimizer = adamw(lr = 1e-3, weight_decay = 1.0)\n  batch_size = full\n  \
                steps = 1_000\n  seed = 0\n}\n\
                estimate llc on grok {\n  at = [1_000]\n  observable = llc(sampler = \
                sgld(lr = 1e-4, localization = 100), chains = 4, draws = 300, burnin = 200, \
                batch_size = 256, companion = sweep([false, true]))\n}\n";
    let project = Project::new(spec);
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let results = metrics(&project);
    for companion in [false, true] {
        let m = &results[&format!("llc[companion={companion}]@1000")];
        let flags = m["diagnostics"].as_str().unwrap();
        assert!(flags.contains("localization_dominated"), "companion {companion}: {m}");
    }
}

/// The number after `label` in `line` (up to a comma, space or parenthesis).
fn field<'l>(line: &'l str, label: &str) -> &'l str {
    let rest = line.split(label).nth(1).expect(line);
    rest.split([',', ' ', '(', ')', ':']).next().expect(line)
}

#[test]
fn a_point_that_is_not_a_minimum_is_flagged_and_a_diverging_sampler_fails_only_its_step() {
    // Ten steps from a random initialization are far from any minimum: the chains go downhill,
    // so the mean sampled loss falls below the checkpoint's.
    let spec = "let teacher = dln.teacher(widths = [6, 4, 6], rank = 2)\n\
                let data = dln.data(teacher = teacher, samples = 1_000)\n\
                train early {\n  model = dln.model(widths = [6, 4, 6])\n  data = data\n  \
                optimizer = sgd(lr = 0.01)\n  batch_size = 100\n  steps = 10\n}\n\
                estimate downhill on early {\n  observable = llc(sampler = sgld(lr = 1e-3, \
                localization = 1), draws = 400, burnin = 0)\n}\n\
                estimate exploding on early {\n  observable = llc(sampler = sgld(lr = 10, localization = 1), \
                draws = 50, burnin = 0)\n}\n";
    let project = Project::new(spec);
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    let stderr = run.stderr();
    assert!(stderr.contains("chains diverged"), "{stderr}");
    assert!(stderr.contains("lower the sampler's lr"), "{stderr}");
    // The other estimate still ran, and says what is wrong with its checkpoint.
    let downhill = &metrics(&project)["downhill@10"];
    let flags = downhill["diagnostics"].as_str().unwrap();
    assert!(flags.contains("negative") || flags.contains("not_stationary"), "{downhill}");
    // `show` explains each diagnostic under its table, with what to do.
    let shown = project.verb(&["show", "{spec}", "downhill"]);
    assert!(shown.contains("downhill@10: ") && shown.contains("fix: "), "{shown}");
}

#[test]
fn sibling_checkpoints_sampled_as_one_computation_give_each_ones_own_bytes() {
    // A deep linear network (autograd) and the toy model (its preallocated workspace).
    let dln = "let teacher = dln.teacher(widths = [6, 4, 6], rank = 2)\n\
               train fit {\n  model = dln.model(widths = [6, 4, 6])\n  \
               data = dln.data(teacher = teacher, samples = 1_000)\n  optimizer = adam(lr = 0.01)\n  \
               batch_size = 100\n  steps = 300\n  checkpoints = [100, 200]\n}\n\
               estimate llc on fit {\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 10), \
               draws = 100, burnin = 20)\n}\n";
    let tms = "train fit {\n  model = tms.model(features = 5, hidden = 2)\n  \
               data = tms.data(features = 5, sparsity = 0.8, samples = 2_000)\n  optimizer = adam(lr = 0.01)\n  \
               batch_size = 256\n  steps = 300\n  checkpoints = [100, 200]\n}\n\
               estimate llc on fit {\n  observable = llc(sampler = sgld(lr = 1e-3, localization = 100), \
               draws = 100, burnin = 20)\n}\n";
    // Under this CPU's own kernels, and (where it has them) under the avx2 ones an AVX2-only
    // CPU picks by default: there the toy model's workspace once gave the chains of one
    // checkpoint other bytes in a group of three than alone (a product over the stacked
    // chains, whose kernel changed with the number of rows).
    let mut settings: Vec<&[(&str, &str)]> = vec![&[]];
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        settings.push(&[("MKL_CBWR", "AVX2"), ("ATEN_CPU_CAPABILITY", "avx2")]);
    }
    for (spec, env) in [dln, tms].into_iter().flat_map(|s| settings.iter().map(move |e| (s, *e))) {
        let run = |project: &Project, extra: &[&str]| {
            super::run::Run(project.command(extra).envs(env.iter().copied()).output().unwrap())
        };
        // Training first, so all three checkpoints are ready together (a run streams each
        // checkpoint to its estimate the moment it exists, and groups only what is ready).
        let together = Project::new(spec);
        assert_eq!(run(&together, &["--target", "fit"]).counts(), (1, 0, 0, 0));
        assert_eq!(run(&together, &["--batch", "16"]).counts(), (3, 1, 0, 0));
        let alone = Project::new(spec);
        assert_eq!(run(&alone, &["--batch", "1"]).counts(), (4, 0, 0, 0));
        let outputs = |p: &Project| -> BTreeMap<String, serde_json::Value> {
            p.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
        };
        assert_eq!(outputs(&together), outputs(&alone), "{env:?}\n{spec}");
        let grouped = std::fs::read_dir(together.store().join("logs"))
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .any(|log| log.contains("group: 3 siblings"));
        assert!(grouped, "the three checkpoints were not sampled together: {spec}");
    }
}

#[test]
fn an_llc_on_a_checkpoint_without_data_is_refused_before_anything_runs() {
    let project = Project::new(
        "let t = dln.teacher(widths = [3, 2], rank = 1)\n\
         checkpoint c {\n  model = dln.model(widths = [3, 2])\n  weights = t\n}\n\
         estimate norm on c { observable = weight_norm() }\n\
         estimate llc on c { observable = llc(sampler = sgld(lr = 1e-4, localization = 1), batch_size = 10) }\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(
        run.stderr().contains("`llc` needs data for its loss, and `c` has none"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("give `c` a `data = ...`"), "{}", run.stderr());
}

#[test]
fn the_hessian_trace_of_linear_regression_is_twice_the_input_variance_and_outputs_are_kept() {
    // y = W x with the mean squared error over samples and the N outputs: the Hessian in W is
    // (2 / N) (I_N ⊗ Σ), Σ the inputs' second moment, so its trace is 2 tr Σ = 2 M = 8 for
    // M = 4 standard normal inputs (10,000 samples: tr Σ within about 1% of 4). Hutchinson's
    // probes vary only through Σ's small off-diagonal entries, so 100 probes are plenty.
    let project = Project::new(&format!(
        "{}estimate curvature on c {{ observable = hessian_trace(samples = 100) }}\n\
         estimate probe on c {{ observable = outputs(samples = 5) }}\n",
        regression_truth(10_000)
    ));
    let run = project.run(&[]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    let results = metrics(&project);
    let trace = results["curvature@0"]["hessian_trace"].as_f64().unwrap();
    assert!((trace - 8.0).abs() < 0.4, "trace {trace}");
    assert_eq!(results["probe@0"]["outputs"].as_u64(), Some(5));
}

#[test]
fn the_gradient_norm_is_zero_at_the_teacher_and_two_over_n_times_the_weights_norm_against_zero_labels()
 {
    // y = W x with the mean squared error over samples and the N = 3 outputs: the gradient in
    // W is (2 / N) (W - T) Σ, Σ the inputs' second moment (the identity, within about 2% in
    // norm for 10,000 standard normal samples of 4 inputs). At the teacher (T = W, no label
    // noise) it vanishes up to f32 rounding; labelled by the zero teacher (T = 0) its norm is
    // (2 / 3) |W Σ| = (2 / 3) |W| within that 2%; 5% leaves room for the sample.
    let project = Project::new(
        "let t = dln.teacher(widths = [4, 3], rank = 3)\n\
         let zero = dln.teacher(widths = [4, 3], rank = 0)\n\
         checkpoint at_teacher {\n  model = dln.model(widths = [4, 3])\n  weights = t\n  \
         data = dln.data(teacher = t, samples = 10000)\n}\n\
         checkpoint off_teacher {\n  model = dln.model(widths = [4, 3])\n  weights = t\n  \
         data = dln.data(teacher = zero, samples = 10000)\n}\n\
         estimate flat on at_teacher { observable = gradient_norm() }\n\
         estimate steep on off_teacher { observable = gradient_norm() }\n\
         estimate size on off_teacher { observable = weight_norm() }\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.counts().2, 0, "{}", run.stderr());
    let results = metrics(&project);
    let flat = results["flat@0"]["gradient_norm"].as_f64().unwrap();
    let steep = results["steep@0"]["gradient_norm"].as_f64().unwrap();
    let size = results["size@0"]["weight_norm"].as_f64().unwrap();
    assert!(size > 0.5, "the teacher has weights: {size}");
    assert!(flat < 1e-4 * size, "gradient at the teacher {flat} (weights {size})");
    let expected = 2.0 / 3.0 * size;
    assert!((steep - expected).abs() < 0.05 * expected, "gradient {steep}, expected {expected}");
}

#[test]
fn calibrate_sweeps_the_step_size_and_recommends_a_cell_with_good_acceptance() {
    let project = Project::new(&format!(
        "{}estimate llc on c {{\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 1), \
         nbeta = dataset, draws = 200, burnin = 100, batch_size = 200)\n}}\n",
        regression_truth(2_000)
    ));
    let out = project.verb(&["calibrate", "{spec}", "llc", "--lr", "1e-6,1e-5,1e-4,1e-3,1e-2"]);
    // Every cell is listed; the largest step size is refused for its acceptance or divergence.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("0.0") || l.starts_with("1e-")).count(),
        5,
        "{out}"
    );
    let recommended = out.lines().find(|l| l.starts_with("recommended: lr = ")).expect(&out);
    let acceptance: f64 = recommended
        .split("acceptance ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect(recommended);
    assert!(acceptance >= 0.8, "{out}");
    assert!(out.contains("paste: observable = llc("), "{out}");
    let recorded = std::fs::read_dir(project.store().join("calibrations")).unwrap().count();
    assert_eq!(recorded, 1);
}

#[test]
fn a_calibration_grid_is_one_computation_and_each_cell_gets_its_own_bytes() {
    let spec = format!(
        "{}estimate llc on c {{\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 1), \
         draws = 100, burnin = 50, batch_size = 200)\n}}\n",
        regression_truth(2_000)
    );
    let grid = ["calibrate", "{spec}", "llc", "--lr", "1e-5,1e-4", "--nbeta", "50,500"];
    // Whether a cell is recommended does not matter here (the exit code says so), only how
    // the cells were computed.
    let together = Project::new(&spec);
    let out = together.verb_output(&grid);
    let alone = Project::with_config(&spec, "[run]\nbatch = 1\n");
    assert_eq!(alone.verb_output(&grid).status.code(), out.status.code());
    let outputs = |p: &Project| -> BTreeMap<String, serde_json::Value> {
        p.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
    };
    let cells = outputs(&together);
    assert_eq!(cells.keys().filter(|name| name.starts_with("llc")).count(), 4, "{cells:?}");
    assert_eq!(cells, outputs(&alone));
    let grouped = std::fs::read_dir(together.store().join("logs"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .any(|log| log.contains("group: 4 siblings"));
    assert!(grouped, "the grid's cells were not sampled together");
}
