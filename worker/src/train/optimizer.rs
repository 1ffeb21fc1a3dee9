//! The optimizers (`sgd`, `adam`, `adamw`, with PyTorch's update rules and defaults) and their
//! learning-rate schedules (linear warm-up, then constant, cosine or step decay). The state
//! (momentum, running moments) lives in tensors of the parameters' shapes, member dimension
//! included, so a group steps as one and a checkpoint can carry the state for a resume.

use devspec_protocol::params::{self, LrSchedule};
use tch::Tensor;

use super::spec::SpecError;

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Sgd { momentum: f64, weight_decay: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64, weight_decay: f64, decoupled: bool },
}

#[derive(Debug, Clone, PartialEq)]
enum Decay {
    Constant,
    Cosine,
    Step { every: u64, factor: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerSpec {
    rule: Rule,
    lr: f64,
    warmup: u64,
    decay: Decay,
    total_steps: u64,
}

impl OptimizerSpec {
    pub fn new(
        optimizer: &params::Optimizer,
        total_steps: u64,
    ) -> Result<OptimizerSpec, SpecError> {
        let adam = |args: &params::AdamArgs, decoupled: bool| -> Result<Rule, SpecError> {
            // Left out, PyTorch's pair, as the registry documents.
            let (beta1, beta2) = match args.betas.as_deref() {
                Some(&[beta1, beta2]) => (beta1, beta2),
                None => (0.9, 0.999),
                Some(_) => {
                    return Err(SpecError(format!(
                        "`{}.betas` must be a pair such as [0.9, 0.999]",
                        if decoupled { "adamw" } else { "adam" }
                    )));
                }
            };
            Ok(Rule::Adam {
                beta1,
                beta2,
                eps: args.eps,
                weight_decay: args.weight_decay,
                decoupled,
            })
        };
        let (rule, lr, schedule, warmup, decay_every, decay_factor) = match optimizer {
            params::Optimizer::Sgd(args) => (
                Rule::Sgd { momentum: args.momentum, weight_decay: args.weight_decay },
                args.lr,
                args.schedule,
                args.warmup,
                args.decay_every,
                args.decay_factor,
            ),
            params::Optimizer::Adam(args) | params::Optimizer::Adamw(args) => (
                adam(args, matches!(optimizer, params::Optimizer::Adamw(_)))?,
                args.lr,
                args.schedule,
                args.warmup,
                args.decay_every,
                args.decay_factor,
            ),
        };
        let decay = match schedule {
            LrSchedule::Cosine => Decay::Cosine,
            LrSchedule::StepDecay => Decay::Step {
                every: match decay_every {
                    Some(every) => u64::try_from(every).unwrap_or(1).max(1),
                    None => {
                        return Err(SpecError(
                            "`schedule = step_decay` needs `decay_every`".into(),
                        ));
                    }
                },
                factor: decay_factor,
            },
            LrSchedule::Constant => Decay::Constant,
        };
        Ok(OptimizerSpec {
            rule,
            lr,
            warmup: u64::try_from(warmup).unwrap_or(0),
            decay,
            total_steps,
        })
    }

    /// The learning rate of step `t` (1 for the first update).
    pub fn lr_at(&self, t: u64) -> f64 {
        if t <= self.warmup {
            return self.lr * t as f64 / self.warmup as f64;
        }
        let after = (t - self.warmup) as f64;
        match self.decay {
            Decay::Constant => self.lr,
            Decay::Cosine => {
                let span = self.total_steps.saturating_sub(self.warmup).max(1) as f64;
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * after / span).cos())
            }
            Decay::Step { every, factor } => {
                self.lr * factor.powi(i32::try_from((t - self.warmup) / every).unwrap_or(i32::MAX))
            }
        }
    }

    /// The same optimizer with no learning rate: what members of one group must share.
    pub fn without_lr(&self) -> OptimizerSpec {
        OptimizerSpec { lr: 0.0, ..self.clone() }
    }

    /// The names of the state a parameter carries (`exp_avg`, ...), as PyTorch calls them.
    pub fn state_names(&self) -> &'static [&'static str] {
        match self.rule {
            Rule::Sgd { momentum, .. } if momentum > 0.0 => &["momentum_buffer"],
            Rule::Sgd { .. } => &[],
            Rule::Adam { .. } => &["exp_avg", "exp_avg_sq"],
        }
    }
}

pub struct Optimizer {
    /// Each member's optimizer; they differ at most in their learning rates.
    pub specs: Vec<OptimizerSpec>,
    /// Per parameter, its state tensors in `state_names` order.
    pub state: Vec<Vec<Tensor>>,
}

/// The learning rates of a group's members at one step.
enum Rates {
    /// One rate for all: multiplied as a number.
    Same(f64),
    /// Differing rates: multiplied as a `[members, 1, ...]` tensor. Either way each member's
    /// values are `x * f(lr)` rounded once, so a member's bytes do not depend on its group.
    PerMember(Vec<f64>),
}

impl Rates {
    /// `x * f(lr)`, each member by its own rate.
    fn times(&self, x: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
        match self {
            Rates::Same(lr) => x * f(*lr),
            Rates::PerMember(lrs) => x * Self::column(lrs, x, f),
        }
    }

    /// `x *= f(lr)` in place, each member by its own rate.
    fn scale(&self, x: &mut Tensor, f: impl Fn(f64) -> f64) {
        let _ = match self {
            Rates::Same(lr) => x.g_mul_scalar_(f(*lr)),
            Rates::PerMember(lrs) => x.g_mul_(&Self::column(lrs, x, f)),
        };
    }

