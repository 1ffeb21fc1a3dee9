//! A plan as text for people, JSON for programs, and Graphviz or Mermaid for pictures. Every
//! rendering lists instances in the plan's topological order, so output is stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use devspec_protocol::StepKind;
use petgraph::Direction;
use petgraph::graph::NodeIndex;

use super::{Output, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// A line per instance with its status.
    Text,
    /// One JSON document (`schema_version` 1).
    Json,
    /// Graphviz `dot`, nodes coloured by status.
    Dot,
    /// A Mermaid flowchart (renders in GitHub and many notebooks), nodes coloured by status.
    Mermaid,
}

/// Each instance's status in words (`cached`, `will run`, `waits for inputs`), by node.
pub type Statuses<'a> = &'a dyn Fn(NodeIndex) -> &'static str;

pub fn render(plan: &Plan, format: PlanFormat, status: Statuses<'_>) -> String {
    match format {
        PlanFormat::Text => render_text(plan, status),
        PlanFormat::Json => render_json(plan, status),
        PlanFormat::Dot => render_dot(plan, status),
        PlanFormat::Mermaid => render_mermaid(plan, status),
    }
}

/// The statuses known without a store: an instance without inputs will run, the others wait.
pub fn status_without_store(plan: &Plan) -> impl Fn(NodeIndex) -> &'static str + '_ {
    |node| if plan.waits_for_inputs(node) { "waits for inputs" } else { "will run" }
}

pub fn render_text(plan: &Plan, status: Statuses<'_>) -> String {
    // By name: the summary lists kinds alphabetically.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for instance in plan.instances() {
        *counts.entry(instance.kind.name()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    let mut out = format!("{} instances ({})\n", plan.order.len(), summary.join(", "));
    let width = plan.instances().map(|i| i.display_name().len()).max().unwrap_or(0);
    for &node in &plan.order {
        let instance = &plan.graph[node];
        let checkpoints =
            instance.outputs.iter().filter(|o| matches!(o, Output::Checkpoint(_))).count();
        let detail = match instance.kind {
            StepKind::Train => format!("{checkpoints} checkpoints"),
            StepKind::Checkpoint
            | StepKind::Estimate
            | StepKind::Detect
            | StepKind::Report
            | StepKind::Test => {
                let inputs = plan.graph.neighbors_directed(node, Direction::Incoming).count();
                format!("{inputs} input{}", if inputs == 1 { "" } else { "s" })
            }
        };
        let _ = writeln!(
            out,
            "  {:<16}  {:<width$}  {} ({detail})",
            status(node),
            instance.display_name(),
            instance.kind,
        );
    }
    out
}

fn render_json(plan: &Plan, status: Statuses<'_>) -> String {
    let instances: Vec<serde_json::Value> = plan
        .order
        .iter()
        .map(|&node| {
            let instance = &plan.graph[node];
            let coords: serde_json::Map<String, serde_json::Value> =
                instance.coords.iter().map(|c| (c.axis.clone(), json_value(&c.value))).collect();
            let mut inputs: Vec<String> = plan
                .graph
                .neighbors_directed(node, Direction::Incoming)
                .map(|source| plan.graph[source].display_name())
                .collect();
            inputs.sort();
            let outputs: Vec<String> = instance.outputs.iter().map(ToString::to_string).collect();
            serde_json::json!({
                "name": instance.display_name(),
                "step": instance.step_name,
                "kind": instance.kind,
                "coords": coords,
                "checkpoint": instance.checkpoint,
                "status": status(node),
                "inputs": inputs,
                "outputs": outputs,
            })
        })
        .collect();
    let document = serde_json::json!({ "schema_version": 1, "instances": instances });
    serde_json::to_string_pretty(&document).expect("plans serialize") + "\n"
}

/// Numbers, strings and booleans as JSON values; anything else as its canonical text.
fn json_value(value: &crate::compile::value::Value) -> serde_json::Value {
    use crate::compile::value::ValueKind;
    match &value.kind {
        ValueKind::Int(v) => serde_json::Value::from(*v),
        ValueKind::Float(v) => serde_json::Value::from(*v),
        ValueKind::Str(text) | ValueKind::File { written: text, .. } => {
            serde_json::Value::from(text.as_str())
        }
        ValueKind::Bool(v) => serde_json::Value::from(*v),
        _ => serde_json::Value::from(value.to_string()),
    }
}

fn render_dot(plan: &Plan, status: Statuses<'_>) -> String {
    let mut out =
        String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box, style=filled];\n");
    out.push_str(&dot_legend());
    for &node in &plan.order {
        let instance = &plan.graph[node];
        let _ = writeln!(
            out,
            "  n{} [label={:?}, fillcolor={:?}];",
            node.index(),
            instance.display_name(),
            colour(status(node))
        );
    }
    for &node in &plan.order {
        for source in plan.graph.neighbors_directed(node, Direction::Incoming) {
            let _ = writeln!(out, "  n{} -> n{};", source.index(), node.index());
        }
    }
    out.push_str("}\n");
    out
}

fn render_mermaid(plan: &Plan, status: Statuses<'_>) -> String {
    let mut out = String::from("flowchart LR\n");
    out.push_str(&mermaid_classes());
    for &node in &plan.order {
        let label = plan.graph[node].display_name().replace('"', "#quot;");
        let _ = writeln!(out, "  n{}[\"{label}\"]:::{}", node.index(), class(status(node)));
    }
    for &node in &plan.order {
        for source in plan.graph.neighbors_directed(node, Direction::Incoming) {
            let _ = writeln!(out, "  n{} --> n{}", source.index(), node.index());
        }
    }
    out
}

/// The statuses a picture colours, each with its class name and fill: what is cached (green),
/// what will run (amber), what waits for an input that will be computed first (grey).
const COLOURS: [(&str, &str, &str); 3] = [
    ("cached", "cached", "#c8e6c9"),
    ("will run", "will_run", "#ffe0b2"),
    ("waits for inputs", "waits", "#e0e0e0"),
];

/// A status's fill colour (a status the table lacks is left white).
pub(super) fn colour(status: &str) -> &'static str {
    COLOURS.iter().find(|(name, ..)| *name == status).map_or("#ffffff", |(.., fill)| fill)
}

/// A status's Mermaid class name.
pub(super) fn class(status: &str) -> &'static str {
    COLOURS.iter().find(|(name, ..)| *name == status).map_or("other", |(_, class, _)| class)
}

/// Mermaid's class definitions, one per status.
pub(super) fn mermaid_classes() -> String {
    let mut out = String::new();
    for (_, class, fill) in COLOURS {
        let _ = writeln!(out, "  classDef {class} fill:{fill},stroke:#555");
    }
    out
}

/// Graphviz's legend: a cluster with a node per status.
pub(super) fn dot_legend() -> String {
    let mut out = String::from("  subgraph cluster_legend {\n    label=\"status\";\n");
    for (name, class, fill) in COLOURS {
        let _ = writeln!(out, "    legend_{class} [label={name:?}, fillcolor={fill:?}];");
    }
    out.push_str("  }\n");
    out
}
