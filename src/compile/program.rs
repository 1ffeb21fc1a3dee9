//! [`Program`]: a checked spec, the compile stage's output and the planner's input. Steps are
//! in file order, their fields fully resolved (presets merged, defaults filled), their inputs
//! given as indices, their own sweep axes listed. Nothing here refers to the syntax tree.

use std::collections::BTreeMap;

use devspec_protocol::StepKind;

use super::param::{BoundParam, OpenParam};
use super::value::{Origin, Value};

#[derive(Debug, Clone)]
pub struct Program {
    pub steps: Vec<CheckedStep>,
    /// Every parameter the spec (or a file it imports directly) declares, bound or not.
    pub params: Vec<OpenParam>,
    /// Where each of `params` is declared (its name), in the same order: for the diagnostic
    /// of anything that plans while one is open.
    pub param_origins: Vec<Origin>,
    /// What each bound parameter was given, for the lock.
    pub bound: Vec<BoundParam>,
}

impl Program {
    /// Every declared parameter, bound or not, in reading order.
    pub fn params(&self) -> &[OpenParam] {
        &self.params
    }

    /// The parameters no binding gave a value: anything that plans refuses them.
    pub fn open_params(&self) -> Vec<&OpenParam> {
        self.params.iter().filter(|param| !param.bound).collect()
    }

    pub fn step(&self, name: &str) -> Option<&CheckedStep> {
        self.steps.iter().find(|step| step.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct CheckedStep {
    pub kind: StepKind,
    pub name: String,
    /// Indices into [`Program::steps`] of the steps this one is `on`.
    pub inputs: Vec<usize>,
    /// Every field: written, from the preset, or the registry's default. Fields whose default
    /// is derived by the step itself are absent.
    pub fields: BTreeMap<String, Value>,
    /// The step's own sweeps, in field order; a step `on` swept steps also inherits theirs.
    pub axes: Vec<Axis>,
    pub origin: Origin,
}

/// One swept value of a step: its name (`seed`, or a dotted path such as `optimizer.lr` when
/// the sweep sits inside a constructor) and its values.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub values: Vec<Value>,
}
