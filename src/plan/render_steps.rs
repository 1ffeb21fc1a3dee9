//! A plan drawn at the level of its steps (`devspec plan --steps`): a node per step with its
//! kind and how many of its instances are cached, will run or wait for inputs, an edge where
//! an instance of one step reads an instance of another. A study of a thousand instances has
//! a dozen steps, so this is the picture that fits on a page. In pictures a step is coloured
//! by what a run would do to it: cached when all its instances are, will run when any will,
//! else waits for inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use devspec_protocol::StepKind;
use petgraph::Direction;

use super::render::{Statuses, class, colour, dot_legend, mermaid_classes};
use super::{Plan, PlanFormat};

/// One step of the plan: its name, kind, its instances' statuses counted, and the steps it
/// reads.
struct StepNode {
    name: String,
    kind: StepKind,
    instances: usize,
    /// By status, in the order statuses are first met.
    counts: Vec<(&'static str, usize)>,
    inputs: BTreeSet<String>,
}

impl StepNode {
    /// The status a picture gives the whole step.
    fn status(&self) -> &'static str {
        let has = |status: &str| self.counts.iter().any(|(s, n)| *s == status && *n > 0);
        if has("will run") {
            "will run"
        } else if self.counts.iter().all(|(s, _)| *s == "cached") {
            "cached"
        } else {
            "waits for inputs"
        }
    }

    /// `3 cached, 2 will run`.
    fn counted(&self) -> String {
        let counts: Vec<String> = self.counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        counts.join(", ")
    }

    /// What a picture's node says: its name, kind and instance count.
    fn label(&self) -> String {
        let plural = if self.instances == 1 { "" } else { "s" };
        format!("{} ({}, {} instance{plural})", self.name, self.kind, self.instances)
    }
}

/// The plan's steps, in the order their first instance comes in the plan.
fn steps(plan: &Plan, status: Statuses<'_>) -> Vec<StepNode> {
    let mut steps: Vec<StepNode> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for &node in &plan.order {
        let instance = &plan.graph[node];
        let at = *index.entry(instance.step_name.clone()).or_insert_with(|| {
            steps.push(StepNode {
                name: instance.step_name.clone(),
                kind: instance.kind,
                instances: 0,
                counts: Vec::new(),
                inputs: BTreeSet::new(),
            });
            steps.len() - 1
        });
        let step = &mut steps[at];
        step.instances += 1;
        let label = status(node);
        match step.counts.iter_mut().find(|(s, _)| *s == label) {
            Some((_, n)) => *n += 1,
            None => step.counts.push((label, 1)),
        }
        for source in plan.graph.neighbors_directed(node, Direction::Incoming) {
            let input = &plan.graph[source].step_name;
            if *input != instance.step_name {
                step.inputs.insert(input.clone());
            }
        }
    }
    steps
}

/// The step-level view in `format`.
pub fn render_steps(plan: &Plan, format: PlanFormat, status: Statuses<'_>) -> String {
    let steps = steps(plan, status);
    let id = |name: &str| steps.iter().position(|s| s.name == name).unwrap_or_default();
    let mut out = String::new();
    match format {
        PlanFormat::Text => {
            let width = steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
            let _ = writeln!(out, "{} steps, {} instances", steps.len(), plan.order.len());
            for step in &steps {
                let inputs = if step.inputs.is_empty() {
                    String::new()
                } else {
                    format!(" (on {})", step.inputs.iter().cloned().collect::<Vec<_>>().join(", "))
                };
                let _ = writeln!(
                    out,
                    "  {:<width$}  {:<10}  {}{inputs}",
                    step.name,
                    step.kind.name(),
                    step.counted()
                );
            }
        }
        PlanFormat::Json => {
            let steps: Vec<serde_json::Value> = steps
                .iter()
                .map(|step| {
                    let counts: serde_json::Map<String, serde_json::Value> = step
                        .counts
                        .iter()
                        .map(|(s, n)| ((*s).to_owned(), serde_json::Value::from(*n)))
                        .collect();
                    serde_json::json!({
                        "name": step.name,
                        "kind": step.kind,
                        "instances": step.instances,
                        "status": step.status(),
                        "counts": counts,
                        "inputs": step.inputs,
                    })
                })
                .collect();
            let document = serde_json::json!({ "schema_version": 1, "steps": steps });
            out = serde_json::to_string_pretty(&document).expect("plans serialize") + "\n";
        }
        PlanFormat::Dot => {
            out.push_str("digraph steps {\n  rankdir=LR;\n  node [shape=box, style=filled];\n");
            out.push_str(&dot_legend());
            for (index, step) in steps.iter().enumerate() {
                let label = format!("{}\n{}", step.label(), step.counted());
                let _ = writeln!(
                    out,
                    "  s{index} [label={label:?}, fillcolor={:?}];",
                    colour(step.status())
                );
            }
            for (index, step) in steps.iter().enumerate() {
                for input in &step.inputs {
                    let _ = writeln!(out, "  s{} -> s{index};", id(input));
                }
            }
            out.push_str("}\n");
        }
        PlanFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            out.push_str(&mermaid_classes());
            for (index, step) in steps.iter().enumerate() {
                let label =
                    format!("{}<br/>{}", step.label(), step.counted()).replace('"', "#quot;");
                let _ = writeln!(out, "  s{index}[\"{label}\"]:::{}", class(step.status()));
            }
            for (index, step) in steps.iter().enumerate() {
                for input in &step.inputs {
                    let _ = writeln!(out, "  s{} --> s{index}", id(input));
                }
            }
        }
    }
    out
}
