//! The built-in models, each written once for a group of members: every parameter has a leading
//! member dimension (size 1 for one model), so the same forward pass serves one model, an
//! ensemble of seeds and a batch of sampler chains. Parameters are named as PyTorch would name
//! them (`W`, `b` for the toy model of superposition, as in its papers' code; `layers.0.weight`
//! for the others), so a checkpoint reads well in PyTorch.

use rand_distr::{Distribution, StandardNormal};
use tch::{Kind, Tensor};

use devspec_protocol::params;

use super::rng::{Purpose, stream};
use super::spec::SpecError;
use super::torchscript::TorchScript;
use super::transformer::Transformer;

#[derive(Debug, Clone, PartialEq)]
pub enum Arch {
    /// `x_hat = ReLU(W^T W x + b)`, `W` of shape `[hidden, features]`, `W` drawn from
    /// N(0, `init_scale`^2).
    Tms { features: i64, hidden: i64, bias: bool, init_scale: f64 },
    /// `y = W_L ... W_1 x` (+ biases).
    Dln { widths: Vec<i64>, bias: bool, init_scale: LayerInit },
    /// Linear layers with an activation between them (none after the last).
    Mlp { widths: Vec<i64>, bias: bool, activation: Activation, init_scale: LayerInit },
    /// A decoder-only transformer (see `transformer`).
    Transformer(Transformer),
    /// The user's own module, saved with `torch.jit.save` (see `torchscript`).
    TorchScript(TorchScript),
}

pub use params::Activation;

/// A layered model's weights' initial standard deviation: one written in the spec, or, when it
/// leaves `init_scale` out, the registry's derivation: 1 / sqrt(fan in) for each layer
/// (PyTorch's own scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerInit {
    Fixed(f64),
    FanIn,
}

impl LayerInit {
    fn of(init_scale: Option<f64>) -> LayerInit {
        init_scale.map_or(LayerInit::FanIn, LayerInit::Fixed)
    }

    fn std(self, fan_in: i64) -> f64 {
        match self {
            LayerInit::Fixed(std) => std,
            LayerInit::FanIn => 1.0 / (fan_in as f64).sqrt(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub arch: Arch,
}

/// One parameter as a checkpoint names it, with its shape for one member.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamShape {
    pub name: String,
    pub shape: Vec<i64>,
    init: Init,
}

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    Normal(f64),
    Zeros,
    Ones,
}

impl ParamShape {
    pub fn new(name: impl Into<String>, shape: Vec<i64>, init: Init) -> ParamShape {
        ParamShape { name: name.into(), shape, init }
    }
}

impl ModelSpec {
    pub fn new(model: &params::Model) -> Result<ModelSpec, SpecError> {
        let widths = |widths: &[i64]| -> Result<Vec<i64>, SpecError> {
            if widths.len() < 2 {
                return Err(SpecError(format!(
                    "`{}.widths` needs an input and an output width",
                    model.name()
                )));
            }
            Ok(widths.to_vec())
        };
        let arch = match model {
            params::Model::Tms(tms) => Arch::Tms {
                features: tms.features,
                hidden: tms.hidden,
                bias: tms.bias,
                init_scale: tms.init_scale,
            },
            params::Model::Dln(dln) => Arch::Dln {
                widths: widths(&dln.widths)?,
                bias: dln.bias,
                init_scale: LayerInit::of(dln.init_scale),
            },
            params::Model::Mlp(mlp) => Arch::Mlp {
                widths: widths(&mlp.widths)?,
                bias: mlp.bias,
                activation: mlp.activation,
                init_scale: LayerInit::of(mlp.init_scale),
            },
            params::Model::Transformer(transformer) => {
                Arch::Transformer(Transformer::new(transformer)?)
            }
            params::Model::Torchscript(script) => {
                Arch::TorchScript(TorchScript::load(&script.path)?)
            }
        };
        Ok(ModelSpec { arch })
    }

    /// Numbers per sample in; for a transformer, per position of its longest sequence.
    pub fn input_dim(&self) -> i64 {
        match &self.arch {
            Arch::Tms { features, .. } => *features,
            Arch::Dln { widths, .. } | Arch::Mlp { widths, .. } => widths[0],
            Arch::Transformer(transformer) => transformer.context * transformer.token_width(),
            // Known by running the module (`TorchScript::check_input`).
            Arch::TorchScript(_) => 0,
        }
    }

    /// Outputs per sample; for a transformer, per position.
    pub fn output_dim(&self) -> i64 {
        match &self.arch {
            Arch::Tms { features, .. } => *features,
            Arch::Dln { widths, .. } | Arch::Mlp { widths, .. } => *widths.last().expect("checked"),
            Arch::Transformer(transformer) => transformer.output_dim,
            Arch::TorchScript(_) => 0,
        }
    }

