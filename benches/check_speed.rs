//! How long `devspec check` takes on a generated study of 1,000 steps (about 10,000 lines),
//! process start included: the target is under 100 ms. Run with `make bench`; prints the
//! minimum, median and maximum of 30 runs of the release binary.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

/// 250 groups of train, estimate, detect and report steps, each written out in full (no
/// presets), so the checker does the work a large hand-written study would give it.
fn generated_spec(groups: usize) -> String {
    let mut spec = String::from("# Generated for the check-speed benchmark.\nimport std.tms\n\n");
    for g in 0..groups {
        let _ = write!(
            spec,
            r#"# Group {g}: one seed sweep, its LLC, stages and report.
# (Generated; every group is written out in full, without presets.)
train run_{g} {{
  model       = tms.model(features = 6, hidden = 2, init_scale = 0.1)
  data        = tms.data(features = 6, sparsity = 0.95, samples = 4096)
  optimizer   = sgd(lr = 0.1)
  batch_size  = 1024
  steps       = 20_000
  seed        = sweep(0..4)
  checkpoints = logspace(1, 20_000, 60)
  test_fraction = 0.1
  dtype       = f32
}}

# The LLC at every checkpoint, devinterp's default nbeta.
estimate llc_{g} on run_{g} {{
  observable = llc(
    sampler = sgld(lr = 1e-3, localization = 100),
    nbeta = auto,
    chains = 4,
    draws = 200,
    burnin = 100,
  )
}}

# Stage boundaries at critical points of the LLC over log(step).
detect stages_{g} on llc_{g} {{
  method = critical_points(smoothing = 0.1)
}}

# One page for the group.
report summary_{g} on llc_{g}, stages_{g} {{
  title = "group {g}"
  description = "Four seeds of TMS 6 -> 2 with their LLC and stage boundaries."
}}

"#
        );
    }
    spec
}

fn main() {
    let dir = std::env::temp_dir().join(format!("devspec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    let spec = dir.join("large.dev");
    let text = generated_spec(250);
    std::fs::write(&spec, &text).expect("write spec");
    let lines = text.lines().count();
    let devspec = env!("CARGO_BIN_EXE_devspec");

    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            let status =
                Command::new(devspec).arg("check").arg(&spec).status().expect("devspec runs");
            let elapsed = start.elapsed();
            assert!(status.success(), "the generated spec must check clean");
            elapsed
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "devspec check, 1000 steps ({lines} lines): min {:.1} ms, median {:.1} ms, max {:.1} ms (30 runs)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
