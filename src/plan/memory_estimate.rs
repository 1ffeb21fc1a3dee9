//! [`MemoryEstimate`]: how much memory one instance needs while it runs, estimated from its
//! resolved parameters and the registry's meaning of them, before anything starts. `check`
//! refuses an instance beyond [`ABSURD_BYTES`] (no machine has it: a typo such as
//! `hidden = 10000000000`); `run` compares each instance with the memory of where it will run.
//!
//! The estimate counts what grows with the spec's numbers: the model's parameters (one copy per
//! ensemble member or sampler chain), their gradients, the optimizer's or sampler's state, the
//! data held in memory, and the activations of the largest forward pass: a training batch, or
//! the whole data set, on which the worker records the loss in one pass (measured: a TMS of 1e8
//! parameters and 100 samples peaks at 7.9 GiB in the worker, estimated 8.2 GiB). It leaves out
//! what does not grow with
//! them (libtorch itself, a few hundred MB), so it is a floor, meant to catch sizes that cannot
//! fit, not to budget a machine to the megabyte. One function per model kind and per step kind;
//! a kind it cannot size (a TorchScript model's activations, a step devspec computes itself)
//! contributes nothing rather than a guess.
//!
//! ```
//! # use devspec::plan::memory_estimate::{model_parameters, format_bytes};
//! // tms.model(features = 5, hidden = 2): W is 2 x 5, b has 5 entries.
//! assert_eq!(devspec::plan::memory_estimate::tms_parameters(5.0, 2.0, true), 15.0);
//! assert_eq!(format_bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
//! # let _ = model_parameters;
//! ```

// Sizes are whole numbers far below 2^53; an estimate besides.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use devspec_protocol::{StepKind, params};

use crate::compile::value::Value;

/// An instance estimated beyond this is refused by `check`: 1 TiB.
pub const ABSURD_BYTES: f64 = 1024.0 * 1024.0 * 1024.0 * 1024.0;

/// The memory one instance needs, by what needs it, in bytes (floats: sizes written in a
/// spec can multiply past any integer type, and an estimate needs no exactness).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryEstimate {
    pub parts: Vec<(&'static str, f64)>,
}

impl MemoryEstimate {
    pub fn bytes(&self) -> f64 {
        self.parts.iter().map(|(_, bytes)| bytes).sum()
    }

    fn add(&mut self, what: &'static str, bytes: f64) {
        if bytes > 0.0 {
            self.parts.push((what, bytes));
        }
    }

