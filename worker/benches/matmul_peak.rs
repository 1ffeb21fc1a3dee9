//! The machine's single-thread float32 matrix-product peak through libtorch (its MKL `sgemm`):
//! the ceiling the speed issue reports transformer figures against. Square products of growing
//! size (the peak is the best of them), and the products of the induction study's transformer
//! (batch 64 x context 32 = 2,048 rows, `d_model` 64: a projection to 64 and a fused one to 192).
//! GFLOP/s counts 2·m·k·n per product.
//!
//! The peak is also written to `matmul_peak_gflops` in cargo's target temporary folder
//! (`CARGO_TARGET_TMPDIR`, one per workspace): `benches/transformer_llc_speed.rs` (the root
//! package, which does not link libtorch) reads it there, so one measurement serves both; `make
//! bench` runs this bench first.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

/// GFLOP/s of `a.matmul(b)`, the median of 7 timings of enough repetitions for about 0.2 s.
fn rate(rows: i64, inner: i64, cols: i64) -> f64 {
    let lhs = Tensor::randn([rows, inner], (Kind::Float, Device::Cpu));
    let rhs = Tensor::randn([inner, cols], (Kind::Float, Device::Cpu));
    let out = lhs.matmul(&rhs);
    let products = 2 * rows * inner * cols;
    // About 4 GFLOP a timing: 0.2 s at 20 GFLOP/s.
    let reps = (4_000_000_000 / products).clamp(3, 100_000);
    let flops = products as f64;
    let mut rates: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                // Into the same output: the allocation is not what is measured.
                let _ = lhs.matmul_out(&out, &rhs);
            }
            flops * reps as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[3]
}

fn main() {
    tch::set_num_threads(1);
    let mut peak = 0.0_f64;
    for n in [64, 128, 256, 512, 1024] {
        let gflops = rate(n, n, n);
        peak = peak.max(gflops);
        println!("float32 matmul {n}x{n}x{n}, one thread: {gflops:.1} GFLOP/s");
    }
    for (label, m, k, n) in [
        ("induction projection 2048x64 . 64x64", 2048, 64, 64),
        ("induction fused q,k,v 2048x64 . 64x192", 2048, 64, 192),
    ] {
        let gflops = rate(m, k, n);
        println!(
            "float32 {label}, one thread: {gflops:.1} GFLOP/s ({:.0}% of the peak)",
            100.0 * gflops / peak
        );
    }
    println!("single-thread float32 matmul peak (best square): {peak:.1} GFLOP/s");
    let record = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("matmul_peak_gflops");
    std::fs::write(&record, format!("{peak}\n")).expect("write the peak for the other benches");
}
