//! The `train` step: a group of sibling members (one, or an ensemble of seeds) trained as one
//! batched computation. Each member's checkpoints are stored (safetensors, the optimizer state
//! beside them) and streamed the moment they are reached, with a resume point under the
//! member's key; a member whose earlier run was killed resumes from its latest checkpoint. Its
//! result is its loss series.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use devspec_protocol::{Reply, StepResult, WorkerError, WorkerErrorKind};
use tch::Tensor;

use super::Member;
use crate::train::checkpoint_file;
use crate::train::resume::{self, ResumePoint, ResumeRecord};
use crate::train::trainer::{self, Series, Snapshot, Start, TrainEvents, TrainSpec};

pub fn run(group: &[&Member<'_>], send: &mut dyn FnMut(&Reply)) {
    let mut fresh: Vec<(&Member<'_>, TrainSpec)> = Vec::new();
    let mut resumed: Vec<(&Member<'_>, TrainSpec, ResumePoint)> = Vec::new();
    for member in group {
        match TrainSpec::parse(&member.request.params) {
            Ok(spec) => match resume::load(Path::new(&member.request.store), &member.request.key) {
                Some(point) => resumed.push((member, spec, point)),
                None => fresh.push((member, spec)),
            },
            Err(err) => member.finish(send, Err(step_failed(member, &err.to_string()))),
        }
    }
    // Members train together only if they differ in nothing but their seeds (the scheduler
    // groups them so); any other mix is trained in subgroups. A resumed member trains alone,
    // from its own step.
    let mut subgroups: Vec<(Vec<&Member<'_>>, Vec<TrainSpec>)> = Vec::new();
    for (member, spec) in fresh {
        let same = |other: &TrainSpec| other.without_seeds() == spec.without_seeds();
        match subgroups.iter_mut().find(|(_, specs)| same(&specs[0])) {
            Some((group, specs)) => {
                group.push(member);
                specs.push(spec);
            }
            None => subgroups.push((vec![member], vec![spec])),
        }
    }
    for (group, specs) in subgroups {
        train_group(&group, &specs, None, send);
    }
    for (member, spec, point) in resumed {
        match start_of(&spec, point) {
            Ok((start, outputs)) => train_group(&[member], &[spec], Some((start, outputs)), send),
            Err(message) => member.finish(send, Err(step_failed(member, &message))),
        }
    }
}

/// A resume point as the trainer starts from it, with the outputs already written.
fn start_of(
    spec: &TrainSpec,
    point: ResumePoint,
) -> Result<(Start, BTreeMap<String, String>), String> {
    let find = |tensors: &[(String, Tensor)], name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.unsqueeze(0))
            .ok_or_else(|| format!("the resume point lacks `{name}`"))
    };
    let names: Vec<String> = spec.model.params().into_iter().map(|p| p.name).collect();
    let params = names.iter().map(|n| find(&point.params, n)).collect::<Result<_, _>>()?;
    let state = names
        .iter()
        .map(|n| {
            spec.optimizer
                .state_names()
                .iter()
                .map(|what| find(&point.optimizer, &format!("{n}.{what}")))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let ResumeRecord { step, series, outputs, .. } = point.record;
    Ok((Start { step, params, state, series }, outputs))
}

fn train_group(
    group: &[&Member<'_>],
    specs: &[TrainSpec],
    start: Option<(Start, BTreeMap<String, String>)>,
    send: &mut dyn FnMut(&Reply),
) {
    let checkpoints: BTreeSet<u64> = group[0]
        .request
        .outputs
        .iter()
        .filter_map(|name| name.strip_prefix("checkpoint@")?.parse().ok())
        .collect();
    let resumed_from = start.as_ref().map(|(start, _)| start.step);
    let (start, outputs) = match start {
        Some((start, outputs)) => (Some(start), vec![outputs]),
        None => (None, vec![BTreeMap::new(); group.len()]),
    };
    let mut events = Events { group, send, outputs, ended: vec![false; group.len()] };
    let series = trainer::train(specs, &checkpoints, start, &mut events);
    let Events { send, mut outputs, ended, .. } = events;
    for (index, (member, series)) in group.iter().zip(series).enumerate() {
        if ended[index] {
            continue;
        }
        let Some(series) = series else { continue };
        let outcome =
            finish(member, &series, std::mem::take(&mut outputs[index]), send).map(|mut result| {
                let trained = specs[index].steps - resumed_from.unwrap_or(0);
                result.metrics.insert("steps_trained".into(), trained.into());
                if let Some(step) = resumed_from {
                    result.metrics.insert("resumed_from".into(), step.into());
                }
                result
            });
        if outcome.is_ok() {
            resume::remove(Path::new(&member.request.store), &member.request.key);
        }
        member.finish(send, outcome);
    }
}

/// A member's result: its series, stored, with its final losses as metrics.
fn finish(
    member: &Member<'_>,
    series: &Series,
    mut outputs: BTreeMap<String, String>,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    let result = serde_json::json!({ "schema_version": 1, "series": series });
    let bytes = serde_json::to_vec(&result).expect("series serialize");
    outputs.insert("result".to_owned(), member.write_output("result", &bytes, false, send)?);
    let mut metrics = serde_json::Map::new();
    if let Some(last) = series.train_loss.last() {
        metrics.insert("final_train_loss".into(), (*last).into());
    }
    if let Some(last) = series.test_loss.last() {
        metrics.insert("final_test_loss".into(), (*last).into());
    }
    Ok(StepResult { outputs, metrics })
}

struct Events<'a, 'm> {
    group: &'a [&'a Member<'m>],
    send: &'a mut dyn FnMut(&Reply),
    outputs: Vec<BTreeMap<String, String>>,
    /// Members that have already reported their end (a failure).
    ended: Vec<bool>,
}

impl Events<'_, '_> {
    /// Stores a snapshot's tensors and its resume point. A checkpoint's parameters are an
    /// output (streamed, so what reads it starts at once) with the optimizer state beside it;
    /// a resume point's are blobs only the resume point names.
    fn store(&mut self, member: usize, snapshot: &Snapshot<'_>) -> Result<(), WorkerError> {
        let this = self.group[member];
        let step = snapshot.step;
        let encode = |tensors: &[(String, Tensor)]| {
            checkpoint_file::encode(tensors, step)
                .map_err(|err| step_failed(this, &format!("cannot write checkpoint {step}: {err}")))
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
                devspec_protocol::store_layout::put_blob(store, bytes).map_err(|err| {
                    step_failed(this, &format!("cannot store a resume point: {err}"))
                })
            };
            (put(&params)?, put(&optimizer)?)
        };
        let record = ResumeRecord {
            step,
            checkpoint,
            optimizer: state,
            series: snapshot.series.clone(),
            outputs: self.outputs[member].clone(),
        };
        resume::save(Path::new(&this.request.store), &this.request.key, &record);
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
            let error = step_failed(self.group[member], &message);
            self.group[member].finish(self.send, Err(error));
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        self.group[0].progress(self.send, done, total, format!("step {done}/{total}"));
    }
}

fn step_failed(member: &Member<'_>, message: &str) -> WorkerError {
    WorkerError {
        kind: WorkerErrorKind::StepFailed,
        message: format!("{}: {message}", member.request.display_name),
    }
}
