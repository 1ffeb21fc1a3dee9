//! The decoder-only transformer (GPT-2's layout: pre-norm blocks of causal multi-head attention
//! and a GELU MLP, learned positions), served a group of members like the other built-in models:
//! every parameter has a leading member dimension, so one call serves one model, an ensemble
//! and a batch of sampler chains; inside, each member's pass is the solo pass (see `run`).
//!
//! A sample is one row of the data (see `sequence_data`): `positions` token ids, or `positions`
//! vectors one after another. The output is one vector per position, `[members, batch *
//! positions, output_dim]`; the loss picks the positions that have targets.

use devspec_protocol::params::{Activation, TransformerModel};
use tch::{Kind, Tensor};

use super::model::{Init, ParamShape, activate};
use super::sequence_data::{Sequence, Token};
use super::spec::SpecError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Tokens { vocab: i64 },
    Vectors { dim: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transformer {
    pub layers: i64,
    pub heads: i64,
    pub d_model: i64,
    pub d_head: i64,
    /// 0: attention-only.
    pub d_mlp: i64,
    /// The nonlinearity of each block's MLP.
    pub activation: Activation,
    pub context: i64,
    pub input: Input,
    pub output_dim: i64,
    pub layer_norm: bool,
    /// The weights' initial standard deviation.
    pub init_scale: f64,
}

impl Transformer {
    /// Reads the arguments, deriving those left out as the registry documents them.
    pub fn new(args: &TransformerModel) -> Result<Transformer, SpecError> {
        let (d_model, heads) = (args.d_model, args.heads);
        let input = match (args.vocab, args.input_dim) {
            (Some(vocab), None) => Input::Tokens { vocab },
            (None, Some(dim)) => Input::Vectors { dim },
            (Some(_), Some(_)) | (None, None) => {
                return Err(SpecError(
                    "`transformer.model` takes `vocab` (token inputs) or `input_dim` (vector \
                     inputs), exactly one of them"
                        .into(),
                ));
            }
        };
        let output_dim = match (args.output_dim, input) {
            (Some(dim), _) => dim,
            (None, Input::Tokens { vocab }) => vocab,
            (None, Input::Vectors { .. }) => {
                return Err(SpecError(
                    "`transformer.model` with `input_dim` needs `output_dim`".into(),
                ));
            }
        };
        Ok(Transformer {
            layers: args.layers,
            heads,
            d_model,
            d_head: args.d_head.unwrap_or((d_model / heads).max(1)),
            d_mlp: args.d_mlp.unwrap_or(4 * d_model),
            activation: args.activation,
            context: args.context,
            input,
            output_dim,
            layer_norm: args.layer_norm,
            init_scale: args.init_scale,
        })
    }

    /// Data that this model cannot read is refused before training, naming both (`what`: the
    /// field and its file).
    pub fn check_data(
        &self,
        sequence: Option<Sequence>,
        classes: Option<usize>,
        what: &str,
    ) -> Result<(), SpecError> {
        let Some(sequence) = sequence else {
            return Err(SpecError(format!(
                "{what} is not sequence data; a transformer reads `icl.regression`, \
                 `induction.data` or `modular.data(encoding = tokens)`"
            )));
        };
        if sequence.positions as i64 > self.context {
            return Err(SpecError(format!(
                "{what} has sequences of {} positions, but the model's `context` is {}",
                sequence.positions, self.context
            )));
        }
        match (sequence.token, self.input) {
            (Token::Id { vocab }, Input::Tokens { vocab: model }) if vocab as i64 > model => {
                return Err(SpecError(format!(
                    "{what} has tokens up to {}, but the model's `vocab` is {model}",
                    vocab - 1
                )));
            }
            (Token::Vector { dim }, Input::Vectors { dim: model }) if dim as i64 != model => {
                return Err(SpecError(format!(
                    "{what} has vectors of {dim} numbers per position, but the model's \
                     `input_dim` is {model}"
                )));
            }
            (Token::Id { .. }, Input::Vectors { .. }) => {
                return Err(SpecError(format!(
                    "{what} holds token ids; give the model `vocab`, not `input_dim`"
                )));
            }
            (Token::Vector { dim }, Input::Tokens { .. }) => {
                return Err(SpecError(format!(
                    "{what} holds vectors of {dim} numbers; give the model `input_dim = {dim}`, \
                     not `vocab`"
                )));
            }
            _ => {}
        }
        match classes {
            Some(classes) if classes as i64 > self.output_dim => Err(SpecError(format!(
                "{what} has class labels up to {}, but the model gives {} outputs per position",
                classes - 1,
                self.output_dim
            ))),
            None if self.output_dim != 1 => Err(SpecError(format!(
                "{what} has one target value per position, but the model's `output_dim` is {}",
                self.output_dim
            ))),
            _ => Ok(()),
        }
    }

    /// Numbers per position of a row.
    pub fn token_width(&self) -> i64 {
        match self.input {
            Input::Tokens { .. } => 1,
            Input::Vectors { dim } => dim,
        }
    }

    /// The parameters in their fixed order, with their shapes for one member and how they start
    /// (weights from N(0, `init_scale`^2), biases at 0, layer norms' gains at 1).
    pub fn params(&self) -> Vec<ParamShape> {
        let init_std = self.init_scale;
        let (d, attn) = (self.d_model, self.heads * self.d_head);
        let mut params = Vec::new();
        let linear = |params: &mut Vec<ParamShape>, name: &str, out: i64, inp: i64| {
            params.push(ParamShape::new(
                format!("{name}.weight"),
                vec![out, inp],
                Init::Normal(init_std),
            ));
            params.push(ParamShape::new(format!("{name}.bias"), vec![out], Init::Zeros));
        };
        match self.input {
            Input::Tokens { vocab } => {
                params.push(ParamShape::new(
                    "embed.weight",
                    vec![vocab, d],
                    Init::Normal(init_std),
                ));
            }
            Input::Vectors { dim } => linear(&mut params, "embed", d, dim),
        }
        params.push(ParamShape::new(
            "pos_embed.weight",
            vec![self.context, d],
            Init::Normal(init_std),
        ));
        let norm = |params: &mut Vec<ParamShape>, name: String| {
            params.push(ParamShape::new(format!("{name}.weight"), vec![d], Init::Ones));
            params.push(ParamShape::new(format!("{name}.bias"), vec![d], Init::Zeros));
        };
        for layer in 0..self.layers {
            let block = format!("blocks.{layer}");
            if self.layer_norm {
                norm(&mut params, format!("{block}.ln1"));
            }
            for (name, out, inp) in
                [("q", attn, d), ("k", attn, d), ("v", attn, d), ("out", d, attn)]
            {
                linear(&mut params, &format!("{block}.attn.{name}"), out, inp);
            }
            if self.d_mlp > 0 {
                if self.layer_norm {
                    norm(&mut params, format!("{block}.ln2"));
                }
                for (name, out, inp) in [("fc1", self.d_mlp, d), ("fc2", d, self.d_mlp)] {
                    linear(&mut params, &format!("{block}.mlp.{name}"), out, inp);
                }
            }
        }
        if self.layer_norm {
            norm(&mut params, "ln_final".into());
        }
        linear(&mut params, "unembed", self.output_dim, d);
        params
    }

    /// The outputs at every position, `[members, batch * positions, output_dim]`, for rows
    /// `[members, batch, positions * token_width]`.
    pub fn forward(&self, params: &[Tensor], x: &Tensor) -> Tensor {
        self.run(params, x, false).0
    }

    /// The outputs and every layer's attention pattern, `[members, batch, heads, positions,
    /// positions]` (row: the attending position).
    pub fn forward_with_patterns(&self, params: &[Tensor], x: &Tensor) -> (Tensor, Vec<Tensor>) {
        self.run(params, x, true)
    }

    /// A group's outputs: each member's forward pass is the solo pass, on its own slices.
    ///
    /// Why not one batched pass over the leading member dimension: a member's bytes must not
    /// depend on how many members share its group (an ensemble member equals its solo run, a
    /// checkpoint's chains do not depend on its siblings'). A batched BLAS call (`baddbmm`, a
    /// 4-d `matmul`) may take another code path than the same product alone, and on some CPUs
    /// it does: on a Zen 4 EPYC the batched products gave an ensemble member other last bits
    /// than its solo run from the first step, under every `MKL_CBWR` branch, and on a Xeon under
    /// `MKL_CBWR=COMPATIBLE`. Running the solo pass per member makes the equality hold by
    /// construction. Slicing with `unbind` (whose backward stacks the members' gradients,
    /// adding nothing) keeps each member's gradient bits as well. The transformer's products
    /// are large (a batch's every position), so one pass per member costs little next to them.
    fn run(&self, params: &[Tensor], rows: &Tensor, keep_patterns: bool) -> (Tensor, Vec<Tensor>) {
        let members = rows.size()[0];
        if members == 1 {
            return self.run_member(params, rows, keep_patterns);
        }
        let params: Vec<Vec<Tensor>> = params.iter().map(|p| p.unbind(0)).collect();
        let rows = rows.unbind(0);
        let mut outputs = Vec::new();
        let mut patterns: Vec<Vec<Tensor>> = Vec::new();
        for (member, rows) in rows.iter().enumerate() {
            let own: Vec<Tensor> = params.iter().map(|p| p[member].unsqueeze(0)).collect();
            let (output, own_patterns) = self.run_member(&own, &rows.unsqueeze(0), keep_patterns);
            outputs.push(output);
            patterns.push(own_patterns);
        }
        let layers = patterns.first().map_or(0, Vec::len);
        let patterns = (0..layers)
            .map(|layer| Tensor::cat(&patterns.iter().map(|p| &p[layer]).collect::<Vec<_>>(), 0))
            .collect();
        (Tensor::cat(&outputs, 0), patterns)
    }

    /// One member's pass: `params` and `rows` with a leading dimension of 1.
    fn run_member(
        &self,
        params: &[Tensor],
        rows: &Tensor,
        keep_patterns: bool,
    ) -> (Tensor, Vec<Tensor>) {
        let mut next = params.iter();
        let mut take = || next.next().expect("a transformer's parameters, in order");
        let size = rows.size();
        let (members, batch) = (size[0], size[1]);
        let len = size[2] / self.token_width();
        let mut stream = match self.input {
            Input::Tokens { vocab } => {
                let table = take();
                let offsets = Tensor::arange(members, (Kind::Int64, rows.device()))
                    .view([members, 1, 1])
                    * vocab;
                let ids = (rows.to_kind(Kind::Int64) + offsets).view([-1]);
                table.reshape([members * vocab, self.d_model]).index_select(0, &ids).view([
                    members,
                    batch * len,
                    self.d_model,
                ])
            }
            Input::Vectors { dim } => {
                let (weight, bias) = (take(), take());
                linear(&rows.view([members, batch * len, dim]), weight, bias)
            }
        };
        let positions = take().narrow(1, 0, len).unsqueeze(1);
        stream = (stream.view([members, batch, len, self.d_model]) + positions).view([
            members,
            batch * len,
            self.d_model,
        ]);
        let mask = Tensor::ones([len, len], (Kind::Bool, rows.device())).triu(1);
        let mut patterns = Vec::new();
        for _ in 0..self.layers {
            let normed = if self.layer_norm {
                norm(&stream, take(), take())
            } else {
                stream.shallow_clone()
            };
            let [wq, bq, wk, bk, wv, bv] = [take(), take(), take(), take(), take(), take()];
            let projected = linear_joined(&normed, &[wq, wk, wv], &[bq, bk, bv]);
            // [members * batch, heads, positions, d_head] each: the layout of fused attention.
            // `unbind`'s backward stacks the three gradients into the joined product's in one
            // pass (slicing by `narrow` would zero and add three full-size tensors).
            let [query, key, value]: [Tensor; 3] = projected
                .view([members * batch, len, 3, self.heads, self.d_head])
                .unbind(2)
                .into_iter()
                .map(|part| part.transpose(1, 2))
                .collect::<Vec<_>>()
                .try_into()
                .expect("three projections");
            let z = if keep_patterns {
                let scores = query.matmul(&key.transpose(-2, -1)) / (self.d_head as f64).sqrt();
                let pattern = scores.masked_fill(&mask, f64::NEG_INFINITY).softmax(-1, rows.kind());
                let z = pattern.matmul(&value);
                patterns.push(pattern.view([members, batch, self.heads, len, len]));
                z
            } else {
                // The fused kernel: measured 4x faster than the products above on one CPU thread.
                Tensor::scaled_dot_product_attention(
                    &query,
                    &key,
                    &value,
                    None::<Tensor>,
                    0.0,
                    true,
                    None,
                    false,
                )
            };
            let z = z.transpose(1, 2).reshape([members, batch * len, self.heads * self.d_head]);
            stream = residual(&stream, linear(&z, take(), take()));
            if self.d_mlp > 0 {
                let normed = if self.layer_norm {
                    norm(&stream, take(), take())
                } else {
                    stream.shallow_clone()
                };
                let hidden = activate(&linear(&normed, take(), take()), self.activation);
                stream = residual(&stream, linear(&hidden, take(), take()));
            }
        }
        if self.layer_norm {
            stream = norm(&stream, take(), take());
        }
        (linear(&stream, take(), take()), patterns)
    }
}

/// The residual stream plus a block's update, as a new tensor: adding in place would change the
/// input that the block's layer norm saved for the backward pass.
fn residual(stream: &Tensor, update: Tensor) -> Tensor {
    stream + update
}

/// `h W^T + b` for one member: `h` `[1, n, in]`, `w` `[1, out, in]`, `b` `[1, out]`: one matrix
/// product, as `torch.nn.Linear` computes it.
fn linear(h: &Tensor, w: &Tensor, bias: &Tensor) -> Tensor {
    let size = h.size();
    let (out, inputs) = (w.size()[1], size[2]);
    bias.view([out])
        .addmm(&h.view([size[1], inputs]), &w.view([out, inputs]).tr())
        .view([1, size[1], out])
}

/// The query, key and value projections of one member as one matrix product, `[1, n, 3 *
/// out]`: `h` `[1, n, in]` against the three weights `[1, out, in]` stacked (`linear` on the
/// joined weight `[1, 3 out, in]` and bias `[1, 3 out]`).
///
/// Why joined: one product `[n, in] x [in, 3 out]` runs nearer the matmul peak than three thin
/// ones, and its backward takes the input's gradient in one product over `3 out` instead of
/// three products and two additions (the induction study's LLC loop: see docs/estimation.md).
/// The parameters stay three (their names and the checkpoint's layout do not change); joining
/// the weights copies `3 out x in` numbers, nothing next to the product.
fn linear_joined(h: &Tensor, weights: &[&Tensor; 3], biases: &[&Tensor; 3]) -> Tensor {
    linear(h, &Tensor::cat(weights, 1), &Tensor::cat(biases, 1))
}

/// Layer normalization over the last dimension with one member's gain and bias, applied inside
/// libtorch's kernel (one pass, and one pass back for all three gradients).
fn norm(h: &Tensor, gain: &Tensor, bias: &Tensor) -> Tensor {
    let d = h.size()[2];
    h.layer_norm([d], Some(gain.view([d])), Some(bias.view([d])), 1e-5, false)
}

#[cfg(test)]
mod tests {
    use devspec_protocol::params::{Activation, TransformerModel};
    use tch::{Kind, Tensor};

    use super::Transformer;

    /// Two layers with an MLP, heads of 3 numbers, so that the heads' width (6) is not `d_model`
    /// (8).
    fn small_model() -> Transformer {
        let args = TransformerModel {
            layers: 2,
            heads: 2,
            d_model: 8,
            d_head: Some(3),
            d_mlp: Some(16),
            activation: Activation::Gelu,
            context: 6,
            vocab: Some(5),
            input_dim: None,
            output_dim: None,
            layer_norm: true,
            init_scale: 0.5,
        };
        Transformer::new(&args).expect("a model")
    }

    fn gap(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    /// The pass written from the formulas, op by op: three separate projections, attention as
    /// its products and a masked softmax, layer norm as `(h - mean) / sqrt(var + eps) * gain +
    /// bias`. Rows `[1, batch, positions]` of token ids; the parameters as `params()` orders them.
    fn reference(model: &Transformer, params: &[Tensor], rows: &Tensor) -> Tensor {
        let mut next = params.iter().map(|p| p.squeeze_dim(0));
        let mut take = || next.next().expect("a parameter");
        let (batch, len, d) = (rows.size()[1], rows.size()[2], model.d_model);
        let norm = |h: &Tensor, gain: Tensor, bias: Tensor| {
            let mean = h.mean_dim(-1, true, Kind::Double);
            let var = (h - &mean).square().mean_dim(-1, true, Kind::Double);
            (h - mean) / (var + 1e-5).sqrt() * gain + bias
        };
        let linear = |h: &Tensor, w: Tensor, b: Tensor| h.matmul(&w.tr()) + b;
        let ids = rows.view([batch, len]).to_kind(Kind::Int64);
        let embed = take();
        let mut stream =
            embed.index_select(0, &ids.view([-1])).view([batch, len, d]) + take().narrow(0, 0, len);
        let heads = |h: Tensor| h.view([batch, len, model.heads, model.d_head]).transpose(1, 2);
        let mask = Tensor::ones([len, len], (Kind::Bool, rows.device())).triu(1);
        for _ in 0..model.layers {
            let normed = norm(&stream, take(), take());
            let query = heads(linear(&normed, take(), take()));
            let key = heads(linear(&normed, take(), take()));
            let value = heads(linear(&normed, take(), take()));
            let scores = query.matmul(&key.transpose(-2, -1)) / (model.d_head as f64).sqrt();
            let pattern = scores.masked_fill(&mask, f64::NEG_INFINITY).softmax(-1, Kind::Double);
            let z = pattern.matmul(&value).transpose(1, 2).reshape([batch, len, -1]);
            stream = &stream + linear(&z, take(), take());
            let normed = norm(&stream, take(), take());
            let hidden = linear(&normed, take(), take()).gelu("none");
            stream = &stream + linear(&hidden, take(), take());
        }
        let normed = norm(&stream, take(), take());
        linear(&normed, take(), take()).view([1, batch * len, model.output_dim])
    }

    /// The model's pass (joined q, k, v product, layer norm's affine in its kernel, fused
    /// attention, and the written-out attention that keeps the patterns) computes the formulas:
    /// outputs and every parameter's gradient, in f64.
    ///
    /// Tolerance 1e-10: the two sum the same terms in other orders (one product over `3 d`
    /// against three; the attention kernel's blocked softmax), each rounding at most ~1e-16
    /// relative per operation over a few dozen operations on values of order 1, so an honest
    /// difference stays below 1e-13; a wrong wiring (k for v, a missing gain) moves values
    /// by order 1 (tried: swapping the key and value weights fails).
    #[test]
    fn the_pass_computes_the_formulas_with_its_gradients() {
        let model = small_model();
        tch::manual_seed(7);
        let fresh = || -> Vec<Tensor> {
            tch::manual_seed(7);
            model
                .params()
                .iter()
                .map(|p| {
                    let mut shape = vec![1];
                    shape.extend(&p.shape);
                    // Gains and biases away from 1 and 0, so that their wiring shows.
                    (Tensor::randn(&shape, (Kind::Double, tch::Device::Cpu)) * 0.5)
                        .set_requires_grad(true)
                })
                .collect()
        };
        let rows = Tensor::from_slice(&[0i64, 3, 1, 4, 2, 2, 4, 0, 1, 1, 3, 0]).view([1, 2, 6]);
        let weights = Tensor::randn([1, 12, 5], (Kind::Double, tch::Device::Cpu));
        for keep_patterns in [false, true] {
            let ours = fresh();
            let theirs = fresh();
            let out = if keep_patterns {
                model.forward_with_patterns(&ours, &rows.to_kind(Kind::Double)).0
            } else {
                model.forward(&ours, &rows.to_kind(Kind::Double))
            };
            let expected = reference(&model, &theirs, &rows);
            assert_eq!(out.size(), expected.size());
            let outputs = gap(&out, &expected);
            assert!(
                outputs < 1e-10,
                "outputs differ by {outputs} (patterns kept: {keep_patterns})"
            );
            (&out * &weights).sum(Kind::Double).backward();
            (&expected * &weights).sum(Kind::Double).backward();
            assert_gradients_agree(&model, &ours, &theirs);
        }
    }

    /// Every parameter's gradient as the formulas give it, and not trivially zero.
    fn assert_gradients_agree(model: &Transformer, ours: &[Tensor], theirs: &[Tensor]) {
        for ((p, q), shape) in ours.iter().zip(theirs).zip(model.params()) {
            let g = gap(&p.grad(), &q.grad());
            assert!(g < 1e-10, "{}'s gradient differs by {g}", shape.name);
            // A key's bias shifts every score of a query alike, which the softmax ignores: its
            // gradient is zero in exact arithmetic. Every other parameter's shows.
            if !shape.name.ends_with("attn.k.bias") {
                let size = q.grad().abs().max().double_value(&[]);
                assert!(size > 1e-6, "{} has a gradient", shape.name);
            }
        }
    }

    /// A group of two members gives each member its solo pass's outputs, bit for bit (the
    /// member rule: `run` passes each member alone, on its own slices).
    #[test]
    fn each_member_of_a_group_gets_its_solo_outputs() {
        let model = small_model();
        tch::manual_seed(3);
        let params: Vec<Tensor> = model
            .params()
            .iter()
            .map(|p| {
                let mut shape = vec![2];
                shape.extend(&p.shape);
                Tensor::randn(&shape, (Kind::Float, tch::Device::Cpu))
            })
            .collect();
        let rows = Tensor::randint(5, [2, 3, 6], (Kind::Int64, tch::Device::Cpu));
        let group = model.forward(&params, &rows);
        for member in 0..2 {
            let own: Vec<Tensor> = params.iter().map(|p| p.narrow(0, member, 1)).collect();
            let solo = model.forward(&own, &rows.narrow(0, member, 1));
            assert!(group.narrow(0, member, 1).equal(&solo), "member {member}");
        }
    }
}