    pub fn torchscript(&self) -> Option<&TorchScript> {
        match &self.arch {
            Arch::TorchScript(script) => Some(script),
            Arch::Tms { .. } | Arch::Dln { .. } | Arch::Mlp { .. } | Arch::Transformer(_) => None,
        }
    }

    pub fn transformer(&self) -> Option<&Transformer> {
        match &self.arch {
            Arch::Transformer(transformer) => Some(transformer),
            Arch::Tms { .. } | Arch::Dln { .. } | Arch::Mlp { .. } | Arch::TorchScript(_) => None,
        }
    }

    /// The parameters in their fixed order (the order of initialization and of checkpoints).
    pub fn params(&self) -> Vec<ParamShape> {
        let weight = |name: String, shape: Vec<i64>, init: LayerInit, fan_in: i64| ParamShape {
            name,
            shape,
            init: Init::Normal(init.std(fan_in)),
        };
        let zeros = |name: String, shape: Vec<i64>| ParamShape { name, shape, init: Init::Zeros };
        match &self.arch {
            // The module's own, in its order; they start where the file has them.
            Arch::TorchScript(script) => script
                .params
                .iter()
                .map(|(name, shape)| ParamShape {
                    name: name.clone(),
                    shape: shape.clone(),
                    init: Init::Zeros,
                })
                .collect(),
            Arch::Transformer(transformer) => transformer.params(),
            Arch::Tms { features, hidden, bias, init_scale } => {
                let mut params = vec![ParamShape {
                    name: "W".into(),
                    shape: vec![*hidden, *features],
                    init: Init::Normal(*init_scale),
                }];
                if *bias {
                    params.push(zeros("b".into(), vec![*features]));
                }
                params
            }
            Arch::Dln { widths, bias, init_scale } | Arch::Mlp { widths, bias, init_scale, .. } => {
                widths
                    .windows(2)
                    .enumerate()
                    .flat_map(|(i, pair)| {
                        let name = format!("layers.{i}.weight");
                        let mut layer =
                            vec![weight(name, vec![pair[1], pair[0]], *init_scale, pair[0])];
                        if *bias {
                            layer.push(zeros(format!("layers.{i}.bias"), vec![pair[1]]));
                        }
                        layer
                    })
                    .collect()
            }
        }
    }

    /// Initial parameters of a group, member by member from its own seed: `[members, ...]`
    /// tensors, equal row by row to what each member gets alone.
    pub fn init(&self, seeds: &[i64], kind: Kind) -> Vec<Tensor> {
        if let Arch::TorchScript(script) = &self.arch {
            return script.initial(seeds.len() as i64, kind);
        }
        let shapes = self.params();
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); shapes.len()];
        for &seed in seeds {
            let mut rng = stream(seed, Purpose::Init, 0);
            for (shape, values) in shapes.iter().zip(&mut values) {
                let count: i64 = shape.shape.iter().product();
                for _ in 0..count {
                    values.push(match shape.init {
                        Init::Normal(std) => {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            z * std
                        }
                        Init::Zeros => 0.0,
                        Init::Ones => 1.0,
                    });
                }
            }
        }
        let members = i64::try_from(seeds.len()).expect("a group fits in i64");
        shapes
            .iter()
            .zip(values)
            .map(|(shape, values)| {
                let dims: Vec<i64> =
                    std::iter::once(members).chain(shape.shape.iter().copied()).collect();
                Tensor::from_slice(&values).reshape(&dims).to_kind(kind)
            })
            .collect()
    }

    /// Whether [`ModelSpec::loss_and_gradients`] serves this model.
    pub fn hand_derived_gradients(&self) -> bool {
        matches!(self.arch, Arch::Tms { .. })
    }

    /// Each member's mean squared error `[members]` and its gradients, derived by hand, for the
    /// models where that is faster than autograd (the toy model of superposition: a step is a
    /// few small matrix products, and autograd's bookkeeping would cost more than they do).
    /// `None`: use autograd.
    pub fn loss_and_gradients(
        &self,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
    ) -> Option<(Tensor, Vec<Tensor>)> {
        let Arch::Tms { bias, .. } = self.arch else { return None };
        let kind = x.kind();
        let w = &params[0];
        let w_t = w.transpose(1, 2);
        let hidden = x.matmul(&w_t);
        let mut pre = hidden.matmul(w);
        if bias {
            pre += params[1].unsqueeze(1);
        }
        let out = pre.relu();
        let diff = out.f_sub(y).ok()?;
        let size = x.size();
        let losses = diff.square().mean_dim([1i64, 2].as_slice(), false, kind);
        // d loss / d pre = 2 (out - y) / (batch * features) where pre > 0 (ReLU's gradient, as
        // PyTorch takes it: zero at 0). The constant factor is applied to the small gradients,
        // not to this batch-sized tensor.
        let scale = 2.0 / (size[1] * size[2]) as f64;
        let g = pre.threshold_backward(&diff, 0.0);
        // pre = (x W^T) W: W gets h^T g through its second use and (g W^T)^T x through its first.
        let grad_w =
            (hidden.transpose(1, 2).matmul(&g) + g.matmul(&w_t).transpose(1, 2).matmul(x)) * scale;
        let mut grads = vec![grad_w];
        if bias {
            grads.push(g.sum_dim_intlist(1, false, kind) * scale);
        }
        Some((losses, grads))
    }

    /// The outputs `[members, batch, out]` for inputs `[members, batch, in]`.
    pub fn forward(&self, params: &[Tensor], x: &Tensor) -> Tensor {
        match &self.arch {
            Arch::Transformer(transformer) => transformer.forward(params, x),
            Arch::TorchScript(script) => script.forward(params, x),
            Arch::Tms { bias, .. } => {
                let w = &params[0];
                let hidden = x.matmul(&w.transpose(1, 2));
                let out = hidden.matmul(w);
                let out = if *bias { out + params[1].unsqueeze(1) } else { out };
                out.relu()
            }
            Arch::Dln { bias, widths, .. } | Arch::Mlp { bias, widths, .. } => {
                let layers = widths.len() - 1;
                let per_layer = if *bias { 2 } else { 1 };
                let mut h = x.shallow_clone();
                for layer in 0..layers {
                    let w = &params[layer * per_layer];
                    h = h.matmul(&w.transpose(1, 2));
                    if *bias {
                        h += params[layer * per_layer + 1].unsqueeze(1);
                    }
                    if let (Arch::Mlp { activation, .. }, true) = (&self.arch, layer + 1 < layers) {
                        h = activate(&h, *activation);
                    }
                }
                h
            }
        }
    }
}

