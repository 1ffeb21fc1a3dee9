//! Bytes that depend only on the key, whatever shares a worker's group: every built-in model
//! (the toy model, a deep linear network, an MLP, a transformer) and the user's own TorchScript
//! module trains, and has its LLC estimated, to the same bytes in a group as alone, with the
//! workers started under each MKL code path (`MKL_CBWR`) and each ATen CPU kernel level this
//! machine supports. (Issue 19: on a Zen 4 EPYC the transformer's batched products gave an
//! ensemble member other bytes than its solo run.)

use std::collections::BTreeMap;
use std::path::Path;

use super::run::Project;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torchscript");

/// Every model kind, three seeds each (one group of three when batched), each with two
/// checkpoints; LLC estimates on the two models trained by autograd through batched products,
/// and on the toy model through its preallocated workspace, whose chunks of chains change size
/// with the group (`estimate::sibling_checkpoints_...` holds the case that once differed).
const SPEC: &str = "\
let teacher = dln.teacher(widths = [4, 3, 4], rank = 2, seed = 0)
train toy {
  model = tms.model(features = 5, hidden = 2)
  data = tms.data(features = 5, sparsity = 0.8, samples = 512)
  optimizer = adam(lr = 0.01)
  batch_size = 64
  steps = 30
  seed = sweep(0..3)
  checkpoints = [15, 30]
}
train deep {
  model = dln.model(widths = [4, 3, 4])
  data = dln.data(teacher = teacher, samples = 256)
  optimizer = adam(lr = 0.01)
  batch_size = 32
  steps = 30
  seed = sweep(0..3)
  checkpoints = [15, 30]
}
train mlp {
  model = mlp.model(widths = [10, 16, 5])
  data = modular.data(p = 5, train_fraction = 0.6)
  optimizer = adamw(lr = 3e-3, weight_decay = 0.5)
  batch_size = full
  steps = 30
  seed = sweep(0..3)
  checkpoints = [15, 30]
}
train gpt {
  model = transformer.model(layers = 2, heads = 2, d_model = 16, d_mlp = 32, context = 12, vocab = 10)
  data = induction.data(vocab = 10, length = 12, samples = 128)
  optimizer = adamw(lr = 3e-3)
  batch_size = 32
  steps = 20
  seed = sweep(0..3)
  checkpoints = [10, 20]
}
train mine {
  model = torchscript.model(\"two_layer.pt\")
  data = tensors(\"data.safetensors\")
  optimizer = sgd(lr = 0.1)
  batch_size = 64
  steps = 20
  seed = sweep(0..3)
  checkpoints = [10, 20]
}
estimate llc_toy on toy {
  observable = llc(sampler = sgld(lr = 1e-3, localization = 100), draws = 50, burnin = 10, batch_size = 256, companion = true)
}
estimate llc_mlp on mlp {
  observable = llc(sampler = sgld(lr = 1e-4, localization = 10), chains = 2, draws = 20, burnin = 5)
}
estimate llc_gpt on gpt {
  observable = llc(sampler = sgld(lr = 1e-4, localization = 10), chains = 2, draws = 10, burnin = 5)
}
";

/// A project holding [`SPEC`] and the TorchScript fixture's files.
fn project() -> Project {
    let project = Project::new(SPEC);
    for name in ["two_layer.pt", "data.safetensors"] {
        std::fs::copy(Path::new(FIXTURE).join(name), project.dir.path().join(name)).unwrap();
    }
    project
}

fn outputs(project: &Project) -> BTreeMap<String, serde_json::Value> {
    project.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
}

/// Runs the study in groups and alone with `env` set for devspec (and so for its workers), and
/// checks every output is the same bytes.
fn groups_match_solo_runs_under(env: &[(&str, &str)]) {
    let trains = ["--target", "toy", "--target", "deep", "--target", "mlp"];
    let trains = [&trains[..], &["--target", "gpt", "--target", "mine"]].concat();
    let run = |project: &Project, extra: &[&str]| {
        let mut command = project.command(extra);
        command.envs(env.iter().copied());
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{env:?} {extra:?}:\n{stderr}");
        stderr
    };
    let together = project();
    // Training first, so every checkpoint is there when the estimates are grouped (a run
    // streams each checkpoint to its estimates the moment it exists, grouping what is ready).
    run(&together, &[&trains[..], &["--batch", "16"]].concat());
    run(&together, &["--batch", "16"]);
    let alone = project();
    run(&alone, &["--batch", "1"]);
    let (grouped, solo) = (outputs(&together), outputs(&alone));
    assert_eq!(grouped.len(), 33, "{env:?}: {:?}", grouped.keys());
    for (instance, outputs) in &solo {
        assert_eq!(
            grouped.get(instance),
            Some(outputs),
            "{env:?}: `{instance}` in a group differs from its solo run"
        );
    }
    // Every model's seeds really were one group.
    let logs: Vec<String> = std::fs::read_dir(together.store().join("logs"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    for step in ["toy", "deep", "mlp", "gpt", "mine"] {
        let grouped = logs.iter().any(|log| {
            log.contains("group: 3 siblings") && log.contains(&format!("{step}[seed=0]"))
        });
        assert!(grouped, "{env:?}: the seeds of `{step}` were not one group");
    }
}

/// The MKL code paths this CPU runs (MKL refuses a branch the CPU lacks by falling back, which
/// would test nothing new).
fn mkl_branches() -> Vec<&'static str> {
    let mut branches = vec!["AUTO", "COMPATIBLE"];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            branches.push("AVX2");
        }
        if std::is_x86_feature_detected!("avx512f") {
            branches.push("AVX512");
        }
    }
    branches
}

/// The ATen kernel levels this CPU runs.
fn aten_capabilities() -> Vec<&'static str> {
    let mut levels = vec!["default"];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            levels.push("avx2");
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") {
            levels.push("avx512");
        }
    }
    levels
}

#[test]
fn every_model_in_a_group_gets_its_solo_bytes_under_each_mkl_branch_and_aten_capability() {
    // Each branch with ATen's default choice, then each kernel level with MKL's automatic one:
    // what a user's machine may pick on its own, one setting at a time.
    for branch in mkl_branches() {
        groups_match_solo_runs_under(&[("MKL_CBWR", branch)]);
    }
    for level in aten_capabilities() {
        groups_match_solo_runs_under(&[("ATEN_CPU_CAPABILITY", level)]);
    }
    // What an AVX2-only CPU (a Zen 2 or 3 EPYC) runs by default: both at avx2.
    if aten_capabilities().contains(&"avx2") {
        groups_match_solo_runs_under(&[("MKL_CBWR", "AVX2"), ("ATEN_CPU_CAPABILITY", "avx2")]);
    }
}
