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
//! The sampler works on flat buffers ([`Layout`]): every sampled parameter of every member in
//! one tensor, so that a step is a handful of operations whatever the model's parameter count
//! (a transformer has dozens of parameter tensors; one operation per tensor and term cost more in
//! dispatch than in arithmetic, and all of it ran between the members' passes, on one thread).
//! Every operation is elementwise, and each per-member sum is taken over the same contiguous
//! `[members, ...]` block as the parameter alone: a number's bytes are those of the
//! per-parameter computation.
//!
//! The step size, the localization and `n_beta` are per row (chain), so that a calibration's
//! cells run as one computation; the sampler's kind and its other settings are shared. Each
//! row's values are spread over its elements, so a row's arithmetic, and its bytes, do not
//! depend on its group.

use tch::{Kind, Tensor};

use super::spec::SamplerSpec;

/// Where the sampled parameters lie in a flat buffer: parameter after parameter, each as it is
/// stored alone (`[members, ...]`, member after member), so each parameter is a contiguous view.
pub struct Layout {
    members: i64,
    /// Per sampled parameter: its offset in the buffer, its length (every member's) and shape.
    segments: Vec<(i64, i64, Vec<i64>)>,
}

impl Layout {
    /// The layout of `params` (each `[members, ...]`).
    pub fn new(params: &[&Tensor]) -> Layout {
        let members = params.first().map_or(1, |p| p.size()[0]);
        let mut offset = 0;
        let segments = params
            .iter()
            .map(|p| {
                let numel = p.numel() as i64;
                let segment = (offset, numel, p.size());
                offset += numel;
                segment
            })
            .collect();
        Layout { members, segments }
    }

    /// `params` (laid out as in [`Layout::new`]) one after another in one new buffer.
    pub fn flatten(params: &[&Tensor]) -> Tensor {
        Tensor::cat(&params.iter().map(|p| p.reshape([-1])).collect::<Vec<_>>(), 0)
    }

    /// Each parameter's view into `flat`, in its shape.
    pub fn views(&self, flat: &Tensor) -> Vec<Tensor> {
        self.segments
            .iter()
            .map(|(offset, numel, shape)| flat.narrow(0, *offset, *numel).view(shape.as_slice()))
            .collect()
    }

    /// Copies `params` (one per segment, shaped like it) into `flat`.
    pub fn fill(flat: &mut Tensor, params: &[&Tensor]) {
        // Detached: a by-hand gradient may still carry the history of its parameters.
        let pieces: Vec<Tensor> = params.iter().map(|p| p.detach().reshape([-1])).collect();
        let _ = Tensor::cat_out(flat, &pieces, 0);
    }

    /// Each parameter's per-member sums `[members]` of `x` (a buffer), in f64, in order.
    pub fn per_member_sums(&self, x: &Tensor) -> Vec<Tensor> {
        self.segments
            .iter()
            .map(|&(offset, numel, _)| per_member_sum(&x.narrow(0, offset, numel), self.members))
            .collect()
    }

    /// A per-row column `[members]` spread over every element of a buffer.
    fn spread(&self, column: &Tensor) -> Tensor {
        let pieces: Vec<Tensor> = self
            .segments
            .iter()
            .map(|&(_, numel, _)| {
                column.view([self.members, 1]).expand([self.members, numel / self.members], false)
            })
            .map(|block| block.reshape([-1]))
            .collect();
        Tensor::cat(&pieces, 0)
    }
}

pub struct Sampler {
    /// The shared settings (kind, noise level, weight decay, box, the alpha and eps of RMSprop-SGLD).
    spec: SamplerSpec,
    layout: Layout,
    /// Per element, in the parameters' kind: its row's ε / 2, the noise's scale (σ √ε for SGLD,
    /// √ε for RMSprop-SGLD), γ and `n_beta`.
    half_lr: Tensor,
    noise_scale: Tensor,
    localization: Tensor,
    nbeta: Tensor,
    /// Per row `[rows]`, in f64, for the potential: `n_beta` and γ / 2.
    nbeta_f64: Tensor,
    half_localization_f64: Tensor,
    /// Per element, in f64, for the acceptance: twice the proposal's variance per unit of
    /// preconditioner (2 ε σ² for SGLD, 2 ε for RMSprop-SGLD).
    two_variance_f64: Tensor,
    /// The running mean of squared gradients (RMSprop-SGLD), per element.
    square_mean: Option<Tensor>,
}

/// One step's proposal, kept for the acceptance check.
pub struct Step {
    /// ∇U at the start of the step, per element.
    pub drift: Tensor,
    /// The preconditioner used (`None`: the identity, SGLD's).
    pub preconditioner: Option<Tensor>,
}

impl Sampler {
    /// A sampler of `rows` (each row's sampler and `n_beta`; all rows share the first's kind and
    /// settings other than lr and localization) for the sampled parameters laid out in `layout`,
    /// in `like`'s kind and on its device.
    pub fn new(rows: &[(SamplerSpec, f64)], layout: Layout, like: &Tensor) -> Sampler {
        let spec = rows[0].0;
        let (kind, device) = (like.kind(), like.device());
        let column = |f: &dyn Fn(&(SamplerSpec, f64)) -> f64, kind: Kind| {
            let values: Vec<f64> = rows.iter().map(f).collect();
            Tensor::from_slice(&values).to_kind(kind).to_device(device)
        };
        let noise_level = match spec {
            SamplerSpec::Sgld { noise_level, .. } => noise_level,
            SamplerSpec::RmspropSgld { .. } => 1.0,
        };
        // ε σ² per row in f64, doubled per row before it is spread: the value each element
        // had when it was a per-row column.
        let two_variance = column(&|(s, _)| s.lr() * noise_level * noise_level, Kind::Double) * 2.0;
        Sampler {
            spec,
            half_lr: layout.spread(&column(&|(s, _)| s.lr() / 2.0, kind)),
            noise_scale: layout.spread(&column(&|(s, _)| noise_level * s.lr().sqrt(), kind)),
            localization: layout.spread(&column(&|(s, _)| s.localization(), kind)),
            nbeta: layout.spread(&column(&|(_, nbeta)| *nbeta, kind)),
            nbeta_f64: column(&|(_, nbeta)| *nbeta, Kind::Double),
            half_localization_f64: column(&|(s, _)| s.localization() / 2.0, Kind::Double),
            two_variance_f64: layout.spread(&two_variance),
            square_mean: None,
            layout,
        }
    }

