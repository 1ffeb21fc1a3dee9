//! Runs a step that `devspec` computes itself (detection): under its key's lock, as a worker's
//! step runs, with its result stored as a blob and its manifest recorded the same way, so the
//! cache, `show` and `status` treat it like any other step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use devspec_protocol::{StepKind, store_layout};

use super::executor::RunOptions;
use super::provenance::{now, provenance};
use crate::failure::Failure;
use crate::steps::{self, Input};
use crate::store::{Manifest, Store};

/// What the executor hands over: the instance, its key, its parameters and its inputs.
pub struct InProcessJob<'a> {
    pub instance: String,
    pub key: String,
    pub kind: StepKind,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    pub inputs: Vec<Input>,
    pub options: &'a RunOptions,
}

/// The step's manifest and whether this run computed it (false: another run had), or its
/// error.
pub fn run(
    store: &Store,
    job: &InProcessJob<'_>,
) -> Result<(Box<Manifest>, bool), (Failure, Option<PathBuf>)> {
    let environment = |message: String| (Failure::environment(message), None);
    let _lock =
        store.lock_key(&job.key).map_err(|e| environment(format!("cannot lock the store: {e}")))?;
    if let Some(manifest) = store.cached(&job.key) {
        return Ok((Box::new(manifest), false));
    }
    let started = now();
    let produced = steps::compute(job.kind, job.params, &job.inputs, store)
        .map_err(|e| (Failure::new(e.class(), e.to_string()), None))?;
    let digest = store_layout::put_blob(store.root(), &produced.result)
        .map_err(|e| environment(format!("cannot store the result: {e}")))?;
    let manifest = Manifest {
        manifest_version: 1,
        key: job.key.clone(),
        instance: job.instance.clone(),
        kind: job.kind,
        outputs: BTreeMap::from([("result".to_owned(), digest)]),
        sizes: BTreeMap::new(),
        metrics: produced.metrics,
        provenance: provenance(job.options, "cpu", 1, false, started),
    };
    let manifest = store
        .record(manifest)
        .map_err(|err| environment(format!("cannot record the result in the store: {err}")))?;
    Ok((Box::new(manifest), true))
}
