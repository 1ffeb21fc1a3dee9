//! The data of the literature's transformer and grokking studies, generated in Rust from a seed
//! like the rest of the built-in data: in-context linear regression (`icl.regression`), token
//! sequences with a repeated segment (`induction.data`) and the table of a modular operation
//! (`modular.data`).
//!
//! Every sample is still one row of `input_dim` numbers and `output_dim` targets, so pools,
//! minibatches and ensembles work as for the other data; a sequence's row is its positions one
//! after another (a token id per position, or a vector per position), and [`Sequence`] tells a
//! transformer how to read it back. [`Readout`] says at which positions the targets are.

use std::sync::Arc;

use devspec_protocol::params;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::rng::{Purpose, stream};
use super::spec::SpecError;

/// How a sequence's row is laid out: `positions` tokens, each an id below `vocab` or a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    pub positions: usize,
    pub token: Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Id { vocab: usize },
    Vector { dim: usize },
}

/// The positions of a sequence that have targets: `offset`, `offset + stride`, ... A model that
/// gives an output at every position is scored at these only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readout {
    pub offset: i64,
    pub stride: i64,
}

impl Readout {
    pub const EVERY: Readout = Readout { offset: 0, stride: 1 };
}

/// In-context linear regression as Hoogland et al. lay it out: a sequence of 2K tokens
/// `x_1, y_1, ..., x_K, y_K` of D + 1 numbers each, an input token being `(0, x_k)` and a label
/// token `(y_k, 0, ..., 0)`; the model predicts `y_k` at `x_k`'s position, from the pairs before it.
#[derive(Debug, Clone, PartialEq)]
pub struct IclRegression {
    pub dims: usize,
    pub context: usize,
    pub noise_var: f64,
    /// A finite task set (`tasks = N`): N tasks of `dims` numbers, drawn once from the seed.
    tasks: Option<Arc<Vec<f64>>>,
}

impl IclRegression {
    pub fn new(args: &params::IclRegression, seed: i64) -> IclRegression {
        let dims = count(args.dims);
        let context = count(args.context);
        let tasks = match args.tasks {
            params::Tasks::Count(n) => {
                let mut rng = stream(seed, Purpose::Tasks, 0);
                Some(Arc::new(gaussians(&mut rng, count(n) * dims)))
            }
            params::Tasks::Auto => None,
        };
        IclRegression { dims, context, noise_var: args.noise_var, tasks }
    }

    pub fn sequence(&self) -> Sequence {
        Sequence { positions: 2 * self.context, token: Token::Vector { dim: self.dims + 1 } }
    }

    /// The `x_k` tokens' positions.
    pub const READOUT: Readout = Readout { offset: 0, stride: 2 };

    pub fn input_dim(&self) -> usize {
        2 * self.context * (self.dims + 1)
    }

    /// One `y_k` per pair.
    pub fn output_dim(&self) -> usize {
        self.context
    }

    pub fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        n: usize,
        inputs: &mut Vec<f64>,
        targets: &mut Vec<f64>,
    ) {
        let (dims, noise_sd) = (self.dims, self.noise_var.sqrt());
        for _ in 0..n {
            let task = match &self.tasks {
                Some(set) => {
                    let index = rng.gen_range(0..set.len() / dims);
                    set[index * dims..(index + 1) * dims].to_vec()
                }
                None => gaussians(rng, dims),
            };
            for _ in 0..self.context {
                let input = gaussians(rng, dims);
                let noise: f64 = StandardNormal.sample(rng);
                let label =
                    task.iter().zip(&input).map(|(t, v)| t * v).sum::<f64>() + noise_sd * noise;
                inputs.push(0.0);
                inputs.extend_from_slice(&input);
                inputs.push(label);
                inputs.extend(std::iter::repeat_n(0.0, dims));
                targets.push(label);
            }
        }
    }

    /// The finite task set (N x D, row-major), if the data has one.
    pub fn task_set(&self) -> Option<&[f64]> {
        self.tasks.as_deref().map(Vec::as_slice)
    }

    /// A row's pairs: the `x_k` (K x D, row-major) and the `y_k`.
    pub fn pairs(&self, row: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let token = self.dims + 1;
        let mut xs = Vec::with_capacity(self.context * self.dims);
        let mut ys = Vec::with_capacity(self.context);
        for k in 0..self.context {
            let x_token = &row[2 * k * token..(2 * k + 1) * token];
            xs.extend_from_slice(&x_token[1..]);
            ys.push(row[(2 * k + 1) * token]);
        }
        (xs, ys)
    }
}

