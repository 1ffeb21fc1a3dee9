//! The training loop of a group of members (one, or an ensemble of seeds trained as one batched
//! computation): each member draws its own minibatches and initialization from its own seed,
//! its loss is its own (the group's loss is their sum, so no gradient mixes members), and its
//! bytes are those it would have alone. Checkpoints are handed out the moment they are reached;
//! the loss series is recorded at every checkpoint, at every step up to 200 and at 100
//! log-spaced steps per decade after that.

use std::collections::BTreeSet;

use devspec_protocol::params::{BatchSize, TrainParams};
use devspec_protocol::results::TrainSeries;
use devspec_protocol::results::train::{FRESH_EVAL_POSITIONS, FRESH_EVAL_SAMPLES, record_steps};
use tch::{Device, Kind, Tensor};

use super::data::{DataSpec, Samples, Size, held_out};
use super::epoch_order::EpochOrder;
use super::host_pool::HostPool;
use super::loss::Loss;
use super::model::{Arch, ModelSpec};
use super::optimizer::{Optimizer, OptimizerSpec};
use super::rng::Purpose;
use super::spec::SpecError;
use super::tms_lanes::TmsLanes;

/// How often a long run between checkpoints stores a resume point, so a sparse checkpoint grid
/// (`checkpoints = [20_000]`) still resumes near where it stopped.
const RESUME_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// One member's training, read from its step's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    pub model: ModelSpec,
    pub data: DataSpec,
    pub test_data: Option<DataSpec>,
    pub test_fraction: f64,
    pub optimizer: OptimizerSpec,
    pub loss: Loss,
    /// Samples per step; `None`: the whole pool.
    pub batch_size: Option<usize>,
    pub steps: u64,
    pub seed: i64,
    pub kind: Kind,
    pub device: Device,
}

impl TrainSpec {
    pub fn new(params: &TrainParams) -> Result<TrainSpec, SpecError> {
        let seed = params.seed;
        let steps = u64::try_from(params.steps).unwrap_or(0);
        let model = ModelSpec::new(&params.model)?;
        let data = DataSpec::new(&params.data, seed)?;
        let test_data = match &params.test_data {
            Some(test_data) => Some(DataSpec::new(test_data, seed)?),
            None => None,
        };
        let batch_size = match params.batch_size {
            BatchSize::Full => None,
            BatchSize::Samples(size) => Some(usize::try_from(size).unwrap_or(1).max(1)),
        };
        let spec = TrainSpec {
            optimizer: OptimizerSpec::new(&params.optimizer, steps)?,
            loss: Loss::new(params.loss, &data)?,
            test_fraction: params.test_fraction,
            kind: super::spec::dtype(Some(params.dtype)),
            device: super::spec::device(params.device),
            model,
            data,
            test_data,
            batch_size,
            steps,
            seed,
        };
        spec.check_shapes()?;
        Ok(spec)
    }

    /// What members of one group share: everything but their seeds (and the data seeds
    /// derived from them) and their learning rates.
    pub fn group_shape(&self) -> TrainSpec {
        TrainSpec {
            seed: 0,
            data: self.data.without_step_seed(),
            test_data: self.test_data.as_ref().map(DataSpec::without_step_seed),
            optimizer: self.optimizer.without_lr(),
            ..self.clone()
        }
    }

