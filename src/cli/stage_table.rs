//! The stages each detect instance found, printed at the end of `devspec run`: per sweep point,
//! a row per stage (its steps, its kind, the series at its ends, and the LLC and loss when the
//! detection knows them), then its boundaries with their strength; and, per detect step with
//! several sweep points, the boundaries that recur across them.

use std::fmt::Write;

use devspec_protocol::StepKind;
use serde_json::Value;

use crate::detect::Boundary;
use crate::detect::recurrence::recurring;
use crate::exec::Results;
use crate::plan::Plan;
use crate::store::Store;

/// A sweep point's name (`seed=1`) and the boundaries found there.
type SweepPoint = (String, Vec<Boundary>);

/// The tables of every detect instance of the plan that has a record in `results` (what the
/// run ended with), each step's followed by the boundaries that recur across its sweep points;
/// `None` without any.
pub fn stage_tables(plan: &Plan, store: &Store, results: &Results) -> Option<String> {
    let mut out = String::new();
    // Per detect step, in order: its sweep points' names and boundaries.
    let mut steps: Vec<(String, Vec<SweepPoint>)> = Vec::new();
    for &node in &plan.order {
        let instance = &plan.graph[node];
        let Some(manifest) = results.get(node) else { continue };
        if !matches!(instance.kind, StepKind::Detect) {
            continue;
        }
        // Checked as it is served (a run has checked it already, when it took it from the
        // store); damage found now is said in place of the table, never drawn.
        let result = match store.served(&manifest.key) {
            Ok(served) => served.and_then(|s| s.result),
            Err(damage) => {
                let _ = store.set_aside(&damage);
                let _ = writeln!(
                    out,
                    "{}: {} is damaged ({}): set aside; `devspec run` recomputes it",
                    instance.display_name(),
                    damage.what(&instance.display_name()),
                    damage.detail
                );
                continue;
            }
        };
        let Some(result) = result.and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        else {
            continue;
        };
        render(&mut out, &instance.display_name(), &result);
        let boundaries: Vec<Boundary> =
            serde_json::from_value(result["boundaries"].clone()).unwrap_or_default();
        let point = instance.point_label();
        match steps.iter_mut().find(|(name, _)| *name == instance.step_name) {
            Some((_, points)) => points.push((point, boundaries)),
            None => steps.push((instance.step_name.clone(), vec![(point, boundaries)])),
        }
    }
    for (name, points) in steps.iter().filter(|(_, points)| points.len() > 1) {
        let found = recurring(&points.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "{name}: boundaries found at more than one of its {} sweep points:",
            points.len()
        );
        if found.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for group in found {
            let at: Vec<&str> = group.points.iter().map(|&p| points[p].0.as_str()).collect();
            let _ = writeln!(
                out,
                "  {}-{} {}: {} of {} ({})",
                group.interval[0],
                group.interval[1],
                group.kind,
                group.points.len(),
                points.len(),
                at.join("; ")
            );
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One detection's table.
pub fn render(out: &mut String, name: &str, result: &Value) {
    let series = result["series"].as_str().unwrap_or("series");
    let _ = writeln!(out, "{name}: {series} by {}", result["method"].as_str().unwrap_or("?"));
    let span = |stage: &Value, key: &str| -> String {
        match (stage[format!("{key}_start")].as_f64(), stage[format!("{key}_end")].as_f64()) {
            (Some(a), Some(b)) => format!("{a:.4} -> {b:.4}"),
            _ => String::new(),
        }
    };
    // The LLC and loss beside the series, when known and not the series itself.
    let stages: Vec<&Value> = result["stages"].as_array().into_iter().flatten().collect();
    let beside: Vec<&str> = ["llc", "loss"]
        .into_iter()
        .filter(|key| !series.starts_with(key))
        .filter(|key| stages.iter().any(|s| s[format!("{key}_start")].is_number()))
        .collect();
    let mut header = format!("  {:<15} {:<13} {:<22}", "steps", "stage", series);
    for key in &beside {
        let _ = write!(header, " {key:<22}");
    }
    let _ = writeln!(out, "{}", header.trim_end());
    for stage in stages {
        let mut row = format!(
            "  {:<15} {:<13} {:<22}",
            format!("{}-{}", stage["start"], stage["end"]),
            stage["kind"].as_str().unwrap_or(""),
            span(stage, "value"),
        );
        for key in &beside {
            let _ = write!(row, " {:<22}", span(stage, key));
        }
        let _ = writeln!(out, "{}", row.trim_end());
    }
    let boundaries: Vec<String> = result["boundaries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            format!(
                "{}-{} {} ({:.2})",
                b["interval"][0],
                b["interval"][1],
                b["kind"].as_str().unwrap_or(""),
                b["strength"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    let listed = if boundaries.is_empty() { "none".to_owned() } else { boundaries.join(", ") };
    let _ = writeln!(out, "  boundaries (between checkpoints, strength): {listed}");
}