    /// The part that needs the most, if any.
    pub fn largest_part(&self) -> Option<&'static str> {
        self.parts.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(what, _)| *what)
    }

    /// "about 149.0 GiB of memory (parameters 37.3 GiB, gradients 37.3 GiB, ...)": the parts
    /// of at least 1% of the whole.
    pub fn describe(&self) -> String {
        let mut text = format!("about {} of memory", format_bytes(self.bytes()));
        let mut parts = self.parts.clone();
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        let shown: Vec<String> = parts
            .iter()
            .filter(|(_, bytes)| *bytes >= self.bytes() / 100.0)
            .map(|(what, bytes)| format!("{what} {}", format_bytes(*bytes)))
            .collect();
        if !shown.is_empty() {
            let _ = write!(text, " ({})", shown.join(", "));
        }
        text
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.0 GiB`, `2.0e6 TiB`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else if value >= 1e5 {
        format!("{value:.1e} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The estimate of an instance of step kind `kind` with these resolved parameters; `None` for
/// kinds that hold no model (detection, reports: devspec computes them in moments), and for the
/// executor's test step unless its `memory_mb` claims some.
pub fn of_instance(kind: StepKind, params: &BTreeMap<String, Value>) -> Option<MemoryEstimate> {
    match kind {
        StepKind::Train => Some(train(params)),
        StepKind::Checkpoint => Some(checkpoint(params)),
        StepKind::Estimate => Some(estimate(params)),
        StepKind::Test => test(params),
        StepKind::Detect | StepKind::Report => None,
    }
}

/// The executor's test step: what its `memory_mb` claims, if it says.
fn test(params: &BTreeMap<String, Value>) -> Option<MemoryEstimate> {
    let mib = params.get("memory_mb").and_then(Value::as_int)?;
    let mut estimate = MemoryEstimate::default();
    estimate.add("claimed", mib as f64 * 1024.0 * 1024.0);
    Some(estimate)
}

/// A training run: per ensemble member (one instance), the parameters, their gradients and the
/// optimizer's state, the data it holds, and the activations of one batch (kept for the
/// backward pass) or of the whole pool (its loss is recorded in one pass), whichever is larger.
pub fn train(params: &BTreeMap<String, Value>) -> MemoryEstimate {
    let element = element_bytes(params);
    let mut estimate = MemoryEstimate::default();
    // Each value read as its typed form once: a no-op rerun sizes every instance.
    let Some(model) = params.get("model").and_then(Value::typed) else { return estimate };
    let weights = model_parameters(&model);
    estimate.add("parameters", weights * element);
    estimate.add("gradients", weights * element);
    let optimizer: Option<params::Optimizer> = params.get("optimizer").and_then(Value::typed);
    let slots = optimizer.as_ref().map_or(0.0, optimizer_slots);
    estimate.add("optimizer state", slots * weights * element);
    let data: Option<params::Data> = params.get("data").and_then(Value::typed);
    let test_data: Option<params::Data> = params.get("test_data").and_then(Value::typed);
    let batch = batch_samples(params.get("batch_size"), data.as_ref());
    let held = data.as_ref().map_or(0.0, |data| data_bytes(data, batch, element));
    let held_test = test_data.as_ref().map_or(0.0, |data| data_bytes(data, batch, element));
    estimate.add("data", held + held_test);
    let pool = [data.as_ref(), test_data.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(fixed_samples)
        .fold(batch, f64::max);
    estimate.add("activations", pool * model_activations(&model) * element);
    estimate
}

/// An imported checkpoint: its parameters, read once.
pub fn checkpoint(params: &BTreeMap<String, Value>) -> MemoryEstimate {
    let mut estimate = MemoryEstimate::default();
    let model: Option<params::Model> = params.get("model").and_then(Value::typed);
    let weights = model.as_ref().map_or(0.0, model_parameters);
    estimate.add("parameters", weights * element_bytes(params));
    estimate
}

/// An estimate at one checkpoint: the checkpoint's parameters, and for the LLC one copy per
/// chain with its gradient and the sampler's state, the draws it records, the data, and one
/// batch's activations per chain (chains run batched; on one CPU thread a large model's run a
/// few at a time, so this overstates it there), or the whole data set's (the loss at
/// the checkpoint), whichever is larger. Other observables hold the parameters, a gradient and
/// the data, and evaluate the whole data set.
pub fn estimate(params: &BTreeMap<String, Value>) -> MemoryEstimate {
    let element = element_bytes(params);
    let mut estimate = MemoryEstimate::default();
    let Some(model) = params.get("model").and_then(Value::typed) else { return estimate };
    let weights = model_parameters(&model);
    let observable = params.get("observable");
    let EstimateData { data, batch, pool } = estimate_data(params);
    estimate.add("parameters", weights * element);
    estimate.add("data", data.as_ref().map_or(0.0, |data| data_bytes(data, batch, element)));
    if let Some(params::Observable::Llc(llc)) = observable.and_then(Value::typed) {
        // A companion samples every chain twice.
        let chains = llc.chains as f64 * if llc.companion { 2.0 } else { 1.0 };
        let draws = llc.draws as f64;
        let slots = sampler_slots(&llc.sampler);
        // Each chain's position and gradient, and the sampler's state per chain.
        estimate.add("chains", chains * (2.0 + slots) * weights * element);
        // A loss per draw and chain, in f64.
        estimate.add("draws", chains * draws * 8.0);
        let samples = (chains * batch).max(pool);
        estimate.add("activations", samples * model_activations(&model) * element);
    } else {
        estimate.add("gradients", weights * element);
        estimate.add("activations", batch.max(pool) * model_activations(&model) * element);
    }
    estimate
}

/// Bytes per number: the instance's `dtype` (f32 unless it says f64).
fn element_bytes(params: &BTreeMap<String, Value>) -> f64 {
    match params.get("dtype").and_then(Value::typed) {
        Some(params::Dtype::F64) => 8.0,
        Some(params::Dtype::F32) | None => 4.0,
    }
}

/// Extra tensors the optimizer keeps per parameter: Adam's two moments, SGD's momentum buffer.
fn optimizer_slots(optimizer: &params::Optimizer) -> f64 {
    match optimizer {
        params::Optimizer::Adam(_) | params::Optimizer::Adamw(_) => 2.0,
        params::Optimizer::Sgd(sgd) if sgd.momentum > 0.0 => 1.0,
        params::Optimizer::Sgd(_) => 0.0,
    }
}

/// Extra tensors a sampler keeps per parameter and chain: the anchor it is localized at, and
/// `RMSprop`'s running mean of squared gradients.
fn sampler_slots(sampler: &params::Sampler) -> f64 {
    match sampler {
        params::Sampler::RmspropSgld(_) => 2.0,
        params::Sampler::Sgld(_) => 1.0,
    }
}

/// What an estimate reads: its observable's own data, else the data of the step it is on; the
/// samples of a batch (its observable's `batch_size`, else the training's); and the samples of
/// the pool it draws from (a batch when the data are drawn fresh).
pub(crate) struct EstimateData {
    pub data: Option<params::Data>,
    pub batch: f64,
    pub pool: f64,
}

pub(crate) fn estimate_data(params: &BTreeMap<String, Value>) -> EstimateData {
    let observable = params.get("observable");
    let data: Option<params::Data> = observable
        .and_then(|o| o.ctor_arg("data"))
        .or_else(|| params.get("data"))
        .and_then(Value::typed);
    let batch_of = observable
        .and_then(|o| o.ctor_arg("batch_size"))
        .or_else(|| params.get("train_batch_size"));
    let batch = batch_samples(batch_of, data.as_ref());
    let pool = data.as_ref().and_then(fixed_samples).unwrap_or(batch);
    EstimateData { data, batch, pool }
}

/// Samples in one batch: the batch size, or the training pool for `full`.
pub(crate) fn batch_samples(batch_size: Option<&Value>, data: Option<&params::Data>) -> f64 {
    match batch_size.and_then(Value::as_f64) {
        Some(samples) => samples,
        // `full`: the training pool.
        None => data.and_then(training_samples).unwrap_or(1.0),
    }
}

/// The samples a full batch of `data` holds: its pool, but for modular arithmetic only its
/// `train_fraction` of the pairs (the rest are its own test pairs; counted whole, the grokking
/// MLP's full batch was 3,481 pairs instead of 1,392).
fn training_samples(data: &params::Data) -> Option<f64> {
    match data {
        params::Data::Modular(args) => {
            Some(((args.p * args.p) as f64 * args.train_fraction).round().max(1.0))
        }
        params::Data::Tms(_)
        | params::Data::Dln(_)
        | params::Data::Induction(_)
        | params::Data::IclRegression(_)
        | params::Data::Tensors(_) => fixed_samples(data),
    }
}

/// The number of samples a data set holds, when it holds a fixed pool.
pub(crate) fn fixed_samples(data: &params::Data) -> Option<f64> {
    let pool = |samples: params::Samples| match samples {
        params::Samples::Pool(n) => Some(n as f64),
        params::Samples::Fresh => None,
    };
    match data {
        params::Data::Tms(args) => pool(args.samples),
        params::Data::Dln(args) => pool(args.samples),
        params::Data::Induction(args) => pool(args.samples),
        params::Data::Modular(args) => Some((args.p * args.p) as f64),
        // In-context regression draws a fresh batch of tasks every step; a file's rows are
        // not counted without reading it.
        params::Data::IclRegression(_) | params::Data::Tensors(_) => None,
    }
}

/// Whether the data are drawn afresh as a run goes (no fixed pool to go through): a file's rows
/// are a fixed pool, though not counted without reading it.
pub(crate) fn draws_fresh(data: &params::Data) -> bool {
    let fresh = |samples: params::Samples| matches!(samples, params::Samples::Fresh);
    match data {
        params::Data::Tms(args) => fresh(args.samples),
        params::Data::Dln(args) => fresh(args.samples),
        params::Data::Induction(args) => fresh(args.samples),
        params::Data::IclRegression(_) => true,
        params::Data::Modular(_) | params::Data::Tensors(_) => false,
    }
}

/// Bytes a data set holds in memory: a fixed pool's inputs and targets, or one fresh batch;
/// a file's size on disk.
pub fn data_bytes(data: &params::Data, batch: f64, element: f64) -> f64 {
    let samples = fixed_samples(data).unwrap_or(batch);
    match data {
        params::Data::Tms(args) => samples * 2.0 * args.features as f64 * element,
        params::Data::Dln(args) => {
            let params::Teacher::Dln(teacher) = &args.teacher;
            let (first, last) = match (teacher.widths.first(), teacher.widths.last()) {
                (Some(&first), Some(&last)) => (first as f64, last as f64),
                _ => (0.0, 0.0),
            };
            samples * (first + last) * element
        }
        // Tokens are whole numbers of 8 bytes; a sequence and its shifted targets.
        params::Data::Induction(args) => samples * 2.0 * args.length as f64 * 8.0,
        params::Data::IclRegression(args) => {
            batch * args.context as f64 * 2.0 * (args.dims as f64 + 1.0) * element
        }
        params::Data::Modular(args) => {
            let inputs = match args.encoding {
                params::Encoding::OneHot => 2.0 * args.p as f64 * element,
                params::Encoding::Tokens => 3.0 * 8.0,
            };
            samples * (inputs + 8.0)
        }
        params::Data::Tensors(args) => size_on_disk(std::path::Path::new(&args.path)),
    }
}

/// A file's size, or a folder's files' sizes added up; 0 if it cannot be read.
#[allow(clippy::cast_precision_loss)] // an estimate
fn size_on_disk(path: &std::path::Path) -> f64 {
    let Ok(meta) = std::fs::metadata(path) else { return 0.0 };
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).into_iter().flatten().filter_map(Result::ok);
        entries
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len() as f64)
            .sum()
    } else {
        meta.len() as f64
    }
}

pub(crate) fn widths(widths: &[i64]) -> Vec<f64> {
    widths.iter().map(|&w| w as f64).collect()
}

/// The number of parameters of a model, by its kind.
pub fn model_parameters(model: &params::Model) -> f64 {
    match model {
        params::Model::Tms(args) => {
            tms_parameters(args.features as f64, args.hidden as f64, args.bias)
        }
        params::Model::Dln(args) => layered_parameters(&widths(&args.widths), args.bias),
        params::Model::Mlp(args) => layered_parameters(&widths(&args.widths), args.bias),
        params::Model::Transformer(args) => transformer_parameters(&TransformerShape::of(args)),
        // The saved file holds the parameters (4 bytes each in f32), and little else.
        params::Model::Torchscript(args) => size_on_disk(std::path::Path::new(&args.path)) / 4.0,
    }
}

/// The toy model of superposition: W (hidden x features) and, with `bias`, b (features).
pub fn tms_parameters(features: f64, hidden: f64, bias: bool) -> f64 {
    hidden * features + if bias { features } else { 0.0 }
}

/// Fully connected layers between consecutive widths, each with a bias when `bias`.
pub fn layered_parameters(widths: &[f64], bias: bool) -> f64 {
    widths.windows(2).map(|pair| pair[0] * pair[1] + if bias { pair[1] } else { 0.0 }).sum()
}

/// The sizes of a transformer, its derived ones filled in as the registry documents.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerShape {
    pub layers: f64,
    pub heads: f64,
    pub d_model: f64,
    pub d_head: f64,
    pub d_mlp: f64,
    pub context: f64,
    /// Tokens in (`vocab`) or the size of each input vector (`input_dim`).
    pub inputs: f64,
    pub outputs: f64,
    pub layer_norm: bool,
}

impl TransformerShape {
    pub(crate) fn of(args: &params::TransformerModel) -> Self {
        let (heads, d_model) = (args.heads as f64, args.d_model as f64);
        let inputs = args.vocab.or(args.input_dim).unwrap_or(0) as f64;
        TransformerShape {
            layers: args.layers as f64,
            heads,
            d_model,
            d_head: args.d_head.map_or((d_model / heads).floor(), |d| d as f64),
            d_mlp: args.d_mlp.map_or(4.0 * d_model, |d| d as f64),
            context: args.context as f64,
            inputs,
            outputs: args.output_dim.or(args.vocab).map_or(inputs, |o| o as f64),
            layer_norm: args.layer_norm,
        }
    }
}

/// A decoder-only transformer: the input embedding (a table of `vocab` rows, or a linear map
/// of `input_dim` with a bias), learned positions, per block the four attention projections
/// with biases, the MLP's two layers with biases (none when `d_mlp` is 0) and two layer norms,
/// a final layer norm and the unembedding with a bias.
pub fn transformer_parameters(shape: &TransformerShape) -> f64 {
    let TransformerShape {
        layers, heads, d_model, d_head, d_mlp, context, inputs, outputs, ..
    } = *shape;
    let attention = 4.0 * d_model * heads * d_head + 3.0 * heads * d_head + d_model;
    let mlp = if d_mlp > 0.0 { 2.0 * d_model * d_mlp + d_mlp + d_model } else { 0.0 };
    let norm = if shape.layer_norm { 2.0 * d_model } else { 0.0 };
    let embedding = inputs * d_model + d_model;
    embedding
        + context * d_model
        + layers * (attention + mlp + 2.0 * norm)
        + norm
        + d_model * outputs
        + outputs
}

/// Numbers one sample's forward pass keeps for the backward pass, by model kind.
pub fn model_activations(model: &params::Model) -> f64 {
    match model {
        // h = W x, W^T h + b, its ReLU.
        params::Model::Tms(args) => args.hidden as f64 + 2.0 * args.features as f64,
        // Each layer's output, before and after the nonlinearity.
        params::Model::Dln(params::DlnModel { widths: w, .. })
        | params::Model::Mlp(params::MlpModel { widths: w, .. }) => {
            2.0 * widths(w).iter().sum::<f64>()
        }
        params::Model::Transformer(args) => {
            let s = TransformerShape::of(args);
            // Per position and block: q, k, v, the attention output, the residual stream and
            // norms (about 8 d_model), the MLP's hidden layer twice; per head the scores
            // against every position, before and after the softmax.
            let per_position =
                s.layers * (8.0 * s.d_model + 2.0 * s.d_mlp + 2.0 * s.heads * s.context);
            s.context * (per_position + 2.0 * s.outputs)
        }
        // A TorchScript model's activations are its own; the file's parameters stand for them.
        params::Model::Torchscript(_) => 0.0,
    }
}

#[cfg(test)]
// The sizes compared are whole numbers well below 2^53, exact in binary.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    /// The resolved fields of step `index` of `spec`, as a plan would give an instance.
    fn fields(spec: &str, index: usize) -> BTreeMap<String, Value> {
        super::super::checked(spec).steps[index].fields.clone()
    }

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    #[test]
    fn model_sizes_match_hand_counts() {
        // TMS 5 -> 2: W 2x5 = 10, b 5.
        assert_eq!(tms_parameters(5.0, 2.0, true), 15.0);
        assert_eq!(tms_parameters(5.0, 2.0, false), 10.0);
        // DLN 3-4-2 without biases: 12 + 8; an MLP with biases adds 4 + 2.
        assert_eq!(layered_parameters(&[3.0, 4.0, 2.0], false), 20.0);
        assert_eq!(layered_parameters(&[3.0, 4.0, 2.0], true), 26.0);
        // One block, one head, d_model 2, d_mlp 8, context 3, vocab 5, with layer norms:
        // embedding 5*2 + 2 = 12; positions 3*2 = 6; attention 4*2*2 + 3*2 + 2 = 24;
        // MLP 2*2*8 + 8 + 2 = 42; two norms 2*4 = 8; final norm 4; unembedding 2*5 + 5 = 15.
        let shape = TransformerShape {
            layers: 1.0,
            heads: 1.0,
            d_model: 2.0,
            d_head: 2.0,
            d_mlp: 8.0,
            context: 3.0,
            inputs: 5.0,
            outputs: 5.0,
            layer_norm: true,
        };
        assert_eq!(transformer_parameters(&shape), 12.0 + 6.0 + 24.0 + 42.0 + 8.0 + 4.0 + 15.0);
    }

    #[test]
    fn a_training_run_counts_parameters_gradients_state_data_and_activations() {
        let params = fields(
            "train t { model = tms.model(features = 5, hidden = 2), \
             data = tms.data(features = 5, sparsity = 0.9, samples = 1000), \
             optimizer = adam(lr = 0.01), batch_size = 10, steps = 10 }",
            0,
        );
        let estimate = train(&params);
        // 15 parameters of 4 bytes: weights, gradients, Adam's two moments.
        let part = |what| estimate.parts.iter().find(|(w, _)| *w == what).map(|(_, b)| *b);
        assert_eq!(part("parameters"), Some(60.0));
        assert_eq!(part("gradients"), Some(60.0));
        assert_eq!(part("optimizer state"), Some(120.0));
        // 1000 samples of 5 inputs and 5 targets.
        assert_eq!(part("data"), Some(1000.0 * 10.0 * 4.0));
        // The loss over the pool of 1000 (larger than a batch of 10): hidden 2 + 2 * features
        // 5 numbers each.
        assert_eq!(part("activations"), Some(1000.0 * 12.0 * 4.0));
        assert_eq!(estimate.bytes(), 60.0 + 60.0 + 120.0 + 40_000.0 + 48_000.0);
    }

    #[test]
    fn a_full_batch_of_modular_pairs_is_its_training_fraction() {
        let params = fields(
            "train t { model = mlp.model(widths = [118, 256, 59]), \
             data = modular.data(p = 59, train_fraction = 0.4), \
             optimizer = adamw(lr = 1e-3), batch_size = full, steps = 10 }",
            0,
        );
        let data: Option<params::Data> = params.get("data").and_then(Value::typed);
        // 0.4 of 59 x 59 = 3,481 pairs is 1,392.4: the worker's 1,392 training pairs; the
        // other 2,089 are the test pairs, not in the batch.
        assert_eq!(batch_samples(params.get("batch_size"), data.as_ref()), 1392.0);
        assert_eq!(data.as_ref().and_then(fixed_samples), Some(3481.0));
    }

    #[test]
    fn the_issues_absurd_sizes_are_beyond_a_tebibyte() {
        // Issue 19: `hidden = 10000000000` in specs/tms.dev reached 10 GB in 14 s before dying.
        let params = fields(
            "train t { model = tms.model(features = 5, hidden = 10000000000), \
             data = tms.data(features = 5, sparsity = 0.9, samples = 1000), \
             optimizer = sgd(lr = 0.01), batch_size = 1024, steps = 10 }",
            0,
        );
        // 5e10 + 5 parameters of 4 bytes, and their gradients; a batch of 1024 samples keeping
        // 1e10 + 10 numbers each; 1000 samples of 10 numbers.
        let bytes = train(&params).bytes();
        let by_hand = 2.0 * (5e10 + 5.0) * 4.0 + 1024.0 * (1e10 + 10.0) * 4.0 + 1000.0 * 10.0 * 4.0;
        assert_eq!(bytes, by_hand);
        assert!(bytes > ABSURD_BYTES, "{}", format_bytes(bytes));
        let params = fields(
            "train t { model = tms.model(features = 5, hidden = 2), \
             data = tms.data(features = 5, sparsity = 0.9, samples = 100000000000), \
             optimizer = sgd(lr = 0.01), batch_size = 10, steps = 10 }",
            0,
        );
        // 1e11 samples of 10 numbers, 4 bytes each: 4e12 bytes, 3.6 TiB; their loss in one pass,
        // 12 numbers each: 4.8e12 bytes, 4.4 TiB.
        let estimate = train(&params);
        assert_eq!(estimate.parts.iter().find(|(w, _)| *w == "data").unwrap().1, 4e12);
        assert!(
            estimate
                .describe()
                .starts_with("about 8.0 TiB of memory (activations 4.4 TiB, data 3.6 TiB"),
            "{}",
            estimate.describe()
        );
    }

    #[test]
    fn an_llc_estimate_holds_a_copy_per_chain() {
        let spec = "train t { model = dln.model(widths = [10, 10]), \
             data = dln.data(teacher = dln.teacher(widths = [10, 10], rank = 2), samples = 100), \
             optimizer = sgd(lr = 0.01), batch_size = 10, steps = 10, dtype = f64 }\n\
             estimate e on t { observable = llc(sampler = sgld(lr = 0.001, localization = 10), \
             chains = 8) }";
        // The estimate's parameters as the planner makes them: its own, and its input's model,
        // data, batch size and dtype.
        let (train_fields, mut params) = (fields(spec, 0), fields(spec, 1));
        for (from, to) in [
            ("model", "model"),
            ("data", "data"),
            ("batch_size", "train_batch_size"),
            ("dtype", "dtype"),
        ] {
            params.insert(to.into(), train_fields[from].clone());
        }
        let estimate = estimate(&params);
        let part = |what| estimate.parts.iter().find(|(w, _)| *w == what).map(|(_, b)| *b);
        // 100 parameters of 8 bytes; 8 chains of position, gradient and anchor.
        assert_eq!(part("parameters"), Some(800.0));
        assert_eq!(part("chains"), Some(8.0 * 3.0 * 800.0));
        // 8 chains of 200 draws; 100 samples of 10 + 10 numbers; the loss at the checkpoint
        // over those 100 samples (more than 8 chains of a batch of 10), each keeping both
        // widths twice.
        assert_eq!(part("draws"), Some(8.0 * 200.0 * 8.0));
        assert_eq!(part("data"), Some(100.0 * 20.0 * 8.0));
        assert_eq!(part("activations"), Some(100.0 * 40.0 * 8.0));
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_bytes(10.0 * GIB), "10.0 GiB");
        assert_eq!(format_bytes(2e6 * 1024.0 * GIB), "2.0e6 TiB");
    }
}
