//! Transformer training speed against the same model in PyTorch (`benches/transformer_speed.py`,
//! run with the bench venv's torch 2.13.0; `make bench` makes the venv): the scaled-down
//! in-context regression transformer of `specs/icl.dev` (2 layers, 2 heads, `d_model` 32, MLP 32,
//! D = 4, 8 pairs per sequence), batch 64 of fresh sequences, `AdamW` at lr 1e-3, one thread.
//! Target: at least 1.0x the PyTorch loop's steps per second. Each rate is also given in
//! GFLOP/s of matrix products and as a fraction of the machine's single-thread float32 matmul
//! peak (`common::pass_flops`, `common::matmul_peak`).
//!
//! devspec's time is the train step's own (its manifest's start to end), which includes what
//! the PyTorch loop does not do: recording the loss on 512 held sequences about 300 times, and
//! writing the last checkpoint.

use std::path::Path;
use std::process::Command;

mod common;

const STEPS: u64 = 3000;
/// The PyTorch script's model and data: layers, heads, `d_model`, `d_mlp`, dims, pairs, batch.
const SHAPE: [u32; 7] = [2, 2, 32, 32, 4, 8, 64];

fn spec() -> String {
    format!(
        "train icl {{\n  model = transformer.model(layers = 2, heads = 2, d_model = 32, d_mlp = 32, \
         context = 16, input_dim = 5, output_dim = 1)\n  \
         data = icl.regression(dims = 4, context = 8)\n  \
         optimizer = adamw(lr = 1e-3, weight_decay = 0.01)\n  batch_size = 64\n  \
         steps = {STEPS}\n  seed = 0\n}}\n"
    )
}

fn devspec_speed() -> f64 {
    let manifests = common::run_manifests(&spec(), &[], &[]);
    STEPS as f64 / common::wall_seconds(manifests.first().expect("one result"))
}

/// The study's transformer and batch: 8 pairs are 16 positions of 5 numbers (x and y), one
/// output per position.
const ICL: common::TransformerShape = common::TransformerShape {
    layers: 2,
    heads: 2,
    d_model: 32,
    d_head: 16,
    d_mlp: 32,
    context: 16,
    inputs: 5,
    outputs: 1,
    batch: 64,
};

fn main() {
    common::check_flop_count();
    let flops = common::pass_flops(&ICL) as f64;
    match common::matmul_peak() {
        Some(peak) => println!(
            "single-thread float32 matmul peak: {peak:.1} GFLOP/s (worker/benches/matmul_peak.rs); \
             one training step: {:.1} MFLOP",
            flops / 1e6
        ),
        None => println!(
            "matmul peak: not recorded (run `cargo bench -p devspec-worker --bench matmul_peak` \
             first; `make bench` does); one training step: {:.1} MFLOP",
            flops / 1e6
        ),
    }
    let ours = devspec_speed();
    println!("devspec: {ours:.1} steps/s ({})", common::gflops(ours, flops));
    let python = std::env::var("DEVSPEC_BENCH_PYTHON").unwrap_or_default();
    if python.is_empty() || !Path::new(&python).exists() {
        println!("PyTorch loop: skipped (DEVSPEC_BENCH_PYTHON is not set; `make bench` sets it)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/transformer_speed.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(STEPS.to_string())
        .args(SHAPE.map(|n| n.to_string()))
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let theirs = result["steps_per_s"].as_f64().expect("a number");
    println!(
        "PyTorch 2.13.0 loop (torch.optim.AdamW): {theirs:.1} steps/s ({})",
        common::gflops(theirs, flops)
    );
    println!("devspec: {:.2}x the PyTorch loop (target 1.0x)", ours / theirs);
}
