//! The data a step trains on: the built-in data, generated in Rust from a seed (sparse features
//! for the toy model of superposition, `tms.data`; Gaussian inputs labelled by a
//! deep-linear-network teacher, `dln.teacher` and `dln.data`), or the user's own tensors read
//! from a file (`tensors`, see `user_data`). A data value is either a fixed pool of `samples`
//! (drawn once; a file's rows) or `fresh` samples drawn for every training step.

use std::sync::Arc;

use devspec_protocol::params;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::rng::{Purpose, stream};
use super::sequence_data::{IclRegression, InductionData, ModularData, Readout, Sequence};
use super::spec::SpecError;
use super::user_data::UserData;

/// Samples, row-major: `n` rows of `in_dim` inputs and `out_dim` targets, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pub n: usize,
    pub inputs: Vec<f64>,
    pub targets: Vec<f64>,
}

/// How many samples a data value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Pool(usize),
    Fresh,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    kind: Kind,
    pub size: Size,
    seed: i64,
    /// Whether the seed is the step's (none was written): members of an ensemble then each
    /// have their own data, and are still one group.
    seed_is_the_steps: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Tms { features: usize, sparsity: f64 },
    Dln { teacher: Teacher, noise: f64 },
    Tensors(Arc<UserData>),
    Icl(IclRegression),
    Induction(InductionData),
    Modular(ModularData),
}

impl DataSpec {
    /// Reads a data constructor; a seed left out is `step_seed` (the step's), as the registry
    /// derives it.
    pub fn new(data: &params::Data, step_seed: i64) -> Result<DataSpec, SpecError> {
        let generated = |kind: Kind, size: Size, written: Option<i64>| DataSpec {
            kind,
            size,
            seed: written.unwrap_or(step_seed),
            seed_is_the_steps: written.is_none(),
        };
        let pool = |samples: params::Samples| match samples {
            params::Samples::Pool(n) => Size::Pool(count(n)),
            params::Samples::Fresh => Size::Fresh,
        };
        let spec = match data {
            params::Data::Tensors(args) => {
                let data = UserData::read(args)?;
                let size = Size::Pool(data.n);
                DataSpec {
                    kind: Kind::Tensors(Arc::new(data)),
                    size,
                    seed: 0,
                    seed_is_the_steps: false,
                }
            }
            // The modular table is its own pool: every pair, the first ones trained on.
            params::Data::Modular(args) => {
                let table = ModularData::new(args, args.seed.unwrap_or(step_seed))?;
                let size = Size::Pool(table.pairs());
                generated(Kind::Modular(table), size, args.seed)
            }
            // In-context regression draws every batch anew.
            params::Data::IclRegression(args) => generated(
                Kind::Icl(IclRegression::new(args, args.seed.unwrap_or(step_seed))),
                Size::Fresh,
                args.seed,
            ),
            params::Data::Induction(args) => {
                generated(Kind::Induction(InductionData::new(args)?), pool(args.samples), args.seed)
            }
            params::Data::Tms(args) => generated(
                Kind::Tms { features: count(args.features), sparsity: args.sparsity },
                pool(args.samples),
                args.seed,
            ),
            params::Data::Dln(args) => generated(
                Kind::Dln { teacher: Teacher::new(&args.teacher)?, noise: args.noise },
                pool(args.samples),
                args.seed,
            ),
        };
        // Minibatch orders count a pool's rows in `u32` (`epoch_order`).
        match spec.size {
            Size::Pool(n) if u32::try_from(n).is_err() => Err(SpecError(format!(
                "the data has {n} samples; a pool holds at most {} (or draw `samples = fresh`)",
                u32::MAX
            ))),
            _ => Ok(spec),
        }
    }

    /// The same data with the step's seed left out, for comparing group members.
    pub fn without_step_seed(&self) -> DataSpec {
        let seed = if self.seed_is_the_steps { 0 } else { self.seed };
        DataSpec { seed, ..self.clone() }
    }

    /// Whether each sample's target is its input (the toy model of superposition
    /// reconstructs its input), so a minibatch need not be gathered twice.
    pub fn targets_are_inputs(&self) -> bool {
        matches!(self.kind, Kind::Tms { .. })
    }

