//! `devspec status FILE [--why] [--format text|json]`: what a run would do now, instance by instance, and with
//! `--why`, what changed since the last run of each instance that will run. An instance a Slurm
//! driver submitted shows its job and the job's state. An instance whose stored entry is damaged
//! (as far as a lookup sees without reading blobs) is `damaged`, not `cached`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use petgraph::graph::NodeIndex;

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, planned, reading_session};
use crate::exec::{InstanceStatus, continues_from, slurm, survey, why};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::plan::Plan;
use crate::store::{Damage, Lookup};

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// A summary line, then a line per instance.
    Text,
    /// One JSON document (`schema_version`, `total`, `counts`, `instances`).
    Json,
}

/// Bumped when the JSON's shape changes (documented in the README's table of verbs).
pub const STATUS_SCHEMA_VERSION: u32 = 1;

/// One instance's status, and why (with `--why`, a damaged entry, a Slurm job).
struct Line {
    node: NodeIndex,
    name: String,
    status: &'static str,
    reasons: Vec<String>,
    /// The Slurm job a driver submitted for it, and the job's state.
    slurm_job: Option<(String, String)>,
}

pub fn run(
    file: &Path,
    sets: &[String],
    bind: &super::args::BindArgs,
    explain: bool,
    format: StatusFormat,
    settings: &SettingsArgs,
    worker: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let plan = match planned(file, sets, bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let context = reading_session(&ContextArgs::new(file, settings, worker))?;
    let statuses = survey(&plan, &context.store, &context.options);
    let last_keys = context.store.last_keys(&context.options.spec_id);
    // What will run because its entry is damaged (a record edited, an output missing or of the
    // wrong size: what a lookup sees without reading blobs) is said so, not counted cached.
    let damaged: BTreeMap<usize, Damage> = plan
        .order
        .iter()
        .filter_map(|&node| match &statuses[node.index()] {
            InstanceStatus::WillRun(key) => match context.store.lookup(&key.digest()) {
                Lookup::Damaged(damage) => Some((node.index(), damage)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let label = |node: petgraph::graph::NodeIndex| {
        if damaged.contains_key(&node.index()) { "damaged" } else { statuses[node.index()].label() }
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &node in &plan.order {
        *counts.entry(label(node)).or_default() += 1;
    }
    // The Slurm job of each instance that will run, where a driver submitted one: one squeue.
    let jobs: BTreeMap<usize, String> = plan
        .order
        .iter()
        .filter_map(|&node| match &statuses[node.index()] {
            InstanceStatus::WillRun(key) => {
                Some((node.index(), slurm::job_of(context.store.root(), &key.digest())?))
            }
            _ => None,
        })
        .collect();
    let job_states = slurm::states(&jobs.values().cloned().collect::<Vec<_>>());
    let lines: Vec<Line> = plan
        .order
        .iter()
        .map(|&node| {
            let name = plan.graph[node].display_name();
            let status = &statuses[node.index()];
            let mut reasons = match status {
                InstanceStatus::WillRun(key) if explain => {
                    let mut reasons = why(key, last_keys.get(&name));
                    if let Some(step) = continues_from(&plan, node, key, &context.store) {
                        reasons.push(format!(
                            "goes on from step {step}, a state its trajectory reached before"
                        ));
                    }
                    reasons
                }
                InstanceStatus::WaitsForInputs if explain => {
                    vec!["an input will be computed first".to_owned()]
                }
                _ => Vec::new(),
            };
            if let Some(damage) = damaged.get(&node.index()) {
                let what = format!(
                    "{} is damaged ({}): a run sets it aside and recomputes it",
                    damage.what(&name),
                    damage.detail
                );
                reasons.insert(0, what);
            }
            let slurm_job = jobs.get(&node.index()).map(|job| {
                let state = job_states.get(job).map_or("not in Slurm's queue", String::as_str);
                (job.clone(), state.to_owned())
            });
            Line { node, name, status: label(node), reasons, slurm_job }
        })
        .collect();
    let text = match format {
        StatusFormat::Text => text(&plan, &counts, &lines),
        StatusFormat::Json => json(&plan, &counts, &lines),
    };
    out!("{text}");
    Ok(ExitCode::Success)
}

/// `7 instances: 3 cached, 4 will run`, then a line per instance with its reasons.
fn text(plan: &Plan, counts: &BTreeMap<&str, usize>, lines: &[Line]) -> String {
    let summary: Vec<String> = counts.iter().map(|(label, n)| format!("{n} {label}")).collect();
    let mut out = format!("{} instances: {}\n", plan.order.len(), summary.join(", "));
    let width = lines.iter().map(|line| line.name.len()).max().unwrap_or(0);
    for line in lines {
        let mut reasons = line.reasons.join("; ");
        if let Some((job, state)) = &line.slurm_job {
            let slurm = format!("slurm job {job}: {state}");
            reasons = if reasons.is_empty() { slurm } else { format!("{slurm}; {reasons}") };
        }
        let text = format!("  {:<16}  {:<width$}  {reasons}", line.status, line.name);
        let _ = writeln!(out, "{}", text.trim_end());
    }
    out
}

/// The same as one JSON document, for programs.
fn json(plan: &Plan, counts: &BTreeMap<&str, usize>, lines: &[Line]) -> String {
    let instances: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            let instance = &plan.graph[line.node];
            serde_json::json!({
                "name": line.name,
                "step": instance.step_name,
                "kind": instance.kind,
                "checkpoint": instance.checkpoint,
                "status": line.status,
                "reasons": line.reasons,
                "slurm_job": line.slurm_job.as_ref().map(|(job, state)| {
                    serde_json::json!({ "id": job, "state": state })
                }),
            })
        })
        .collect();
    let document = serde_json::json!({
        "schema_version": STATUS_SCHEMA_VERSION,
        "total": plan.order.len(),
        "counts": counts,
        "instances": instances,
    });
    serde_json::to_string_pretty(&document).expect("statuses serialize") + "\n"
}
