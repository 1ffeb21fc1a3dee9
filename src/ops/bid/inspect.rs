//! `bid inspect`: a bid's steps in words (what each reads, writes and would send), with the
//! observables that can reveal weights flagged (`bid::revealing`).

use std::path::Path;

use devspec_protocol::StepKind;
use devspec_protocol::params::Observable;

use super::{named_files, path_refusals, refused};
use crate::bid::bid_bundle::{self, BidManifest};
use crate::bid::redaction::{self, Field};
use crate::bid::revealing;
use crate::compile::Program;
use crate::compile::value::{Value, ValueKind};
use crate::failure::Failure;

/// One step of a bid, in words.
pub struct StepView {
    pub name: String,
    pub kind: StepKind,
    pub reads: Vec<String>,
    pub writes: String,
    pub leaves: String,
    /// What of that the owner may leave out (`--redact STEP.FIELD`), by field.
    pub fields: &'static [Field],
    /// Why its numbers can reveal weights.
    pub revealing: Option<&'static str>,
}

/// What `bid inspect` found.
pub struct Inspection {
    pub manifest: BidManifest,
    pub steps: Vec<StepView>,
}

/// Reads, unpacks (into a scratch folder) and checks a bid, refusing what it may not name.
pub fn inspect(bid_path: &Path) -> Result<Inspection, Failure> {
    let bid = bid_bundle::read(bid_path)?;
    let (scratch, _, program) = super::unpacked(&bid, bid_path)?;
    let refusals = path_refusals(&program, &scratch.path().join("spec"), &[]);
    if !refusals.is_empty() {
        return Err(refused(&bid_path.display().to_string(), &refusals));
    }
    if let Some(why) =
        super::manifest_disagreement(&program, &scratch.path().join("spec"), &bid.manifest)
    {
        return Err(super::manifest_refused(bid_path, &why));
    }
    let steps = step_views(&program, &scratch.path().join("spec"));
    Ok(Inspection { manifest: bid.manifest, steps })
}

pub(super) fn step_views(program: &Program, root: &Path) -> Vec<StepView> {
    let brings_torchscript = !super::torchscript_models(program).is_empty();
    let files = named_files(program);
    program
        .steps
        .iter()
        .map(|step| {
            let mut reads: Vec<String> = step
                .inputs
                .iter()
                .map(|&i| format!("the results of step `{}`", program.steps[i].name))
                .collect();
            for file in files.iter().filter(|f| f.step == step.name) {
                let shown = file.path.strip_prefix(root).unwrap_or(file.path);
                reads.push(format!("the bid's own file `{}` ({})", shown.display(), file.field));
            }
            for (field, value) in &step.fields {
                for (name, ty) in open_uses(value) {
                    reads.push(format!(
                        "what the owner binds to `{name}` (a `{ty}` parameter, in `{field}`)"
                    ));
                }
            }
            let observable = step.fields.get("observable").and_then(Value::typed::<Observable>);
            let revealing = if brings_torchscript
                && !matches!(step.kind, StepKind::Detect | StepKind::Report)
            {
                Some(revealing::TORCHSCRIPT_REVEALS)
            } else {
                step.fields.get("observable").and_then(revealing::observable_reveals)
            };
            StepView {
                name: step.name.clone(),
                kind: step.kind,
                reads,
                writes: writes(step.kind).to_owned(),
                leaves: leaves(step.kind, observable.as_ref()),
                fields: redaction::of_step(step.kind, observable.as_ref()),
                revealing,
            }
        })
        .collect()
}

/// The open parameters `value` uses, by name and type.
fn open_uses(value: &Value) -> Vec<(&str, crate::compile::ParamType)> {
    value
        .descendants()
        .into_iter()
        .filter_map(|inner| match &inner.kind {
            ValueKind::Open { name, ty } => Some((name.as_str(), *ty)),
            _ => None,
        })
        .collect()
}

/// What a step of `kind` writes on the owner's machine.
fn writes(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Train => "checkpoints and optimizer states, into the bid's own store",
        StepKind::Checkpoint => "the bound checkpoints, copied into the bid's own store",
        StepKind::Estimate => "its measurement, into the bid's own store",
        StepKind::Detect => "the boundaries it finds, into the bid's own store",
        StepKind::Report => "the report's data into the store, and its page under the bid's folder",
        StepKind::Test => "the test fixture's outputs, into the bid's own store",
    }
}

/// What of a step of `kind` leaves the machine in the results.
fn leaves(kind: StepKind, observable: Option<&Observable>) -> String {
    match kind {
        StepKind::Train => "its loss series (train and test loss at each logged step); its \
                            checkpoints never leave, only their BLAKE3 digests (the commitment)"
            .into(),
        StepKind::Checkpoint => {
            "only each checkpoint's BLAKE3 digest (the commitment), never its bytes".into()
        }
        StepKind::Estimate => match observable {
            Some(Observable::Llc(_)) => "the LLC estimate and its standard error, every \
                                         chain's loss trace, the sampler's diagnostics"
                .into(),
            Some(observable) => {
                format!("the numbers of `{}` at each checkpoint", observable_name(observable))
            }
            None => "the observable's numbers at each checkpoint".into(),
        },
        StepKind::Detect => "the stage boundaries found, with their checkpoint intervals".into(),
        StepKind::Report => "the report's data: every series it draws, the estimates and \
                             detections, the keys of its inputs"
            .into(),
        StepKind::Test => "the test fixture's numbers".into(),
    }
}

fn observable_name(observable: &Observable) -> &'static str {
    match observable {
        Observable::Llc(_) => "llc",
        Observable::Loss(_) => "loss",
        Observable::WeightNorm(_) => "weight_norm",
        Observable::GradientNorm(_) => "gradient_norm",
        Observable::HessianTrace(_) => "hessian_trace",
        Observable::Outputs(_) => "outputs",
        Observable::Accuracy(_) => "accuracy",
        Observable::InductionScore(_) => "induction_score",
        Observable::TmsGeometry(_) => "tms.geometry",
        Observable::IclBaselines(_) => "icl.baselines",
    }
}