    pub fn input_dim(&self) -> usize {
        match &self.kind {
            Kind::Tms { features, .. } => *features,
            Kind::Dln { teacher, .. } => teacher.widths[0],
            Kind::Tensors(data) => data.input_dim,
            Kind::Icl(icl) => icl.input_dim(),
            Kind::Induction(induction) => induction.length,
            Kind::Modular(table) => table.input_dim(),
        }
    }

    /// Target values per sample (1 for class labels).
    pub fn output_dim(&self) -> usize {
        match &self.kind {
            Kind::Tms { features, .. } => *features,
            Kind::Dln { teacher, .. } => *teacher.widths.last().expect("a teacher has widths"),
            Kind::Tensors(data) => data.output_dim,
            Kind::Icl(icl) => icl.output_dim(),
            Kind::Induction(induction) => induction.length,
            Kind::Modular(_) => 1,
        }
    }

    /// For targets that are class labels: how many classes they need (the largest label plus
    /// one).
    pub fn classes(&self) -> Option<usize> {
        match &self.kind {
            Kind::Tensors(data) => data.classes,
            Kind::Induction(induction) => Some(induction.vocab),
            Kind::Modular(table) => Some(table.p),
            Kind::Tms { .. } | Kind::Dln { .. } | Kind::Icl(_) => None,
        }
    }

    /// For sequence data, how a row's positions are laid out (a transformer's input).
    pub fn sequence(&self) -> Option<Sequence> {
        match &self.kind {
            Kind::Icl(icl) => Some(icl.sequence()),
            Kind::Induction(induction) => Some(induction.sequence()),
            Kind::Modular(table) => table.sequence(),
            Kind::Tms { .. } | Kind::Dln { .. } | Kind::Tensors(_) => None,
        }
    }

    /// How many samples hold about `predictions` scored positions (a sequence has one per
    /// target), at least 16.
    pub fn rows_for_predictions(&self, predictions: usize) -> usize {
        let per_row = match self.sequence() {
            Some(sequence) => {
                let Readout { offset, stride } = self.readout();
                (sequence.positions - offset as usize).div_ceil(stride as usize)
            }
            None => 1,
        };
        (predictions / per_row).max(16)
    }

    /// How many samples a forward pass over about `positions` positions takes (one per sample
    /// for data that is not a sequence), at least 16: what a pass costs.
    pub fn rows_for_positions(&self, positions: usize) -> usize {
        let per_row = self.sequence().map_or(1, |sequence| sequence.positions);
        (positions / per_row).max(16)
    }

    /// The positions of a sequence that have targets.
    pub fn readout(&self) -> Readout {
        match &self.kind {
            Kind::Icl(_) => IclRegression::READOUT,
            Kind::Modular(table) => table.readout(),
            Kind::Tms { .. } | Kind::Dln { .. } | Kind::Tensors(_) | Kind::Induction(_) => {
                Readout::EVERY
            }
        }
    }

    /// The in-context regression data, for its baselines.
    pub fn icl(&self) -> Option<&IclRegression> {
        match &self.kind {
            Kind::Icl(icl) => Some(icl),
            Kind::Tms { .. }
            | Kind::Dln { .. }
            | Kind::Tensors(_)
            | Kind::Induction(_)
            | Kind::Modular(_) => None,
        }
    }

    /// Whether the data holds out its own test samples (the modular table's test pairs), so a
    /// step's `test_fraction` does not apply.
    pub fn has_own_split(&self) -> bool {
        matches!(self.kind, Kind::Modular(_))
    }

    /// Where the data comes from, for messages: the file it was read from, if any.
    pub fn source(&self) -> Option<&str> {
        match &self.kind {
            Kind::Tensors(data) => Some(&data.path),
            Kind::Tms { .. }
            | Kind::Dln { .. }
            | Kind::Icl(_)
            | Kind::Induction(_)
            | Kind::Modular(_) => None,
        }
    }

