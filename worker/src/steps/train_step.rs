//! The `train` step: a group of sibling members (one, or an ensemble of seeds) trained as one
//! batched computation. Each member's checkpoints are stored (safetensors) and streamed the
//! moment they are reached; its result is its loss series.

use std::collections::{BTreeMap, BTreeSet};

use devspec_protocol::{Reply, StepResult, WorkerError, WorkerErrorKind};
use tch::Tensor;

use super::Member;
use crate::train::checkpoint_file;
use crate::train::trainer::{self, TrainEvents, TrainSpec};

pub fn run(group: &[&Member<'_>], send: &mut dyn FnMut(&Reply)) {
    let mut members = Vec::new();
    let mut specs = Vec::new();
    for member in group {
        match TrainSpec::parse(&member.request.params) {
            Ok(spec) => {
                members.push(*member);
                specs.push(spec);
            }
            Err(err) => member.finish(send, Err(step_failed(member, &err.to_string()))),
        }
    }
    // Members train together only if they differ in nothing but their seeds (the scheduler
    // groups them so); any other mix is trained in subgroups.
    let mut subgroups: Vec<(Vec<&Member<'_>>, Vec<TrainSpec>)> = Vec::new();
    for (member, spec) in members.into_iter().zip(specs) {
        let same = |other: &TrainSpec| {
            TrainSpec { seed: 0, ..other.clone() } == TrainSpec { seed: 0, ..spec.clone() }
        };
        match subgroups.iter_mut().find(|(_, specs)| same(&specs[0])) {
            Some((group, specs)) => {
                group.push(member);
                specs.push(spec);
            }
            None => subgroups.push((vec![member], vec![spec])),
        }
    }
    for (group, specs) in subgroups {
        train_group(&group, &specs, send);
    }
}

fn train_group(group: &[&Member<'_>], specs: &[TrainSpec], send: &mut dyn FnMut(&Reply)) {
    let checkpoints: BTreeSet<u64> = group[0]
        .request
        .outputs
        .iter()
        .filter_map(|name| name.strip_prefix("checkpoint@")?.parse().ok())
        .collect();
    let mut events = Events {
        group,
        send,
        outputs: vec![BTreeMap::new(); group.len()],
        ended: vec![false; group.len()],
    };
    let series = trainer::train(specs, &checkpoints, &mut events);
    let Events { send, mut outputs, ended, .. } = events;
    for (index, (member, series)) in group.iter().zip(series).enumerate() {
        if ended[index] {
            continue;
        }
        let Some(series) = series else { continue };
        let outcome = (|| {
            let result = serde_json::json!({ "schema_version": 1, "series": series });
            let bytes = serde_json::to_vec(&result).expect("series serialize");
            let digest = member.write_output("result", &bytes, false, send)?;
            outputs[index].insert("result".to_owned(), digest);
            let mut metrics = serde_json::Map::new();
            if let Some(last) = series.train_loss.last() {
                metrics.insert("final_train_loss".into(), (*last).into());
            }
            if let Some(last) = series.test_loss.last() {
                metrics.insert("final_test_loss".into(), (*last).into());
            }
            Ok(StepResult { outputs: std::mem::take(&mut outputs[index]), metrics })
        })();
        member.finish(send, outcome);
    }
}

struct Events<'a, 'm> {
    group: &'a [&'a Member<'m>],
    send: &'a mut dyn FnMut(&Reply),
    outputs: Vec<BTreeMap<String, String>>,
    /// Members that have already reported their end (a failure).
    ended: Vec<bool>,
}

impl TrainEvents for Events<'_, '_> {
    fn checkpoint(&mut self, member: usize, step: u64, params: Vec<(String, Tensor)>) {
        if self.ended[member] {
            return;
        }
        let name = format!("checkpoint@{step}");
        let written = checkpoint_file::encode(&params, step)
            .map_err(|err| {
                step_failed(self.group[member], &format!("cannot write checkpoint {step}: {err}"))
            })
            .and_then(|bytes| self.group[member].write_output(&name, &bytes, true, self.send));
        match written {
            Ok(digest) => {
                self.outputs[member].insert(name, digest);
            }
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
