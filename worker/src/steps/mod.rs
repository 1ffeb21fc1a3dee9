//! The step implementations the worker runs, by registry name. Numerical steps (train,
//! checkpoint, estimate) arrive with their issues; `test` is the executor's own test step.

mod test_step;

use devspec_protocol::{Reply, StepRequest, StepResult, WorkerError, WorkerErrorKind};

/// Runs one step, passing progress replies to `send`; the final reply is returned.
pub fn run(
    id: u64,
    step: &StepRequest,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    // The thread budget the scheduler gave this step; part of its cache key, since a different
    // thread count can change the last bits of a reduction.
    tch::set_num_threads(i32::try_from(step.threads.max(1)).unwrap_or(1));
    match step.kind.as_str() {
        "test" => test_step::run(id, step, send),
        other => Err(WorkerError {
            kind: WorkerErrorKind::UnknownStep,
            message: format!("this worker does not implement step kind `{other}` yet"),
        }),
    }
}
