//! What pinning MKL's code path would cost (docs/store.md, "Bytes that depend only on the
//! key"): the toy model's training, a transformer ensemble's training and a transformer LLC,
//! each run by `devspec` with its workers under `MKL_CBWR` = `AUTO` (devspec's default, where
//! the key names the CPU) and under each pinned branch this CPU runs. One thread per step, one
//! job; each figure is the step's own time (its manifest's start to end), so worker start-up
//! and planning are left out.

mod common;

/// The toy model of `specs/tms.dev`, one run.
const TMS: &str = "train t {\n  model = tms.model(features = 6, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 6, sparsity = 0.95, samples = 4096)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 1024\n  steps = 20_000\n  seed = 0\n}\n";
const TMS_STEPS: f64 = 20_000.0;

/// The induction study's transformer (2 layers, 4 heads, `d_model` 64, context 32, vocab 32,
/// batch 64): four seeds trained as one group, then 4 chains x 100 draws of SGLD at the last
/// checkpoint of each.
const GPT: &str = "train t {\n  model = transformer.model(layers = 2, heads = 4, d_model = 64, \
    context = 32, vocab = 32)\n  data = induction.data(vocab = 32, length = 32)\n  \
    optimizer = adamw(lr = 1e-3)\n  batch_size = 64\n  steps = 200\n  seed = sweep(0..4)\n  \
    checkpoints = [200]\n}\n\
    estimate llc on t {\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 100), \
    chains = 4, draws = 80, burnin = 20, batch_size = 64)\n}\n";
const GPT_MEMBER_STEPS: f64 = 4.0 * 200.0;
const GPT_CHAIN_STEPS: f64 = 4.0 * 4.0 * 100.0;

/// Each kind of step's total wall seconds in a run of `spec` under `MKL_CBWR=branch`.
fn step_seconds(spec: &str, branch: &str) -> std::collections::BTreeMap<String, f64> {
    let mut seconds = std::collections::BTreeMap::new();
    for manifest in common::run_manifests(spec, &["--batch", "16"], &[("MKL_CBWR", branch)]) {
        let kind = manifest["kind"].as_str().expect("a kind").to_owned();
        *seconds.entry(kind).or_default() += common::wall_seconds(&manifest);
    }
    seconds
}

fn main() {
    let mut branches = vec!["AUTO", "COMPATIBLE"];
    if std::is_x86_feature_detected!("avx2") {
        branches.push("AVX2");
    }
    if std::is_x86_feature_detected!("avx512f") {
        branches.push("AVX512");
    }
    println!("branch      TMS train steps/s   transformer member-steps/s   LLC chain-steps/s");
    for branch in branches {
        let tms = step_seconds(TMS, branch);
        let gpt = step_seconds(GPT, branch);
        // The group of four seeds runs at once: its members' walls overlap, so the group's
        // wall is one member's (they start and end together). The estimates (one per seed's
        // checkpoint, not siblings) run one after another with one job.
        let train = gpt["train"] / 4.0;
        let estimate = gpt["estimate"];
        println!(
            "{branch:<11} {:>17.0}   {:>26.0}   {:>17.0}",
            TMS_STEPS / tms["train"],
            GPT_MEMBER_STEPS / train,
            GPT_CHAIN_STEPS / estimate
        );
    }
}
