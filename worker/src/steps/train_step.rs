//! The `train` step: a group of sibling members (one, or an ensemble of seeds and learning
//! rates) trained as one batched computation. Each member's checkpoints are stored
//! (safetensors, the optimizer state beside them) and streamed the moment they are reached, and
//! recorded, with resume points between them, as states of the member's trajectory. A member
//! starts from the furthest state its trajectory has reached that it can use: a killed run
//! resumes, a longer run continues a shorter one, and checkpoints reached before are streamed
//! at once. Its result is its loss series.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use devspec_protocol::params::TrainParams;
use devspec_protocol::results::{self, TrainResult, TrainSeries};
use devspec_protocol::{Reply, StepResult, WorkerError};
use tch::Tensor;

use super::{Member, Typed};
use crate::train::checkpoint_file;
use crate::train::trainer::{self, Snapshot, Start, TrainEvents, TrainSpec};
use crate::train::trajectory::{self, Continuation, Point};

/// A member ready to train: its spec, its checkpoint steps, and where it starts.
struct Prepared<'a, 'm> {
    member: &'a Member<'m>,
    spec: TrainSpec,
    checkpoints: BTreeSet<u64>,
    from: Continuation,
    /// The state it starts from (none for a fresh start).
    state: Option<MemberState>,
}

/// One member's state as `[1, ...]` tensors: its parameters, and each parameter's optimizer
/// state.
type MemberState = (Vec<Tensor>, Vec<Vec<Tensor>>);

pub fn run(group: &[Typed<'_, '_, TrainParams>], send: &mut dyn FnMut(&Reply)) {
    let mut subgroups: Vec<Vec<Prepared<'_, '_>>> = Vec::new();
    for (member, params) in group {
        match prepare(member, params) {
            Ok(prepared) => {
                // Members train together only if they differ in nothing but their seeds and
                // learning rates (the scheduler groups them so) and start from the same step;
                // any other mix is trained in subgroups.
                let fits = |other: &Prepared<'_, '_>| {
                    other.spec.group_shape() == prepared.spec.group_shape()
                        && other.checkpoints == prepared.checkpoints
                        && other.from.step == prepared.from.step
                };
                match subgroups.iter_mut().find(|subgroup| fits(&subgroup[0])) {
                    Some(subgroup) => subgroup.push(prepared),
                    None => subgroups.push(vec![prepared]),
                }
            }
            Err(message) => member.finish(send, Err(WorkerError::step_failed(message))),
        }
    }
    for subgroup in subgroups {
        train_group(subgroup, send);
    }
}

/// Reads a member's spec and finds where its trajectory lets it start.
fn prepare<'a, 'm>(
    member: &'a Member<'m>,
    params: &TrainParams,
) -> Result<Prepared<'a, 'm>, String> {
    let spec = TrainSpec::new(params).map_err(|err| err.to_string())?;
    let mut checkpoints: BTreeSet<u64> = member
        .request
        .outputs
        .iter()
        .filter_map(|name| name.strip_prefix("checkpoint@")?.parse().ok())
        .collect();
    checkpoints.insert(spec.steps);
    let from = match &member.request.trajectory {
        Some(trajectory) => Continuation::find(
            Path::new(&member.request.store),
            trajectory,
            &checkpoints,
            spec.steps,
            &devspec_protocol::results::train::record_steps(spec.steps, &checkpoints),
        ),
        None => Continuation::fresh(),
    };
    let state = match &from.state {
        Some((params, optimizer)) => {
            let names: Vec<String> = spec.model.params().into_iter().map(|p| p.name).collect();
            let state_names: Vec<Vec<String>> = names
                .iter()
                .map(|n| spec.optimizer.state_names().iter().map(|w| format!("{n}.{w}")).collect())
                .collect();
            let params = trajectory::ordered(params, &names)?;
            let state = state_names
                .iter()
                .map(|names| trajectory::ordered(optimizer, names))
                .collect::<Result<_, _>>()?;
            Some((params, state))
        }
        None => None,
    };
    Ok(Prepared { member, spec, checkpoints, from, state })
}

