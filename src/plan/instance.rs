//! [`Instance`]: one unit of work the executor will run: a step at one sweep point (and, for an
//! estimate, one checkpoint), with its parameters resolved and a stable display name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use devspec_protocol::StepKind;

use crate::compile::value::Value;

/// A coordinate of an instance: the swept value it takes on one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    pub axis: String,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub struct Instance {
    /// Index of its step in the checked program.
    pub step: usize,
    pub step_name: String,
    pub kind: StepKind,
    /// Its sweep point: inherited axes first (in the order of the steps it is `on`), then its own.
    pub coords: Vec<Coordinate>,
    /// For an estimate: the training step of the checkpoint it measures.
    pub checkpoint: Option<i64>,
    /// The step's fields with every sweep replaced by this point's value.
    pub params: BTreeMap<String, Value>,
    /// What it produces: for a train, one checkpoint per checkpoint step (streamed as training
    /// goes) and its loss series; for others, one result.
    pub outputs: Vec<Output>,
}

/// One output of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A checkpoint at this training step.
    Checkpoint(i64),
    /// The instance's result (a train's series, an estimate, a detection, a report).
    Result,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Checkpoint(step) => write!(f, "checkpoint@{step}"),
            Output::Result => f.write_str("result"),
        }
    }
}

/// `seed=2`: one coordinate as names, keys and tables write it.
impl fmt::Display for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.axis, self.value)
    }
}

impl Instance {
    /// The training steps of its planned checkpoints, in increasing order.
    pub fn checkpoint_steps(&self) -> BTreeSet<u64> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Checkpoint(step) => u64::try_from(*step).ok(),
                Output::Result => None,
            })
            .collect()
    }

    /// The sweep point's label, `seed=2,lr=0.001` (empty without sweeps): written here only,
    /// for names, keys' input roles, tables and reports alike.
    pub fn point_label(&self) -> String {
        self.coords.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }

    /// The stable display name: `tms_run[seed=2]`, `llc[seed=2]@1200`, `summary`.
    pub fn display_name(&self) -> String {
        let mut name = self.step_name.clone();
        if !self.coords.is_empty() {
            name.push('[');
            name.push_str(&self.point_label());
            name.push(']');
        }
        if let Some(step) = self.checkpoint {
            let _ = write!(name, "@{step}");
        }
        name
    }
}
