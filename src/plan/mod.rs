//! Checked program to plan: the DAG (petgraph) of step [`Instance`]s a run executes, in a
//! topological order, and its renderings for `devspec plan` (text, JSON, Graphviz, Mermaid).
//!
//! ```no_run
//! # use devspec::{compile, plan, source::SourceMap};
//! let mut sources = SourceMap::new();
//! let program = compile::check_path("specs/tms.dev".as_ref(), &[], &mut sources).unwrap();
//! let plan = plan::plan(&program).unwrap();
//! println!("{}", plan::render_text(&plan, &plan::status_without_store(&plan)));
//! ```

mod instance;
mod planner;
mod render;

use petgraph::graph::{DiGraph, NodeIndex};

pub use instance::{Coordinate, Instance, Output};
pub use planner::plan;
pub use render::{PlanFormat, Statuses, render, render_text, status_without_store};

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
}

impl Plan {
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.order.iter().map(|&node| &self.graph[node])
    }

    /// Instances that read another's output cannot start before it exists.
    pub fn waits_for_inputs(&self, node: NodeIndex) -> bool {
        self.graph.neighbors_directed(node, petgraph::Direction::Incoming).next().is_some()
    }
}
