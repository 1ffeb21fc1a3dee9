//! Operations: what the verbs that compute do, as functions that take a planned spec and
//! resolved settings ([`Session`]) and return typed outcomes, as cargo's `ops` is to its
//! commands. A verb in `cli/` parses its arguments, resolves the settings, calls one operation
//! and prints its outcome; an operation prints nothing (progress and notes go to the caller's
//! [`Observer`]) and never calls a verb.
//!
//! Every operation that runs steps goes through [`Session::execute`], the one place an
//! [`crate::exec::Executor`] is built. A run's outcome carries every instance's record
//! ([`crate::exec::Results`]), from which its stage tables, reports and lock are made without
//! keying the plan again.

pub mod bid;
pub mod calibrate;
pub mod checkout;
pub mod checkout_folder;
pub mod cost_calibration;
pub mod export;
pub mod report;
pub mod run;
mod session;
mod settings;
mod step_results;
pub mod verify;

pub use session::{Observer, Quiet, Session};
pub use settings::{Settings, worker_deadlines};
pub use step_results::{DamagedEntry, RowState, StepResults, StepRow, step_kind, step_results};
