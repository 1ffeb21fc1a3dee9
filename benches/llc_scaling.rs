//! LLC sampling speed against model size (issue 25's figure): chain-steps per second on one
//! thread, for devspec, for devinterp 2.0.1 (`benches/llc_scaling.py`, with the bench venv) and
//! as `devspec plan --cost` forecasts it, for MLPs from about 1e3 to 1e7 parameters. Writes
//! `target/bench/llc_scaling.csv` and draws `target/bench/llc_scaling.svg` (log-log), and
//! `docs/figures/llc_scaling.svg` when the devinterp peer ran.
//!
//! The family is the grokking MLP of `specs/grokking.dev` (Power et al. 2022's modular addition
//! with the one-hidden-layer MLP of Gromov 2023: a and b one-hot in, a logit per residue out, p =
//! 59), only its hidden width varied: widths `[118, h, 59]` have 178 h + 59 parameters, so h = 5,
//! 56, 562, 5,618, 56,180 give 949, 10,027, 100,095, 1,000,063 and 10,000,099. One hidden layer
//! keeps the cost per parameter the same at every size (two matrix products, no width squared),
//! so the line's shape is devspec's overhead against its arithmetic and not a change of model.
//! The sampler is the study's: SGLD lr 1e-4, localization 10, 4 chains, batch 256 at every size,
//! no burn-in; the draws shrink with the size (500 at 1e3 to 5 at 1e7) so that each point takes
//! a few seconds, which the rate depends on at small sizes, where fixed costs dominate.
//!
//! What is timed, for both: the whole LLC at a checkpoint, not the sampling loop alone. devspec:
//! the LLC step's seconds as `devspec run --log-format json` reports it finished (its manifest's
//! provenance: from the request to the worker, already started, to the result: the checkpoint's
//! load, the loss at the checkpoint, the chains, the diagnostics), which is what the forecast
//! prices per instance (the run's overhead, the worker's start among it, apart). devinterp: its `llc` call (the loss at the
//! checkpoint, the chains one after another, its zarr output; Python's start and imports, about
//! 7 s here, not counted). devspec's sampling loop alone (its log's line) is in the CSV too.
//! Each point runs devspec and then devinterp, point by point, so both see the same load.
//! One project holds the five trains (one step each, a checkpoint at it) and five estimates; the
//! forecast is planned for all of them first, from one fresh calibration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use devspec::report::DrawError;
use devspec::report::canvas::{self, AXIS_TEXT, FAMILY, Plot, TEXT, TITLE_TEXT};
use devspec::report::figure::Drawn;
use devspec::report::style::{number_label, point_colour};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod common;

const DEVSPEC: &str = env!("CARGO_BIN_EXE_devspec");
const P: u64 = 59;
const CHAINS: u64 = 4;

/// Hidden widths and draws per chain: about 1e3 to 1e7 parameters, each point a few seconds.
const POINTS: [(u64, u64); 5] = [(5, 500), (56, 500), (562, 200), (5_618, 25), (56_180, 5)];

fn parameters(hidden: u64) -> u64 {
    2 * P * hidden + hidden + hidden * P + P
}

/// The study: per width a train of one step (the checkpoint the LLC is estimated at) and the LLC.
fn spec() -> String {
    let mut spec = String::new();
    for (hidden, draws) in POINTS {
        let _ = write!(
            spec,
            "train mlp_h{hidden} {{\n  model = mlp.model(widths = [{}, {hidden}, {P}])\n  \
             data = modular.data(p = {P}, train_fraction = 0.4, seed = 1)\n  optimizer = adamw(lr \
             = 1e-3, weight_decay = 1.0)\n  batch_size = 256\n  steps = 1\n  seed = 0\n  \
             checkpoints = [1]\n}}\n\nestimate llc_h{hidden} on mlp_h{hidden} {{\n  observable = \
             llc(sampler = sgld(lr = 1e-4, localization = 10), chains = {CHAINS}, draws = \
             {draws}, burnin = 0, batch_size = 256)\n}}\n\n",
            2 * P
        );
    }
    spec
}

