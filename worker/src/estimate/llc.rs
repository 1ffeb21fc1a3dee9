//! The LLC's chains: for a group of checkpoints (members of one request) and `chains` chains
//! each, every chain of every checkpoint sampled as one batched computation, `[checkpoints x
//! chains, ...]` parameters in the models' batched form (a large model's in several on one CPU
//! thread, [`RUN_PARAMETERS`]). Each chain draws its noise from its own
//! stream, named by (seed, chain), and the minibatches from the step's seed (shared by the chains
//! by default, one stream per chain with `independent_batches`), so a checkpoint's numbers do not
//! depend on the group it was computed in.
//!
//! Per chain: start at the checkpoint w*, `burnin` discarded steps, then `draws` recorded
//! minibatch losses, one every `steps_between_draws` steps (each the loss at the step's start,
//! as devinterp records it). The loss at w* ("init loss") is computed once per checkpoint over
//! the whole data set (or `init_loss_batches` minibatches), before sampling.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Device, Kind, Tensor};

use super::EstimateError;
use super::sampler::{Layout, Sampler};
use super::spec::{EstimateSpec, LlcSpec, SamplerSpec};
use crate::train::data::{DataSpec, Samples};
use crate::train::epoch_order::EpochOrder;
use crate::train::loss::Loss;
use crate::train::member_threads;
use crate::train::model::Arch;
use crate::train::rng::{Purpose, stream};
use crate::train::tms_lanes::TmsLanes;
use crate::train::tms_workspace::TmsWorkspace;

/// What the chains of one checkpoint produced.
#[derive(Debug, Clone)]
pub struct Chains {
    pub nbeta: f64,
    pub init_loss: f64,
    pub batch_size: usize,
    /// The localization strength γ the chains were pulled to the checkpoint with.
    pub localization: f64,
    /// Each chain's recorded losses (a diverged chain's stop at its divergence).
    pub traces: Vec<Vec<f64>>,
    /// With each recorded loss, half the squared distance ½‖w − w*‖² of the sampled
    /// parameters from the checkpoint, at the same point.
    pub distances: Vec<Vec<f64>>,
    /// The step at which a chain's loss stopped being finite.
    pub diverged: Vec<Option<u64>>,
    /// Each chain's mean MALA acceptance probability over its checks.
    pub acceptance: Vec<Option<f64>>,
    /// With `companion`: every chain again at half the localization, with its noise and
    /// minibatches.
    pub companion: Option<Companion>,
}

/// The chains of a checkpoint sampled again at another localization.
#[derive(Debug, Clone)]
pub struct Companion {
    pub localization: f64,
    pub traces: Vec<Vec<f64>>,
    pub diverged: Vec<Option<u64>>,
}

/// A companion's localization, as a fraction of the estimate's.
pub const COMPANION_FRACTION: f64 = 0.5;

/// Samples the chains of every checkpoint in `anchors` (per checkpoint, its parameters as
/// `[1, ...]` tensors in the model's order, and its `llc`). The members share `spec` and their
/// `llc` settings but for the sampler's lr and localization and `n_beta`
/// ([`EstimateSpec::batch_key`]).
pub fn sample(
    spec: &EstimateSpec,
    anchors: &[(&LlcSpec, Vec<Tensor>)],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<Chains>, EstimateError> {
    // On more than one libtorch thread ATen may split a chain's sums over its parameters over
    // the threads when the chain runs alone and not when it runs beside others, which would
    // change their last bits (the large-model test did not show it at two threads, but nothing
    // promises it): the computation stays whole there, as before the split existed.
    let limit = if tch::get_num_threads() == 1 { RUN_PARAMETERS } else { i64::MAX };
    sample_in_runs(spec, anchors, progress, limit).map(|(chains, _)| chains)
}

/// The most parameters (a row's count times the rows) that one computation samples side by side
/// on one CPU thread, on autograd; more rows run in several computations one after another, each
/// checkpoint's rows together while they fit and a few of its rows at a time when they do not
/// (one at a time past 2^19 parameters, a row larger than this alone).
/// Batching pays libtorch's per-operation cost once for all rows, which is what small models
/// spend their time on, but a large model's rows side by side only make every pass's tensors
/// bigger: measured on the grokking MLP `[118, h, 59]` with 4 chains, one thread (the worker's
/// allocator settings, `devspec`'s `KEEP_FREED_MEMORY`), the 4 chains as one computation against
/// one at a time: 0.63 s against 1.0 s at 1e4 parameters, 1.9 s against 1.8 s at 1e5, 2.9 s
/// against 2.7 s at 3e5, 3.9 s against 3.4 s at 1e6, 5.3 s against 4.9 s at 3e6 and 12.3 s
/// against 7.7 s at 1e7 (230 MB per activation side by side). On one thread how many rows run
/// together changes no number (`runs_of_a_few_rows_give_the_bytes_of_one_run`, and
/// `a_large_model_in_runs_gives_the_bytes_of_one_run` at this limit): this is speed alone.
const RUN_PARAMETERS: i64 = 1 << 20;

/// How many rows one computation samples: every row at once where the toy model's own paths
/// share their batches (the lanes, the workspace), for a transformer (each row's pass runs on
/// its own already, `member_threads`, so splitting would only idle threads) and on a GPU (where
/// batching pays at every size), else as many as `run_parameters` allows, at least one.
fn rows_per_run(
    spec: &EstimateSpec,
    llc: &LlcSpec,
    stacked: &[Tensor],
    run_parameters: i64,
) -> usize {
    if shares_batches(spec, llc)
        || spec.device != Device::Cpu
        || matches!(spec.model.arch, Arch::Transformer(_))
    {
        return usize::MAX;
    }
    let per_row: i64 = stacked.iter().map(|p| p.numel() as i64 / p.size()[0]).sum();
    usize::try_from(run_parameters / per_row.max(1)).unwrap_or(usize::MAX).max(1)
}

/// The computations of `checkpoints` x `per_checkpoint` rows, `per_run` rows at most in each:
/// per computation, its checkpoints and the rows of each it samples. Whole checkpoints while
/// one fits, a checkpoint's rows in order otherwise, so a row's company depends only on its own
/// checkpoint's settings and not on the siblings it was sent with.
fn runs(
    checkpoints: usize,
    per_checkpoint: usize,
    per_run: usize,
) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    if per_run >= per_checkpoint {
        let together = per_run / per_checkpoint;
        (0..checkpoints)
            .step_by(together)
            .map(|g| (g..(g + together).min(checkpoints), 0..per_checkpoint))
            .collect()
    } else {
        (0..checkpoints)
            .flat_map(|g| {
                (0..per_checkpoint)
                    .step_by(per_run)
                    .map(move |r| (g..g + 1, r..(r + per_run).min(per_checkpoint)))
            })
            .collect()
    }
}

