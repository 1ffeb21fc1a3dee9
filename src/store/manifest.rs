//! [`Manifest`]: what the action table records for a step key: the digest of each output, the
//! step's metrics, and its provenance (which versions and settings produced it, where, when).

use std::collections::BTreeMap;

use devspec_protocol::StepKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of this record, bumped when its shape changes.
    pub manifest_version: u32,
    pub key: String,
    /// The instance that produced it (for people; not part of the key).
    pub instance: String,
    /// Written as its name (`train`).
    pub kind: StepKind,
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

/// The last field of a sealed record, before its digest.
const SEAL_OPENING: &[u8] = b",\n  \"checksum\": \"";
/// What follows the digest: the end of the record.
const SEAL_CLOSING: &[u8] = b"\"\n}";
/// A BLAKE3 digest in hex.
const DIGEST_LEN: usize = 64;

impl Manifest {
    /// The record's text as the store keeps it: the manifest as pretty JSON, sealed by a last
    /// field, `checksum`, the BLAKE3 of that same text without the field. Checking a seal costs
    /// a hash of the record's own bytes (a microsecond), so every read of a manifest, a no-op
    /// run's included, can afford it; the numbers were checked against the result when the seal
    /// was made ([`super::derived_metrics`]).
    pub fn sealed_text(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec_pretty(self).expect("manifests serialize");
        let checksum = devspec_protocol::store_layout::digest(&body);
        // The body ends with "\n}": the seal goes in before it.
        body.truncate(body.len() - 2);
        body.extend_from_slice(SEAL_OPENING);
        body.extend_from_slice(checksum.as_bytes());
        body.extend_from_slice(SEAL_CLOSING);
        body
    }
}

/// What a record's seal says about its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seal {
    /// Sealed, and the seal matches: the bytes are the ones devspec wrote.
    Intact,
    /// Sealed, and the seal does not match: edited or damaged.
    Broken,
    /// No seal where devspec puts it: a record of an earlier devspec (or one rewritten by hand),
    /// to be checked against its result and sealed.
    Absent,
}

/// Checks a record's seal (see [`Manifest::sealed_text`]).
pub fn seal_of(text: &[u8]) -> Seal {
    let tail = SEAL_OPENING.len() + DIGEST_LEN + SEAL_CLOSING.len();
    let Some(start) = text.len().checked_sub(tail) else { return Seal::Absent };
    let (body, seal) = text.split_at(start);
    if !seal.starts_with(SEAL_OPENING) || !seal.ends_with(SEAL_CLOSING) {
        return Seal::Absent;
    }
    let checksum = &seal[SEAL_OPENING.len()..SEAL_OPENING.len() + DIGEST_LEN];
    let mut hasher = blake3::Hasher::new();
    hasher.update(body);
    hasher.update(b"\n}");
    if hasher.finalize().to_hex().as_bytes() == checksum { Seal::Intact } else { Seal::Broken }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use devspec_protocol::StepKind;

    use super::{Manifest, Provenance, Seal, seal_of};

    pub fn manifest() -> Manifest {
        Manifest {
            manifest_version: 1,
            key: "ab".repeat(32),
            instance: "llc[seed=1]@16".into(),
            kind: StepKind::Estimate,
            outputs: BTreeMap::new(),
            sizes: BTreeMap::new(),
            metrics: serde_json::json!({"llc_mean": 0.129}).as_object().unwrap().clone(),
            provenance: Provenance {
                devspec_version: "0".into(),
                devspec_commit: String::new(),
                spec_digest: String::new(),
                libtorch: String::new(),
                threads: 1,
                device: "cpu".into(),
                device_name: String::new(),
                cpu_capability: String::new(),
                host: "h".into(),
                started: 1.5,
                ended: 2.25,
            },
        }
    }

    #[test]
    fn a_seal_holds_for_what_was_written_and_breaks_on_an_edit() {
        let text = manifest().sealed_text();
        assert_eq!(seal_of(&text), Seal::Intact);
        // The sealed record reads as the manifest it seals.
        assert_eq!(serde_json::from_slice::<Manifest>(&text).unwrap(), manifest());
        let edited = String::from_utf8(text).unwrap().replace("0.129", "0.929");
        assert_eq!(seal_of(edited.as_bytes()), Seal::Broken);
        // A record of an earlier devspec has none.
        let unsealed = serde_json::to_vec_pretty(&manifest()).unwrap();
        assert_eq!(seal_of(&unsealed), Seal::Absent);
        assert_eq!(seal_of(b""), Seal::Absent);
    }
}
