//! A training run's resume state, kept in the store under its instance's key
//! (`resume/KEY.json`): the step of its latest checkpoint, the digests of that checkpoint and of
//! the optimizer state beside it, the loss series so far and the outputs written so far. A run
//! killed mid-training starts again from there, with the same bytes as an uninterrupted run
//! (every draw at step t comes from (seed, t), so nothing else needs saving). It is removed when
//! the run completes: its manifest then says everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec_protocol::store_layout;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::checkpoint_file;
use super::trainer::Series;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeRecord {
    pub step: u64,
    pub checkpoint: String,
    pub optimizer: String,
    pub series: Series,
    pub outputs: BTreeMap<String, String>,
}

/// Where a run resumes: its parameters and optimizer state (one member), and its record.
pub struct ResumePoint {
    pub record: ResumeRecord,
    pub params: Vec<(String, Tensor)>,
    pub optimizer: Vec<(String, Tensor)>,
}

fn path(store: &Path, key: &str) -> PathBuf {
    store.join("resume").join(format!("{key}.json"))
}

/// The resume point of `key`, if a readable one is stored with intact blobs. Anything else
/// (none, a damaged record, a blob gone) means training starts from step 0.
pub fn load(store: &Path, key: &str) -> Option<ResumePoint> {
    if key.is_empty() {
        return None;
    }
    let record: ResumeRecord =
        serde_json::from_slice(&std::fs::read(path(store, key)).ok()?).ok()?;
    let read = |digest: &str| -> Option<Vec<(String, Tensor)>> {
        let bytes = std::fs::read(store_layout::blob_path(store, digest)).ok()?;
        (store_layout::digest(&bytes) == digest).then_some(())?;
        checkpoint_file::decode(&bytes).ok()
    };
    let params = read(&record.checkpoint)?;
    let optimizer = read(&record.optimizer)?;
    Some(ResumePoint { record, params, optimizer })
}

/// Stores a resume point (its blobs are already in the store). A failure costs only the
/// ability to resume from this checkpoint.
pub fn save(store: &Path, key: &str, record: &ResumeRecord) {
    if key.is_empty() {
        return;
    }
    let text = serde_json::to_vec(record).expect("records serialize");
    let _ = store_layout::write_atomically(store, &path(store, key), &text);
}

pub fn remove(store: &Path, key: &str) {
    if !key.is_empty() {
        let _ = std::fs::remove_file(path(store, key));
    }
}
