//! [`Work`]: what one instance computes, counted from its resolved parameters before anything
//! runs: its phase (training, sampling, a measurement, devspec's own steps), the model family
//! whose rates price it, how many steps it takes (optimizer steps or chain-steps) and the
//! floating-point operations of those steps. The rates measured on this machine turn it into
//! seconds (`super::rates`).
//!
//! FLOPs are counted per sample of a forward pass (a multiply-add is 2) and tripled for a
//! forward and backward pass; elementwise work is left out (it is in the per-step rate).

// Counts are whole numbers far below 2^53; an estimate besides.
#![allow(clippy::cast_precision_loss)]

use std::collections::{BTreeMap, BTreeSet};

use devspec_protocol::results::train::{FRESH_EVAL_POSITIONS, FRESH_EVAL_SAMPLES, record_steps};
use devspec_protocol::{StepKind, params};
use serde::{Deserialize, Serialize};

use crate::compile::value::Value;
use crate::plan::Instance;
use crate::plan::memory_estimate::{
    EstimateData, TransformerShape, batch_samples, draws_fresh, estimate_data, fixed_samples,
    model_activations, widths,
};

/// Which rates price an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A training run: optimizer steps.
    Train,
    /// The LLC: SGLD chain-steps.
    Sample,
    /// Any other observable, or an imported checkpoint: a few passes over the data.
    Measure,
    /// Detection, computed by devspec itself.
    Detect,
    /// A report's data and figures, computed by devspec itself.
    Report,
}

/// The built-in model families, each with its own measured rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Tms,
    Dln,
    Mlp,
    Transformer,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Tms, Family::Dln, Family::Mlp, Family::Transformer];

    pub fn name(self) -> &'static str {
        match self {
            Family::Tms => "tms",
            Family::Dln => "dln",
            Family::Mlp => "mlp",
            Family::Transformer => "transformer",
        }
    }
}

/// What one instance computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub phase: Phase,
    /// `None` for devspec's own steps, which hold no model.
    pub family: Option<Family>,
    /// Optimizer steps (train), chain-steps (LLC), passes (other observables); 0 for devspec's
    /// own steps.
    pub steps: f64,
    /// The model's layers: each step launches kernels per layer, which small models pay in
    /// overhead rather than arithmetic.
    pub depth: f64,
    /// Floating-point operations of those steps.
    pub flops: f64,
    /// Numbers the forward passes of those steps produce (each sample's activations): the
    /// elementwise work, which bounds small models on large batches by memory, not arithmetic.
    pub values: f64,
    /// Samples drawn fresh while it runs (data without a fixed pool: in-context regression
    /// draws new tasks every step), each generated in the worker.
    pub fresh: f64,
}

impl Work {
    /// One of devspec's own steps: a constant each.
    fn own(phase: Phase) -> Work {
        Work { phase, family: None, steps: 0.0, depth: 0.0, flops: 0.0, values: 0.0, fresh: 0.0 }
    }
}

/// Why an instance's work cannot be counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uncounted {
    /// A TorchScript model: its operations are its own, and no pass of it was measured.
    TorchScript,
    /// The executor's test step, or parameters that do not read as the protocol's types.
    NotAModelStep,
}

/// The work of `instance`, from its resolved parameters.
pub fn of_instance(instance: &Instance) -> Result<Work, Uncounted> {
    let params = &instance.params;
    match instance.kind {
        StepKind::Train => train(params, &instance.checkpoint_steps()),
        StepKind::Estimate => estimate(params),
        StepKind::Checkpoint => {
            let Shape { family, forward, values, depth } = model(params)?;
            let data: Option<params::Data> = params.get("data").and_then(Value::typed);
            let samples = data.as_ref().and_then(fixed_samples).unwrap_or(1.0);
            Ok(Work {
                phase: Phase::Measure,
                family: Some(family),
                steps: 1.0,
                depth,
                flops: samples * forward,
                values: samples * values,
                fresh: 0.0,
            })
        }
        StepKind::Detect => Ok(Work::own(Phase::Detect)),
        StepKind::Report => Ok(Work::own(Phase::Report)),
        StepKind::Test => Err(Uncounted::NotAModelStep),
    }
}