fn train_group(mut group: Vec<Prepared<'_, '_>>, send: &mut dyn FnMut(&Reply)) {
    let from = group[0].from.step;
    // Checkpoints reached before are this run's outputs too: streamed at once, so what reads
    // them need not wait for the new steps.
    let mut outputs = Vec::with_capacity(group.len());
    for prepared in &group {
        let mut written = BTreeMap::new();
        for (step, params, optimizer) in &prepared.from.reached {
            let name = format!("checkpoint@{step}");
            prepared.member.stream_output(&name, params, send);
            written.insert(name, params.clone());
            written.insert(format!("optimizer@{step}"), optimizer.clone());
        }
        outputs.push(written);
    }
    let start = (from > 0).then(|| {
        let states: Vec<&MemberState> = group
            .iter()
            .map(|p| p.state.as_ref().expect("members that go on have a state"))
            .collect();
        let stacked = |pick: &dyn Fn(&MemberState) -> &Tensor| {
            Tensor::cat(&states.iter().map(|s| pick(s)).collect::<Vec<_>>(), 0)
        };
        let params = (0..states[0].0.len()).map(|i| stacked(&|s| &s.0[i])).collect();
        let state = (0..states[0].1.len())
            .map(|i| (0..states[0].1[i].len()).map(|j| stacked(&|s| &s.1[i][j])).collect())
            .collect();
        let series = group.iter_mut().map(|p| p.from.series.take().unwrap_or_default()).collect();
        Start { step: from, params, state, series }
    });
    let members: Vec<&Member<'_>> = group.iter().map(|p| p.member).collect();
    let specs: Vec<TrainSpec> = group.iter().map(|p| p.spec.clone()).collect();
    let mut events = Events { group: &members, send, outputs, ended: vec![false; group.len()] };
    let series = trainer::train(&specs, &group[0].checkpoints, start, &mut events);
    let Events { send, mut outputs, ended, .. } = events;
    for (index, (prepared, series)) in group.iter().zip(series).enumerate() {
        if ended[index] {
            continue;
        }
        let Some(series) = series else { continue };
        let member = prepared.member;
        let outcome =
            finish(member, &series, std::mem::take(&mut outputs[index]), send).map(|mut result| {
                let trained = prepared.spec.steps - from;
                result.metrics.insert("steps_trained".into(), trained.into());
                if from > 0 {
                    result.metrics.insert("resumed_from".into(), from.into());
                }
                result
            });
        if outcome.is_ok()
            && let Some(trajectory) = &member.request.trajectory
        {
            trajectory::drop_resume_points(
                Path::new(&member.request.store),
                trajectory,
                prepared.spec.steps,
            );
        }
        member.finish(send, outcome);
    }
}

/// A member's result: its series, stored, with its final losses as metrics.
fn finish(
    member: &Member<'_>,
    series: &TrainSeries,
    mut outputs: BTreeMap<String, String>,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    let result = TrainResult::new(series.clone());
    let bytes = results::encode(&result);
    outputs.insert("result".to_owned(), member.write_output("result", &bytes, false, send)?);
    Ok(StepResult { outputs, metrics: result.metrics() })
}

struct Events<'a, 'm> {
    group: &'a [&'a Member<'m>],
    send: &'a mut dyn FnMut(&Reply),
    outputs: Vec<BTreeMap<String, String>>,
    /// Members that have already reported their end (a failure).
    ended: Vec<bool>,
}

impl Events<'_, '_> {
    /// Stores a snapshot's tensors and records it as a state of the member's trajectory. A
    /// checkpoint's parameters are an output (streamed, so what reads it starts at once) with
    /// the optimizer state beside it; a resume point's are blobs only its record names.
    fn store(&mut self, member: usize, snapshot: &Snapshot<'_>) -> Result<(), WorkerError> {
        let this = self.group[member];
        let step = snapshot.step;
        let encode = |tensors: &[(String, Tensor)]| {
            checkpoint_file::encode(tensors, step).map_err(|err| {
                WorkerError::step_failed(format!("cannot write checkpoint {step}: {err}"))
            })
        };
        let (params, optimizer) = (encode(&snapshot.params)?, encode(&snapshot.optimizer)?);
        let (checkpoint, state) = if snapshot.checkpoint {
            let (checkpoint_name, optimizer_name) =
                (format!("checkpoint@{step}"), format!("optimizer@{step}"));
            let checkpoint = this.write_output(&checkpoint_name, &params, true, self.send)?;
            let state = this.write_output(&optimizer_name, &optimizer, false, self.send)?;
            self.outputs[member].insert(checkpoint_name, checkpoint.clone());
            self.outputs[member].insert(optimizer_name, state.clone());
            (checkpoint, state)
        } else {
            let store = Path::new(&this.request.store);
            let put = |bytes: &[u8]| {
                devspec_protocol::store_layout::put_blob(store, bytes)
                    .map_err(|err| super::store_error(store, &err))
            };
            (put(&params)?, put(&optimizer)?)
        };
        if let Some(trajectory) = &this.request.trajectory {
            let point = Point {
                step,
                checkpoint: snapshot.checkpoint,
                params: checkpoint,
                optimizer: state,
                series: snapshot.series.clone(),
            };
            trajectory::save(Path::new(&this.request.store), trajectory, &point);
        }
        Ok(())
    }
}

impl TrainEvents for Events<'_, '_> {
    fn snapshot(&mut self, member: usize, snapshot: Snapshot<'_>) {
        if self.ended[member] {
            return;
        }
        match self.store(member, &snapshot) {
            Ok(()) => {}
            // A resume point is a convenience: failing to store one costs only the resume.
            Err(_) if !snapshot.checkpoint => {}
            Err(error) => {
                self.ended[member] = true;
                self.group[member].finish(self.send, Err(error));
            }
        }
    }

    fn failed(&mut self, member: usize, _step: u64, message: String) {
        if !self.ended[member] {
            self.ended[member] = true;
            let error = WorkerError::step_failed(message);
            self.group[member].finish(self.send, Err(error));
        }
    }

    fn progress(&mut self, done: u64, total: u64, losses: Vec<Option<f64>>) {
        Member::progress_of_group(self.group, self.send, done, total, &losses);
    }
}
