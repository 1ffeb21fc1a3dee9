//! What the benches share: running a spec with `devspec` in a fresh project, one job and one
//! thread per step, and reading the manifests it recorded (each step's own start and end).
//! A folder, not a file, so that cargo does not take it for a bench of its own.

use std::path::Path;
use std::process::Command;

const DEVSPEC: &str = env!("CARGO_BIN_EXE_devspec");

/// Runs `spec` in a new project with `--jobs 1 --threads 1` and the extra `args` and `env`;
/// returns every manifest of its store once the run has succeeded.
#[allow(dead_code)] // Each bench compiles this module; the LLC benches run their own commands.
pub fn run_manifests(spec: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp folder");
    std::fs::write(dir.path().join("devspec.toml"), "").expect("write devspec.toml");
    std::fs::write(dir.path().join("study.dev"), spec).expect("write spec");
    let status = Command::new(DEVSPEC)
        .args(["run", "--quiet", "--jobs", "1", "--threads", "1"])
        .args(args)
        .arg(dir.path().join("study.dev"))
        .env_remove("DEVSPEC_STORE")
        .envs(env.iter().copied())
        .status()
        .expect("devspec runs");
    assert!(status.success());
    store_manifests(&dir.path().join(".devspec"))
}

/// Every manifest of the store at `store` (a project's `.devspec`).
pub fn store_manifests(store: &Path) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for shard in std::fs::read_dir(store.join("actions")).expect("results") {
        for entry in std::fs::read_dir(shard.expect("a shard").path()).expect("a shard") {
            let text = std::fs::read_to_string(entry.expect("a manifest").path()).expect("read");
            all.push(serde_json::from_str(&text).expect("a manifest"));
        }
    }
    all
}

/// The seconds the worker spent in the sampling loops of the instances whose names start with
/// `prefix`: each group's log (every member's the same) says `sampled ... in X s`.
#[allow(dead_code)] // Each bench compiles this module; only the LLC benches read sampling times.
pub fn sampling_seconds(store: &Path, prefix: &str) -> f64 {
    let mut lines = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(store.join("logs")).expect("logs") {
        let text = std::fs::read_to_string(entry.expect("a log").path()).expect("read");
        if !text.starts_with(&format!("instance: {prefix}")) {
            continue;
        }
        lines.extend(text.lines().filter(|l| l.contains(" chain-steps/s)")).map(str::to_owned));
    }
    assert!(!lines.is_empty(), "no sampling time in the logs");
    lines
        .iter()
        .map(|line| {
            let seconds = line.split(" in ").nth(1).and_then(|rest| rest.split(' ').next());
            seconds.and_then(|s| s.parse::<f64>().ok()).expect("a time")
        })
        .sum()
}

/// A manifest's step time: its provenance's end minus its start, in seconds.
#[allow(dead_code)] // Each bench compiles this module; not every one times single steps.
pub fn wall_seconds(manifest: &serde_json::Value) -> f64 {
    let provenance = &manifest["provenance"];
    provenance["ended"].as_f64().expect("an end") - provenance["started"].as_f64().expect("a start")
}

/// The seconds `devspec run --log-format json` reported for `instance` when it finished (what
/// `devspec plan --cost` forecasts for it), from that run's log (its standard error).
#[allow(dead_code)] // Each bench compiles this module; only the scaling bench reads run logs.
pub fn finished_seconds(log: &str, instance: &str) -> f64 {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "finished" && e["instance"] == instance)
        .and_then(|e| e["seconds"].as_f64())
        .unwrap_or_else(|| panic!("no finished event for {instance} in the run's log"))
}

/// A transformer's shape and batch, for its FLOP count.
#[allow(dead_code)] // Each bench compiles this module; the transformer benches count FLOPs.
pub struct TransformerShape {
    pub layers: u64,
    pub heads: u64,
    pub d_model: u64,
    pub d_head: u64,
    pub d_mlp: u64,
    pub context: u64,
    /// Numbers per position of vector inputs (embedded by a product); 0 for token ids (a lookup).
    pub inputs: u64,
    /// The unembedding's outputs per position (the vocabulary, or a regression's outputs).
    pub outputs: u64,
    pub batch: u64,
}

