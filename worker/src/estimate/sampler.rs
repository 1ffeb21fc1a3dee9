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

use tch::{Device, Kind, Tensor};

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
            .map(|&(offset, numel, _)| {
                let block = x.narrow(0, offset, numel);
                // A GPU's reduction may order its sums by the block's alignment: there, each
                // block is summed from a fresh tensor, as each parameter was before.
                let block = if x.device() == Device::Cpu { block } else { block.copy() };
                per_member_sum(&block, self.members)
            })
            .collect()
    }

    /// A per-row column `[members]` spread over every element of a buffer; where every row has
    /// the same value (the common case: one sampler setting, no companion), that value alone,
    /// which broadcasts to the same numbers without a buffer-sized tensor.
    fn spread(&self, column: &Tensor) -> Tensor {
        let first = column.get(0);
        if column.eq_tensor(&first).all().int64_value(&[]) == 1 {
            return first;
        }
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

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::{Layout, Sampler};
    use crate::estimate::spec::SamplerSpec;

    /// Three members' parameters of two shapes, with gradients, anchors and noise.
    fn setting() -> (Vec<Tensor>, Vec<Tensor>, Vec<Tensor>, Vec<Tensor>) {
        tch::manual_seed(3);
        let options = (Kind::Float, Device::Cpu);
        let shapes: [&[i64]; 2] = [&[3, 4, 5], &[3, 7]];
        let make = |scale: f64| -> Vec<Tensor> {
            shapes.iter().map(|s| Tensor::randn(*s, options) * scale).collect()
        };
        let ws = make(1.0);
        // Anchors near the parameters, so that the box below clamps some elements only.
        let anchors = ws.iter().zip(make(0.02)).map(|(w, offset)| w + offset).collect();
        (ws, anchors, make(0.5), make(1.0))
    }

    /// Three rows, their lr and localization differing (a calibration's) or all alike.
    fn rows(rmsprop: bool, alike: bool) -> Vec<(SamplerSpec, f64)> {
        (0..3)
            .map(|r| {
                let k = if alike { 1.0 } else { f64::from(r + 1) };
                let (lr, localization) = (1e-3 * k, 10.0 / k);
                let spec = if rmsprop {
                    SamplerSpec::RmspropSgld { lr, localization, alpha: 0.9, eps: 0.1 }
                } else {
                    SamplerSpec::Sgld {
                        lr,
                        localization,
                        noise_level: 0.7,
                        weight_decay: 0.3,
                        bounding_box: Some(0.05),
                    }
                };
                (spec, if alike { 50.0 } else { 50.0 + f64::from(r) })
            })
            .collect()
    }

    /// The per-parameter computation the flat buffers replace, written out: each parameter's
    /// own operations with per-row columns broadcast.
    fn reference_step(
        rows: &[(SamplerSpec, f64)],
        ws: &[Tensor],
        anchors: &[Tensor],
        grads: &[Tensor],
        noise: &[Tensor],
        losses: &Tensor,
    ) -> (Vec<Tensor>, Tensor) {
        let column = |f: &dyn Fn(&(SamplerSpec, f64)) -> f64, kind: Kind| {
            Tensor::from_slice(&rows.iter().map(f).collect::<Vec<_>>()).to_kind(kind)
        };
        let per_row = |c: &Tensor, like: &Tensor| {
            let mut shape = vec![1i64; like.dim()];
            shape[0] = -1;
            c.view(shape.as_slice())
        };
        let (wd, box_width, noise_level) = match rows[0].0 {
            SamplerSpec::Sgld { weight_decay, bounding_box, noise_level, .. } => {
                (weight_decay, bounding_box, noise_level)
            }
            SamplerSpec::RmspropSgld { .. } => (0.0, None, 1.0),
        };
        let half_lr = column(&|(s, _)| s.lr() / 2.0, Kind::Float);
        let noise_scale = column(&|(s, _)| noise_level * s.lr().sqrt(), Kind::Float);
        let localization = column(&|(s, _)| s.localization(), Kind::Float);
        let nbeta = column(&|(_, n)| *n, Kind::Float);
        let half_loc64 = column(&|(s, _)| s.localization() / 2.0, Kind::Double);
        let mut u = losses.to_kind(Kind::Double) * column(&|(_, n)| *n, Kind::Double);
        let mut moved = Vec::new();
        for i in 0..ws.len() {
            let (w, anchor) = (&ws[i], &anchors[i]);
            let sum = |x: &Tensor| {
                x.to_kind(Kind::Double).reshape([3, -1]).sum_dim_intlist(1, false, Kind::Double)
            };
            u += sum(&(w - anchor).square()) * &half_loc64;
            if wd > 0.0 {
                u += sum(&w.square()) * (wd / 2.0);
            }
            let mut drift =
                &grads[i] * per_row(&nbeta, w) + (w - anchor) * per_row(&localization, w);
            if wd > 0.0 {
                drift += w * wd;
            }
            let mut w = w.copy();
            match rows[0].0 {
                SamplerSpec::Sgld { .. } => {
                    let _ = w.g_sub_(&(&drift * per_row(&half_lr, &w)));
                    let _ = w.g_add_(&(&noise[i] * per_row(&noise_scale, &w)));
                }
                SamplerSpec::RmspropSgld { eps, .. } => {
                    let g = (drift.square().sqrt() + eps).reciprocal();
                    let _ = w.g_sub_(&(&g * &drift * per_row(&half_lr, &w)));
                    let _ = w.g_add_(&(&noise[i] * g.sqrt() * per_row(&noise_scale, &w)));
                }
            }
            if let Some(h) = box_width {
                w = w.clamp_tensor(Some(&(anchor - h)), Some(&(anchor + h)));
            }
            moved.push(w);
        }
        (moved, u)
    }

    fn refs(v: &[Tensor]) -> Vec<&Tensor> {
        v.iter().collect()
    }

    /// A step and the potential on flat buffers have the bytes of the per-parameter
    /// computation (the promise that let the buffers in without relocking a study).
    #[test]
    fn the_flat_buffers_give_the_per_parameter_bytes() {
        for (rmsprop, alike) in [(false, false), (true, false), (false, true), (true, true)] {
            let (ws, anchors, grads, noise) = setting();
            let rows = rows(rmsprop, alike);
            let layout = Layout::new(&refs(&ws));
            let (mut w, anchor) = (Layout::flatten(&refs(&ws)), Layout::flatten(&refs(&anchors)));
            let (grad, noise_flat) =
                (Layout::flatten(&refs(&grads)), Layout::flatten(&refs(&noise)));
            let mut sampler = Sampler::new(&rows, layout, &w);
            let losses = Tensor::from_slice(&[0.5f32, 0.25, 0.125]);
            let u = sampler.potential(&losses, &w, &anchor);
            let _ = sampler.step(&mut w, &anchor, &grad, &noise_flat);
            let (expected, expected_u) =
                reference_step(&rows, &ws, &anchors, &grads, &noise, &losses);
            assert!(w.equal(&Layout::flatten(&refs(&expected))), "rmsprop {rmsprop}: the step");
            assert!(u.equal(&expected_u), "rmsprop {rmsprop}: the potential {u} vs {expected_u}");
        }
    }
}