/// Random tokens with one segment repeated later in the sequence, and next-token targets: the
/// tokens are unpredictable except inside the repeat, where an induction head (attend to the
/// token after the previous occurrence of the current one, copy it) predicts them exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InductionData {
    pub vocab: usize,
    pub length: usize,
    pub segment: usize,
}

impl InductionData {
    pub fn new(args: &params::InductionData) -> Result<InductionData, SpecError> {
        let vocab = count(args.vocab);
        let length = count(args.length);
        // Left out, a quarter of the length, as the registry documents.
        let segment = args.segment.map_or((length / 4).max(1), count);
        if 2 * segment > length + 1 {
            return Err(SpecError(format!(
                "`induction.data` cannot repeat a segment of {segment} tokens in {length}: a \
                 segment is at most half the sequence"
            )));
        }
        Ok(InductionData { vocab, length, segment })
    }

    pub fn sequence(&self) -> Sequence {
        Sequence { positions: self.length, token: Token::Id { vocab: self.vocab } }
    }

    pub fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        n: usize,
        inputs: &mut Vec<f64>,
        targets: &mut Vec<f64>,
    ) {
        let (len, seg) = (self.length + 1, self.segment);
        let mut tokens = vec![0usize; len];
        for _ in 0..n {
            for token in &mut tokens {
                *token = rng.gen_range(0..self.vocab);
            }
            let first = rng.gen_range(0..=len - 2 * seg);
            let second = rng.gen_range(first + seg..=len - seg);
            tokens.copy_within(first..first + seg, second);
            inputs.extend(tokens[..self.length].iter().map(|&t| t as f64));
            targets.extend(tokens[1..].iter().map(|&t| t as f64));
        }
    }
}

/// `add`, `sub`, `mul`.
pub use params::ModularOp;

/// `one_hot`: `a` and `b` one-hot, side by side, 2p inputs (for an MLP); `tokens`: the three
/// tokens `a b =` (`=` is token p), for a transformer, scored at `=`.
pub use params::Encoding;

/// Every pair `(a, b)` of residues mod p, labelled `a op b mod p`, in an order drawn from the
/// seed; the first `train_fraction` of them are the training pairs, the rest the test pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModularData {
    pub p: usize,
    pub op: ModularOp,
    pub encoding: Encoding,
    pub train_pairs: usize,
    order: Arc<Vec<(usize, usize)>>,
}

impl ModularData {
    pub fn new(args: &params::ModularData, seed: i64) -> Result<ModularData, SpecError> {
        let p = count(args.p);
        let (op, encoding) = (args.op, args.encoding);
        let fraction = args.train_fraction;
        let mut order: Vec<(usize, usize)> =
            (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).collect();
        order.shuffle(&mut stream(seed, Purpose::Data, 0));
        let train_pairs = ((order.len() as f64) * fraction).round() as usize;
        if train_pairs == 0 || train_pairs == order.len() {
            return Err(SpecError(format!(
                "`modular.data` with p = {p} and train_fraction = {fraction} leaves no {} pairs",
                if train_pairs == 0 { "training" } else { "test" }
            )));
        }
        Ok(ModularData { p, op, encoding, train_pairs, order: Arc::new(order) })
    }

    pub fn pairs(&self) -> usize {
        self.order.len()
    }

    pub fn sequence(&self) -> Option<Sequence> {
        match self.encoding {
            Encoding::OneHot => None,
            Encoding::Tokens => {
                Some(Sequence { positions: 3, token: Token::Id { vocab: self.p + 1 } })
            }
        }
    }

    pub fn readout(&self) -> Readout {
        match self.encoding {
            Encoding::OneHot => Readout::EVERY,
            Encoding::Tokens => Readout { offset: 2, stride: 3 },
        }
    }

    pub fn input_dim(&self) -> usize {
        match self.encoding {
            Encoding::OneHot => 2 * self.p,
            Encoding::Tokens => 3,
        }
    }

    pub fn label(&self, a: usize, b: usize) -> usize {
        let p = self.p;
        match self.op {
            ModularOp::Add => (a + b) % p,
            ModularOp::Sub => (a + p - b) % p,
            ModularOp::Mul => (a * b) % p,
        }
    }