/// `devspec ARGS FILE` in the project; its standard output and error.
fn devspec(project: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(DEVSPEC)
        .args(&args[..1])
        .arg(project.join("study.dev"))
        .args(&args[1..])
        .env_remove("DEVSPEC_STORE")
        .env("DEVSPEC_WORKER", Path::new(DEVSPEC).with_file_name("devspec-worker"))
        .output()
        .expect("devspec runs");
    assert!(
        out.status.success(),
        "devspec {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// One size's figures.
struct Point {
    hidden: u64,
    draws: u64,
    /// The LLC step's seconds, as the run reported them.
    step: f64,
    /// devspec's sampling loop's seconds, from the worker's log.
    sampling: f64,
    forecast: f64,
    /// devinterp's `llc` call's seconds, when it ran.
    peer: Option<f64>,
    llc: f64,
    peer_llc: Option<f64>,
}

impl Point {
    fn chain_steps(&self) -> f64 {
        (CHAINS * self.draws) as f64
    }

    fn rates(&self) -> (f64, Option<f64>, f64) {
        let n = self.chain_steps();
        (n / self.step, self.peer.map(|s| n / s), n / self.forecast)
    }
}

fn main() {
    let project = tempfile::tempdir().expect("temp folder");
    let dir = project.path();
    std::fs::write(dir.join("devspec.toml"), "").expect("write devspec.toml");
    std::fs::write(dir.join("study.dev"), spec()).expect("write spec");
    let load_start = load_average();
    println!(
        "LLC speed against parameters (grokking MLP, batch 256, 4 chains, one thread; load \
         average at the start {load_start}, other builds share this machine's cores)"
    );
    let (json, _) = devspec(dir, &["plan", "--cost", "--recalibrate", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json).expect("the forecast's JSON");
    let forecast = |instance: &str| {
        plan["instances"]
            .as_array()
            .expect("instances")
            .iter()
            .find(|i| i["name"] == instance)
            .and_then(|i| i["seconds"].as_f64())
            .unwrap_or_else(|| panic!("no forecast for {instance}"))
    };
    let python = std::env::var("DEVSPEC_BENCH_PYTHON").unwrap_or_default();
    let python = (!python.is_empty() && Path::new(&python).exists()).then_some(python);
    if python.is_none() {
        println!("devinterp: skipped (DEVSPEC_BENCH_PYTHON is not set; `make bench` sets it)");
    }
    let mut points = Vec::new();
    for (hidden, draws) in POINTS {
        devspec(
            dir,
            &[
                "run",
                "--quiet",
                "--jobs",
                "1",
                "--threads",
                "1",
                "--target",
                &format!("mlp_h{hidden}"),
            ],
        );
        let target = format!("llc_h{hidden}");
        let instance = format!("{target}@1");
        let (_, log) = devspec(
            dir,
            &["run", "--jobs", "1", "--threads", "1", "--log-format", "json", "--target", &target],
        );
        let store = dir.join(".devspec");
        let result = estimate(&store, &instance);
        let checkpoint = checkpoint(&store, &format!("mlp_h{hidden}"));
        assert_eq!(
            stored_parameters(&checkpoint),
            parameters(hidden),
            "the figure's parameter count disagrees with the checkpoint's"
        );
        let peer =
            python.as_deref().map(|python| devinterp(python, &checkpoint, hidden, draws, result.1));
        let point = Point {
            hidden,
            draws,
            step: common::finished_seconds(&log, &instance),
            sampling: common::sampling_seconds(&store, &instance),
            forecast: forecast(&instance),
            peer: peer.map(|p| p.0),
            llc: result.0,
            peer_llc: peer.map(|p| p.1),
        };
        let (ours, theirs, predicted) = point.rates();
        println!(
            "  {:>10} parameters: devspec {ours:8.1} chain-steps/s (step {:.2} s; loop alone \
             {:.1}/s), devinterp {}, forecast {predicted:8.1}/s ({:.2} s against the step's \
             {:.2} s, {:+.0}%: {} against ±30%)",
            parameters(hidden),
            point.step,
            point.chain_steps() / point.sampling,
            theirs.map_or("not run".into(), |r| format!(
                "{r:8.1} chain-steps/s (devspec {:.1}x)",
                ours / r
            )),
            point.forecast,
            point.step,
            (point.forecast / point.step - 1.0) * 100.0,
            // The forecast's tolerance, as `benches/cost_forecast.rs` judges whole studies.
            if (point.forecast - point.step).abs() <= 0.3 * point.step { "MET" } else { "MISSED" },
        );
        points.push(point);
    }
    let load_end = load_average();
    println!("load average at the end: {load_end}");
    let caption = format!("{}, 1 thread, {} (load {load_start} to {load_end})", machine(), today());
    write_outputs(points, caption, python.is_some());
}

/// Writes the CSV and the figure under `target/bench/`, and the docs' figure when the peer ran:
/// the docs' figure shows both tools, so a run without the peer leaves it as it was rather than
/// replace it with a figure that lost a series.
fn write_outputs(points: Vec<Point>, caption: String, peer_ran: bool) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    std::fs::write(out.join("llc_scaling.csv"), csv(&points)).expect("write the CSV");
    let figure = Figure { points, caption };
    let rendered = canvas::render(&figure, (900, 600)).expect("the figure draws");
    std::fs::write(out.join("llc_scaling.svg"), &rendered.svg).expect("write the SVG");
    std::fs::write(out.join("llc_scaling.png"), rendered.png).expect("write the PNG");
    println!("wrote target/bench/llc_scaling.{{csv,svg,png}}");
    if peer_ran {
        let svg = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/figures/llc_scaling.svg");
        std::fs::write(&svg, rendered.svg).expect("write the SVG");
        println!("wrote docs/figures/llc_scaling.svg");
    } else {
        println!("docs/figures/llc_scaling.svg left as it was: this run has no devinterp series");
    }
}

/// The result's `llc_mean` and the `nbeta` it used.
fn estimate(store: &Path, instance: &str) -> (f64, f64) {
    let manifests = common::store_manifests(store);
    let result = manifests.iter().find(|m| m["instance"] == instance).expect("the LLC's result");
    let metric = |name: &str| result["metrics"][name].as_f64().expect("a number");
    (metric("llc_mean"), metric("nbeta"))
}

/// The train's checkpoint at step 1, in the store's blobs.
fn checkpoint(store: &Path, train: &str) -> PathBuf {
    let manifests = common::store_manifests(store);
    let result = manifests.iter().find(|m| m["instance"] == train).expect("the train's result");
    let digest = result["outputs"]["checkpoint@1"].as_str().expect("the checkpoint");
    store.join("blobs").join(&digest[..2]).join(digest)
}

/// The number of values a safetensors checkpoint holds: its header (a little-endian length, then
/// that many bytes of JSON) gives each tensor's shape.
fn stored_parameters(checkpoint: &Path) -> u64 {
    let bytes = std::fs::read(checkpoint).expect("read the checkpoint");
    let length = u64::from_le_bytes(bytes[..8].try_into().expect("a header length"));
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + usize::try_from(length).expect("a header")])
            .expect("a safetensors header");
    let tensors = header.as_object().expect("tensors").iter().filter(|(n, _)| *n != "__metadata__");
    tensors
        .map(|(_, t)| {
            t["shape"]
                .as_array()
                .expect("a shape")
                .iter()
                .map(|d| d.as_u64().expect("a size"))
                .product::<u64>()
        })
        .sum()
}

