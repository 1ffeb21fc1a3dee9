//! What each instance of a plan has in the store: its result record ([`Manifest`]), by node.
//! A run ends with one (the executor knows every record it took or wrote), and a verb that
//! runs nothing surveys the store for one; what is drawn, tabled and locked afterwards reads
//! it, so nothing keys the plan again.

use petgraph::graph::NodeIndex;

use super::executor::RunOptions;
use super::survey::{InstanceStatus, survey};
use crate::plan::Plan;
use crate::store::{Manifest, Store};

/// Each instance's record, indexed by node; `None` where it has none (failed, not run, or
/// waiting for inputs that have none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    by_node: Vec<Option<Box<Manifest>>>,
}

impl Results {
    /// No instance of a plan of `nodes` instances has a record yet.
    pub(super) fn none(nodes: usize) -> Results {
        Results { by_node: vec![None; nodes] }
    }

    /// What the store holds now for each instance of the plan, under the keys of this machine.
    pub fn in_store(plan: &Plan, store: &Store, options: &RunOptions) -> Results {
        Results::from_statuses(survey(plan, store, options))
    }

    /// The records of the cached instances of a survey.
    pub fn from_statuses(statuses: Vec<InstanceStatus>) -> Results {
        let by_node = statuses
            .into_iter()
            .map(|status| match status {
                InstanceStatus::Cached(manifest) => Some(manifest),
                InstanceStatus::WillRun(_) | InstanceStatus::WaitsForInputs => None,
            })
            .collect();
        Results { by_node }
    }

    /// Each instance's record, by node.
    pub(super) fn into_records(self) -> Vec<Option<Box<Manifest>>> {
        self.by_node
    }

    /// The record of the instance at `node`, if it has one.
    pub fn get(&self, node: NodeIndex) -> Option<&Manifest> {
        self.by_node.get(node.index()).and_then(Option::as_deref)
    }

    pub(super) fn set(&mut self, node: NodeIndex, manifest: Option<Box<Manifest>>) {
        self.by_node[node.index()] = manifest;
    }

    /// The display names of the plan's instances without a record, in plan order.
    pub fn missing(&self, plan: &Plan) -> Vec<String> {
        plan.order
            .iter()
            .filter(|&&node| self.get(node).is_none())
            .map(|&node| plan.graph[node].display_name())
            .collect()
    }
}