    /// Data whose shape does not fit the model is refused before training, naming both.
    fn check_shapes(&self) -> Result<(), SpecError> {
        let (model_in, model_out) = (self.model.input_dim(), self.model.output_dim());
        for (what, data) in std::iter::once(("data", &self.data))
            .chain(self.test_data.iter().map(|d| ("test_data", d)))
        {
            let what = match data.source() {
                Some(file) => format!("`{what}` ({file})"),
                None => format!("`{what}`"),
            };
            if let Some(script) = self.model.torchscript() {
                script.check_data(data.input_dim(), data.classes(), data.output_dim(), &what)?;
                continue;
            }
            if let Some(transformer) = self.model.transformer() {
                transformer.check_data(data.sequence(), data.classes(), &what)?;
                continue;
            }
            let data_in = data.input_dim() as i64;
            if data_in != model_in {
                return Err(SpecError(format!(
                    "{what} has {data_in} inputs per sample, but the model takes {model_in}"
                )));
            }
            match data.classes() {
                Some(classes) if classes as i64 > model_out => {
                    return Err(SpecError(format!(
                        "{what} has class labels up to {}, but the model gives {model_out} \
                         outputs (one per class)",
                        classes - 1
                    )));
                }
                Some(_) => {}
                None => {
                    let data_out = data.output_dim() as i64;
                    if data_out != model_out {
                        return Err(SpecError(format!(
                            "{what} has {data_out} targets per sample, but the model gives \
                             {model_out} outputs"
                        )));
                    }
                }
            }
        }
        if let Some(test) = &self.test_data
            && test.classes().is_some() != self.data.classes().is_some()
        {
            return Err(SpecError(
                "`data` and `test_data` must both hold class labels or both target values".into(),
            ));
        }
        if self.data.has_own_split() && self.test_fraction > 0.0 {
            return Err(SpecError(
                "`modular.data` holds out its own test pairs (`train_fraction`); leave \
                 `test_fraction` out"
                    .into(),
            ));
        }
        // A split that leaves either side empty: a mean over no samples (NaN losses), or, for
        // training, division by an empty pool.
        if let Size::Pool(n) = self.data.size
            && !self.data.has_own_split()
            && self.test_fraction > 0.0
        {
            let held = held_out(n, self.test_fraction);
            let fraction = self.test_fraction;
            if held == n {
                return Err(SpecError(format!(
                    "`test_fraction = {fraction}` holds out all {n} samples of `data`, leaving \
                     none to train on; lower it or draw more samples"
                )));
            }
            if held == 0 {
                return Err(SpecError(format!(
                    "`test_fraction = {fraction}` of {n} samples holds out none to test on; \
                     raise it, draw more samples, or leave it out"
                )));
            }
        }
        if self.batch_size.is_none() && self.data.size == Size::Fresh {
            return Err(SpecError(
                "`batch_size = full` needs a fixed pool of samples, not `samples = fresh`".into(),
            ));
        }
        Ok(())
    }
}

/// A member's state at a step: what a checkpoint or a resume point stores.
pub struct Snapshot<'a> {
    pub step: u64,
    /// Whether `step` is a checkpoint of the plan (else a resume point between checkpoints,
    /// due a few minutes after the last or asked for by a signal).
    pub checkpoint: bool,
    pub params: Named,
    /// The optimizer's state, named `PARAM.STATE` (`W.exp_avg`).
    pub optimizer: Named,
    pub series: &'a TrainSeries,
}

