//! Estimating observables at a checkpoint: the local learning coefficient by sampling a
//! localized tempered posterior (`llc`: the chains; `sampler`: SGLD and RMSprop-SGLD with their
//! MALA acceptance; `diagnostics`: from chains to an estimate and what went wrong), and
//! measurements without sampling (`measure`: the loss over a data set, the weights' norm, the
//! Hessian's trace, the outputs on a probe set; `study_observables`: accuracy, induction scores, a toy model's
//! geometry, in-context regression's baselines). `spec` reads a step's parameters.

// Counts (chains, draws, steps) move between usize, u64, i64 and f64 (means): all far below
// 2^53, so the conversions are exact here.
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

pub mod diagnostics;
mod estimate_error;
pub mod llc;
pub mod measure;
pub mod sampler;
pub mod spec;
pub mod study_observables;

pub use estimate_error::EstimateError;