    /// The training pool (none for fresh data) and the held-out part, its last `test_fraction`
    /// of samples.
    pub fn pools(&self, test_fraction: f64) -> (Option<Samples>, Option<Samples>) {
        let Size::Pool(n) = self.size else { return (None, None) };
        if let Kind::Modular(table) = &self.kind {
            let part = |from: usize, to: usize| {
                let (mut inputs, mut targets) = (Vec::new(), Vec::new());
                table.rows(from, to, &mut inputs, &mut targets);
                Samples { n: to - from, inputs, targets }
            };
            return (Some(part(0, table.train_pairs)), Some(part(table.train_pairs, n)));
        }
        let pool = self.draw(n, 0);
        if test_fraction <= 0.0 {
            return (Some(pool), None);
        }
        let at = pool.n - held_out(pool.n, test_fraction);
        let (input_dim, output_dim) = (self.input_dim(), self.output_dim());
        let part = |from: usize, to: usize| Samples {
            n: to - from,
            inputs: pool.inputs[from * input_dim..to * input_dim].to_vec(),
            targets: pool.targets[from * output_dim..to * output_dim].to_vec(),
        };
        (Some(part(0, at)), Some(part(at, pool.n)))
    }

    /// Sample sets of one size (a member's each) as `[members, n, dim]` tensors of `kind` on
    /// `device`: inputs, and targets (class labels as whole numbers, for the cross-entropy's
    /// gather).
    pub fn tensors(
        &self,
        sets: &[Samples],
        kind: tch::Kind,
        device: tch::Device,
    ) -> (tch::Tensor, tch::Tensor) {
        let (members, rows) = (sets.len() as i64, sets[0].n as i64);
        let to = |values: Vec<f64>, dim: usize, kind: tch::Kind| {
            tch::Tensor::from_slice(&values)
                .reshape([members, rows, dim as i64])
                .to_kind(kind)
                .to_device(device)
        };
        let inputs = sets.iter().flat_map(|s| s.inputs.iter().copied()).collect();
        let targets = sets.iter().flat_map(|s| s.targets.iter().copied()).collect();
        let target_kind = if self.classes().is_some() { tch::Kind::Int64 } else { kind };
        (to(inputs, self.input_dim(), kind), to(targets, self.output_dim(), target_kind))
    }

    /// `n` samples of the stream `index` (0 for a pool; the step for fresh samples). A file's
    /// data is its first `n` rows.
    pub fn draw(&self, n: usize, index: u64) -> Samples {
        let mut rng = stream(self.seed, Purpose::Data, index);
        let (input_dim, output_dim) = (self.input_dim(), self.output_dim());
        let mut inputs = Vec::with_capacity(n * input_dim);
        let mut targets = Vec::with_capacity(n * output_dim);
        match &self.kind {
            Kind::Tms { features, sparsity } => {
                for _ in 0..n * features {
                    // Each feature is present with probability 1 - S, then uniform on [0, 1].
                    let present = rng.r#gen::<f64>() >= *sparsity;
                    let value = rng.r#gen::<f64>();
                    inputs.push(if present { value } else { 0.0 });
                }
                targets.clone_from(&inputs);
            }
            Kind::Dln { teacher, noise } => {
                let mut noise_rng = stream(self.seed, Purpose::Noise, index);
                for _ in 0..n {
                    let x: Vec<f64> =
                        (0..input_dim).map(|_| StandardNormal.sample(&mut rng)).collect();
                    let y = teacher.apply(&x);
                    inputs.extend_from_slice(&x);
                    targets.extend(y.into_iter().map(|y| {
                        let e: f64 = StandardNormal.sample(&mut noise_rng);
                        y + noise * e
                    }));
                }
            }
            Kind::Tensors(data) => return data.rows(n),
            Kind::Icl(icl) => icl.draw(&mut rng, n, &mut inputs, &mut targets),
            Kind::Induction(induction) => induction.draw(&mut rng, n, &mut inputs, &mut targets),
            Kind::Modular(table) => table.rows(0, n, &mut inputs, &mut targets),
        }
        Samples { n, inputs, targets }
    }
}

/// A deep linear network with random weights whose end-to-end map has exactly a given rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Teacher {
    pub widths: Vec<usize>,
    /// Each layer's weight, `[out, in]` row-major, as `layers.{i}.weight`.
    pub layers: Vec<Vec<f64>>,
}

impl Teacher {
    pub fn new(teacher: &params::Teacher) -> Result<Teacher, SpecError> {
        match teacher {
            params::Teacher::Dln(args) => {
                let widths: Vec<usize> = args.widths.iter().copied().map(count).collect();
                Teacher::random(&widths, count(args.rank), args.seed)
            }
        }
    }