    /// Rows `from..to` of the table in its drawn order.
    pub fn rows(&self, from: usize, to: usize, inputs: &mut Vec<f64>, targets: &mut Vec<f64>) {
        for &(a, b) in &self.order[from..to.min(self.order.len())] {
            match self.encoding {
                Encoding::OneHot => {
                    let mut row = vec![0.0; 2 * self.p];
                    row[a] = 1.0;
                    row[self.p + b] = 1.0;
                    inputs.extend(row);
                }
                Encoding::Tokens => inputs.extend([a as f64, b as f64, self.p as f64]),
            }
            targets.push(self.label(a, b) as f64);
        }
    }
}

fn gaussians(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

fn count(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

#[cfg(test)]
// The values compared are exact: zeros and ones written as such.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    fn data(call: serde_json::Value) -> params::Data {
        serde_json::from_value(call).unwrap()
    }

    #[test]
    fn an_icl_sequence_interleaves_inputs_and_labels_that_follow_one_task() {
        let call = serde_json::json!({"call": "icl.regression", "args": {"dims": 3, "context": 5, "noise_var": 0.0, "tasks": 1}});
        let params::Data::IclRegression(args) = data(call) else { unreachable!() };
        let data = IclRegression::new(&args, 7);
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        data.draw(&mut stream(7, Purpose::Data, 0), 2, &mut inputs, &mut targets);
        assert_eq!(inputs.len(), 2 * data.input_dim());
        let task = data.tasks.as_ref().unwrap();
        for (row, ys) in inputs.chunks(data.input_dim()).zip(targets.chunks(5)) {
            let (xs, labels) = data.pairs(row);
            assert_eq!(labels, ys);
            for (x, y) in xs.chunks(3).zip(ys) {
                // Noise-free labels are the task's dot product, up to rounding of three terms.
                let expected: f64 = x.iter().zip(task.iter()).map(|(x, t)| x * t).sum();
                assert!((expected - y).abs() < 1e-12);
            }
            // An input token starts with 0; a label token ends with D zeros.
            assert_eq!(row[0], 0.0);
            assert!(row[5..8].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn an_induction_sequence_repeats_a_segment_and_targets_the_next_token() {
        let induction = |args| match data(args) {
            params::Data::Induction(args) => InductionData::new(&args),
            other => panic!("{other:?}"),
        };
        let call = serde_json::json!({"call": "induction.data", "args": {"vocab": 50, "length": 20, "segment": 6, "samples": "fresh"}});
        let data = induction(call).unwrap();
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        data.draw(&mut stream(1, Purpose::Data, 0), 100, &mut inputs, &mut targets);
        for (x, y) in inputs.chunks(20).zip(targets.chunks(20)) {
            assert_eq!(&x[1..], &y[..19], "targets are the inputs shifted by one");
            let mut tokens = x.to_vec();
            tokens.push(y[19]);
            let repeated = (0..tokens.len() - 6)
                .any(|i| (i + 6..=tokens.len() - 6).any(|j| tokens[i..i + 6] == tokens[j..j + 6]));
            assert!(repeated, "a segment of 6 tokens occurs twice");
        }
        let too_long = serde_json::json!({"call": "induction.data", "args": {"vocab": 5, "length": 10, "segment": 6, "samples": "fresh"}});
        assert!(induction(too_long).is_err());
    }

    #[test]
    fn the_modular_table_splits_every_pair_once_into_train_and_test() {
        let call = serde_json::json!({"call": "modular.data", "args": {"p": 7, "op": "sub", "encoding": "one_hot", "train_fraction": 0.4}});
        let params::Data::Modular(args) = data(call) else { unreachable!() };
        let data = ModularData::new(&args, 3).unwrap();
        assert_eq!(data.train_pairs, 20);
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        data.rows(0, 49, &mut inputs, &mut targets);
        let mut seen = std::collections::BTreeSet::new();
        for (row, label) in inputs.chunks(14).zip(&targets) {
            let a = row[..7].iter().position(|&v| v == 1.0).unwrap();
            let b = row[7..].iter().position(|&v| v == 1.0).unwrap();
            assert_eq!(*label as usize, (a + 7 - b) % 7);
            seen.insert((a, b));
        }
        assert_eq!(seen.len(), 49);
    }
}
