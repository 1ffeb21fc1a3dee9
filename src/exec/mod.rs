//! Running the plan. So far: finding the `devspec-worker` executable and talking to one worker
//! process over the protocol of `devspec-protocol`. The scheduler, worker pool and store arrive
//! with the executor issue.

mod worker_locator;
mod worker_process;

pub use worker_locator::{LocatedBy, WorkerLocation, WorkerLocator};
pub use worker_process::{WorkerProcess, WorkerProcessError};