/// Whether the toy model's chains share their minibatches' mean squared error (its lanes and
/// workspace paths, batched only).
fn shares_batches(spec: &EstimateSpec, llc: &LlcSpec) -> bool {
    llc.batched
        && spec.loss == Loss::MSE
        && !llc.independent_batches
        && matches!(spec.model.arch, Arch::Tms { .. })
}

/// [`sample`] in computations of at most `run_parameters`; also how many computations it made.
fn sample_in_runs(
    spec: &EstimateSpec,
    anchors: &[(&LlcSpec, Vec<Tensor>)],
    progress: &mut dyn FnMut(u64, u64),
    run_parameters: i64,
) -> Result<(Vec<Chains>, usize), EstimateError> {
    let llc = anchors[0].0;
    let (data, test_fraction) = spec.data_for(llc.data.as_ref())?;
    let pool = Pool::new(data, test_fraction, spec);
    let batch = llc
        .batch_size
        .or(spec.train_batch_size)
        .or(pool.size)
        .ok_or_else(|| {
            EstimateError::unfit("give `llc.batch_size`: fresh data has no size to default to")
        })?
        .min(pool.size.unwrap_or(usize::MAX));
    let samplers: Vec<(SamplerSpec, f64)> = anchors
        .iter()
        .map(|(llc, _)| {
            Ok((llc.sampler, llc.nbeta_value(batch, pool.size).map_err(EstimateError::from)?))
        })
        .collect::<Result<_, EstimateError>>()?;
    let chains = llc.chains;
    // Each parameter as [checkpoints, ...], for the loss at the checkpoints.
    let stacked: Vec<Tensor> = (0..anchors[0].1.len())
        .map(|i| {
            let rows: Vec<Tensor> = anchors
                .iter()
                .map(|(_, a)| a[i].to_kind(spec.kind).to_device(spec.device))
                .collect();
            Tensor::cat(&rows, 0)
        })
        .collect();
    let init_loss = init_losses(spec, &pool, &stacked, batch, llc)?;
    let setting = Setting { spec, llc, pool: &pool, batch };
    // Per checkpoint: its chains, then (with a companion) the same chains at half the
    // localization; a row's number within its checkpoint names its noise stream.
    let per_checkpoint = if llc.companion { 2 * chains } else { chains };
    let row = |g: usize, r: usize| -> (u64, (SamplerSpec, f64)) {
        let (sampler, nbeta) = samplers[g];
        let sampler = if r < chains {
            sampler
        } else {
            sampler.with_localization(sampler.localization() * COMPANION_FRACTION)
        };
        ((r % chains) as u64, (sampler, nbeta))
    };
    let per_run = if llc.batched { rows_per_run(spec, llc, &stacked, run_parameters) } else { 1 };
    let mut rows = Rows::default();
    let all = anchors.len() * per_checkpoint;
    // Progress in steps of the whole request, as if it were one computation, about a hundred
    // times in all however many computations it takes.
    let mut next_report = 0;
    let mut computations = 0;
    for (checkpoints, within) in runs(anchors.len(), per_checkpoint, per_run) {
        let part: Vec<Tensor> = stacked
            .iter()
            .map(|p| p.narrow(0, checkpoints.start as i64, checkpoints.len() as i64))
            .collect();
        let run_rows: Vec<(u64, (SamplerSpec, f64))> =
            checkpoints.flat_map(|g| within.clone().map(move |r| row(g, r))).collect();
        let (before, n, all) = (rows.traces.len() as u64, run_rows.len() as u64, all as u64);
        let mut run_progress = |done: u64, total: u64| {
            let step = (before * total + done * n) / all;
            if step >= next_report || step == total {
                next_report = step + (total / 100).max(1);
                progress(step, total);
            }
        };
        rows.extend(setting.run(&part, &run_rows, &mut run_progress)?);
        computations += 1;
    }
    let chains = (0..anchors.len())
        .map(|g| {
            let range = g * per_checkpoint..g * per_checkpoint + chains;
            let companion = llc.companion.then(|| {
                let range = g * per_checkpoint + chains..(g + 1) * per_checkpoint;
                Companion {
                    localization: samplers[g].0.localization() * COMPANION_FRACTION,
                    traces: rows.traces[range.clone()].to_vec(),
                    diverged: rows.diverged[range].to_vec(),
                }
            });
            Chains {
                nbeta: samplers[g].1,
                init_loss: init_loss[g],
                batch_size: batch,
                localization: samplers[g].0.localization(),
                traces: rows.traces[range.clone()].to_vec(),
                distances: rows.distances[range.clone()].to_vec(),
                diverged: rows.diverged[range.clone()].to_vec(),
                acceptance: rows.accepted[range]
                    .iter()
                    .map(|&(sum, count)| (count > 0).then(|| sum / f64::from(count)))
                    .collect(),
                companion,
            }
        })
        .collect();
    Ok((chains, computations))
}

