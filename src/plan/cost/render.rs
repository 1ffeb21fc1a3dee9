//! A forecast as text for people and JSON for programs (`devspec plan --cost`): per step its
//! kind, instances, how many are cached and its predicted seconds (each request it runs in
//! counted once), then the study's wall time with its jobs, and where the rates came from.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::{Forecast, InstanceForecast, Rates};
use crate::plan::Plan;

/// Where the rates came from, for the reader.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Measured by this command (a fresh calibration), or read from the cache.
    pub fresh: bool,
    /// The cache file.
    pub path: String,
    /// How much slower the machine is now than at calibration (1: as then), by which the
    /// rates were scaled.
    pub load: f64,
}

/// One step's line.
struct StepLine {
    name: String,
    kind: &'static str,
    instances: usize,
    cached: usize,
    /// `None` when an instance's duration is unknown.
    seconds: Option<f64>,
    unknown: Option<&'static str>,
}

fn step_lines(plan: &Plan, forecast: &Forecast) -> Vec<StepLine> {
    let mut lines: Vec<StepLine> = Vec::new();
    let mut index_of: BTreeMap<usize, usize> = BTreeMap::new();
    // Requests already counted: siblings share one.
    let mut counted: HashSet<usize> = HashSet::new();
    for &node in &plan.order {
        let instance = &plan.graph[node];
        let at = *index_of.entry(instance.step).or_insert_with(|| {
            lines.push(StepLine {
                name: instance.step_name.clone(),
                kind: instance.kind.name(),
                instances: 0,
                cached: 0,
                seconds: Some(0.0),
                unknown: None,
            });
            lines.len() - 1
        });
        let line = &mut lines[at];
        line.instances += 1;
        match &forecast.instances[node.index()] {
            InstanceForecast::Cached => line.cached += 1,
            InstanceForecast::Seconds { slot, .. } => {
                if counted.insert(slot.request_id) {
                    line.seconds = line.seconds.map(|s| s + slot.request);
                }
            }
            InstanceForecast::Unknown(why) => {
                line.seconds = None;
                line.unknown = Some(why);
            }
        }
    }
    lines
}

/// Seconds for people: `0.04 s`, `0.4 s`, `12 s`, `3 min 20 s`, `1 h 05 min`. A request that
/// takes a few hundredths is not written as nothing (`0.0 s`).
pub fn format_seconds(seconds: f64) -> String {
    if seconds > 0.0 && seconds < 0.005 {
        return "< 0.01 s".to_owned();
    }
    if seconds < 0.095 {
        return format!("{seconds:.2} s");
    }
    if seconds < 10.0 {
        return format!("{seconds:.1} s");
    }
    // Whole seconds from here; far below u64's range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = seconds.round() as u64;
    match whole {
        0..60 => format!("{whole} s"),
        60..3600 => format!("{} min {:02} s", whole / 60, whole % 60),
        _ => format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60),
    }
}

pub fn render_text(plan: &Plan, forecast: &Forecast, rates: &Rates, source: &Provenance) -> String {
    let lines = step_lines(plan, forecast);
    let width = lines.iter().map(|l| l.name.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<10}  {:>9}  {:>6}  predicted",
        "step", "kind", "instances", "cached"
    );
    for line in &lines {
        let seconds = match (line.seconds, line.unknown) {
            (_, Some(why)) => format!("unknown ({why})"),
            (Some(_), None) if line.cached == line.instances => "cached".to_owned(),
            (Some(s), None) => format_seconds(s),
            (None, None) => "unknown".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:>9}  {:>6}  {seconds}",
            line.name, line.kind, line.instances, line.cached
        );
    }
    let busy: f64 = lines.iter().filter_map(|l| l.seconds).sum();
    let jobs = forecast.jobs;
    match forecast.total {
        Some(total) => {
            let _ = writeln!(
                out,
                "total: {} with {jobs} job{} ({} of steps, scheduled over the plan; {} of run overhead)",
                format_seconds(total + rates.overhead),
                if jobs == 1 { "" } else { "s" },
                format_seconds(busy),
                format_seconds(rates.overhead),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "total: unknown (a step's cost cannot be predicted; the others take {})",
                format_seconds(busy)
            );
        }
    }
    let device = if rates.device_name.is_empty() {
        rates.device.clone()
    } else {
        format!("{} ({})", rates.device, rates.device_name)
    };
    let _ = writeln!(
        out,
        "rates: {} on {device}, {} thread{} per step{}",
        if source.fresh {
            format!("a fresh calibration, measured now in {}", format_seconds(rates.measured_in))
        } else {
            "cached calibration".to_owned()
        },
        rates.threads_per_step,
        if rates.threads_per_step == "1" { "" } else { "s" },
        if source.fresh { String::new() } else { format!(" ({})", source.path) },
    );
    if forecast.jobs > 1 && rates.jobs > 1 {
        let _ = writeln!(
            out,
            "side by side: {} requests at once each take {:.2}x their time alone (measured at calibration)",
            rates.jobs, rates.contention
        );
    }
    if !source.fresh {
        // A load inside the probe's own noise is 1 exactly (`cli::plan_command`).
        if (source.load - 1.0).abs() < f64::EPSILON {
            let _ = writeln!(
                out,
                "load: as at calibration (within the probe's noise); the rates are used as measured"
            );
        } else {
            let _ = writeln!(
                out,
                "load: the machine runs at {:.2}x the time it took at calibration; the rates are scaled by it",
                source.load
            );
        }
    }
    out
}

pub fn render_json(plan: &Plan, forecast: &Forecast, rates: &Rates, source: &Provenance) -> String {
    let steps: Vec<serde_json::Value> = step_lines(plan, forecast)
        .iter()
        .map(|line| {
            serde_json::json!({
                "step": line.name,
                "kind": line.kind,
                "instances": line.instances,
                "cached": line.cached,
                "seconds": line.seconds,
                "unknown": line.unknown,
            })
        })
        .collect();
    let instances: Vec<serde_json::Value> = plan
        .order
        .iter()
        .map(|&node| {
            let name = plan.graph[node].display_name();
            match &forecast.instances[node.index()] {
                InstanceForecast::Cached => serde_json::json!({ "name": name, "status": "cached" }),
                InstanceForecast::Seconds { alone, slot } => serde_json::json!({
                    "name": name,
                    "status": "will run",
                    "seconds": alone,
                    "start": slot.start,
                    "end": slot.end,
                    "request_seconds": slot.request,
                }),
                InstanceForecast::Unknown(why) => {
                    serde_json::json!({ "name": name, "status": "unknown", "why": why })
                }
            }
        })
        .collect();
    let document = serde_json::json!({
        "schema_version": 1,
        "jobs": forecast.jobs,
        "total_seconds": forecast.total.map(|t| t + rates.overhead),
        "overhead_seconds": rates.overhead,
        "steps": steps,
        "instances": instances,
        "rates": {
            "fresh": source.fresh,
            "path": source.path,
            "device": rates.device,
            "device_name": rates.device_name,
            "threads_per_step": rates.threads_per_step,
            "measured_in": rates.measured_in,
            "jobs": rates.jobs,
            "contention": rates.contention,
            "load": source.load,
        },
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON values serialize");
    text.push('\n');
    text
}
