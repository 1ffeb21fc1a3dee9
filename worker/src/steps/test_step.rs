//! The `test` step: cheap and deterministic, able to fail, sleep, crash the worker, stream
//! checkpoints or emit several outputs on demand, so the executor (caching, scheduling,
//! streaming, batching, failure isolation, interruption) is tested through the same protocol
//! and store writes as numerical steps.
//!
//! A group of siblings is one batched libtorch computation, as a real batched step is: each
//! member's `value` is a row of one tensor, and a row-wise function of it goes into the
//! member's bytes. That those bytes do not depend on the group's size is what the executor's
//! batching tests check.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use devspec_protocol::params::TestParams;
use devspec_protocol::{Reply, StepResult, WorkerError};
use tch::{Kind, Tensor};

use super::{Member, Typed};

pub fn run(group: &[Typed<'_, '_, TestParams>], send: &mut dyn FnMut(&Reply)) {
    let Some((first, _)) = group.first() else { return };
    let values: Vec<f64> = group.iter().map(|(_, params)| params.value as f64).collect();
    let mixes = mix(&values);
    // One computation: the group sleeps as long as its longest member, split into phases that
    // each end with a checkpoint (streamed), then the results.
    let sleep_ms =
        group.iter().map(|(_, params)| u64::try_from(params.sleep_ms).unwrap_or(0)).max();
    let sleep_ms = sleep_ms.unwrap_or(0);
    let checkpoints: Vec<&String> =
        first.request.outputs.iter().filter(|name| name.starts_with("checkpoint@")).collect();
    let phases = checkpoints.len() as u64 + 1;
    let mut failed: Vec<bool> = vec![false; group.len()];
    let mut outputs: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); group.len()];
    for (phase, checkpoint) in checkpoints.iter().enumerate() {
        pause(first, send, sleep_ms / phases, phase as u64 + 1, phases);
        for (index, (member, params)) in group.iter().enumerate() {
            if failed[index] {
                continue;
            }
            let bytes = bytes(member, params, checkpoint, mixes[index]);
            match member.write_output(checkpoint, bytes.as_bytes(), true, send) {
                Ok(digest) => {
                    outputs[index].insert((*checkpoint).clone(), digest);
                }
                Err(error) => {
                    failed[index] = true;
                    member.finish(send, Err(error));
                }
            }
        }
    }
    pause(first, send, sleep_ms / phases, phases, phases);
    if group.iter().any(|(_, params)| params.crash) {
        // As a libtorch abort or an out-of-memory kill would: no reply, no cleanup.
        std::process::abort();
    }
    for (index, (member, params)) in group.iter().enumerate().filter(|(i, _)| !failed[*i]) {
        let outcome = if params.fail {
            Err(WorkerError::step_failed(format!(
                "{} failed on purpose (`fail = true`)",
                member.request.display_name
            )))
        } else {
            results(member, params, mixes[index], std::mem::take(&mut outputs[index]), send)
        };
        member.finish(send, outcome);
    }
}

/// The member's final outputs: its streamed checkpoints (already stored) and `outputs` results.
fn results(
    member: &Member<'_>,
    params: &TestParams,
    mix: f64,
    mut outputs: BTreeMap<String, String>,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    for index in 0..params.outputs.max(1) {
        let name = if index == 0 { "result".to_owned() } else { format!("result.{index}") };
        let bytes = bytes(member, params, &name, mix);
        let digest = member.write_output(&name, bytes.as_bytes(), false, send)?;
        outputs.insert(name, digest);
    }
    let mut metrics = serde_json::Map::new();
    metrics.insert("value".into(), params.value.into());
    Ok(StepResult { outputs, metrics })
}

/// An output's bytes: only the member's parameters, its inputs' digests and its row of the
/// batched computation, as a real step's bytes depend only on what its key names.
fn bytes(member: &Member<'_>, params: &TestParams, output: &str, mix: f64) -> String {
    let mut text = format!(
        "test value={} output={output} mix={:016x} inputs={}",
        params.value,
        mix.to_bits(),
        member.request.inputs.join(",")
    );
    if let Some(file) = &params.reads {
        let size = std::fs::metadata(file).map_or(-1, |m| i64::try_from(m.len()).unwrap_or(-1));
        let _ = write!(text, " file_bytes={size}");
    }
    text + "\n"
}

/// A row-wise function of the group's values, computed for the whole group at once:
/// `sum_j sin(v * j / 64)` for j = 1..64, in f64.
fn mix(values: &[f64]) -> Vec<f64> {
    thread_local! {
        // Made once per worker: the step should cost what a trivial step costs.
        static WEIGHTS: Tensor =
            (Tensor::arange_start(1, 65, (Kind::Double, tch::Device::Cpu)) / 64.0).unsqueeze(0);
    }
    let rows = Tensor::from_slice(values).unsqueeze(1);
    let mixed =
        WEIGHTS.with(|weights| (rows * weights).sin().sum_dim_intlist(1, false, Kind::Double));
    Vec::<f64>::try_from(mixed).unwrap_or_else(|_| vec![0.0; values.len()])
}

fn pause(first: &Member<'_>, send: &mut dyn FnMut(&Reply), ms: u64, done: u64, total: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
        first.progress(send, done, total, format!("phase {done}/{total}"));
    }
}
