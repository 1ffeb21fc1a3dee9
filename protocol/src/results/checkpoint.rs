//! A checkpoint step's result: which step it holds and where it came from.

use serde::{Deserialize, Serialize};

use super::Versioned;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResult {
    pub schema_version: u32,
    pub checkpoints: Vec<i64>,
    pub source: CheckpointSource,
}

/// Where an imported checkpoint came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckpointSource {
    /// A file the spec named (`checkpoint(files = ...)`).
    File { file: String },
    /// A teacher's weights (`checkpoint(weights = ...)`), stored as the word `"weights"`.
    Teacher(TeacherWeights),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TeacherWeights {
    #[serde(rename = "weights")]
    Weights,
}

impl CheckpointResult {
    pub fn new(step: i64, source: CheckpointSource) -> CheckpointResult {
        CheckpointResult { schema_version: super::SCHEMA_VERSION, checkpoints: vec![step], source }
    }
}

impl Versioned for CheckpointResult {
    const SCHEMA_VERSION: u32 = super::SCHEMA_VERSION;

    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}