/// The floating-point operations of one forward and backward pass on one batch (an LLC's
/// chain-step, a training step), counting matrix products only (2·m·k·n each; layer norms,
/// softmax, the loss and the update are O(n·d), a few percent at most here).
///
/// Forward, with n = batch · context rows: the embedding (2·n·inputs·d for vector inputs; a
/// lookup for tokens); per block the q, k and v projections (3 · 2·n·d·(h·dh)), the attention
/// scores Q Kᵀ and the pattern times V (each 2·T·T·dh per head and sequence, the full T x T
/// square: the causal mask's upper half is computed or skipped depending on the kernel, so this
/// is the dense count), the output projection (2·n·(h·dh)·d) and, with an MLP, its two layers
/// (2 · 2·n·d·`d_mlp`); then the unembedding (2·n·d·outputs). Backward: every product's two
/// gradients (its input's and its weight's: the first block's input gradient is needed too,
/// where the embeddings are sampled), each as many operations as the product: 2x the forward.
/// A pass is 3x the forward. (devspec's MALA check, a second pass every 10th LLC step, is not
/// counted.)
#[allow(dead_code)] // Each bench compiles this module; the transformer benches count FLOPs.
pub fn pass_flops(s: &TransformerShape) -> u64 {
    let rows = s.batch * s.context;
    let width = s.heads * s.d_head;
    let attention = s.batch * s.heads * 2 * s.context * s.context * s.d_head;
    let block = 3 * 2 * rows * s.d_model * width
        + 2 * attention
        + 2 * rows * width * s.d_model
        + 2 * 2 * rows * s.d_model * s.d_mlp;
    let forward =
        2 * rows * s.inputs * s.d_model + s.layers * block + 2 * rows * s.d_model * s.outputs;
    3 * forward
}

/// `pass_flops` against a count by hand, product by product, for a shape whose sizes all
/// differ (so a swapped factor shows): 1 layer, 2 heads of 3, `d_model` 4, MLP 5, context 6,
/// vector inputs of 8, 7 outputs, batch 2 (12 rows). Embedding: 2·12·8·4 = 768; q, k, v: 3 ·
/// 2·12·4·6 = 1,728; scores: 2 sequences · 2 heads · 2·6·6·3 = 864; pattern · V: 864; output:
/// 2·12·6·4 = 576; MLP: 2·12·4·5 + 2·12·5·4 = 960; unembedding: 2·12·4·7 = 672. Forward 6,432;
/// a pass 3x: 19,296 (16,992 with token inputs).
#[allow(dead_code)] // Each bench compiles this module; the transformer benches count FLOPs.
pub fn check_flop_count() {
    let mut shape = TransformerShape {
        layers: 1,
        heads: 2,
        d_model: 4,
        d_head: 3,
        d_mlp: 5,
        context: 6,
        inputs: 8,
        outputs: 7,
        batch: 2,
    };
    assert_eq!(pass_flops(&shape), 19_296, "the FLOP count disagrees with the hand count");
    shape.inputs = 0;
    assert_eq!(pass_flops(&shape), 16_992, "the FLOP count disagrees with the hand count");
}

/// The machine's single-thread float32 matmul peak, as `worker/benches/matmul_peak.rs` last
/// recorded it (`make bench` runs it first).
#[allow(dead_code)] // Each bench compiles this module; the transformer benches read the peak.
pub fn matmul_peak() -> Option<f64> {
    let record = Path::new(env!("CARGO_TARGET_TMPDIR")).join("matmul_peak_gflops");
    std::fs::read_to_string(record).ok()?.trim().parse().ok()
}

/// `rate` passes of `flops` each per second as achieved GFLOP/s, and as a fraction of the
/// recorded matmul peak where there is one.
#[allow(dead_code)] // Each bench compiles this module; the transformer benches read the peak.
pub fn gflops(rate: f64, flops: f64) -> String {
    let achieved = rate * flops / 1e9;
    match matmul_peak() {
        Some(peak) => format!("{achieved:.1} GFLOP/s, {:.1}% of the peak", 100.0 * achieved / peak),
        None => format!("{achieved:.1} GFLOP/s"),
    }
}