/// What every run of one request shares.
struct Setting<'a> {
    spec: &'a EstimateSpec,
    llc: &'a LlcSpec,
    pool: &'a Pool<'a>,
    batch: usize,
}

/// What the chains recorded, row by row.
#[derive(Default)]
struct Rows {
    /// Each row's recorded losses (a diverged row's stop at its divergence).
    traces: Vec<Vec<f64>>,
    /// With each recorded loss, ½‖w − w*‖² at the same point.
    distances: Vec<Vec<f64>>,
    /// The step at which a row's loss stopped being finite.
    diverged: Vec<Option<u64>>,
    /// Per row: the sum and count of its MALA acceptance probabilities.
    accepted: Vec<(f64, u32)>,
}

impl Rows {
    fn extend(&mut self, other: Rows) {
        self.traces.extend(other.traces);
        self.distances.extend(other.distances);
        self.diverged.extend(other.diverged);
        self.accepted.extend(other.accepted);
    }
}

impl Setting<'_> {
    /// Samples one row per entry of `rows` (the chain whose noise and minibatches it gets, and
    /// its sampler and `n_beta`), the rows spread evenly over the checkpoints in `stacked`
    /// (`[checkpoints, ...]`), as one computation.
    fn run(
        &self,
        stacked: &[Tensor],
        rows: &[(u64, (SamplerSpec, f64))],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Rows, EstimateError> {
        let (spec, llc) = (self.spec, self.llc);
        let chains = rows.len() / stacked[0].size()[0] as usize;
        let mut orders: Vec<EpochOrder> = if llc.independent_batches {
            rows.iter()
                .take(chains)
                .map(|&(c, _)| EpochOrder::new(spec.seed, Purpose::SamplerBatches, c << 40))
                .collect()
        } else {
            vec![EpochOrder::new(spec.seed, Purpose::SamplerBatches, 0)]
        };
        let mut run = Run::new(spec, llc, stacked, rows, self.batch)?;
        let total = (llc.burnin + llc.draws * llc.steps_between_draws) as u64;
        let progress_every = (total / 100).max(1);
        for t in 1..=total {
            let (x, y) = self.pool.batch(&mut orders, t, self.batch, run.members, chains, spec);
            run.step(t, &x, &y)?;
            if t.is_multiple_of(progress_every) {
                progress(t, total);
            }
        }
        Ok(run.recorded)
    }
}

/// The state of every chain of one computation, `[checkpoints x chains, ...]` (a run's rows):
/// checkpoint g's chains are rows g*C..(g+1)*C. Every buffer the loop writes per step is
/// allocated here, once.
struct Run<'a> {
    spec: &'a EstimateSpec,
    llc: &'a LlcSpec,
    members: usize,
    /// Every parameter, `[members, ...]`; a sampled one is a view into `w`.
    params: Vec<Tensor>,
    /// The parameters sampled (`restrict`); the others stay at the checkpoint.
    sampled: Vec<usize>,
    /// The sampled parameters, every member's, in one buffer (the sampler's [`Layout`]), and
    /// each row's checkpoint (the centre of its localization) in the same layout.
    w: Tensor,
    anchor: Tensor,
    sampler: Sampler,
    gradients: Gradients,
    /// The members' losses `[members]` and gradients at the last evaluation: every parameter's
    /// (a sampled one's a view into `grad`, the sampled gradients' buffer).
    losses: Tensor,
    grads: Vec<Tensor>,
    grad: Tensor,
    noise: Noise,
    recorded: Rows,
}

/// How a run gets its members' losses and gradients.
enum Gradients {
    /// The toy model's mean squared error on batches the chains share, in `f32` on the CPU: in
    /// plain Rust, eight chains side by side; with the checkpoints (the localization's centres)
    /// in host memory, as the lanes read parameters.
    Lanes { lanes: Box<TmsLanes>, anchors: Vec<Vec<f32>> },
    /// The same in other kinds or on other devices: libtorch's operations into preallocated
    /// buffers.
    Workspace(TmsWorkspace),
    /// Autograd: every other model, loss or batch policy.
    Autograd,
}