/// What the loop reports as it goes.
pub trait TrainEvents {
    /// Member `member`'s state at a checkpoint or a resume point.
    fn snapshot(&mut self, member: usize, snapshot: Snapshot<'_>);
    /// Member `member` failed at `step` (a NaN or an infinity); it is trained no further.
    fn failed(&mut self, member: usize, step: u64, message: String);
    /// The group has done `done` of `total` steps; `losses`: each member's training loss at
    /// the last step (`None` once it diverged), read for the display only.
    fn progress(&mut self, done: u64, total: u64, losses: Vec<Option<f64>>);
}

/// Where a group starts when it goes on from a stored state: after `step`, with these
/// parameters and optimizer state (`[members, ...]`, in the model's and the optimizer's order)
/// and each member's series so far.
pub struct Start {
    pub step: u64,
    pub params: Vec<Tensor>,
    pub state: Vec<Vec<Tensor>>,
    pub series: Vec<TrainSeries>,
}

/// Keeps a member's loss series at `steps` only.
fn retain(series: &mut TrainSeries, steps: &BTreeSet<u64>) {
    let kept: Vec<usize> =
        (0..series.steps.len()).filter(|&i| steps.contains(&series.steps[i])).collect();
    let pick = |values: &[f64]| kept.iter().filter_map(|&i| values.get(i).copied()).collect();
    series.train_loss = pick(&series.train_loss);
    series.test_loss = pick(&series.test_loss);
    series.steps = kept.iter().map(|&i| series.steps[i]).collect();
}

/// A member's data as the loop needs it once its samples are on the device: how to draw
/// fresh ones, and where its minibatch order stands.
struct MemberData {
    spec: DataSpec,
    order: EpochOrder,
}

impl MemberData {
    fn new(member: &TrainSpec) -> MemberData {
        MemberData {
            spec: member.data.clone(),
            order: EpochOrder::new(member.seed, Purpose::Batches, 0),
        }
    }
}

/// The group's samples on the device, `[members, n, dim]`, made once: a step's minibatch is
/// one `index_select` of the pool.
struct DeviceData {
    train: Option<(Tensor, Tensor)>,
    /// The training pool in the current epoch's order: (epoch, inputs, targets).
    epoch: Option<(u64, Tensor, Tensor)>,
    test: Option<(Tensor, Tensor)>,
    /// Fresh-data runs evaluate on a fixed sample.
    eval: Option<(Tensor, Tensor)>,
}

/// The toy model's mean squared error in f32 on the CPU: its loss and gradients from plain Rust
/// sums in a fixed order, eight members side by side (`tms_lanes`), reading a pool from host
/// memory. The batched small products of the by-hand libtorch path spent most of an ensemble's
/// step in BLAS's small-matrix code and in gathering minibatches, and a member's bytes are its
/// own by construction.
struct Lanes {
    tms: TmsLanes,
    /// `None`: fresh data (each step's draws are copied in).
    pool: Option<HostPool>,
    /// The sets the losses are recorded on besides the pool: fresh data's fixed evaluation
    /// sample, the test pool.
    eval: Option<HostPool>,
    test: Option<HostPool>,
}

/// A set the losses are recorded on.
#[derive(Clone, Copy)]
enum Recorded {
    Pool,
    Eval,
    Test,
}

impl Lanes {
    fn new(spec: &TrainSpec, device_data: &DeviceData) -> Option<Lanes> {
        match spec.model.arch {
            Arch::Tms { features, hidden, bias, .. }
                if spec.loss == Loss::MSE
                    && spec.kind == Kind::Float
                    && spec.device == Device::Cpu =>
            {
                let host = |set: &Option<(Tensor, Tensor)>, data: &DataSpec| {
                    set.as_ref().map(|set| HostPool::new(set, data.targets_are_inputs()))
                };
                // The test pool is `test_data`'s where there is one, else a split of `data`.
                let test_data = spec.test_data.as_ref().unwrap_or(&spec.data);
                Some(Lanes {
                    tms: TmsLanes::new(features as usize, hidden as usize, bias),
                    pool: host(&device_data.train, &spec.data),
                    eval: host(&device_data.eval, &spec.data),
                    test: host(&device_data.test, test_data),
                })
            }
            _ => None,
        }
    }

