//! What a run would do, without running anything: for each instance, whether its result is in
//! the store, it will run, or it waits for an input that will be computed first; and, for
//! `status --why`, what changed in its key since the last run recorded for its name.

use std::collections::BTreeSet;

use devspec_protocol::store_layout;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use rayon::prelude::*;

use super::executor::RunOptions;
use super::step_key::{StepKey, instance_digest, instance_key};
use crate::plan::Plan;
use crate::store::{Manifest, Store};

#[derive(Debug, Clone)]
pub enum InstanceStatus {
    Cached(Box<Manifest>),
    /// Its key is known (every input is cached) and not in the store.
    WillRun(StepKey),
    /// An input will be computed first, so its key is not known yet.
    WaitsForInputs,
}

impl InstanceStatus {
    pub fn label(&self) -> &'static str {
        match self {
            InstanceStatus::Cached(_) => "cached",
            InstanceStatus::WillRun(_) => "will run",
            InstanceStatus::WaitsForInputs => "waits for inputs",
        }
    }
}

/// Every instance's status, in plan order (indexed by node). An instance's key needs its inputs'
/// output digests, so the plan is surveyed one dependency level at a time: the instances of a
/// level (their inputs all in earlier levels) are keyed and looked up in parallel.
pub fn survey(plan: &Plan, store: &Store, options: &RunOptions) -> Vec<InstanceStatus> {
    let environment = options.key_environment();
    let mut statuses: Vec<InstanceStatus> =
        vec![InstanceStatus::WaitsForInputs; plan.graph.node_count()];
    for level in levels(plan) {
        let surveyed: Vec<InstanceStatus> = level
            .par_iter()
            .map(|&node| {
                let outputs_of = |source: NodeIndex| match &statuses[source.index()] {
                    InstanceStatus::Cached(manifest) => Some(&manifest.outputs),
                    _ => None,
                };
                let key_of = |source: NodeIndex| match &statuses[source.index()] {
                    InstanceStatus::Cached(manifest) => Some(manifest.key.clone()),
                    _ => None,
                };
                let files = &options.files;
                let Some(digest) =
                    instance_digest(plan, node, &outputs_of, &key_of, &environment, files)
                else {
                    return InstanceStatus::WaitsForInputs;
                };
                match store.cached(&digest) {
                    Some(manifest) => InstanceStatus::Cached(Box::new(manifest)),
                    // Rare in a rerun: only what will run needs its key's parts.
                    None => {
                        match instance_key(plan, node, &outputs_of, &key_of, &environment, files) {
                            Some((key, _)) => InstanceStatus::WillRun(key),
                            None => InstanceStatus::WaitsForInputs,
                        }
                    }
                }
            })
            .collect();
        for (node, status) in level.into_iter().zip(surveyed) {
            statuses[node.index()] = status;
        }
    }
    statuses
}

/// The plan's instances by dependency level, each in plan order: level 0 reads nothing, and an
/// instance is one level above the highest of its inputs.
fn levels(plan: &Plan) -> Vec<Vec<NodeIndex>> {
    let mut level_of = vec![0usize; plan.graph.node_count()];
    let mut levels: Vec<Vec<NodeIndex>> = Vec::new();
    for &node in &plan.order {
        let level = plan
            .graph
            .neighbors_directed(node, Direction::Incoming)
            .map(|source| level_of[source.index()] + 1)
            .max()
            .unwrap_or(0);
        level_of[node.index()] = level;
        if levels.len() <= level {
            levels.resize_with(level + 1, Vec::new);
        }
        levels[level].push(node);
    }
    levels
}

/// The step a training instance that will run goes on from, when its trajectory has stored
/// states it can use (a killed run's resume point, a shorter run's checkpoints); `None` when it
/// starts from the beginning or does not train. A prediction from the records' names: the
/// worker also checks that the state's files are intact.
pub fn continues_from(plan: &Plan, node: NodeIndex, key: &StepKey, store: &Store) -> Option<u64> {
    let trajectory = key.trajectory()?;
    let total = key.params.get("steps")?.get("int")?.as_u64()?;
    let mut checkpoints: BTreeSet<u64> = plan.graph[node]
        .outputs
        .iter()
        .filter_map(|output| output.to_string().strip_prefix("checkpoint@")?.parse().ok())
        .collect();
    checkpoints.insert(total);
    let stored = store_layout::trajectory_steps(store.root(), &trajectory);
    let step = store_layout::continuation_step(&stored, &checkpoints, total);
    (step > 0).then_some(step)
}

