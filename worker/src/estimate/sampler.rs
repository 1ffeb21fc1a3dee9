//! The samplers of the localized tempered posterior p(w) ∝ exp(-U(w)), with the potential
//! `U(w) = n_beta L(w) + (γ/2) ||w - w*||²` (`+ (δ/2) ||w||²` with SGLD's weight decay δ), one step
//! for every member (chain) of a group at once:
//!
//! - SGLD: w' = w - (ε/2) ∇U(w) + σ √ε ξ, ξ ~ N(0, I) (σ the noise level, 1 for exact SGLD),
//!   kept within a box around w* when asked.
//! - RMSprop-SGLD: the same, preconditioned by G = 1 / (√V + eps), V the running mean of the
//!   squared potential gradient: w' = w - (ε/2) G ∇U(w) + √(ε G) ξ.
//!
//! Each step is also a Metropolis-adjusted Langevin (MALA) proposal; [`Sampler::log_acceptance`]
//! gives its log acceptance probability, the diagnostic of a step size that is too large.
//!
//! The step size, the localization and `n_beta` are per row (chain), so that a calibration's
//! cells run as one computation; the sampler's kind and its other settings are shared. Each
//! row's values are tensors whether or not its neighbours differ, so a row's arithmetic, and
//! its bytes, do not depend on its group.

use tch::{Device, Kind, Tensor};

use super::spec::SamplerSpec;

pub struct Sampler {
    /// The shared settings (kind, noise level, weight decay, box, the alpha and eps of RMSprop-SGLD).
    spec: SamplerSpec,
    /// Per row `[rows]`, in the parameters' kind: ε / 2, the noise's scale (σ √ε for SGLD,
    /// √ε for RMSprop-SGLD), γ and `n_beta`.
    half_lr: Tensor,
    noise_scale: Tensor,
    localization: Tensor,
    nbeta: Tensor,
    /// Per row `[rows]`, in f64, for the potential and the acceptance: `n_beta`, γ / 2, and the
    /// proposal's variance per unit of preconditioner (ε σ² for SGLD, ε for RMSprop-SGLD).
    nbeta_f64: Tensor,
    half_localization_f64: Tensor,
    variance_f64: Tensor,
    /// The running mean of squared gradients (RMSprop-SGLD), per sampled parameter.
    square_mean: Vec<Option<Tensor>>,
}

/// One step's proposal, kept for the acceptance check.
pub struct Step {
    /// ∇U at the start of the step, per sampled parameter.
    pub drift: Vec<Tensor>,
    /// The preconditioner used (`None`: the identity, SGLD's).
    pub preconditioner: Vec<Option<Tensor>>,
}

impl Sampler {
    /// A sampler of `rows` (each row's sampler and `n_beta`; all rows share the first's kind and
    /// settings other than lr and localization) for `parameters` sampled parameters.
    pub fn new(
        rows: &[(SamplerSpec, f64)],
        parameters: usize,
        kind: Kind,
        device: Device,
    ) -> Sampler {
        let spec = rows[0].0;
        let column = |f: &dyn Fn(&(SamplerSpec, f64)) -> f64, kind: Kind| {
            let values: Vec<f64> = rows.iter().map(f).collect();
            Tensor::from_slice(&values).to_kind(kind).to_device(device)
        };
        let noise_level = match spec {
            SamplerSpec::Sgld { noise_level, .. } => noise_level,
            SamplerSpec::RmspropSgld { .. } => 1.0,
        };
        Sampler {
            spec,
            half_lr: column(&|(s, _)| s.lr() / 2.0, kind),
            noise_scale: column(&|(s, _)| noise_level * s.lr().sqrt(), kind),
            localization: column(&|(s, _)| s.localization(), kind),
            nbeta: column(&|(_, nbeta)| *nbeta, kind),
            nbeta_f64: column(&|(_, nbeta)| *nbeta, Kind::Double),
            half_localization_f64: column(&|(s, _)| s.localization() / 2.0, Kind::Double),
            variance_f64: column(&|(s, _)| s.lr() * noise_level * noise_level, Kind::Double),
            square_mean: (0..parameters).map(|_| None).collect(),
        }
    }

    fn weight_decay(&self) -> f64 {
        match self.spec {
            SamplerSpec::Sgld { weight_decay, .. } => weight_decay,
            SamplerSpec::RmspropSgld { .. } => 0.0,
        }
    }

    /// ∇U(w) for one parameter, from the loss gradient `grad`.
    pub fn drift(&self, w: &Tensor, anchor: &Tensor, grad: &Tensor) -> Tensor {
        let mut drift =
            grad * per_row(&self.nbeta, w) + (w - anchor) * per_row(&self.localization, w);
        if self.weight_decay() > 0.0 {
            drift += w * self.weight_decay();
        }
        drift
    }