    /// Where the sampled parameters lie in the buffers the sampler takes.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn weight_decay(&self) -> f64 {
        match self.spec {
            SamplerSpec::Sgld { weight_decay, .. } => weight_decay,
            SamplerSpec::RmspropSgld { .. } => 0.0,
        }
    }

    /// ∇U(w) from the loss gradient `grad` (buffers).
    pub fn drift(&self, w: &Tensor, anchor: &Tensor, grad: &Tensor) -> Tensor {
        let mut drift = grad * &self.nbeta + (w - anchor) * &self.localization;
        if self.weight_decay() > 0.0 {
            drift += w * self.weight_decay();
        }
        drift
    }

    /// U(w) per row `[rows]`, from its losses and the sampled parameters (buffers).
    pub fn potential(&self, losses: &Tensor, w: &Tensor, anchor: &Tensor) -> Tensor {
        let mut u = losses.to_kind(Kind::Double) * &self.nbeta_f64;
        let offsets = self.layout.per_member_sums(&(w - anchor).square());
        let norms = (self.weight_decay() > 0.0).then(|| self.layout.per_member_sums(&w.square()));
        for (index, offset) in offsets.iter().enumerate() {
            u += offset * &self.half_localization_f64;
            if let Some(norms) = &norms {
                u += &norms[index] * (self.weight_decay() / 2.0);
            }
        }
        u
    }

    /// Moves the sampled parameters `w` (a buffer) one step, in place, from their loss
    /// gradients and standard normal `noise`; returns what the acceptance check needs.
    pub fn step(&mut self, w: &mut Tensor, anchor: &Tensor, grad: &Tensor, noise: &Tensor) -> Step {
        tch::no_grad(|| {
            let drift = self.drift(w, anchor, grad);
            let preconditioner = match self.spec {
                SamplerSpec::Sgld { .. } => {
                    let _ = w.g_sub_(&(&drift * &self.half_lr));
                    let _ = w.g_add_(&(noise * &self.noise_scale));
                    None
                }
                SamplerSpec::RmspropSgld { alpha, eps, .. } => {
                    let square = drift.square();
                    let mean = match self.square_mean.take() {
                        Some(mean) => mean * alpha + square * (1.0 - alpha),
                        None => square,
                    };
                    let preconditioner = (mean.sqrt() + eps).reciprocal();
                    self.square_mean = Some(mean);
                    let _ = w.g_sub_(&(&preconditioner * &drift * &self.half_lr));
                    let _ = w.g_add_(&(noise * preconditioner.sqrt() * &self.noise_scale));
                    Some(preconditioner)
                }
            };
            if let SamplerSpec::Sgld { bounding_box: Some(half_width), .. } = self.spec {
                let low = anchor - half_width;
                let high = anchor + half_width;
                let clamped = w.clamp_tensor(Some(&low), Some(&high));
                w.copy_(&clamped);
            }
            Step { drift, preconditioner }
        })
    }

    /// The log MALA acceptance probability of each row's step from `before` to `after`
    /// (`[rows]`): log min(1, exp(U(w) - U(w') + log q(w | w') - log q(w' | w))), q the
    /// step's Gaussian proposal, with `after_drift` ∇U at w' on the same minibatch (buffers).
    pub fn log_acceptance(
        &self,
        step: &Step,
        before: &Tensor,
        after: &Tensor,
        u_before: &Tensor,
        u_after: &Tensor,
        after_drift: &Tensor,
    ) -> Tensor {
        let (forward, backward, weight) = match &step.preconditioner {
            None => (
                after - before + &step.drift * &self.half_lr,
                before - after + after_drift * &self.half_lr,
                self.two_variance_f64.reciprocal(),
            ),
            Some(g) => (
                after - before + g * &step.drift * &self.half_lr,
                before - after + g * after_drift * &self.half_lr,
                (g.to_kind(Kind::Double) * &self.two_variance_f64).reciprocal(),
            ),
        };
        let square = |x: Tensor| x.to_kind(Kind::Double).square() * &weight;
        let mut log_q_forward = u_before.zeros_like();
        let mut log_q_backward = u_before.zeros_like();
        let forward_sums = self.layout.per_member_sums(&square(forward));
        let backward_sums = self.layout.per_member_sums(&square(backward));
        for (forward, backward) in forward_sums.iter().zip(&backward_sums) {
            log_q_forward -= forward;
            log_q_backward -= backward;
        }
        let log_ratio = u_before - u_after + log_q_backward - log_q_forward;
        log_ratio.clamp_max(0.0)
    }
}

/// The sums of `x` (`[members x n]`, member after member) per member, in double precision.
pub fn per_member_sum(x: &Tensor, members: i64) -> Tensor {
    x.to_kind(Kind::Double).reshape([members, -1]).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Double,
    )
}