/// The model's family, one sample's forward FLOPs and the numbers its forward pass keeps.
fn model(params: &BTreeMap<String, Value>) -> Result<Shape, Uncounted> {
    let model: params::Model =
        params.get("model").and_then(Value::typed).ok_or(Uncounted::NotAModelStep)?;
    let values = model_activations(&model);
    let layers = |widths: &[i64]| widths.len().saturating_sub(1) as f64;
    let (family, forward, depth) = match &model {
        params::Model::Tms(args) => {
            (Family::Tms, tms_forward(args.features as f64, args.hidden as f64), 1.0)
        }
        params::Model::Dln(args) => {
            (Family::Dln, layered_forward(&widths(&args.widths)), layers(&args.widths))
        }
        params::Model::Mlp(args) => {
            (Family::Mlp, layered_forward(&widths(&args.widths)), layers(&args.widths))
        }
        params::Model::Transformer(args) => (
            Family::Transformer,
            transformer_forward(&TransformerShape::of(args), args.input_dim.is_some()),
            args.layers as f64,
        ),
        params::Model::Torchscript(_) => return Err(Uncounted::TorchScript),
    };
    Ok(Shape { family, forward, values, depth })
}

/// What the cost of a model's pass depends on.
struct Shape {
    family: Family,
    /// One sample's forward FLOPs.
    forward: f64,
    /// The numbers one sample's forward pass keeps.
    values: f64,
    depth: f64,
}

/// The toy model: `h = W x` (2 h f), `W^T h + b` and its `ReLU` (2 h f + 2 f).
pub fn tms_forward(features: f64, hidden: f64) -> f64 {
    4.0 * hidden * features + 2.0 * features
}

/// Fully connected layers: 2 a b per layer of a inputs and b outputs, and its bias.
pub fn layered_forward(widths: &[f64]) -> f64 {
    widths.windows(2).map(|pair| 2.0 * pair[0] * pair[1] + pair[1]).sum()
}

/// A decoder-only transformer over its whole context: per position and block the four
/// attention projections, the scores and the weighted sum against every position, the MLP;
/// the input embedding (a product for vector inputs, a lookup for tokens) and the unembedding.
pub fn transformer_forward(shape: &TransformerShape, vector_inputs: bool) -> f64 {
    let TransformerShape { layers, heads, d_model, d_head, d_mlp, context, outputs, .. } = *shape;
    let attention = 4.0 * 2.0 * d_model * heads * d_head + 2.0 * 2.0 * context * heads * d_head;
    let mlp = 2.0 * 2.0 * d_model * d_mlp;
    let embedding = if vector_inputs { 2.0 * shape.inputs * d_model } else { 0.0 };
    context * (layers * (attention + mlp) + embedding + 2.0 * d_model * outputs)
}

/// A forward and a backward pass: the backward costs about twice the forward.
const FORWARD_AND_BACKWARD: f64 = 3.0;