impl<'a> Run<'a> {
    fn new(
        spec: &'a EstimateSpec,
        llc: &'a LlcSpec,
        stacked: &[Tensor],
        rows: &[(u64, (SamplerSpec, f64))],
        batch: usize,
    ) -> Result<Run<'a>, EstimateError> {
        let members = rows.len();
        let chains = members / stacked[0].size()[0] as usize;
        let names: Vec<String> = spec.model.params().into_iter().map(|p| p.name).collect();
        let sampled: Vec<usize> =
            (0..names.len()).filter(|&i| llc.restrict.matches(&names[i])).collect();
        if sampled.is_empty() {
            return Err(EstimateError::unfit(format!(
                "`restrict` matches none of the model's parameters ({})",
                names.join(", ")
            )));
        }
        let anchors: Vec<Tensor> =
            stacked.iter().map(|p| p.repeat_interleave_self_int(chains as i64, 0, None)).collect();
        // One chain at a time (`batched = false`) is the autograd path by design.
        let shared_mse = shares_batches(spec, llc);
        let gradients = match spec.model.arch {
            Arch::Tms { features, hidden, bias, .. }
                if shared_mse && spec.kind == Kind::Float && spec.device == Device::Cpu =>
            {
                let anchors = anchors
                    .iter()
                    .map(|a| Vec::<f32>::try_from(a.reshape([-1])).map_err(EstimateError::from))
                    .collect::<Result<Vec<_>, _>>()?;
                let lanes = Box::new(TmsLanes::new(features as usize, hidden as usize, bias));
                Gradients::Lanes { lanes, anchors }
            }
            Arch::Tms { features, hidden, bias, .. } if shared_mse => {
                Gradients::Workspace(TmsWorkspace::new(
                    members as i64,
                    batch as i64,
                    (features, hidden, bias),
                    spec.kind,
                    spec.device,
                ))
            }
            Arch::Tms { .. }
            | Arch::Dln { .. }
            | Arch::Mlp { .. }
            | Arch::Transformer(_)
            | Arch::TorchScript(_) => Gradients::Autograd,
        };
        let sampled_anchors: Vec<&Tensor> = sampled.iter().map(|&i| &anchors[i]).collect();
        let layout = Layout::new(&sampled_anchors);
        let anchor = Layout::flatten(&sampled_anchors);
        let w = anchor.copy();
        let grad = anchor.zeros_like();
        let (mut w_views, mut grad_views) =
            (layout.views(&w).into_iter(), layout.views(&grad).into_iter());
        let (mut params, mut grads) = (Vec::new(), Vec::new());
        for (i, anchor) in anchors.iter().enumerate() {
            let (param, grad) = if sampled.contains(&i) {
                let view = w_views.next().expect("a view per sampled parameter");
                (view, grad_views.next().expect("a view per sampled parameter"))
            } else {
                (anchor.copy(), anchor.zeros_like())
            };
            // Autograd's leaves: the same memory, detached from the buffer's history.
            params.push(match gradients {
                Gradients::Lanes { .. } | Gradients::Workspace(_) => param,
                Gradients::Autograd => param.detach().set_requires_grad(true),
            });
            grads.push(grad);
        }
        let noise = Noise::new(
            rows.iter().map(|&(c, _)| stream(spec.seed, Purpose::SamplerNoise, c)),
            &sampled_anchors,
            anchor.zeros_like(),
        );
        let chain_sampler = Sampler::new(
            &rows.iter().map(|&(_, sampler)| sampler).collect::<Vec<_>>(),
            layout,
            &anchor,
        );
        Ok(Run {
            spec,
            llc,
            members,
            losses: Tensor::zeros([members as i64], (spec.kind, spec.device)),
            grads,
            grad,
            noise,
            params,
            sampled,
            w,
            anchor,
            sampler: chain_sampler,
            gradients,
            recorded: Rows {
                traces: vec![Vec::with_capacity(llc.draws); members],
                distances: vec![Vec::with_capacity(llc.draws); members],
                diverged: vec![None; members],
                accepted: vec![(0.0, 0); members],
            },
        })
    }

    /// The members' losses and gradients at the current parameters on the minibatch `(x, y)`
    /// (`[1, batch, dim]` when shared, else `[members, batch, dim]`).
    fn evaluate(&mut self, x: &Tensor, y: &Tensor) {
        match &mut self.gradients {
            Gradients::Lanes { lanes, .. } => {
                lanes.tensors(&self.params, (x, y), &mut self.losses, &mut self.grads);
            }
            Gradients::Workspace(workspace) => {
                workspace.loss_and_gradients(&self.params, x, y, &mut self.losses, &mut self.grads);
            }
            Gradients::Autograd => {
                let expand = |t: &Tensor| t.expand([self.members as i64, -1, -1], false);
                let spec = self.spec;
                let (losses, grads) = spec.loss.with_gradients(
                    &spec.model,
                    &self.params,
                    &expand(x),
                    &expand(y),
                    spec.kind,
                );
                self.losses = losses;
                let sampled: Vec<&Tensor> = self.sampled.iter().map(|&i| &grads[i]).collect();
                Layout::fill(&mut self.grad, &sampled);
            }
        }
    }

    /// Each member's ½‖w − w*‖² over the sampled parameters `[members]`, in f64: an
    /// observation of the chains that does not touch them (what the localization diagnostic
    /// correlates with the loss).
    fn half_square_distances(&self) -> Tensor {
        tch::no_grad(|| {
            let offsets = (&self.w - &self.anchor).to_kind(Kind::Double).square();
            let mut total = Tensor::zeros([self.members as i64], (Kind::Double, self.spec.device));
            for sum in self.sampler.layout().per_member_sums(&offsets) {
                total += sum;
            }
            total * 0.5
        })
    }

    /// Sampler step `t` on the minibatch `(x, y)`: records the draw, moves every chain, and
    /// every `acceptance_every` steps checks the MALA acceptance of the move.
    fn step(&mut self, t: u64, x: &Tensor, y: &Tensor) -> Result<(), EstimateError> {
        let llc = self.llc;
        self.evaluate(x, y);
        // The toy model's lanes hand back the losses and the parameters they read: no tensor
        // operations for either.
        let host = match &self.gradients {
            Gradients::Lanes { lanes, anchors } => Some((lanes.last(), anchors)),
            Gradients::Workspace(_) | Gradients::Autograd => None,
        };
        let values = match host {
            Some(((_, losses), _)) => losses.iter().map(|&v| f64::from(v)).collect(),
            None => to_vec(&self.losses)?,
        };
        for (m, value) in values.iter().enumerate() {
            if self.recorded.diverged[m].is_none() && !value.is_finite() {
                self.recorded.diverged[m] = Some(t);
            }
        }
        let drawn = t.checked_sub(llc.burnin as u64).filter(|&s| s > 0);
        if drawn.is_some_and(|s| s.is_multiple_of(llc.steps_between_draws as u64)) {
            let distances = match host {
                Some(((params, _), anchors)) => {
                    host_half_square_distances(params, anchors, &self.sampled, self.members)
                }
                None => to_vec(&self.half_square_distances())?,
            };
            for (m, (value, distance)) in values.iter().zip(distances).enumerate() {
                if self.recorded.diverged[m].is_none() {
                    self.recorded.traces[m].push(*value);
                    self.recorded.distances[m].push(distance);
                }
            }
        }
        let check = t.is_multiple_of(llc.acceptance_every as u64);
        let before = check.then(|| self.w.copy());
        let u_before = check
            .then(|| tch::no_grad(|| self.sampler.potential(&self.losses, &self.w, &self.anchor)));
        let noise = self.noise.draw();
        let proposal = self.sampler.step(&mut self.w, &self.anchor, &self.grad, noise);
        let (Some(before), Some(u_before)) = (before, u_before) else { return Ok(()) };
        // The acceptance of the move just made: U and its gradient at the new point, on the
        // same minibatch.
        self.evaluate(x, y);
        let log_alpha = tch::no_grad(|| {
            let drift_after = self.sampler.drift(&self.w, &self.anchor, &self.grad);
            let u_after = self.sampler.potential(&self.losses, &self.w, &self.anchor);
            self.sampler.log_acceptance(
                &proposal,
                &before,
                &self.w,
                &u_before,
                &u_after,
                &drift_after,
            )
        });
        for (m, alpha) in to_vec(&log_alpha.exp())?.iter().enumerate() {
            if self.recorded.diverged[m].is_none() && alpha.is_finite() {
                self.recorded.accepted[m].0 += alpha;
                self.recorded.accepted[m].1 += 1;
            }
        }
        Ok(())
    }
}

