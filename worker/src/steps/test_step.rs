//! The `test` step: cheap and deterministic, able to fail, sleep, crash the worker or emit
//! several outputs on demand, so the executor (caching, scheduling, failure isolation,
//! interruption) is tested through the same protocol and store writes as numerical steps.

use std::collections::BTreeMap;
use std::time::Duration;

use devspec_protocol::{
    Reply, StepRequest, StepResult, WorkerError, WorkerErrorKind, store_layout,
};

pub fn run(
    id: u64,
    step: &StepRequest,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    let int = |name: &str| step.params.get(name).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let flag =
        |name: &str| step.params.get(name).and_then(serde_json::Value::as_bool).unwrap_or(false);
    let sleep_ms = u64::try_from(int("sleep_ms")).unwrap_or(0);
    // Progress in ten slices, so a long sleep reports as a training step would (a step that
    // does not sleep reports nothing, as a quick step would).
    for slice in (1..=10u64).filter(|_| sleep_ms > 0) {
        std::thread::sleep(Duration::from_millis(sleep_ms / 10));
        send(&Reply::Progress {
            id,
            done: slice,
            total: 10,
            message: format!("slept {}ms", sleep_ms * slice / 10),
        });
    }
    if flag("crash") {
        // As a libtorch abort or an out-of-memory kill would: no reply, no cleanup.
        std::process::abort();
    }
    if flag("fail") {
        return Err(WorkerError {
            kind: WorkerErrorKind::StepFailed,
            message: format!("{} failed on purpose (`fail = true`)", step.display_name),
        });
    }
    let store = std::path::Path::new(&step.store);
    let mut outputs = BTreeMap::new();
    for index in 0..int("outputs").max(1) {
        // The bytes depend only on the parameters and the inputs' digests, as a real step's do.
        let bytes = format!(
            "test value={} output={index} inputs={}\n",
            int("value"),
            step.inputs.join(",")
        );
        let digest =
            store_layout::put_blob(store, bytes.as_bytes()).map_err(|err| WorkerError {
                kind: WorkerErrorKind::Environment,
                message: format!("cannot write into the store {}: {err}", store.display()),
            })?;
        let name = if index == 0 { "result".to_owned() } else { format!("result.{index}") };
        outputs.insert(name, digest);
    }
    let mut metrics = serde_json::Map::new();
    metrics.insert("value".into(), int("value").into());
    Ok(StepResult { outputs, metrics })
}