    /// Each member's loss on a recorded set, in the lanes (`None` where the run has no such
    /// set).
    fn mean_losses(&mut self, set: Recorded, params: &[Tensor]) -> Option<Vec<f64>> {
        let pool = match set {
            Recorded::Pool => &mut self.pool,
            Recorded::Eval => &mut self.eval,
            Recorded::Test => &mut self.test,
        };
        let (rows, samples) = pool.as_mut()?.whole(params[0].size()[0] as usize);
        Some(self.tms.mean_losses_each(params, samples, rows))
    }
}

impl DeviceData {
    fn new(group: &[TrainSpec], spec: &TrainSpec) -> DeviceData {
        let upload = |sets: Option<Vec<Samples>>| {
            sets.map(|sets| spec.data.tensors(&sets, spec.kind, spec.device))
        };
        let fresh = spec.data.size == Size::Fresh;
        let (train, test): (Vec<_>, Vec<_>) = group.iter().map(member_samples).unzip();
        DeviceData {
            epoch: None,
            train: upload(train.into_iter().collect()),
            test: upload(test.into_iter().collect()),
            eval: upload(fresh.then(|| {
                let rows = fresh_eval_rows(&spec.data);
                group.iter().map(|m| m.data.draw(rows, u64::MAX)).collect()
            })),
        }
    }
}

/// Trains a group (all members share everything but their seeds) for `checkpoints.last()`
/// steps, reporting each checkpoint; returns each member's series (`None`: it failed).
pub fn train(
    group: &[TrainSpec],
    checkpoints: &BTreeSet<u64>,
    start: Option<Start>,
    events: &mut dyn TrainEvents,
) -> Vec<Option<TrainSeries>> {
    let first = &group[0];
    let kind = first.kind;
    let seeds: Vec<i64> = group.iter().map(|m| m.seed).collect();
    let (initial, first_step) = match &start {
        Some(start) => (start.params.iter().map(Tensor::shallow_clone).collect(), start.step + 1),
        None => (first.model.init(&seeds, kind), 1),
    };
    let mut params: Vec<Tensor> = initial
        .into_iter()
        .map(|p| {
            let p = p.to_kind(kind).to_device(first.device);
            // Hand-derived gradients need no autograd graph.
            if first.model.hand_derived_gradients() { p } else { p.set_requires_grad(true) }
        })
        .collect();
    let mut optimizer =
        Optimizer::new(group.iter().map(|m| m.optimizer.clone()).collect(), &params);
    if let Some(start) = &start {
        optimizer.state = start
            .state
            .iter()
            .map(|tensors| {
                tensors.iter().map(|t| t.to_kind(kind).to_device(first.device)).collect()
            })
            .collect();
    }
    let mut data: Vec<MemberData> = group.iter().map(MemberData::new).collect();
    let mut device_data = DeviceData::new(group, first);
    let record = record_steps(first.steps, checkpoints);
    let names: Vec<String> = first.model.params().into_iter().map(|p| p.name).collect();
    let progress_every = (first.steps / 100).max(1);
    let mut lanes = Lanes::new(first, &device_data);
    let mut series: Vec<Option<TrainSeries>> = if let Some(start) = start {
        start.series.into_iter().map(Some).collect()
    } else {
        let mut series = vec![Some(TrainSeries::default()); group.len()];
        record_losses((first, &params, &device_data), lanes.as_mut(), 0, &mut series);
        series
    };
    let _training = crate::stop::training();
    let mut last_save = std::time::Instant::now();
    for t in first_step..=first.steps {
        let losses = train_step(
            first,
            (&mut params, &mut optimizer),
            &mut lanes,
            &mut data,
            &mut device_data,
            t,
        );
        // A diverged member stops at the step it diverged; the others go on. One number is
        // read back per step; the members are looked at only when it is not finite.
        let total = f64::try_from(losses.sum(Kind::Double)).unwrap_or(f64::NAN);
        if !total.is_finite() {
            let values = Vec::<f64>::try_from(losses.to_kind(Kind::Double).to_device(Device::Cpu))
                .unwrap_or_default();
            for (member, value) in values.iter().enumerate() {
                if series[member].is_some() && !value.is_finite() {
                    series[member] = None;
                    events.failed(member, t, format!("the training loss became {value} at step {t}; lower the learning rate or check the data"));
                }
            }
        }
        let checkpoint_here = checkpoints.contains(&t);
        let resume_due = crate::stop::take_save_request() || last_save.elapsed() > RESUME_EVERY;
        // A stored state holds the losses at its own step, so a later run can start from it
        // whatever steps that run records; entries this run does not record go at the end.
        if record.contains(&t) || resume_due {
            record_losses((first, &params, &device_data), lanes.as_mut(), t, &mut series);
        }
        if checkpoint_here || resume_due {
            last_save = std::time::Instant::now();
            for member in (0..group.len()).filter(|&m| series[m].is_some()) {
                let (params, state) = member_state(&names, &params, &optimizer, member);
                let snapshot = Snapshot {
                    step: t,
                    checkpoint: checkpoint_here,
                    params,
                    optimizer: state,
                    series: series[member].as_ref().expect("filtered to live members"),
                };
                events.snapshot(member, snapshot);
            }
            if crate::stop::exit_requested() {
                crate::stop::exit_now();
            }
        }
        if t % progress_every == 0 {
            // One read of the losses already computed, about 100 times a run: it changes no
            // number the run stores.
            let values = Vec::<f64>::try_from(losses.to_kind(Kind::Double).to_device(Device::Cpu))
                .unwrap_or_default();
            let losses = (0..group.len())
                .map(|m| values.get(m).copied().filter(|_| series[m].is_some()))
                .collect();
            events.progress(t, first.steps, losses);
        }
    }
    for entry in series.iter_mut().flatten() {
        retain(entry, &record);
    }
    series
}

/// Step `t` of the group: each member's loss (before the update), with the parameters moved.
fn train_step(
    spec: &TrainSpec,
    (params, optimizer): (&mut [Tensor], &mut Optimizer),
    lanes: &mut Option<Lanes>,
    data: &mut [MemberData],
    device_data: &mut DeviceData,
    t: u64,
) -> Tensor {
    let (losses, grads) = match lanes {
        // The toy model's lanes read each member's samples from the pool in host memory.
        Some(Lanes { tms, pool: Some(pool), .. }) => {
            let mut orders: Vec<&mut EpochOrder> = data.iter_mut().map(|m| &mut m.order).collect();
            let (rows, samples) = pool.step(&mut orders, t, spec.batch_size);
            tms.per_member_rows(params, samples, rows)
        }
        // Fresh data: the step's draws, copied in.
        Some(Lanes { tms, pool: None, .. }) => {
            let (x, y) = batch(data, device_data, t, spec);
            tms.per_member_batches(params, &x, &y)
        }
        None => {
            let (x, y) = batch(data, device_data, t, spec);
            spec.loss.with_gradients(&spec.model, params, &x, &y, spec.kind)
        }
    };
    optimizer.step(params, &grads, t);
    losses
}

/// Tensors by name, as a checkpoint file holds them.
pub type Named = Vec<(String, Tensor)>;

/// One member's parameters and optimizer state (`W.exp_avg`, ...), by name, for a checkpoint or
/// a resume point.
fn member_state(
    names: &[String],
    params: &[Tensor],
    optimizer: &Optimizer,
    member: usize,
) -> (Named, Named) {
    let row = |p: &Tensor| p.get(member as i64).detach().copy();
    let weights = names.iter().zip(params).map(|(name, p)| (name.clone(), row(p))).collect();
    let state_names = optimizer.specs[0].state_names();
    let state = names
        .iter()
        .zip(&optimizer.state)
        .flat_map(|(name, tensors)| {
            state_names.iter().zip(tensors).map(move |(what, t)| (format!("{name}.{what}"), row(t)))
        })
        .collect();
    (weights, state)
}

/// The fixed evaluation sample of fresh data: [`FRESH_EVAL_SAMPLES`] samples, or sequences
/// holding [`FRESH_EVAL_POSITIONS`] positions.
fn fresh_eval_rows(data: &DataSpec) -> usize {
    if data.sequence().is_some() {
        data.rows_for_positions(FRESH_EVAL_POSITIONS)
    } else {
        FRESH_EVAL_SAMPLES
    }
}

/// A member's training pool (none for fresh data) and held-out samples.
fn member_samples(spec: &TrainSpec) -> (Option<Samples>, Option<Samples>) {
    let (train, mut test) = spec.data.pools(spec.test_fraction);
    if let Some(test_spec) = &spec.test_data {
        test = Some(match test_spec.size {
            Size::Pool(n) => test_spec.draw(n, 0),
            Size::Fresh => test_spec.draw(fresh_eval_rows(test_spec), u64::MAX),
        });
    }
    (train, test)
}

/// The minibatch of step `t` for every member, as `[members, batch, dim]` tensors.
fn batch(
    data: &mut [MemberData],
    device_data: &mut DeviceData,
    t: u64,
    spec: &TrainSpec,
) -> (Tensor, Tensor) {
    let members = data.len() as i64;
    match (&device_data.train, spec.batch_size) {
        (Some((x, y)), None) => (x.shallow_clone(), y.shallow_clone()),
        (Some((x, _)), Some(size)) if in_one_epoch(t, size, x.size()[1] as usize) => {
            // A minibatch within one epoch is a slice of the epoch's shuffled pool, which is
            // gathered once per epoch.
            let n = x.size()[1] as usize;
            let start = (t - 1) as usize * size;
            let epoch = (start / n) as u64;
            let (x, y) = device_data.shuffled(data, epoch, spec);
            let slice = |pool: &Tensor| pool.narrow(1, (start % n) as i64, size as i64);
            (slice(&x), slice(&y))
        }
        (Some((x, y)), Some(size)) => {
            let n = x.size()[1];
            let mut indices = Vec::with_capacity(data.len() * size);
            for (member, member_data) in data.iter_mut().enumerate() {
                let offset = member as i64 * n;
                indices.extend(
                    member_data.order.indices(t, size, n as usize).into_iter().map(|i| i + offset),
                );
            }
            let index = Tensor::from_slice(&indices).to_device(spec.device);
            let pick = |pool: &Tensor| {
                let dim = pool.size()[2];
                pool.view([members * n, dim]).index_select(0, &index).view([
                    members,
                    size as i64,
                    dim,
                ])
            };
            let inputs = pick(x);
            if spec.data.targets_are_inputs() {
                (inputs.shallow_clone(), inputs)
            } else {
                (inputs, pick(y))
            }
        }
        (None, size) => {
            let size = size.unwrap_or(1);
            let draws: Vec<Samples> = data.iter().map(|m| m.spec.draw(size, t)).collect();
            spec.data.tensors(&draws, spec.kind, spec.device)
        }
    }
}

/// Whether step `t`'s minibatch lies within one epoch of a pool of `n`.
fn in_one_epoch(t: u64, size: usize, n: usize) -> bool {
    let start = (t - 1) as usize * size;
    size <= n && start / n == (start + size - 1) / n
}

impl DeviceData {
    /// The group's pool in epoch `epoch`'s order, member by member (gathered once per epoch).
    fn shuffled(
        &mut self,
        data: &mut [MemberData],
        epoch: u64,
        spec: &TrainSpec,
    ) -> (Tensor, Tensor) {
        if let Some((cached, x, y)) = &self.epoch
            && *cached == epoch
        {
            return (x.shallow_clone(), y.shallow_clone());
        }
        let (x, y) = self.train.as_ref().expect("a pool");
        let (members, n) = (x.size()[0], x.size()[1]);
        let mut indices = Vec::with_capacity((members * n) as usize);
        EpochOrder::prepare(data.iter_mut().map(|m| &mut m.order), epoch, n as usize);
        for (member, member_data) in data.iter_mut().enumerate() {
            let offset = member as i64 * n;
            indices.extend(
                member_data
                    .order
                    .permutation(epoch, n as usize)
                    .iter()
                    .map(|&i| i64::from(i) + offset),
            );
        }
        let index = Tensor::from_slice(&indices).to_device(spec.device);
        let gather = |pool: &Tensor| {
            let dim = pool.size()[2];
            pool.view([members * n, dim]).index_select(0, &index).view([members, n, dim])
        };
        let shuffled_x = gather(x);
        let shuffled_y =
            if spec.data.targets_are_inputs() { shuffled_x.shallow_clone() } else { gather(y) };
        self.epoch = Some((epoch, shuffled_x.shallow_clone(), shuffled_y.shallow_clone()));
        (shuffled_x, shuffled_y)
    }
}

/// Records every live member's loss on its whole training pool (a fixed evaluation sample for
/// fresh data) and test pool, at parameters after `t` steps.
fn record_losses(
    (spec, params, data): (&TrainSpec, &[Tensor], &DeviceData),
    mut lanes: Option<&mut Lanes>,
    t: u64,
    series: &mut [Option<TrainSeries>],
) {
    let mut loss_on = |(which, set): (Recorded, &Option<(Tensor, Tensor)>)| {
        let (x, y) = set.as_ref()?;
        // The toy model's in its lanes (a libtorch pass over the whole pool was a tenth of an
        // ensemble's training).
        if let Some(losses) = lanes.as_deref_mut().and_then(|l| l.mean_losses(which, params)) {
            return Some(losses);
        }
        let losses =
            tch::no_grad(|| spec.loss.per_member(&spec.model.forward(params, x), y, Kind::Double));
        Vec::<f64>::try_from(losses.to_device(Device::Cpu)).ok()
    };
    let train = loss_on(if data.train.is_some() {
        (Recorded::Pool, &data.train)
    } else {
        (Recorded::Eval, &data.eval)
    });
    let test = loss_on((Recorded::Test, &data.test));
    for (member, entry) in series.iter_mut().enumerate() {
        if let Some(entry) = entry {
            entry.steps.push(t);
            entry.train_loss.push(train.as_ref().map_or(f64::NAN, |l| l[member]));
            if let Some(test) = &test {
                entry.test_loss.push(test[member]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use devspec_protocol::params::TrainParams;

    use super::{DeviceData, HostPool, MemberData, TrainSpec, batch};

    fn spec(seed: i64, batch_size: &serde_json::Value) -> TrainSpec {
        TrainSpec::new(&params(seed, batch_size, 1000, 0.0)).expect("a train spec")
    }

    fn params(seed: i64, batch: &serde_json::Value, samples: i64, test: f64) -> TrainParams {
        serde_json::from_value(serde_json::json!({
            "model": {"call": "tms.model", "args": {"features": 5, "hidden": 2, "bias": true, "init_scale": 1.0}},
            "data": {"call": "tms.data", "args": {"features": 5, "sparsity": 0.5, "samples": samples}},
            "test_fraction": test, "loss": "auto",
            "optimizer": {"call": "sgd", "args": {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "schedule": "constant", "warmup": 0, "decay_factor": 0.1}},
            "batch_size": batch, "steps": 50, "seed": seed, "device": "cpu", "dtype": "f32",
        }))
        .expect("train parameters")
    }

    /// A test fraction that leaves no sample to train on (it divided by an empty pool) or none
    /// to test on (NaN test losses) is refused before training, naming both; one on each side
    /// trains.
    #[test]
    fn a_test_fraction_that_leaves_either_side_empty_is_refused() {
        let error = TrainSpec::new(&params(0, &serde_json::json!(1), 1, 0.9)).expect_err("refused");
        assert!(error.0.contains("holds out all 1 samples"), "{}", error.0);
        let error = TrainSpec::new(&params(0, &serde_json::json!(1), 2, 0.2)).expect_err("none");
        assert!(error.0.contains("holds out none"), "{}", error.0);
        assert!(TrainSpec::new(&params(0, &serde_json::json!(1), 2, 0.4)).is_ok());
    }

    /// The lanes read each member's minibatch from the host pool by rows; they must be the
    /// samples `batch` gathers, at every step: within an epoch, across two (a pool of 1,000 in
    /// batches of 300: steps 4 and 14 span two epochs), from a resumed step, and for a full
    /// batch.
    #[test]
    fn the_host_pool_rows_are_the_minibatches_batch_gathers() {
        for batch_size in [serde_json::json!(300), serde_json::json!("full")] {
            // Three seeds: each member its own pool and its own order.
            let group: Vec<TrainSpec> = (0..3).map(|seed| spec(seed, &batch_size)).collect();
            let first = &group[0];
            let mut device_data = DeviceData::new(&group, first);
            let mut pool = HostPool::new(device_data.train.as_ref().expect("a pool"), true);
            let pool_inputs = pool.inputs().to_vec();
            let mut blanks = 0;
            let member_data = || -> Vec<MemberData> { group.iter().map(MemberData::new).collect() };
            let (mut gathered, mut read) = (member_data(), member_data());
            // A resumed run's first step is its first call: the fresh `read` starts at step 9.
            for t in [1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 40] {
                let (x, _) = batch(&mut gathered, &mut device_data, t, first);
                let mut fresh = member_data();
                let from = if t < 9 { &mut fresh } else { &mut read };
                let mut orders: Vec<_> = from.iter_mut().map(|m| &mut m.order).collect();
                let (rows, _) = pool.step(&mut orders, t, first.batch_size);
                let x = x.contiguous();
                let mut host = vec![0.0f32; x.numel()];
                x.copy_data(&mut host, x.numel());
                let size = x.size()[1] as usize;
                for (m, rows) in rows.iter().enumerate() {
                    assert_eq!(rows.len(), size);
                    for (s, &row) in rows.iter().enumerate() {
                        let expected = &host[(m * size + s) * 5..(m * size + s + 1) * 5];
                        // Bitwise; a blank sample reads the row of zeros, the last one kept.
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        let read = &pool_inputs[row..row + 5];
                        assert_eq!(bits(read), bits(expected), "step {t}, member {m}, sample {s}");
                        let zeros = row == pool_inputs.len() - 5;
                        blanks += usize::from(zeros);
                        assert_eq!(zeros, bits(expected) == [0; 5]);
                    }
                }
            }
            // At sparsity 0.5 of 5 features, about 3% of the samples are blank.
            assert!(blanks > 0, "the blank rows were exercised");
            assert!(pool_inputs.len() < 3 * 1000 * 5, "blank rows are not kept");
        }
    }
}