/// [`Run::half_square_distances`] from host copies of the parameters and anchors (`[members,
/// ...]` each, flat): per member, each sampled parameter's sum of squared offsets in f64,
/// element by element, added up.
fn host_half_square_distances(
    params: [&[f32]; 2],
    anchors: &[Vec<f32>],
    sampled: &[usize],
    members: usize,
) -> Vec<f64> {
    let mut total = vec![0.0f64; members];
    for &i in sampled {
        let (values, anchor) = (params[i], &anchors[i]);
        let per_member = values.len() / members;
        for (m, sum) in total.iter_mut().enumerate() {
            let range = m * per_member..(m + 1) * per_member;
            let square: f64 = values[range.clone()]
                .iter()
                .zip(&anchor[range])
                .map(|(w, a)| {
                    let offset = f64::from(w - a);
                    offset * offset
                })
                .fold(0.0, |s, v| s + v);
            *sum += square;
        }
    }
    total.iter().map(|t| t * 0.5).collect()
}

fn to_vec(values: &Tensor) -> Result<Vec<f64>, EstimateError> {
    Vec::<f64>::try_from(values.to_kind(Kind::Double).to_device(Device::Cpu))
        .map_err(EstimateError::from)
}

/// Each chain's standard normal noise for the sampled parameters, from its own stream (per
/// parameter, member after member: the sampler's [`Layout`]), into buffers allocated once. The
/// members draw side by side on the request's member threads (each from its own stream, so
/// the draws do not depend on the threads). The draws cross from Rust in one buffer-sized copy
/// per step (the crate has no `unsafe` to write a tensor in place).
struct Noise {
    streams: Vec<ChaCha8Rng>,
    /// Each sampled parameter's length per member, in order.
    per_member: Vec<usize>,
    /// The draws in f64, laid out as the buffer.
    values: Vec<f64>,
    /// The noise, in the parameters' kind and on their device.
    buffer: Tensor,
}

impl Noise {
    fn new(streams: impl Iterator<Item = ChaCha8Rng>, like: &[&Tensor], buffer: Tensor) -> Noise {
        let streams: Vec<ChaCha8Rng> = streams.collect();
        let per_member = like.iter().map(|p| p.numel() / streams.len()).collect();
        Noise { streams, per_member, values: vec![0.0; buffer.numel()], buffer }
    }

    fn draw(&mut self) -> &Tensor {
        // Each member's pieces of the buffer, in the order its stream fills them.
        let mut pieces: Vec<Vec<&mut [f64]>> = self.streams.iter().map(|_| Vec::new()).collect();
        let mut rest = self.values.as_mut_slice();
        for &per_member in &self.per_member {
            for member in &mut pieces {
                let (piece, after) = rest.split_at_mut(per_member);
                member.push(piece);
                rest = after;
            }
        }
        let members: Vec<(&mut ChaCha8Rng, Vec<&mut [f64]>)> =
            self.streams.iter_mut().zip(pieces).collect();
        member_threads::each(members, &|(rng, pieces)| {
            for piece in pieces {
                for value in piece.iter_mut() {
                    *value = StandardNormal.sample(rng);
                }
            }
        });
        self.buffer.copy_(&Tensor::from_slice(&self.values));
        &self.buffer
    }
}

/// The loss at each checkpoint `[checkpoints]`: over the whole pool, or the mean of the first
/// `init_loss_batches` shared minibatches (always so for fresh data).
fn init_losses(
    spec: &EstimateSpec,
    pool: &Pool,
    anchors: &[Tensor],
    batch: usize,
    llc: &LlcSpec,
) -> Result<Vec<f64>, EstimateError> {
    let checkpoints = anchors[0].size()[0] as usize;
    let losses = tch::no_grad(|| -> Result<Tensor, EstimateError> {
        match (&pool.samples, llc.init_loss_batches) {
            (Some((x, y)), None) => {
                let expand = |t: &Tensor| t.expand([checkpoints as i64, -1, -1], false);
                let out = spec.model.forward(anchors, &expand(x));
                Ok(spec.loss.per_member(&out, &expand(y), Kind::Double))
            }
            (_, batches) => {
                // The registry's derivation: fresh data have no whole set, so 16 batches.
                let batches = batches.unwrap_or(16).max(1);
                let mut orders = vec![EpochOrder::new(spec.seed, Purpose::SamplerBatches, 0)];
                let mut sum = Tensor::zeros([checkpoints as i64], (Kind::Double, spec.device));
                for t in 1..=batches as u64 {
                    let (x, y) = pool.batch(&mut orders, t, batch, checkpoints, 1, spec);
                    let expand = |t: &Tensor| t.expand([checkpoints as i64, -1, -1], false);
                    let out = spec.model.forward(anchors, &expand(&x));
                    sum += spec.loss.per_member(&out, &expand(&y), Kind::Double);
                }
                Ok(sum / batches as f64)
            }
        }
    })?;
    Vec::<f64>::try_from(losses.to_device(Device::Cpu)).map_err(EstimateError::from)
}