    /// U(w) per row `[rows]`, from its losses and the sampled parameters.
    pub fn potential(&self, losses: &Tensor, ws: &[&Tensor], anchors: &[&Tensor]) -> Tensor {
        let mut u = losses.to_kind(Kind::Double) * &self.nbeta_f64;
        for (w, anchor) in ws.iter().zip(anchors) {
            u += per_member_sum(&(*w - *anchor).square()) * &self.half_localization_f64;
            if self.weight_decay() > 0.0 {
                u += per_member_sum(&w.square()) * (self.weight_decay() / 2.0);
            }
        }
        u
    }

    /// Moves the sampled parameters `ws` one step, in place, from their loss gradients and
    /// standard normal `noise`; returns what the acceptance check needs.
    pub fn step(
        &mut self,
        ws: &mut [&mut Tensor],
        anchors: &[&Tensor],
        grads: &[&Tensor],
        noise: &[Tensor],
    ) -> Step {
        let mut drifts = Vec::with_capacity(ws.len());
        let mut preconditioners = Vec::with_capacity(ws.len());
        tch::no_grad(|| {
            for (index, w) in ws.iter_mut().enumerate() {
                let drift = self.drift(w, anchors[index], grads[index]);
                let (half_lr, noise_scale) =
                    (per_row(&self.half_lr, w), per_row(&self.noise_scale, w));
                let preconditioner = match self.spec {
                    SamplerSpec::Sgld { .. } => {
                        let _ = w.g_sub_(&(&drift * &half_lr));
                        let _ = w.g_add_(&(&noise[index] * &noise_scale));
                        None
                    }
                    SamplerSpec::RmspropSgld { alpha, eps, .. } => {
                        let square = drift.square();
                        let mean = match self.square_mean[index].take() {
                            Some(mean) => mean * alpha + square * (1.0 - alpha),
                            None => square,
                        };
                        let preconditioner = (mean.sqrt() + eps).reciprocal();
                        self.square_mean[index] = Some(mean);
                        let _ = w.g_sub_(&(&preconditioner * &drift * &half_lr));
                        let _ = w.g_add_(&(&noise[index] * preconditioner.sqrt() * &noise_scale));
                        Some(preconditioner)
                    }
                };
                if let SamplerSpec::Sgld { bounding_box: Some(half_width), .. } = self.spec {
                    let low = anchors[index] - half_width;
                    let high = anchors[index] + half_width;
                    let clamped = w.clamp_tensor(Some(&low), Some(&high));
                    w.copy_(&clamped);
                }
                drifts.push(drift);
                preconditioners.push(preconditioner);
            }
        });
        Step { drift: drifts, preconditioner: preconditioners }
    }

    /// The log MALA acceptance probability of each row's step from `before` to `after`
    /// (`[rows]`): log min(1, exp(U(w) - U(w') + log q(w | w') - log q(w' | w))), q the
    /// step's Gaussian proposal, with `after_drift` ∇U at w' on the same minibatch.
    pub fn log_acceptance(
        &self,
        step: &Step,
        before: &[Tensor],
        after: &[&Tensor],
        u_before: &Tensor,
        u_after: &Tensor,
        after_drift: &[Tensor],
    ) -> Tensor {
        let mut log_q_forward = u_before.zeros_like();
        let mut log_q_backward = u_before.zeros_like();
        for index in 0..before.len() {
            let (w, w_new) = (&before[index], after[index]);
            let half_lr = per_row(&self.half_lr, w);
            let two_variance = per_row(&self.variance_f64, w) * 2.0;
            let (forward, backward, weight) = match &step.preconditioner[index] {
                None => (
                    w_new - w + &step.drift[index] * &half_lr,
                    w - w_new + &after_drift[index] * &half_lr,
                    two_variance.reciprocal(),
                ),
                Some(g) => (
                    w_new - w + g * &step.drift[index] * &half_lr,
                    w - w_new + g * &after_drift[index] * &half_lr,
                    (g.to_kind(Kind::Double) * two_variance).reciprocal(),
                ),
            };
            log_q_forward -= per_member_sum(&(forward.to_kind(Kind::Double).square() * &weight));
            log_q_backward -= per_member_sum(&(backward.to_kind(Kind::Double).square() * &weight));
        }
        let log_ratio = u_before - u_after + log_q_backward - log_q_forward;
        log_ratio.clamp_max(0.0)
    }
}

/// A per-row column `[rows]` shaped to broadcast against `like` (`[rows, ...]`).
fn per_row(column: &Tensor, like: &Tensor) -> Tensor {
    let mut shape = vec![1i64; like.dim()];
    shape[0] = -1;
    column.view(shape.as_slice())
}

/// Sums every dimension but the first (the member's), in double precision.
pub fn per_member_sum(x: &Tensor) -> Tensor {
    let members = x.size()[0];
    x.to_kind(Kind::Double).reshape([members, -1]).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Double,
    )
}