    /// Layers drawn from N(0, 1 / fan in); the first is a product of `[w1, r]` and `[r, w0]`
    /// Gaussian factors, so the end-to-end map has rank r (exactly, with probability one, when
    /// r is at most every width).
    pub fn random(widths: &[usize], rank: usize, seed: i64) -> Result<Teacher, SpecError> {
        let narrowest = widths.iter().copied().min().unwrap_or(0);
        if widths.len() < 2 {
            return Err(SpecError("a teacher needs at least two widths".into()));
        }
        if rank > narrowest {
            return Err(SpecError(format!(
                "a teacher of widths {widths:?} cannot have rank {rank}: its narrowest layer has {narrowest}"
            )));
        }
        let mut rng = stream(seed, Purpose::Teacher, 0);
        let mut gaussian = |n: usize, std: f64| -> Vec<f64> {
            (0..n)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    std * z
                })
                .collect()
        };
        let mut layers = Vec::new();
        for (index, pair) in widths.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let std = 1.0 / (fan_in as f64).sqrt();
            if index > 0 {
                layers.push(gaussian(fan_out * fan_in, std));
                continue;
            }
            let left = gaussian(fan_out * rank, 1.0 / (rank.max(1) as f64).sqrt());
            let right = gaussian(rank * fan_in, std);
            let mut weight = vec![0.0; fan_out * fan_in];
            for o in 0..fan_out {
                for i in 0..fan_in {
                    weight[o * fan_in + i] =
                        (0..rank).map(|r| left[o * rank + r] * right[r * fan_in + i]).sum();
                }
            }
            layers.push(weight);
        }
        Ok(Teacher { widths: widths.to_vec(), layers })
    }

    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        let mut current = x.to_vec();
        for (layer, pair) in self.layers.iter().zip(self.widths.windows(2)) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            current = (0..fan_out)
                .map(|o| (0..fan_in).map(|i| layer[o * fan_in + i] * current[i]).sum())
                .collect();
        }
        current
    }
}

/// How many of a pool's `n` samples `test_fraction` holds out for testing (at most `n`).
pub fn held_out(n: usize, test_fraction: f64) -> usize {
    (((n as f64) * test_fraction.max(0.0)).round() as usize).min(n)
}

fn count(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::Teacher;

    fn rank(matrix: &[f64], rows: usize, cols: usize) -> usize {
        // Gaussian elimination with a tolerance far above rounding and far below the entries.
        let mut m = matrix.to_vec();
        let mut rank = 0;
        for col in 0..cols {
            let Some(pivot) = (rank..rows)
                .max_by(|&a, &b| m[a * cols + col].abs().total_cmp(&m[b * cols + col].abs()))
            else {
                break;
            };
            if m[pivot * cols + col].abs() < 1e-9 {
                continue;
            }
            for c in 0..cols {
                m.swap(rank * cols + c, pivot * cols + c);
            }
            for r in 0..rows {
                if r != rank {
                    let factor = m[r * cols + col] / m[rank * cols + col];
                    for c in 0..cols {
                        m[r * cols + c] -= factor * m[rank * cols + c];
                    }
                }
            }
            rank += 1;
        }
        rank
    }

    #[test]
    fn a_teachers_end_to_end_map_has_exactly_its_rank() {
        for r in [0, 1, 2, 5] {
            let teacher = Teacher::random(&[10, 5, 5, 10], r, 3).unwrap();
            // The end-to-end map's columns: the teacher applied to each basis vector.
            let mut map = vec![0.0; 10 * 10];
            for i in 0..10 {
                let mut e = vec![0.0; 10];
                e[i] = 1.0;
                for (o, y) in teacher.apply(&e).into_iter().enumerate() {
                    map[o * 10 + i] = y;
                }
            }
            assert_eq!(rank(&map, 10, 10), r, "rank {r}");
        }
        assert!(Teacher::random(&[10, 5, 5, 10], 6, 0).is_err());
        assert_eq!(
            Teacher::random(&[4, 4], 2, 9).unwrap(),
            Teacher::random(&[4, 4], 2, 9).unwrap()
        );
    }
}