    fn column(lrs: &[f64], like: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
        let values: Vec<f64> = lrs.iter().map(|&lr| f(lr)).collect();
        let mut shape = vec![1i64; like.dim()];
        shape[0] = values.len() as i64;
        Tensor::from_slice(&values)
            .to_kind(like.kind())
            .to_device(like.device())
            .view(shape.as_slice())
    }
}

impl Optimizer {
    pub fn new(specs: Vec<OptimizerSpec>, params: &[Tensor]) -> Optimizer {
        let count = specs[0].state_names().len();
        let state = params.iter().map(|p| (0..count).map(|_| p.zeros_like()).collect()).collect();
        Optimizer { specs, state }
    }

    /// Applies update `t` (1-based) to `params` (`[members, ...]`) from `grads`.
    pub fn step(&mut self, params: &mut [Tensor], grads: &[Tensor], t: u64) {
        let lrs: Vec<f64> = self.specs.iter().map(|spec| spec.lr_at(t)).collect();
        let rates = if lrs.iter().all(|lr| lr.to_bits() == lrs[0].to_bits()) {
            Rates::Same(lrs[0])
        } else {
            Rates::PerMember(lrs)
        };
        tch::no_grad(|| {
            for ((param, state), grad) in params.iter_mut().zip(&mut self.state).zip(grads) {
                match self.specs[0].rule {
                    Rule::Sgd { momentum, weight_decay } => {
                        let g = if weight_decay > 0.0 {
                            grad + &*param * weight_decay
                        } else {
                            grad.shallow_clone()
                        };
                        if momentum > 0.0 {
                            // PyTorch's buffer starts as the first gradient: m * 0 + g.
                            let buffer = &mut state[0];
                            let _ = buffer.g_mul_scalar_(momentum);
                            let _ = buffer.g_add_(&g);
                            let _ = param.g_sub_(&rates.times(buffer, |lr| lr));
                        } else {
                            let _ = param.g_sub_(&rates.times(&g, |lr| lr));
                        }
                    }
                    Rule::Adam { beta1, beta2, eps, weight_decay, decoupled } => {
                        let g = if weight_decay > 0.0 && !decoupled {
                            grad + &*param * weight_decay
                        } else {
                            grad.shallow_clone()
                        };
                        if weight_decay > 0.0 && decoupled {
                            rates.scale(param, |lr| 1.0 - lr * weight_decay);
                        }
                        let exponent = i32::try_from(t).unwrap_or(i32::MAX);
                        let (first, second) = state.split_at_mut(1);
                        let _ = first[0].lerp_(&g, 1.0 - beta1);
                        let _ = second[0].g_mul_scalar_(beta2);
                        let _ = second[0].addcmul_(&(&g * (1.0 - beta2)), &g);
                        let correction1 = 1.0 - beta1.powi(exponent);
                        let correction2 = 1.0 - beta2.powi(exponent);
                        let denom = second[0].sqrt() / correction2.sqrt() + eps;
                        let _ =
                            param.g_sub_(&rates.times(&(&first[0] / denom), |lr| lr / correction1));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(call: &serde_json::Value) -> OptimizerSpec {
        OptimizerSpec::new(&serde_json::from_value(call.clone()).unwrap(), 100).unwrap()
    }

    #[test]
    // 0.5, 1, 0.25: exact in binary, and the schedule's arithmetic on them is exact.
    #[allow(clippy::float_cmp)]
    fn schedules_warm_up_then_decay() {
        let cosine = spec(
            &serde_json::json!({"call": "adam", "args": {"lr": 1.0, "eps": 1e-8, "weight_decay": 0.0, "warmup": 10, "schedule": "cosine", "decay_factor": 0.1}}),
        );
        assert_eq!(cosine.lr_at(5), 0.5);
        assert_eq!(cosine.lr_at(10), 1.0);
        assert!((cosine.lr_at(55) - 0.5).abs() < 1e-12, "half way through the decay");
        assert!(cosine.lr_at(100).abs() < 1e-12, "zero at the last step");
        let step = spec(
            &serde_json::json!({"call": "sgd", "args": {"lr": 1.0, "momentum": 0.0, "weight_decay": 0.0, "warmup": 0, "schedule": "step_decay", "decay_every": 30, "decay_factor": 0.5}}),
        );
        assert_eq!((step.lr_at(29), step.lr_at(30), step.lr_at(61)), (1.0, 0.5, 0.25));
    }

    #[test]
    fn adam_matches_its_closed_form_first_step() {
        // After one step from zero moments, Adam moves each weight by lr * g / (|g| + eps').
        let mut param = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        (&param * &param).sum(tch::Kind::Double).backward();
        let mut optimizer = Optimizer::new(
            vec![spec(
                &serde_json::json!({"call": "adam", "args": {"lr": 0.1, "eps": 1e-8, "weight_decay": 0.0, "warmup": 0, "schedule": "constant", "decay_factor": 0.1}}),
            )],
            &[param.shallow_clone()],
        );
        let grad = param.grad();
        optimizer.step(std::slice::from_mut(&mut param), &[grad], 1);
        let moved: Vec<f64> = Vec::try_from(param.detach()).unwrap();
        // g = 2w = [2, -4]; the step is lr * sign(g) up to eps (1e-8 / |g|, far below 1e-9).
        assert!((moved[0] - 0.9).abs() < 1e-9 && (moved[1] + 1.9).abs() < 1e-9, "{moved:?}");
    }
}
