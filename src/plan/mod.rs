//! Checked program to plan: the DAG (petgraph) of step [`Instance`]s a run executes, in a
//! topological order, and its renderings for `devspec plan` (text, JSON, Graphviz, Mermaid;
//! per instance, or per step with `--steps`).
//!
//! ```no_run
//! # use devspec::{compile, plan, source::SourceMap};
//! let mut sources = SourceMap::new();
//! let program = compile::check_path("specs/tms.dev".as_ref(), &[], &mut sources).unwrap();
//! let plan = plan::plan(&program).unwrap();
//! println!("{}", plan::render_text(&plan, &plan::status_without_store(&plan)));
//! ```

mod checkpoint_files;
pub mod cost;
mod instance;
pub mod memory_budget;
pub mod memory_estimate;
mod planner;
mod render;
mod render_steps;
mod size_limits;

use petgraph::graph::{DiGraph, NodeIndex};

pub use instance::{Coordinate, Instance, Output};
pub use planner::plan;
pub use render::{PlanFormat, Statuses, render, render_text, status_without_store};
pub use render_steps::render_steps;
pub use size_limits::{MAX_INSTANCES, check as check_limits, instance_count};

/// An edge of the plan: the target reads this output of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub output: Output,
}

#[derive(Debug)]
pub struct Plan {
    pub graph: DiGraph<Instance, Dependency>,
    /// Every instance, each after all it depends on.
    pub order: Vec<NodeIndex>,
    /// For each step of the program, the steps it is `on`, in the order written.
    pub step_inputs: Vec<Vec<usize>>,
    /// The spec's parameters as bound (`--bind`), for the lock.
    pub bound: Vec<crate::compile::BoundParam>,
}

/// A step name the plan does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the spec has no step `{0}`")]
pub struct UnknownStep(pub String);

impl Plan {
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.order.iter().map(|&node| &self.graph[node])
    }

    /// The part of the plan the named steps need: their instances and everything upstream of
    /// them (`run --target`). The error names a step the plan does not have.
    pub fn restricted_to(&self, steps: &[String]) -> Result<Plan, UnknownStep> {
        if let Some(unknown) =
            steps.iter().find(|name| !self.graph.node_weights().any(|i| i.step_name == **name))
        {
            return Err(UnknownStep(unknown.clone()));
        }
        Ok(self.restricted_to_instances(|instance| steps.contains(&instance.step_name)))
    }

    /// The plan of the instances `wanted` selects and of everything they read, directly or
    /// not.
    #[must_use]
    pub fn restricted_to_instances(&self, wanted: impl Fn(&Instance) -> bool) -> Plan {
        let mut keep = vec![false; self.graph.node_count()];
        let mut pending: Vec<NodeIndex> =
            self.graph.node_indices().filter(|&n| wanted(&self.graph[n])).collect();
        while let Some(node) = pending.pop() {
            if !std::mem::replace(&mut keep[node.index()], true) {
                pending.extend(self.graph.neighbors_directed(node, petgraph::Direction::Incoming));
            }
        }
        // Node order is preserved, so creation order stays a topological order.
        let graph = self.graph.filter_map(
            |node, instance| keep[node.index()].then(|| instance.clone()),
            |_, dependency| Some(dependency.clone()),
        );
        let order = graph.node_indices().collect();
        Plan { graph, order, step_inputs: self.step_inputs.clone(), bound: self.bound.clone() }
    }

    /// Instances that read another's output cannot start before it exists.
    pub fn waits_for_inputs(&self, node: NodeIndex) -> bool {
        self.graph.neighbors_directed(node, petgraph::Direction::Incoming).next().is_some()
    }
}

/// A spec's text, checked (its files looked up in the temp folder); for the plan's tests.
#[cfg(test)]
fn checked(spec: &str) -> crate::compile::Program {
    let mut sources = crate::source::SourceMap::new();
    let root = std::env::temp_dir();
    crate::compile::check_bytes("t.dev", None, spec.as_bytes(), &root, &[], &mut sources)
        .unwrap_or_else(|errors| panic!("{errors:?}"))
}
