//! [`Manifest`]: what the action table records for a step key: the digest of each output, the
//! step's metrics, and its provenance (which versions and settings produced it, where, when).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of this record, bumped when its shape changes.
    pub manifest_version: u32,
    pub key: String,
    /// The instance that produced it (for people; not part of the key).
    pub instance: String,
    pub kind: String,
    /// Output name (`result`, `checkpoint@1200`) to blob digest.
    pub outputs: BTreeMap<String, String>,
    /// Each output blob's size in bytes: a cache hit checks it, so a truncated or replaced
    /// blob is caught without rereading every output on every run.
    pub sizes: BTreeMap<String, u64>,
    pub metrics: serde_json::Map<String, serde_json::Value>,
    pub provenance: Provenance,
}

/// Which versions and settings produced a result, where and when (`show --provenance`). Not
/// part of the key: two runs of one key give the same bytes, whatever their provenance says.
/// Fields added after the first manifests default to empty, so older entries still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub devspec_version: String,
    /// The git commit devspec was built from; empty when built outside a checkout.
    #[serde(default)]
    pub devspec_commit: String,
    /// The BLAKE3 of the spec file whose run computed it.
    #[serde(default)]
    pub spec_digest: String,
    pub libtorch: String,
    pub threads: u32,
    /// The device kind (`cpu`, `cuda`, `cuda:1`).
    pub device: String,
    /// The device's own name: the CPU model, or the GPU's.
    #[serde(default)]
    pub device_name: String,
    /// ATen's CPU kernel level the worker was pinned to.
    #[serde(default)]
    pub cpu_capability: String,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub ended: f64,
}

impl Provenance {
    /// Seconds the step took.
    pub fn wall_seconds(&self) -> f64 {
        self.ended - self.started
    }
}
