//! The `checkpoint` step at a known point: one checkpoint holding a teacher's weights under the
//! names the model gives them, so estimates measure the learning coefficient at the truth.
//! (Checkpoints read from files arrive with the issue on users' own models.)

use std::collections::BTreeMap;

use devspec_protocol::{Reply, StepResult, WorkerError};
use tch::Tensor;

use super::Member;
use crate::train::checkpoint_file;
use crate::train::data::Teacher;
use crate::train::model::{Arch, ModelSpec};
use crate::train::spec::Ctor;

pub fn run(group: &[&Member<'_>], send: &mut dyn FnMut(&Reply)) {
    for member in group {
        let outcome = checkpoint(member, send);
        member.finish(send, outcome);
    }
}

fn checkpoint(
    member: &Member<'_>,
    send: &mut dyn FnMut(&Reply),
) -> Result<StepResult, WorkerError> {
    let fail = WorkerError::step_failed;
    let params = &member.request.params;
    let ctor = |name: &str| {
        params
            .get(name)
            .ok_or_else(|| fail(format!("`{name}` is missing")))
            .and_then(|v| Ctor::of(v, name).map_err(|e| fail(e.0)))
    };
    let model = ModelSpec::parse(ctor("model")?).map_err(|e| fail(e.0))?;
    if params.get("weights").is_none() {
        return Err(fail(
            "checkpoints from files are not implemented yet (issue 8); give `weights`".into(),
        ));
    }
    let teacher = Teacher::parse(ctor("weights")?).map_err(|e| fail(e.0))?;
    let widths: Vec<i64> =
        teacher.widths.iter().map(|&w| i64::try_from(w).unwrap_or(i64::MAX)).collect();
    match &model.arch {
        Arch::Dln { widths: model_widths, bias: false } if *model_widths == widths => {}
        _ => {
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
    let bytes = checkpoint_file::encode(&named, 0).map_err(fail)?;
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "checkpoint@0".to_owned(),
        member.write_output("checkpoint@0", &bytes, true, send)?,
    );
    let result =
        serde_json::json!({ "schema_version": 1, "checkpoints": [0], "source": "weights" });
    let digest = member.write_output("result", result.to_string().as_bytes(), false, send)?;
    outputs.insert("result".to_owned(), digest);
    Ok(StepResult { outputs, metrics: serde_json::Map::new() })
}
