//! Running the plan: the [`Executor`] (scheduler and worker pool), step keys ([`StepKey`]),
//! finding the `devspec-worker` executable, talking to one worker process over the protocol of
//! `devspec-protocol`, and the worker's cached version report.

mod executor;
mod in_process;
pub mod mkl_path;
mod pool;
mod provenance;
mod results;
pub mod slurm;
mod step_key;
mod step_log;
mod survey;
mod threads_per_step;
mod worker_locator;
mod worker_process;
mod worker_report;

#[cfg(test)]
pub(crate) use executor::request_params;
pub use executor::{Executor, FailedInstance, RunEvent, RunOptions, RunSummary};
pub use provenance::{DEVSPEC_COMMIT, device_name, now as unix_now};
pub use results::Results;
pub use step_key::{StepKey, environment_of, explicit_device, instance_key};
pub use survey::{InstanceStatus, continues_from, survey, why};
pub use threads_per_step::{ThreadsPerStep, auto_threads};
pub use worker_locator::{LocatedBy, WorkerLocation, WorkerLocator};
pub use worker_process::{WorkerDeadlines, WorkerProcess, WorkerProcessError};
pub use worker_report::{executable_stamp, latest_cached_report, worker_report};