/// A training run: `steps` optimizer steps on a batch each, and a forward pass at each step the
/// loss series is recorded at (`record_steps`: every step up to 200, then 100 per decade, and
/// the checkpoints) over the data it is recorded on: the pool with its test part, or fresh
/// data's fixed evaluation sample, and any `test_data`. A short run records at every step, a
/// long one at a few hundred: counted as one pass per step, the calibration's runs of 80 and
/// 160 steps priced a run of 1,000 steps 30% high.
fn train(params: &BTreeMap<String, Value>, checkpoints: &BTreeSet<u64>) -> Result<Work, Uncounted> {
    let Shape { family, forward, values, depth } = model(params)?;
    let steps = params.get("steps").and_then(Value::as_f64).unwrap_or(0.0);
    let data: Option<params::Data> = params.get("data").and_then(Value::typed);
    let test_data: Option<params::Data> = params.get("test_data").and_then(Value::typed);
    let batch = batch_samples(params.get("batch_size"), data.as_ref());
    let recorded = data.as_ref().and_then(recorded_samples).unwrap_or(batch)
        + test_data.as_ref().and_then(recorded_samples).unwrap_or(0.0);
    let total = params.get("steps").and_then(Value::as_int).and_then(|s| u64::try_from(s).ok());
    let recordings = record_steps(total.unwrap_or(0), checkpoints).len() as f64;
    let samples = steps * batch;
    let fresh = if data.as_ref().is_some_and(draws_fresh) { samples } else { 0.0 };
    let flops = samples * forward * FORWARD_AND_BACKWARD + recordings * recorded * forward;
    let values = (samples + recordings * recorded) * values;
    Ok(Work { phase: Phase::Train, family: Some(family), steps, depth, flops, values, fresh })
}

/// The samples a data value's loss is recorded on: its pool, or fresh data's fixed evaluation
/// sample (the worker's: sequences holding 2,048 positions, at least 16, or 4,096 samples);
/// `None` for a file's rows, not counted without reading the file.
fn recorded_samples(data: &params::Data) -> Option<f64> {
    if let Some(pool) = fixed_samples(data) {
        return Some(pool);
    }
    let positions = match data {
        params::Data::IclRegression(args) => Some(2 * args.context),
        params::Data::Induction(args) => Some(args.length),
        _ => None,
    };
    draws_fresh(data).then(|| match positions {
        Some(positions) => {
            (FRESH_EVAL_POSITIONS as f64 / positions.max(1) as f64).floor().max(16.0)
        }
        None => FRESH_EVAL_SAMPLES as f64,
    })
}

/// An estimate at one checkpoint. The LLC: every chain (twice with a companion) takes
/// `burnin + draws x steps_between_draws` steps on a batch each, and one more every
/// `acceptance_every` for the MALA check; plus the loss at the checkpoint over the data. Other
/// observables: a pass or two over the data.
fn estimate(params: &BTreeMap<String, Value>) -> Result<Work, Uncounted> {
    let Shape { family, forward, values, depth } = model(params)?;
    let observable = params.get("observable");
    let EstimateData { data, batch, pool } = estimate_data(params);
    let typed: params::Observable =
        observable.and_then(Value::typed).ok_or(Uncounted::NotAModelStep)?;
    let passes = |n: f64| Work {
        phase: Phase::Measure,
        family: Some(family),
        steps: n,
        depth,
        flops: n * pool * forward * FORWARD_AND_BACKWARD,
        values: n * pool * values,
        fresh: 0.0,
    };
    Ok(match typed {
        params::Observable::Llc(llc) => {
            let chains = llc.chains as f64 * if llc.companion { 2.0 } else { 1.0 };
            let per_chain = llc.burnin as f64 + llc.draws as f64 * llc.steps_between_draws as f64;
            let mala =
                if llc.acceptance_every > 0 { 1.0 / llc.acceptance_every as f64 } else { 0.0 };
            let steps = chains * per_chain * (1.0 + mala);
            let flops = steps * batch * forward * FORWARD_AND_BACKWARD + pool * forward;
            let values = (steps * batch + pool) * values;
            let fresh = if data.as_ref().is_some_and(draws_fresh) { steps * batch } else { 0.0 };
            Work { phase: Phase::Sample, family: Some(family), steps, depth, flops, values, fresh }
        }
        params::Observable::HessianTrace(trace) => passes(2.0 * trace.samples as f64),
        params::Observable::Loss(_)
        | params::Observable::WeightNorm(_)
        | params::Observable::GradientNorm(_)
        | params::Observable::Outputs(_)
        | params::Observable::Accuracy(_)
        | params::Observable::InductionScore(_)
        | params::Observable::TmsGeometry(_)
        | params::Observable::IclBaselines(_) => passes(1.0),
    })
}
