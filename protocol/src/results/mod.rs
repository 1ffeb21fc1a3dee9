//! What each worker step stores as its `result` output, as types both sides share: the worker
//! builds them, `devspec` reads them (detections, reports, `show`, `verify`'s check of a
//! manifest's metrics against its result). A field either side names is a field of these
//! structs, so a rename is a compile error on both sides rather than a lookup that comes back
//! empty.
//!
//! The bytes are JSON with every object's keys in sorted order ([`encode`]), whatever order a
//! struct declares its fields in, so results stored before these types existed keep their
//! digests.

pub mod checkpoint;
pub mod estimate;
pub mod llc;
mod nan_as_null;
pub mod train;

pub use checkpoint::{CheckpointResult, CheckpointSource};
pub use estimate::{EstimateResult, Observed, Reading};
pub use llc::{
    CompanionChains, CompanionEstimate, Diagnostic, DiagnosticName, Estimate, LlcResult,
    Sensitivity,
};
pub use train::{TrainResult, TrainSeries};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version of every worker step's result layout (a reader refuses another).
pub const SCHEMA_VERSION: u32 = 1;

/// A result's stored bytes: compact JSON, each object's keys sorted, a non-finite number as
/// `null` (JSON has no NaN; the readers take `null` back as NaN where a number is due).
pub fn encode(result: &impl Serialize) -> Vec<u8> {
    // Through `serde_json::Value`, whose objects are sorted maps: the order is the keys', not
    // the declaration's.
    let value = serde_json::to_value(result).expect("results are plain data");
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// Reads a stored result; fails on bytes that are not one, or of another schema version.
pub fn decode<T: DeserializeOwned + Versioned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let result: T = serde_json::from_slice(bytes).map_err(DecodeError::Shape)?;
    match result.schema_version() {
        version if version == T::SCHEMA_VERSION => Ok(result),
        found => Err(DecodeError::Version { found, read: T::SCHEMA_VERSION }),
    }
}

/// Why stored bytes are not a result of the type asked for.
#[derive(Debug)]
pub enum DecodeError {
    /// Not JSON, or not this type's fields.
    Shape(serde_json::Error),
    /// Written in another layout than this build reads.
    Version { found: u32, read: u32 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Shape(error) => write!(f, "{error}"),
            DecodeError::Version { found, read } => {
                write!(f, "schema version {found}, where {read} is read")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Shape(error) => Some(error),
            DecodeError::Version { .. } => None,
        }
    }
}

/// A result that states its schema version.
pub trait Versioned {
    /// The version this build writes and reads.
    const SCHEMA_VERSION: u32;
    fn schema_version(&self) -> u32;
}

#[cfg(test)]
mod tests;
