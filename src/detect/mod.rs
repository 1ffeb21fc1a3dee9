//! Finding where development changes: the methods of a `detect` step over a series of
//! checkpoints (Hoogland et al.'s critical points of a smoothed curve, PELT and binary
//! segmentation, Bayesian online change-point detection, essential dynamics). Pure Rust, run
//! by `devspec` itself; each method returns boundaries that [`boundary`] turns into the
//! stages between them.

// Counts of checkpoints are far below 2^52: exact as f64.
#![allow(clippy::cast_precision_loss)]

pub mod bocpd;
pub mod boundary;
pub mod change_points;
pub mod critical_points;
mod detect_error;
pub mod essential_dynamics;
pub mod method;
pub mod recurrence;
pub mod series;
pub mod smoothing;
pub mod transitions;

pub use boundary::{Boundary, Detection, Stage};
pub use detect_error::DetectError;
pub use method::Method;
pub use series::Series;

#[cfg(test)]
mod tests;