/// A toy model 6 -> 2 (with a bias or not) and three members' parameters in f64, where the
/// rectifier's mask matters: what the tests of its gradients start from.
#[cfg(test)]
pub fn toy_model_at_a_test_point(bias: bool) -> (ModelSpec, Vec<Tensor>) {
    let call = serde_json::json!({"call": "tms.model", "args": {"features": 6, "hidden": 2, "bias": bias, "init_scale": 0.5}});
    let model = ModelSpec::new(&serde_json::from_value(call).expect("a model")).expect("a model");
    let mut params = model.init(&[3, 4, 5], Kind::Double);
    if bias {
        // A bias away from zero, so some units are off and the ReLU mask matters.
        params[1] = Tensor::from_slice(&[0.1f64, -0.3, 0.2, -0.05, 0.0, 0.4]).repeat([3, 1]);
    }
    (model, params)
}

/// `activation` applied elementwise (GELU exact, not its tanh approximation).
pub fn activate(h: &Tensor, activation: Activation) -> Tensor {
    match activation {
        Activation::Relu => h.relu(),
        Activation::Gelu => h.gelu("none"),
        Activation::Tanh => h.tanh(),
        Activation::Silu => h.silu(),
    }
}

#[cfg(test)]
mod tests {
    use tch::{Kind, Tensor};

    use super::toy_model_at_a_test_point;

    #[test]
    fn the_hand_derived_gradients_of_the_toy_model_match_autograd() {
        for bias in [true, false] {
            let (model, params) = toy_model_at_a_test_point(bias);
            let x = Tensor::rand([3, 64, 6], (Kind::Double, tch::Device::Cpu));
            let (losses, grads) = model.loss_and_gradients(&params, &x, &x).unwrap();
            let params: Vec<Tensor> =
                params.into_iter().map(|p| p.set_requires_grad(true)).collect();
            let reference = (model.forward(&params, &x) - &x).square().mean_dim(
                [1i64, 2].as_slice(),
                false,
                Kind::Double,
            );
            reference.sum(Kind::Double).backward();
            // In f64 the two differ only by the order of a few additions: far below 1e-12.
            assert!(f64::try_from((losses - reference.detach()).abs().max()).unwrap() < 1e-12);
            for (grad, param) in grads.iter().zip(&params) {
                let error = f64::try_from((grad - param.grad()).abs().max()).unwrap();
                let size = f64::try_from(param.grad().abs().max()).unwrap();
                assert!(error < 1e-12 * size.max(1.0), "bias {bias}: {error} against {size}");
            }
        }
    }
}
