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

use tch::{Kind, Tensor};

use super::spec::SamplerSpec;

pub struct Sampler {
    pub spec: SamplerSpec,
    pub nbeta: f64,
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
    pub fn new(spec: SamplerSpec, nbeta: f64, parameters: usize) -> Sampler {
        Sampler { spec, nbeta, square_mean: (0..parameters).map(|_| None).collect() }
    }

    fn localization(&self) -> f64 {
        match self.spec {
            SamplerSpec::Sgld { localization, .. }
            | SamplerSpec::RmspropSgld { localization, .. } => localization,
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
        let mut drift = grad * self.nbeta + (w - anchor) * self.localization();
        if self.weight_decay() > 0.0 {
            drift += w * self.weight_decay();
        }
        drift
    }

    /// U(w) per member `[members]`, from its losses and the sampled parameters.
    pub fn potential(&self, losses: &Tensor, ws: &[&Tensor], anchors: &[&Tensor]) -> Tensor {
        let mut u = losses.to_kind(Kind::Double) * self.nbeta;
        for (w, anchor) in ws.iter().zip(anchors) {
            let far = per_member_sum(&(*w - *anchor).square());
            u += far * (self.localization() / 2.0);
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
        let lr = self.spec.lr();
        let mut drifts = Vec::with_capacity(ws.len());
        let mut preconditioners = Vec::with_capacity(ws.len());
        tch::no_grad(|| {
            for (index, w) in ws.iter_mut().enumerate() {
                let drift = self.drift(w, anchors[index], grads[index]);
                let preconditioner = match self.spec {
                    SamplerSpec::Sgld { noise_level, .. } => {
                        let _ = w.g_sub_(&(&drift * (lr / 2.0)));
                        let _ = w.g_add_(&(&noise[index] * (noise_level * lr.sqrt())));
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
                        let _ = w.g_sub_(&(&preconditioner * &drift * (lr / 2.0)));
                        let _ = w.g_add_(&(&noise[index] * (&preconditioner * lr).sqrt()));
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

    /// The log MALA acceptance probability of each member's step from `before` to `after`
    /// (`[members]`): log min(1, exp(U(w) - U(w') + log q(w | w') - log q(w' | w))), q the
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
        let lr = self.spec.lr();
        let variance = match self.spec {
            SamplerSpec::Sgld { noise_level, .. } => lr * noise_level * noise_level,
            SamplerSpec::RmspropSgld { .. } => lr,
        };
        let mut log_q_forward = u_before.zeros_like();
        let mut log_q_backward = u_before.zeros_like();
        for index in 0..before.len() {
            let (w, w_new) = (&before[index], after[index]);
            let (forward, backward, weight) = match &step.preconditioner[index] {
                None => (
                    w_new - w + &step.drift[index] * (lr / 2.0),
                    w - w_new + &after_drift[index] * (lr / 2.0),
                    w.ones_like() / (2.0 * variance),
                ),
                Some(g) => (
                    w_new - w + g * &step.drift[index] * (lr / 2.0),
                    w - w_new + g * &after_drift[index] * (lr / 2.0),
                    (g * (2.0 * variance)).reciprocal(),
                ),
            };
            log_q_forward -= per_member_sum(&(forward.square() * &weight));
            log_q_backward -= per_member_sum(&(backward.square() * &weight));
        }
        let log_ratio = u_before - u_after + log_q_backward - log_q_forward;
        log_ratio.clamp_max(0.0)
    }
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