/// devinterp's `llc` call on the checkpoint: its seconds and estimate.
fn devinterp(python: &str, checkpoint: &Path, hidden: u64, draws: u64, nbeta: f64) -> (f64, f64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/llc_scaling.py");
    let out = Command::new(python)
        .arg(script)
        .arg(checkpoint)
        .args([hidden, CHAINS, draws].map(|n| n.to_string()))
        .arg(nbeta.to_string())
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let number = |name: &str| peer[name].as_f64().expect("a number");
    (number("seconds"), number("llc_mean"))
}

fn csv(points: &[Point]) -> String {
    let mut text = String::from(
        "parameters,hidden,chains,draws,devspec_step_s,devspec_chain_steps_per_s,\
         devspec_loop_s,devspec_loop_chain_steps_per_s,devinterp_llc_s,\
         devinterp_chain_steps_per_s,forecast_s,forecast_chain_steps_per_s,devspec_llc,\
         devinterp_llc\n",
    );
    let optional = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for p in points {
        let (ours, theirs, predicted) = p.rates();
        let _ = writeln!(
            text,
            "{},{},{CHAINS},{},{:.4},{ours:.2},{:.4},{:.2},{},{},{:.4},{predicted:.2},{:.4},{}",
            parameters(p.hidden),
            p.hidden,
            p.draws,
            p.step,
            p.sampling,
            p.chain_steps() / p.sampling,
            optional(p.peer),
            theirs.map_or(String::new(), |r| format!("{r:.2}")),
            p.forecast,
            p.llc,
            optional(p.peer_llc),
        );
    }
    text
}

fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split(' ').next().unwrap_or("unknown").to_owned()
}

/// The processor's name and the cores this machine has.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, n)| n.trim()))
        .unwrap_or("unknown processor")
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{name}, {cores} cores")
}

fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_owned()
}

/// A value on a log axis: `1k`, `10k`, `1M`; others to three significant digits.
fn si_label(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = number_label(scaled);
    let text = if text.contains('.') && !text.contains('e') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// The figure: chain-steps per second against parameters, log-log, three series.
struct Figure {
    points: Vec<Point>,
    caption: String,
}

impl Plot for Figure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        area.fill(&WHITE).map_err(canvas::fail)?;
        let series: [(&str, Vec<(f64, f64)>); 3] = [
            ("devspec, LLC step", self.line(|p| Some(p.rates().0))),
            ("devinterp 2.0.1, llc call", self.line(|p| p.rates().1)),
            ("forecast (devspec plan --cost)", self.line(|p| Some(p.rates().2))),
        ];
        let all = series.iter().flat_map(|(_, s)| s.iter().map(|&(_, y)| y));
        let (low, high) = all.fold((f64::INFINITY, 0.0f64), |(l, h), y| (l.min(y), h.max(y)));
        // Whole decades around the data: the axes start and end at powers of ten.
        let (y0, y1) = (10f64.powf(low.log10().floor()), 10f64.powf(high.log10().ceil()));
        // The title and, under it, the machine and the date: plotters' caption is one line.
        let (top, body) = area.split_vertically(58);
        let centre = i32::try_from(top.dim_in_pixel().0 / 2).unwrap_or(0);
        let centred = |size: f64| {
            TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
        };
        top.draw_text("LLC sampling speed against model size", &centred(TITLE_TEXT), (centre, 8))
            .map_err(canvas::fail)?;
        top.draw_text(&self.caption, &centred(TEXT), (centre, 34)).map_err(canvas::fail)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((5e2..2e7).log_scale(), (y0..y1).log_scale())
            .map_err(canvas::fail)?;
        chart
            .configure_mesh()
            .x_desc("parameters")
            .y_desc("chain-steps per second, 1 thread")
            .label_style((FAMILY, TEXT))
            .axis_desc_style((FAMILY, AXIS_TEXT))
            .bold_line_style(RGBColor(222, 222, 222))
            .light_line_style(RGBColor(244, 244, 244))
            .x_label_formatter(&|v| si_label(*v))
            .y_label_formatter(&|v| si_label(*v))
            .draw()
            .map_err(canvas::fail)?;
        for (index, (name, points)) in series.iter().enumerate() {
            if points.is_empty() {
                continue;
            }
            let colour = point_colour(index);
            let line = colour.stroke_width(2);
            if index == 2 {
                chart
                    .draw_series(DashedLineSeries::new(points.iter().copied(), 8, 5, line))
                    .map_err(canvas::fail)?
                    .label(*name)
                    // Dashed in the legend too: two dashes.
                    .legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new([(0, 0), (8, 0)], line)
                            + PathElement::new([(13, 0), (20, 0)], line)
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), line))
                    .map_err(canvas::fail)?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], line));
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .map_err(canvas::fail)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, TEXT))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(canvas::fail)?;
        Ok(Drawn::default())
    }
}

impl Figure {
    fn line(&self, rate: impl Fn(&Point) -> Option<f64>) -> Vec<(f64, f64)> {
        self.points.iter().filter_map(|p| Some((parameters(p.hidden) as f64, rate(p)?))).collect()
    }
}