/// The data the chains see: a fixed pool on the device (`[1, n, dim]`), or fresh samples.
struct Pool<'a> {
    samples: Option<(Tensor, Tensor)>,
    size: Option<usize>,
    data: &'a DataSpec,
}

impl<'a> Pool<'a> {
    fn new(data: &'a DataSpec, test_fraction: f64, spec: &EstimateSpec) -> Pool<'a> {
        let (train, _) = data.pools(test_fraction);
        let size = train.as_ref().map(|s| s.n);
        let samples = train.map(|s| upload(&s, data, spec));
        Pool { samples, size, data }
    }

    /// Step `t`'s minibatch: one shared batch `[1, size, dim]`, or, with one order per chain,
    /// each of the `members` rows its chain's (`chains` per checkpoint).
    fn batch(
        &self,
        orders: &mut [EpochOrder],
        t: u64,
        size: usize,
        members: usize,
        chains: usize,
        spec: &EstimateSpec,
    ) -> (Tensor, Tensor) {
        let Some((x, y)) = &self.samples else {
            let drawn = self.data.draw(size, u64::MAX / 2 + t);
            return upload(&drawn, self.data, spec);
        };
        let n = x.size()[1] as usize;
        let pick = |order: &mut EpochOrder| {
            let index = Tensor::from_slice(&order.indices(t, size, n)).to_device(spec.device);
            (x.index_select(1, &index), y.index_select(1, &index))
        };
        if orders.len() == 1 {
            return pick(&mut orders[0]);
        }
        let per_chain: Vec<(Tensor, Tensor)> = orders.iter_mut().map(pick).collect();
        let rows = |which: usize| -> Tensor {
            let all: Vec<Tensor> = (0..members)
                .map(|m| {
                    let (bx, by) = &per_chain[m % chains];
                    if which == 0 { bx.shallow_clone() } else { by.shallow_clone() }
                })
                .collect();
            Tensor::cat(&all, 0)
        };
        (rows(0), rows(1))
    }
}

/// Samples as `[1, n, dim]` tensors on the step's device (class labels as whole numbers).
pub fn upload(samples: &Samples, data: &DataSpec, spec: &EstimateSpec) -> (Tensor, Tensor) {
    data.tensors(std::slice::from_ref(samples), spec.kind, spec.device)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tch::Tensor;

    use super::{Chains, RUN_PARAMETERS, runs, sample, sample_in_runs};
    use crate::estimate::diagnostics::estimate;
    use crate::estimate::spec::{EstimateSpec, LlcSpec, Observable};
    use crate::train::data::Teacher;

    /// An `llc` observable: `args` and, for the rest, the values the tests share (those the
    /// planner would send for a spec that leaves them out).
    fn llc(args: serde_json::Value) -> serde_json::Value {
        let mut all = json!({
            "steps_between_draws": 1, "restrict": [], "independent_batches": false,
            "companion": false, "acceptance_every": 10,
        });
        let serde_json::Value::Object(args) = args else { panic!("{args}") };
        all.as_object_mut().unwrap().extend(args);
        json!({"call": "llc", "args": all})
    }

    fn sgld(lr: f64, localization: f64) -> serde_json::Value {
        json!({"call": "sgld", "args": {
            "lr": lr, "localization": localization, "noise_level": 1.0, "weight_decay": 0.0,
        }})
    }

    /// The LLC at a deep linear network's teacher with its first layer scaled by `c` and its
    /// second by `1 / c`: the same function, so the same learning coefficient. Returns the
    /// estimate's mean and the chains' standard deviation.
    fn llc_at_rescaled_teacher(c: f64) -> (f64, f64) {
        let widths = [4, 3, 4];
        let teacher =
            json!({"call": "dln.teacher", "args": {"widths": widths, "rank": 1, "seed": 0}});
        let params = json!({
            "model": {"call": "dln.model", "args": {"widths": widths, "bias": false}},
            "data": {"call": "dln.data", "args": {"teacher": teacher, "samples": 10_000, "noise": 0.0}},
            "observable": llc(json!({
                "sampler": sgld(4e-5, 1.0),
                "nbeta": "dataset", "chains": 4, "draws": 4000, "burnin": 1000, "batch_size": 500,
                "batched": true,
            })),
            "seed": 0, "at": "all", "device": "cpu",
        });
        let spec = EstimateSpec::new(&serde_json::from_value(params).unwrap()).unwrap();
        let Observable::Llc(llc) = &spec.observable else { unreachable!() };
        let teacher = Teacher::random(&widths, 1, 0).unwrap();
        let anchor: Vec<Tensor> = teacher
            .layers
            .iter()
            .zip([c, 1.0 / c])
            .zip(spec.model.params())
            .map(|((values, scale), shape)| {
                let dims: Vec<i64> =
                    std::iter::once(1).chain(shape.shape.iter().copied()).collect();
                (Tensor::from_slice(values) * scale).reshape(&dims).to_kind(tch::Kind::Float)
            })
            .collect();
        let chains = sample(&spec, &[(&**llc, anchor)], &mut |_, _| {}).unwrap();
        let result = estimate(&chains[0], 2).unwrap();
        (result.llc_mean, result.llc_std)
    }

    /// The chains of `checkpoints` checkpoints of `model` (its initializations from seeds 1,
    /// 2, ...) for an LLC with the `llc` arguments `args` (seed 7, on the CPU), sampled in
    /// computations of at most `run_parameters`; and how many computations that took.
    fn sample_at_inits(
        (model, data): (&serde_json::Value, &serde_json::Value),
        args: serde_json::Value,
        checkpoints: i64,
        run_parameters: i64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> (Vec<Chains>, usize) {
        let params = json!({
            "model": model, "data": data, "observable": llc(args),
            "seed": 7, "at": "all", "device": "cpu",
        });
        let spec = EstimateSpec::new(&serde_json::from_value(params).unwrap()).unwrap();
        let Observable::Llc(llc) = &spec.observable else { unreachable!() };
        let anchors: Vec<(&LlcSpec, Vec<Tensor>)> = (1..=checkpoints)
            .map(|seed| (&**llc, spec.model.init(&[seed], tch::Kind::Float)))
            .collect();
        sample_in_runs(&spec, &anchors, progress, run_parameters).unwrap()
    }

    /// Every chain's loss trace at two checkpoints of `model` (its initializations from seeds 1
    /// and 2), on the batched path (one computation) or one chain at a time; and its distances
    /// from the checkpoint (½‖w − w*‖² with each loss).
    fn traces(
        model: &serde_json::Value,
        data: &serde_json::Value,
        batched: bool,
    ) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let args = json!({
            "sampler": sgld(1e-3, 100.0),
            "nbeta": "auto", "chains": 3, "draws": 200, "burnin": 100, "batch_size": 128,
            "batched": batched,
        });
        let (chains, _) = sample_at_inits((model, data), args, 2, i64::MAX, &mut |_, _| {});
        let distances = chains.iter().flat_map(|c| c.distances.clone()).collect();
        (chains.into_iter().flat_map(|c| c.traces).collect(), distances)
    }

    /// Every chain and companion chain of `checkpoints` checkpoints of `model`, sampled in
    /// computations of at most `run_parameters`, as text (`f64`'s `Debug` is the shortest text
    /// that reads back to the same bits, so equal texts are equal numbers), and how many
    /// computations that took.
    fn chains_in_runs(
        model_and_data: (&serde_json::Value, &serde_json::Value),
        checkpoints: i64,
        independent_batches: bool,
        run_parameters: i64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> (String, usize) {
        let args = json!({
            "sampler": sgld(1e-3, 100.0),
            "nbeta": "auto", "chains": 3, "draws": 20, "burnin": 5, "batch_size": 16,
            "batched": true, "companion": true, "independent_batches": independent_batches,
            "acceptance_every": 4,
        });
        let (chains, computations) =
            sample_at_inits(model_and_data, args, checkpoints, run_parameters, progress);
        (format!("{chains:?}"), computations)
    }

    fn parameters(model: &serde_json::Value) -> i64 {
        let spec: crate::train::model::ModelSpec =
            crate::train::model::ModelSpec::new(&serde_json::from_value(model.clone()).unwrap())
                .unwrap();
        spec.params().iter().map(|p| p.shape.iter().product::<i64>()).sum()
    }

    #[test]
    fn runs_of_a_few_rows_give_the_bytes_of_one_run() {
        let teacher =
            json!({"call": "dln.teacher", "args": {"widths": [4, 3, 4], "rank": 2, "seed": 0}});
        let cases = [
            (
                json!({"call": "mlp.model", "args": {"widths": [10, 8, 5], "activation": "relu", "bias": true}}),
                json!({"call": "modular.data", "args": {"p": 5, "op": "add", "encoding": "one_hot", "train_fraction": 0.6, "seed": 1}}),
            ),
            (
                json!({"call": "dln.model", "args": {"widths": [4, 3, 4], "bias": false}}),
                json!({"call": "dln.data", "args": {"teacher": teacher, "samples": 200, "noise": 0.1}}),
            ),
        ];
        for (model, data) in &cases {
            let per_row = parameters(model);
            for independent in [false, true] {
                let (one_run, computations) =
                    chains_in_runs((model, data), 3, independent, i64::MAX, &mut |_, _| {});
                assert_eq!(computations, 1);
                assert!(one_run.contains("traces"), "{one_run}");
                // Two checkpoints and one (each has 6 rows: 3 chains and their companions), a
                // checkpoint's rows four and two, and one row at a time.
                for (rows, expected) in [(12, 2), (4, 6), (1, 18)] {
                    let (in_runs, computations) = chains_in_runs(
                        (model, data),
                        3,
                        independent,
                        rows * per_row,
                        &mut |_, _| {},
                    );
                    assert_eq!(computations, expected);
                    assert_eq!(in_runs, one_run, "{model}, {rows} rows a run");
                }
            }
        }
    }

    #[test]
    fn a_large_model_in_runs_gives_the_bytes_of_one_run() {
        // The worker splits only on one libtorch thread (`sample`): this test's thread too (its
        // OpenMP and MKL counts are the thread's own; ATen's default for threads that have not
        // yet run a parallel operation follows, which changes no other test's numbers).
        tch::set_num_threads(1);
        let data = json!({"call": "modular.data", "args": {"p": 59, "op": "add", "encoding": "one_hot", "train_fraction": 0.4, "seed": 1}});
        // 302,659 parameters: three rows a computation at the worker's limit (a checkpoint's six
        // rows in two); 535,059: one row a computation, MKL's single products against its
        // batched ones.
        for (hidden, expected) in [(1700, 4), (3000, 12)] {
            let model = json!({"call": "mlp.model", "args": {"widths": [118, hidden, 59], "activation": "relu", "bias": true}});
            let (one_run, _) = chains_in_runs((&model, &data), 2, false, i64::MAX, &mut |_, _| {});
            let (in_runs, computations) =
                chains_in_runs((&model, &data), 2, false, RUN_PARAMETERS, &mut |_, _| {});
            assert_eq!(computations, expected);
            assert_eq!(in_runs, one_run, "hidden {hidden}");
        }
    }

    #[test]
    fn a_transformer_is_never_split() {
        let model = json!({"call": "transformer.model", "args": {"layers": 1, "heads": 2, "d_model": 8, "activation": "gelu", "context": 8, "vocab": 6, "layer_norm": true, "init_scale": 0.2}});
        let data = json!({"call": "induction.data", "args": {"vocab": 6, "length": 8, "segment": 3, "samples": 64, "seed": 1}});
        let (_, computations) = chains_in_runs((&model, &data), 2, false, 1, &mut |_, _| {});
        assert_eq!(computations, 1);
    }

    #[test]
    fn progress_counts_the_whole_requests_steps_about_a_hundred_times() {
        let teacher =
            json!({"call": "dln.teacher", "args": {"widths": [4, 3, 4], "rank": 2, "seed": 0}});
        let model = json!({"call": "dln.model", "args": {"widths": [4, 3, 4], "bias": false}});
        let data =
            json!({"call": "dln.data", "args": {"teacher": teacher, "samples": 200, "noise": 0.1}});
        // One computation, and one row each (18 computations of 25 steps each).
        for (limit, expected) in [(i64::MAX, 1), (1, 18)] {
            let mut reports = Vec::new();
            let (_, computations) =
                chains_in_runs((&model, &data), 3, false, limit, &mut |done, total| {
                    reports.push((done, total));
                });
            assert_eq!(computations, expected);
            assert!(reports.iter().all(|&(_, total)| total == 25), "{reports:?}");
            assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{reports:?}");
            assert_eq!(reports.last(), Some(&(25, 25)));
            assert!(reports.len() <= 26, "{} reports", reports.len());
        }
    }

    #[test]
    fn runs_split_rows_by_checkpoint_and_never_mix_two_partly() {
        assert_eq!(runs(3, 4, usize::MAX), vec![(0..3, 0..4)]);
        assert_eq!(runs(3, 4, 8), vec![(0..2, 0..4), (2..3, 0..4)]);
        assert_eq!(runs(3, 4, 4), vec![(0..1, 0..4), (1..2, 0..4), (2..3, 0..4)]);
        assert_eq!(runs(2, 4, 3), vec![(0..1, 0..3), (0..1, 3..4), (1..2, 0..3), (1..2, 3..4)]);
        assert_eq!(runs(1, 2, 1), vec![(0..1, 0..1), (0..1, 1..2)]);
    }

    #[test]
    fn one_chain_at_a_time_agrees_with_the_batched_chains() {
        let tms = (
            json!({"call": "tms.model", "args": {"features": 5, "hidden": 2, "bias": true, "init_scale": 0.5}}),
            json!({"call": "tms.data", "args": {"features": 5, "sparsity": 0.7, "samples": 1000}}),
        );
        let teacher =
            json!({"call": "dln.teacher", "args": {"widths": [4, 3, 4], "rank": 2, "seed": 0}});
        let dln = (
            json!({"call": "dln.model", "args": {"widths": [4, 3, 4], "bias": false}}),
            json!({"call": "dln.data", "args": {"teacher": teacher, "samples": 1000, "noise": 0.0}}),
        );
        // The toy model's batched path is its lanes in plain Rust (`tms_lanes`, the distances
        // summed from host copies), the deep linear network's is autograd over a member
        // dimension; the one-chain path is autograd alone.
        for (model, data) in [tms, dln] {
            let (batched, batched_distances) = traces(&model, &data, true);
            let (alone, alone_distances) = traces(&model, &data, false);
            for (a, b) in batched_distances.iter().zip(&alone_distances) {
                assert_eq!(a.len(), 200);
                for (x, y) in a.iter().zip(b) {
                    // The same chains' parameters, as close as their losses: each offset
                    // from the checkpoint differs by the chains' f32 rounding. Measured: at
                    // most 2.5e-7 relative over both models; the bound leaves a factor of 40.
                    assert!((x - y).abs() <= 1e-5 * x.abs(), "{model}: {x} vs {y}");
                }
            }
            assert_eq!(batched.len(), 6);
            for (a, b) in batched.iter().zip(&alone) {
                assert_eq!(a.len(), 200);
                for (x, y) in a.iter().zip(b) {
                    // The same chain, noise and minibatches in f32 arithmetic ordered
                    // differently: each step's rounding (about 1e-7 relative) is damped by the
                    // localization and does not grow over 300 steps. Measured: at most 4.3e-7
                    // relative over both models; the bound leaves a factor of about 20.
                    assert!((x - y).abs() <= 1e-5 * x.abs().max(1e-3), "{model}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn rescaling_a_layer_against_the_next_leaves_the_llc_within_the_chains_spread() {
        // Theory for widths [4, 3, 4] and rank 1 (reduced-rank regression, balanced branch):
        // (2 (H + r)(M + N) - (M - N)^2 - (H + r)^2 + 1) / 8 = (64 - 16 + 1) / 8 = 6.125.
        let (plain, plain_spread) = llc_at_rescaled_teacher(1.0);
        for c in [0.5, 2.0] {
            let (scaled, spread) = llc_at_rescaled_teacher(c);
            // Within the chains' spread: two standard deviations of the wider of the two chain
            // sets. Measured: 6.02 ± 0.33 plain, 6.38 ± 0.29 at c = 0.5, 6.06 ± 1.02 at c = 2
            // (the stiffer second layer mixes more slowly at the same lr).
            let bound = 2.0 * plain_spread.max(spread);
            assert!(
                (scaled - plain).abs() <= bound,
                "c = {c}: {scaled} vs {plain} (bound {bound})"
            );
        }
        assert!((plain - 6.125).abs() / 6.125 < 0.15, "{plain}");
    }
}