/// Why an instance will run: the parts of its key that differ from the last key recorded for
/// its name, in words (`value: 10 -> 11`), or that it never ran.
pub fn why(current: &StepKey, previous: Option<&serde_json::Value>) -> Vec<String> {
    let Some(previous) = previous else { return vec!["it never ran".to_owned()] };
    let current = serde_json::to_value(current).expect("keys serialize");
    let mut reasons = Vec::new();
    for part in ["format", "kind", "implementation", "seed"] {
        if current.get(part) != previous.get(part) {
            reasons.push(format!(
                "{part}: {} -> {}",
                text(previous.get(part)),
                text(current.get(part))
            ));
        }
    }
    for (part, what) in
        [("params", "parameter"), ("environment", "environment"), ("inputs", "input")]
    {
        let empty = serde_json::Map::new();
        let old = previous.get(part).and_then(|v| v.as_object()).unwrap_or(&empty);
        let new = current.get(part).and_then(|v| v.as_object()).unwrap_or(&empty);
        let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let (before, after) = (old.get(name), new.get(name));
            if before == after {
                continue;
            }
            let file = |v: Option<&serde_json::Value>| v.and_then(|v| v.get("file")).is_some();
            if part == "inputs" {
                reasons.push(format!("input {name} changed"));
            } else if file(before) && file(after) {
                reasons.push(format!("the file of {what} {name} changed"));
            } else {
                reasons.push(format!("{what} {name}: {} -> {}", text(before), text(after)));
            }
        }
    }
    reasons.extend(named_input_changes(previous.get("named_inputs"), current.get("named_inputs")));
    if reasons.is_empty() {
        reasons.push("its recorded result is missing from the store (removed or corrupted)".into());
    }
    reasons
}

/// What moved among the names and keys of the inputs of a step that records them (a report,
/// [`StepKey::named_inputs`]): an input renamed (its key under another name), an input whose
/// key or whose own inputs' names changed, one added or gone.
fn named_input_changes(
    previous: Option<&serde_json::Value>,
    current: Option<&serde_json::Value>,
) -> Vec<String> {
    let empty = serde_json::Map::new();
    let new = current.and_then(serde_json::Value::as_object).unwrap_or(&empty);
    let Some(old) = previous.and_then(serde_json::Value::as_object) else {
        return if new.is_empty() {
            Vec::new()
        } else {
            vec![
                "its key now holds its inputs' names and keys (its last key was recorded by an \
                  older devspec)"
                    .to_owned(),
            ]
        };
    };
    let mut reasons = Vec::new();
    for (name, key) in new {
        match old.get(name) {
            Some(before) if before == key => {}
            Some(_) => reasons.push(format!("input {name}: its key or what it read changed")),
            None => match old.iter().find(|(was, k)| *k == key && !new.contains_key(*was)) {
                Some((was, _)) => reasons.push(format!("input {was} renamed to {name}")),
                None => reasons.push(format!("input {name} added")),
            },
        }
    }
    for (name, key) in old {
        if !new.contains_key(name) && !new.values().any(|k| k == key) {
            reasons.push(format!("input {name} gone"));
        }
    }
    reasons
}

/// A canonical key value as the user wrote it: `10`, `0.001`, `"x"`, `pelt`; `(none)` if absent.
fn text(value: Option<&serde_json::Value>) -> String {
    let Some(value) = value else { return "(none)".into() };
    match value {
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (tag, inner) = map.iter().next().expect("one entry");
            match (tag.as_str(), inner) {
                ("float" | "enum", serde_json::Value::String(s)) => s.clone(),
                ("int" | "bool" | "str", v) => v.to_string(),
                _ => value.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::named_input_changes;
    use serde_json::json;

    #[test]
    fn a_reports_inputs_renamed_rekeyed_added_and_gone_are_each_named() {
        let old = json!({"a[seed=0]": "k1", "b": "k2", "c": "k3"});
        let new = json!({"x[seed=0]": "k1", "b": "k9", "d": "k4"});
        assert_eq!(
            named_input_changes(Some(&old), Some(&new)),
            [
                "input b: its key or what it read changed",
                "input d added",
                "input a[seed=0] renamed to x[seed=0]",
                "input c gone",
            ]
        );
        assert!(named_input_changes(Some(&old), Some(&old)).is_empty());
        // Not a report: neither key holds them.
        assert!(named_input_changes(None, None).is_empty());
        // A report keyed by a devspec before its key held them: one reason, not one per input.
        assert_eq!(named_input_changes(None, Some(&new)).len(), 1);
    }
}
