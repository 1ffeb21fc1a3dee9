//! `devspec run` speed: a no-op run (everything cached), process start included, of a realistic
//! study of about 500 executor `test` instances (goal: at most 100 ms), of a generated one of
//! 10,000 (at most 500 ms) and of 1,000 real training runs (a deep linear network, one step
//! each: at most 60 ms), each printed with its goal, MET or MISSED; and the scheduling overhead
//! per executed step, worker round trip included (target: under 1 ms, fsyncs excluded; each step
//! here makes two durable writes: its blob and its manifest, measured and subtracted).
//!
//! With `RUN_SPEED_BASELINE=PATH` (another build of `devspec`, say the last commit's), the no-op
//! runs are measured for both, alternately on the same machine state, each on its own copy of
//! the study: how a change moves the no-op rerun.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DEVSPEC: &str = env!("CARGO_BIN_EXE_devspec");

fn project(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp folder");
    std::fs::write(dir.path().join("devspec.toml"), "").expect("write devspec.toml");
    std::fs::write(dir.path().join("study.dev"), spec).expect("write spec");
    dir
}

fn run(dir: &Path, jobs: &str) -> Duration {
    run_with(dir, jobs, "16")
}

fn run_with(dir: &Path, jobs: &str, batch: &str) -> Duration {
    run_binary(DEVSPEC, dir, jobs, batch)
}

fn run_binary(devspec: &str, dir: &Path, jobs: &str, batch: &str) -> Duration {
    // This build's worker for every `devspec` measured, so a baseline elsewhere finds one and
    // both key with the same libtorch.
    let worker = Path::new(DEVSPEC).with_file_name("devspec-worker");
    let start = Instant::now();
    let status = Command::new(devspec)
        .args(["run", "--quiet", "--jobs", jobs, "--batch", batch])
        .arg(dir.join("study.dev"))
        .env_remove("DEVSPEC_STORE")
        .env("DEVSPEC_WORKER", worker)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("devspec runs");
    assert!(status.success());
    start.elapsed()
}

/// A no-op run's goal: its median at most this many milliseconds.
fn verdict(median: Duration, goal_ms: f64) -> String {
    let met = median.as_secs_f64() * 1e3 <= goal_ms;
    format!("goal at most {goal_ms:.0} ms: {}", if met { "MET" } else { "MISSED" })
}

fn noop(name: &str, spec: &str, instances: usize, goal_ms: f64) {
    if let Ok(baseline) = std::env::var("RUN_SPEED_BASELINE") {
        return noop_against(name, spec, instances, goal_ms, &baseline);
    }
    let dir = project(spec);
    write_data(dir.path());
    let first = run(dir.path(), "2");
    let mut times: Vec<Duration> = (0..10).map(|_| run(dir.path(), "2")).collect();
    times.sort();
    println!(
        "no-op run, {name} ({instances} instances): median {:.1} ms, min {:.1} ms (first, computing run: {:.2} s); {}",
        times[5].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        first.as_secs_f64(),
        verdict(times[5], goal_ms)
    );
}

/// The no-op runs of this build and of `baseline`, alternately, each on its own study.
fn noop_against(name: &str, spec: &str, instances: usize, goal_ms: f64, baseline: &str) {
    let binaries = [("this build", DEVSPEC), ("baseline", baseline)];
    let dirs: Vec<tempfile::TempDir> = binaries.iter().map(|_| project(spec)).collect();
    for ((_, devspec), dir) in binaries.iter().zip(&dirs) {
        write_data(dir.path());
        run_binary(devspec, dir.path(), "2", "16");
        // The first no-op run may upgrade what the computing run wrote: not measured.
        run_binary(devspec, dir.path(), "2", "16");
    }
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..15 {
        for (index, ((_, devspec), dir)) in binaries.iter().zip(&dirs).enumerate() {
            times[index].push(run_binary(devspec, dir.path(), "2", "16"));
        }
    }
    for ((label, _), times) in binaries.iter().zip(&mut times) {
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "no-op run, {name} ({instances} instances), {label}: median {:.1} ms, min {:.1} ms; {}",
            median.as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            verdict(median, goal_ms)
        );
    }
}

