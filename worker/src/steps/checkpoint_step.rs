//! The `checkpoint` step: one checkpoint at a known point (a teacher's weights under the names
//! the model gives them, so estimates measure the learning coefficient at the truth), or one
//! checkpoint made elsewhere, read from a safetensors file or a PyTorch state dict and checked
//! against the model: every parameter present, under its name, with its shape.

use std::collections::BTreeMap;

use devspec_protocol::params::CheckpointParams;
use devspec_protocol::results::checkpoint::TeacherWeights;
use devspec_protocol::results::{self, CheckpointResult, CheckpointSource};
use devspec_protocol::{Reply, StepResult, WorkerError};
use tch::Tensor;

use super::{Member, Typed};
use crate::train::data::Teacher;
use crate::train::model::{Arch, ModelSpec};
use crate::train::{checkpoint_file, state_dict};

pub fn run(group: &[Typed<'_, '_, CheckpointParams>], send: &mut dyn FnMut(&Reply)) {
    for (member, params) in group {
        let outcome = checkpoint(member, params, send);
        member.finish(send, outcome);
    }
}

fn checkpoint(
    member: &Member<'_>,
    params: &CheckpointParams,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    let fail = WorkerError::step_failed;
    let model = ModelSpec::new(&params.model).map_err(|e| fail(e.0))?;
    if let Some(file) = &params.files {
        // The planner sends one instance per file, with the step its name gives.
        let step = params.step.ok_or_else(|| fail(format!("{file} comes without its `step`")))?;
        let named = from_file(&model, file).map_err(fail)?;
        let source = CheckpointSource::File { file: file.clone() };
        return store(member, send, &named, step, source);
    }
    let weights = params.weights.as_ref().ok_or_else(|| fail("`weights` is missing".into()))?;
    let teacher = Teacher::new(weights).map_err(|e| fail(e.0))?;
    let widths: Vec<i64> =
        teacher.widths.iter().map(|&w| i64::try_from(w).unwrap_or(i64::MAX)).collect();
    match &model.arch {
        Arch::Dln { widths: model_widths, bias: false, .. } if *model_widths == widths => {}
        Arch::Dln { .. }
        | Arch::Tms { .. }
        | Arch::Mlp { .. }
        | Arch::Transformer(_)
        | Arch::TorchScript(_) => {
            return Err(fail(format!(
                "the teacher's weights (a deep linear network of widths {widths:?}, no biases) do not fit the model {:?}",
                model.arch
            )));
        }
    }
    let named: Vec<(String, Tensor)> = model
        .params()
        .into_iter()
        .zip(&teacher.layers)
        .map(|(param, values)| {
            (param.name, Tensor::from_slice(values).reshape(&param.shape).to_kind(tch::Kind::Float))
        })
        .collect();
    store(member, send, &named, 0, CheckpointSource::Teacher(TeacherWeights::Weights))
}

/// Writes the checkpoint at `step` and the step's result (`source`: where it came from).
fn store(
    member: &Member<'_>,
    send: &mut dyn FnMut(&Reply),
    named: &[(String, Tensor)],
    step: i64,
    source: CheckpointSource,
) -> Result<StepResult, WorkerError> {
    let fail = WorkerError::step_failed;
    let bytes = checkpoint_file::encode(named, u64::try_from(step).unwrap_or(0)).map_err(fail)?;
    let name = format!("checkpoint@{step}");
    let mut outputs = BTreeMap::new();
    outputs.insert(name.clone(), member.write_output(&name, &bytes, true, send)?);
    let result = results::encode(&CheckpointResult::new(step, source));
    let digest = member.write_output("result", &result, false, send)?;
    outputs.insert("result".to_owned(), digest);
    Ok(StepResult { outputs, metrics: serde_json::Map::new() })
}

/// A checkpoint file's tensors, in the model's order, each checked against the model: a
/// missing name, another shape or an unreadable file is refused naming the file and the tensor.
/// Tensors the model does not have (buffers, an optimizer's state) are left out. Safetensors
/// files and PyTorch state dicts (`torch.save`, any other extension) are read.
fn from_file(model: &ModelSpec, file: &str) -> Result<Vec<(String, Tensor)>, String> {
    let held: Vec<(String, Tensor)> = if file.to_ascii_lowercase().ends_with(".safetensors") {
        let bytes = std::fs::read(file).map_err(|e| format!("{file}: cannot be read: {e}"))?;
        checkpoint_file::decode(&bytes).map_err(|e| {
            format!("{file}: not a readable safetensors file ({e}); was it written completely?")
        })?
    } else {
        state_dict::read(file).map_err(|e| format!("{file}: {e}"))?
    };
    let mut named = Vec::new();
    for param in model.params() {
        let Some((_, tensor)) = held.iter().find(|(name, _)| *name == param.name) else {
            let mut holds: Vec<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
            holds.sort_unstable();
            return Err(format!(
                "{file}: no tensor `{}`, which the model has (the file holds: {})",
                param.name,
                holds.join(", ")
            ));
        };
        if tensor.size() != param.shape {
            return Err(format!(
                "{file}: `{}` has shape {:?}, but the model's is {:?}",
                param.name,
                tensor.size(),
                param.shape
            ));
        }
        if !tensor.is_floating_point() {
            return Err(format!(
                "{file}: `{}` holds {:?} numbers; a parameter is floating-point",
                param.name,
                tensor.kind()
            ));
        }
        named.push((param.name, tensor.to_kind(tch::Kind::Float)));
    }
    Ok(named)
}
