//! Catches, before anything runs, data whose shape does not fit its model: a training step's
//! `data` and `test_data` must have as many inputs per sample as the model takes and as many
//! targets as it gives, and a checkpoint's `weights` must be the model's parameters. Shapes the
//! checker cannot know (a file's tensors) are checked by the worker when the step starts.

use devspec_protocol::params;

use crate::diagnostic::Diagnostic;

use super::program::Program;
use super::value::{Value, ValueKind};

/// Inputs and outputs per sample.
type Dims = (i64, i64);

pub fn check(program: &Program) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for step in &program.steps {
        let Some(model) = step.fields.get("model") else { continue };
        let Some(model_dims) = model_dims(model) else { continue };
        for field in ["data", "test_data"] {
            let Some(data) = step.fields.get(field) else { continue };
            if let Some(data_dims) = data_dims(data)
                && data_dims != model_dims
            {
                errors.push(mismatch(field, data, data_dims, model, model_dims));
            }
        }
        if let Some(weights) = step.fields.get("weights")
            && let (Some(teacher), Some(model_widths)) = (widths_of(weights), widths_of(model))
            && teacher != model_widths
        {
            errors.push(
                Diagnostic::error(
                    weights.origin.file,
                    weights.origin.span,
                    format!("the teacher has widths {teacher:?}, the model {model_widths:?}"),
                )
                .also_at(model.origin.file, model.origin.span, "the model")
                .with_hint("give the teacher and the model the same `widths`"),
            );
        }
    }
    errors
}

fn mismatch(
    field: &str,
    data: &Value,
    data_dims: Dims,
    model: &Value,
    model_dims: Dims,
) -> Diagnostic {
    Diagnostic::error(
        data.origin.file,
        data.origin.span,
        format!(
            "`{field}` has {} inputs and {} targets per sample, but the model takes {} inputs and gives {} outputs",
            data_dims.0, data_dims.1, model_dims.0, model_dims.1
        ),
    )
    .also_at(model.origin.file, model.origin.span, "the model")
    .with_hint("make the data's features (or teacher widths) match the model's")
}

fn model_dims(model: &Value) -> Option<Dims> {
    match model.typed()? {
        params::Model::Tms(args) => Some((args.features, args.features)),
        params::Model::Dln(params::DlnModel { widths, .. })
        | params::Model::Mlp(params::MlpModel { widths, .. }) => {
            Some((*widths.first()?, *widths.last()?))
        }
        // A transformer's data are checked as sequences by the worker; a TorchScript model's
        // shapes are its own.
        params::Model::Transformer(_) | params::Model::Torchscript(_) => None,
    }
}

fn data_dims(data: &Value) -> Option<Dims> {
    match data.typed()? {
        params::Data::Tms(args) => Some((args.features, args.features)),
        params::Data::Dln(args) => {
            let params::Teacher::Dln(teacher) = &args.teacher;
            Some((*teacher.widths.first()?, *teacher.widths.last()?))
        }
        // Their shapes are known only once generated or read (the worker checks them).
        params::Data::Tensors(_)
        | params::Data::IclRegression(_)
        | params::Data::Induction(_)
        | params::Data::Modular(_) => None,
    }
}

/// The widths of a `dln.model` or `mlp.model` or `dln.teacher`.
fn widths_of(value: &Value) -> Option<Vec<i64>> {
    let widths = value.ctor_arg("widths")?;
    let ValueKind::List(items) = &widths.kind else { return None };
    items.iter().map(Value::as_int).collect()
}