/// A large file's digest (a checkpoint, a data file: `store check`, `checkout`, the stat cache's
/// misses), in one thread as before and in pieces on every core (`store_layout::file_digest`).
fn file_digest_speed() {
    let dir = tempfile::tempdir().expect("temp folder");
    let path = dir.path().join("large.bin");
    let bytes: Vec<u8> =
        (0..256u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&path, &bytes).expect("write the file");
    drop(bytes);
    let time = |f: &dyn Fn() -> String| {
        let mut times: Vec<Duration> = (0..7)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed()
            })
            .collect();
        times.sort();
        times[3]
    };
    let one_thread = time(&|| {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(&path).expect("open")).expect("read");
        hasher.finalize().to_hex().to_string()
    });
    let every_core = time(&|| devspec_protocol::store_layout::file_digest(&path).expect("hash"));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "digest of a 256 MiB file (page cache warm): one thread {:.0} ms, in pieces on every core ({cores}) {:.0} ms: {:.2}x",
        one_thread.as_secs_f64() * 1e3,
        every_core.as_secs_f64() * 1e3,
        one_thread.as_secs_f64() / every_core.as_secs_f64()
    );
}

fn main() {
    file_digest_speed();
    // 4 seeds reading a data file; 60 checkpoint-like instances per seed; a measurement on
    // each: 484 instances.
    noop(
        "realistic",
        "test train { value = sweep(0..4), reads = \"data.bin\" }\n\
         test checkpoint on train { tag = sweep(0..60) }\n\
         test estimate on checkpoint { value = 1 }\n",
        4 + 240 + 240,
        100.0,
    );
    noop(
        "generated",
        "test a { value = sweep(0..10) }\ntest b on a { tag = sweep(0..999) }\n",
        10 + 9990,
        500.0,
    );
    // Real training runs: their keys hold a model, data, a teacher and an optimizer each.
    noop(
        "1,000 trainings of a deep linear network",
        "import std.dln\n\
         let teacher = dln.teacher(widths = [2, 2], rank = 1, seed = 0)\n\
         train run {\n\
           model = dln.model(widths = [2, 2])\n\
           data = dln.data(teacher = teacher, samples = 64, noise = 0)\n\
           optimizer = sgd(lr = 0.01)\n\
           batch_size = 16\n\
           steps = 1\n\
           seed = sweep(0..1000)\n\
         }\n",
        1000,
        60.0,
    );

    // Overhead per executed step: 1,000 independent trivial steps on one worker, minus the
    // run's fixed costs (a 1-step run of the same shape); one request per step (`--batch 1`),
    // then in sibling groups of 16 (the default). Measured in a store that has been used (its
    // 512 shard folders exist, as in any store after its first few hundred steps; creating a
    // folder costs about 0.5 ms here), and, for comparison, in a new one.
    if std::env::var_os("RUN_SPEED_BASELINE").is_some() {
        return;
    }
    let durable = durable_write();
    for (batch, store) in [("1", "used"), ("16", "used"), ("1", "new")] {
        let dir = project("test step { value = sweep(0..1000) }\n");
        if store == "used" {
            run_with(dir.path(), "1", batch);
        }
        std::fs::write(dir.path().join("study.dev"), "test step { value = sweep(1000..2000) }\n")
            .expect("write spec");
        let total = run_with(dir.path(), "1", batch);
        std::fs::write(dir.path().join("study.dev"), "test step { value = sweep(5000..5001) }\n")
            .expect("write spec");
        let fixed = run_with(dir.path(), "1", batch);
        let per_step = (total.saturating_sub(fixed)).as_secs_f64() / 999.0;
        println!(
            "executed steps, --batch {batch}, {store} store: {:.3} ms each, of which 2 durable \
             writes {:.3} ms: {:.3} ms without them (1,000 steps in {:.2} s on one worker)",
            per_step * 1e3,
            2.0 * durable * 1e3,
            (per_step - 2.0 * durable) * 1e3,
            total.as_secs_f64()
        );
    }
}

/// The data file the realistic study's training reads: 64 MB, which the stat cache keeps a
/// no-op run from rereading (hashing it costs about 40 ms here).
fn write_data(dir: &Path) {
    let data: Vec<u8> =
        (0..64u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(dir.join("data.bin"), data).expect("write data");
    let settled = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(dir.join("data.bin"))
        .and_then(|file| file.set_modified(settled))
        .expect("date the data file");
}

/// The cost of one durable write (file fsync, rename, folder fsync) on this disk. A step makes
/// two (its output blob, its manifest); measured right before, to subtract them.
fn durable_write() -> f64 {
    let store = tempfile::tempdir().expect("temp folder");
    let start = Instant::now();
    for i in 0..1000 {
        let target = store.path().join("blobs").join(format!("{:02}", i % 100)).join(i.to_string());
        devspec_protocol::store_layout::write_atomically(store.path(), &target, b"durable")
            .expect("write");
    }
    start.elapsed().as_secs_f64() / 1000.0
}
