//! The `estimate` step: an observable at one checkpoint per member. Members of one request are
//! sibling checkpoints of one estimate step with the same settings: the LLC's chains of all of
//! them are sampled as one batched computation (a large model's in several, `llc::runs`), and
//! each member's numbers are those it gets alone. Its result is a [`EstimateResult`] (for the LLC: the estimate, every chain's
//! estimate and loss trace, the diagnostics); its metrics are those the result determines.

use std::collections::BTreeMap;
use std::path::Path;

use devspec_protocol::params::EstimateParams;
use devspec_protocol::results::{
    self, CompanionChains, Estimate, EstimateResult, LlcResult, Observed,
};
use devspec_protocol::{Reply, StepResult, WorkerError, store_layout};
use tch::Tensor;

use super::{Member, Typed};
use crate::estimate::diagnostics;
use crate::estimate::spec::{EstimateSpec, LlcSpec, Observable};
use crate::estimate::{llc, measure};
use crate::train::checkpoint_file;
use crate::train::trajectory;

/// Members that may be sampled together (their specs' [`EstimateSpec::batch_key`]), each with
/// its spec and its checkpoint's parameters.
type Batch<'a, 'm> = (EstimateSpec, Vec<(&'a Member<'m>, EstimateSpec, Vec<Tensor>)>);

pub fn run(group: &[Typed<'_, '_, EstimateParams>], send: &mut dyn FnMut(&Reply)) {
    let mut batches: Vec<Batch<'_, '_>> = Vec::new();
    for (member, params) in group {
        match prepare(member, params) {
            Ok((spec, anchor)) => {
                let key = spec.batch_key();
                match batches.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push((member, spec, anchor)),
                    None => batches.push((key, vec![(member, spec, anchor)])),
                }
            }
            Err(message) => member.finish(send, Err(WorkerError::step_failed(message))),
        }
    }
    for (key, members) in batches {
        match &key.observable {
            Observable::Llc(_) => run_llc(&members, send),
            Observable::Loss(_)
            | Observable::WeightNorm(_)
            | Observable::GradientNorm(_)
            | Observable::HessianTrace { .. }
            | Observable::Outputs { .. }
            | Observable::Accuracy(_)
            | Observable::InductionScore(_)
            | Observable::TmsGeometry
            | Observable::IclBaselines => {
                for (member, spec, anchor) in &members {
                    let outcome = measure::measure(spec, anchor)
                        .map_err(WorkerError::from)
                        .and_then(|observed| finish(member, observed, send));
                    member.finish(send, outcome);
                }
            }
        }
    }
}

/// A member's spec, and its checkpoint's parameters as `[1, ...]` tensors in the model's order.
fn prepare(
    member: &Member<'_>,
    params: &EstimateParams,
) -> Result<(EstimateSpec, Vec<Tensor>), String> {
    let spec = EstimateSpec::new(params).map_err(|e| e.0)?;
    let digest = member.request.inputs.first().ok_or("no checkpoint was given to measure")?;
    let store = Path::new(&member.request.store);
    let bytes = std::fs::read(store_layout::blob_path(store, digest))
        .map_err(|err| format!("cannot read the checkpoint {digest}: {err}"))?;
    if store_layout::digest(&bytes) != *digest {
        return Err(format!("the checkpoint {digest} in the store is damaged"));
    }
    let tensors = checkpoint_file::decode(&bytes)
        .map_err(|err| format!("the checkpoint {digest} cannot be read: {err}"))?;
    let names: Vec<String> = spec.model.params().into_iter().map(|p| p.name).collect();
    let params = trajectory::ordered(&tensors, &names)?;
    for (param, shape) in params.iter().zip(spec.model.params()) {
        let expected: Vec<i64> = std::iter::once(1).chain(shape.shape.iter().copied()).collect();
        if param.size() != expected {
            return Err(format!(
                "the checkpoint's `{}` has shape {:?}, but the model's is {:?}",
                shape.name,
                &param.size()[1..],
                shape.shape
            ));
        }
    }
    Ok((spec, params))
}

fn run_llc(members: &[(&Member<'_>, EstimateSpec, Vec<Tensor>)], send: &mut dyn FnMut(&Reply)) {
    let anchors: Vec<(&LlcSpec, Vec<Tensor>)> = members
        .iter()
        .map(|(_, spec, a)| (llc_of(spec), a.iter().map(Tensor::shallow_clone).collect()))
        .collect();
    let first = members[0].0;
    // Each member (a checkpoint, or a calibration's cell) samples its own chains.
    let chains = llc_of(&members[0].1).chains;
    // The step count is the reply's own (`done`/`total`); the words say what is sampled.
    let mut progress = |done: u64, total: u64| {
        first.progress(send, done, total, format!("{chains} chains"));
    };
    let started = std::time::Instant::now();
    let chains = match llc::sample(&members[0].1, &anchors, &mut progress) {
        Ok(chains) => {
            log_throughput(first, llc_of(&members[0].1), members.len(), started, send);
            chains
        }
        Err(error) => {
            let message = error.to_string();
            for (member, _, _) in members {
                member.finish(send, Err(WorkerError::step_failed(message.clone())));
            }
            return;
        }
    };
    for ((member, spec, _), chains) in members.iter().zip(chains) {
        let llc = llc_of(spec);
        let outcome = diagnostics::estimate(&chains, llc.min_chains)
            .map_err(WorkerError::from)
            .and_then(|estimate| finish(member, llc_result(llc, chains, estimate), send));
        member.finish(send, outcome);
    }
}

/// The stored result of an LLC estimate.
fn llc_result(llc: &LlcSpec, chains: llc::Chains, estimate: Estimate) -> Observed {
    Observed::Llc(Box::new(LlcResult {
        estimate,
        batch_size: chains.batch_size,
        chains: llc.chains,
        draws: llc.draws,
        burnin: llc.burnin,
        steps_between_draws: llc.steps_between_draws,
        diverged_at: chains.diverged,
        traces: chains.traces,
        distances: chains.distances,
        companion: chains.companion.map(|c| CompanionChains {
            localization: c.localization,
            traces: c.traces,
            diverged_at: c.diverged,
        }),
    }))
}

/// Ends the group's log with the sampler's throughput (the log, not the result: its bytes must
/// not depend on the machine's load).
fn log_throughput(
    first: &Member<'_>,
    llc: &LlcSpec,
    checkpoints: usize,
    started: std::time::Instant,
    send: &mut dyn FnMut(&Reply),
) {
    let steps = (llc.burnin + llc.draws * llc.steps_between_draws) as u64;
    let rows = (checkpoints * llc.chains) as u64;
    let seconds = started.elapsed().as_secs_f64();
    let rate = (rows * steps) as f64 / seconds;
    let message = format!(
        "sampled {rows} chains x {steps} steps in {seconds:.3} s ({rate:.0} chain-steps/s)"
    );
    first.progress(send, steps, steps, message);
}

/// The LLC settings of a member of an LLC batch.
fn llc_of(spec: &EstimateSpec) -> &LlcSpec {
    let Observable::Llc(llc) = &spec.observable else { unreachable!("batched by observable") };
    llc
}

/// Stores a member's result; its metrics are those the result determines.
fn finish(
    member: &Member<'_>,
    observed: Observed,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    let metrics = observed.metrics();
    let bytes = results::encode(&EstimateResult::new(observed));
    let digest = member.write_output("result", &bytes, false, send)?;
    Ok(StepResult { outputs: BTreeMap::from([("result".to_owned(), digest)]), metrics })
}
