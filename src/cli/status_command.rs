//! `devspec status FILE [--why]`: what a run would do now, instance by instance, and with
//! `--why`, what changed since the last run of each instance that will run. An instance a Slurm
//! driver submitted shows its job and the job's state. An instance whose stored entry is damaged
//! (as far as a lookup sees without reading blobs) is `damaged`, not `cached`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, planned, session};
use crate::exec::{InstanceStatus, continues_from, slurm, survey, why};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::store::{Damage, Lookup};

pub fn run(
    file: &Path,
    sets: &[String],
    explain: bool,
    settings: &SettingsArgs,
    worker: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let plan = match planned(file, sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let context = session(&ContextArgs::new(file, settings, worker))?;
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
    let summary: Vec<String> = counts.iter().map(|(label, n)| format!("{n} {label}")).collect();
    outln!("{} instances: {}", plan.order.len(), summary.join(", "));
    let width = plan.instances().map(|i| i.display_name().len()).max().unwrap_or(0);
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
    for &node in &plan.order {
        let name = plan.graph[node].display_name();
        let status = &statuses[node.index()];
        let reasons = match status {
            InstanceStatus::WillRun(key) if explain => {
                let mut reasons = why(key, last_keys.get(&name));
                if let Some(step) = continues_from(&plan, node, key, &context.store) {
                    reasons.push(format!(
                        "goes on from step {step}, a state its trajectory reached before"
                    ));
                }
                reasons.join("; ")
            }
            InstanceStatus::WaitsForInputs if explain => {
                "an input will be computed first".to_owned()
            }
            _ => String::new(),
        };
        let mut reasons = reasons;
        if let Some(damage) = damaged.get(&node.index()) {
            let what = format!(
                "{} is damaged ({}): a run sets it aside and recomputes it",
                damage.what(&name),
                damage.detail
            );
            reasons = if reasons.is_empty() { what } else { format!("{what}; {reasons}") };
        }
        if let Some(job) = jobs.get(&node.index()) {
            let state = job_states.get(job).map_or("not in Slurm's queue", String::as_str);
            let slurm = format!("slurm job {job}: {state}");
            reasons = if reasons.is_empty() { slurm } else { format!("{slurm}; {reasons}") };
        }
        let line = format!("  {:<16}  {name:<width$}  {reasons}", label(node));
        outln!("{}", line.trim_end());
    }
    Ok(ExitCode::Success)
}
