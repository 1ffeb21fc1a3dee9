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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub devspec_version: String,
    pub libtorch: String,
    pub threads: u32,
    pub device: String,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub ended: f64,
}
