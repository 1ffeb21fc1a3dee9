//! The steps `devspec` computes itself, without libtorch or a worker: detection and the
//! report's data. Each reads its inputs' results from the store and returns its own
//! result bytes and metrics; the executor keys, locks and records them as it does a worker's.

pub mod detect_step;
pub mod report_step;
mod step_error;

pub use step_error::StepError;

use std::collections::BTreeMap;

use devspec_protocol::StepKind;
use devspec_protocol::results::{self, Versioned};
use serde::de::DeserializeOwned;

use crate::store::Store;

/// An input of an in-process step: the instance it comes from and what it produced.
pub struct Input {
    pub kind: StepKind,
    /// Its step's name in the spec (`llc`).
    pub step: String,
    /// Its display name (`llc[seed=0]@1200`).
    pub instance: String,
    /// Its sweep point (`seed=0`; empty without sweeps).
    pub point: String,
    /// Its key: the store's manifest of what it produced.
    pub key: String,
    /// For an estimate, the training step of the checkpoint it measured.
    pub checkpoint: Option<i64>,
    /// Every output it produced (`result`, `checkpoint@1200`) and its digest.
    pub outputs: BTreeMap<String, String>,
    /// Its parameters, as a worker gets them.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The instances it read (an estimate's checkpoint), for what their settings say (the
    /// teacher whose learning coefficient is known).
    pub sources: Vec<Source>,
}

/// An instance one of the inputs read.
pub struct Source {
    pub kind: StepKind,
    /// Its step's name in the spec.
    pub step: String,
    pub instance: String,
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// What an in-process step produced: its `result` blob's bytes and its metrics.
pub struct Produced {
    pub result: Vec<u8>,
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

/// Whether `devspec` computes this kind itself.
pub fn is_in_process(kind: StepKind) -> bool {
    !kind.runs_in_worker()
}

/// Computes an in-process step from its parameters (as a worker would get them) and inputs.
pub fn compute(
    kind: StepKind,
    params: &serde_json::Map<String, serde_json::Value>,
    inputs: &[Input],
    store: &Store,
) -> Result<Produced, StepError> {
    match kind {
        StepKind::Detect => detect_step::compute(params, inputs, store),
        StepKind::Report => report_step::compute(params, inputs, store),
        StepKind::Train | StepKind::Checkpoint | StepKind::Estimate | StepKind::Test => {
            Err(StepError::Inputs(format!("`{kind}` steps are not computed by devspec itself")))
        }
    }
}

/// An input's `result`, read from the store as its kind's result type.
fn read_result<T: DeserializeOwned + Versioned>(
    store: &Store,
    input: &Input,
) -> Result<T, StepError> {
    let unreadable =
        |detail: String| StepError::Unreadable { instance: input.instance.clone(), detail };
    let digest =
        input.outputs.get("result").ok_or_else(|| unreadable("it has no result".into()))?;
    let bytes = store
        .read_blob(digest)
        .map_err(|source| StepError::Store { instance: input.instance.clone(), source })?;
    results::decode(&bytes).map_err(|e| {
        unreadable(format!("it does not read as the {} step's result: {e}", input.kind))
    })
}
