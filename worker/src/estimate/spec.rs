//! An `estimate` step's parameters as the worker reads them: the observable and its settings,
//! and what the planner copied from the step whose checkpoint it measures (the model, the data
//! and its seed, the loss, the training batch size, the dtype).

use devspec_protocol::params::{self, BatchSize, EstimateParams};
use globset::{Glob, GlobSet, GlobSetBuilder};
use tch::{Device, Kind};

use super::EstimateError;
use crate::train::data::DataSpec;
use crate::train::loss::Loss;
use crate::train::model::ModelSpec;
use crate::train::spec::{self, SpecError};

/// One estimate instance: an observable at one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateSpec {
    pub model: ModelSpec,
    /// The data of the step it is on (a `checkpoint` step may have none).
    pub data: Option<DataSpec>,
    pub test_fraction: f64,
    pub loss: Loss,
    pub train_batch_size: Option<usize>,
    /// The step's own seed, from which every chain's seed derives.
    pub seed: i64,
    pub kind: Kind,
    pub device: Device,
    pub observable: Observable,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Observable {
    Llc(Box<LlcSpec>),
    /// The loss over a whole data set (the step's, or this one).
    Loss(Option<DataSpec>),
    /// The Euclidean norm of the parameters whose names match (all when empty).
    WeightNorm(NamePatterns),
    /// The norm of the loss's gradient over a data set (the step's, or this one).
    GradientNorm(Option<DataSpec>),
    /// The trace of the loss's Hessian over a data set, from this many probe vectors.
    HessianTrace {
        samples: usize,
        data: Option<DataSpec>,
    },
    /// The model's outputs on the first `samples` inputs of a probe set.
    Outputs {
        samples: usize,
        probe: Option<DataSpec>,
    },
    /// The fraction of predictions of the right class (on a data set's training and test parts).
    Accuracy(Option<DataSpec>),
    /// Each attention head's induction score on a probe of token sequences.
    InductionScore(Option<DataSpec>),
    /// A toy model's represented features and their angles.
    TmsGeometry,
    /// In-context regression's reference losses beside the model's.
    IclBaselines,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlcSpec {
    pub sampler: SamplerSpec,
    pub nbeta: Nbeta,
    pub chains: usize,
    pub draws: usize,
    pub burnin: usize,
    pub steps_between_draws: usize,
    /// The sampler's minibatch; `None`: the training batch size.
    pub batch_size: Option<usize>,
    /// Batches averaged for the loss at the checkpoint; `None`: the whole pool.
    pub init_loss_batches: Option<usize>,
    /// The parameters sampled; the others are held at the checkpoint.
    pub restrict: NamePatterns,
    /// Another data set for the loss (the data-restricted LLC).
    pub data: Option<DataSpec>,
    pub min_chains: usize,
    pub independent_batches: bool,
    /// Every chain also sampled at half the localization (same noise and minibatches).
    pub companion: bool,
    pub acceptance_every: usize,
    /// All chains of all checkpoints as one computation (a large model's in several, `llc::runs`);
    /// else one chain at a time on autograd.
    pub batched: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nbeta {
    /// B / ln B for the batch size B (devinterp's default).
    Auto,
    /// n / ln n for the data set's size n (the paper's).
    Dataset,
    Value(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSpec {
    Sgld {
        lr: f64,
        localization: f64,
        noise_level: f64,
        weight_decay: f64,
        bounding_box: Option<f64>,
    },
    RmspropSgld {
        lr: f64,
        localization: f64,
        alpha: f64,
        eps: f64,
    },
}

impl SamplerSpec {
    fn new(sampler: &params::Sampler) -> SamplerSpec {
        match sampler {
            params::Sampler::Sgld(args) => SamplerSpec::Sgld {
                lr: args.lr,
                localization: args.localization,
                noise_level: args.noise_level,
                weight_decay: args.weight_decay,
                bounding_box: args.bounding_box,
            },
            params::Sampler::RmspropSgld(args) => SamplerSpec::RmspropSgld {
                lr: args.lr,
                localization: args.localization,
                alpha: args.alpha,
                eps: args.eps,
            },
        }
    }

    pub fn lr(&self) -> f64 {
        match *self {
            SamplerSpec::Sgld { lr, .. } | SamplerSpec::RmspropSgld { lr, .. } => lr,
        }
    }

    pub fn localization(&self) -> f64 {
        match *self {
            SamplerSpec::Sgld { localization, .. }
            | SamplerSpec::RmspropSgld { localization, .. } => localization,
        }
    }

    /// The same sampler with another step size and localization.
    /// The same sampler with another localization (a companion's).
    pub fn with_localization(self, localization: f64) -> SamplerSpec {
        self.with(self.lr(), localization)
    }

    fn with(mut self, new_lr: f64, new_localization: f64) -> SamplerSpec {
        match &mut self {
            SamplerSpec::Sgld { lr, localization, .. }
            | SamplerSpec::RmspropSgld { lr, localization, .. } => {
                (*lr, *localization) = (new_lr, new_localization);
            }
        }
        self
    }
}

impl EstimateSpec {
    pub fn new(params: &EstimateParams) -> Result<EstimateSpec, SpecError> {
        // Data seeds left out are the training step's, so the data is the data it trained on
        // (0 on a `checkpoint` step, which has no seed, as the registry derives it).
        let train_seed = params.train_seed.unwrap_or(0);
        let data_of = |data: &Option<params::Data>| -> Result<Option<DataSpec>, SpecError> {
            data.as_ref().map(|data| DataSpec::new(data, train_seed)).transpose()
        };
        let model = ModelSpec::new(&params.model)?;
        let data = data_of(&params.data)?;
        let (observable, own_data) = match &params.observable {
            params::Observable::Llc(args) => {
                let own = data_of(&args.data)?;
                (Observable::Llc(Box::new(LlcSpec::new(args, own.clone())?)), own)
            }
            params::Observable::Loss(args) => {
                let own = data_of(&args.data)?;
                (Observable::Loss(own.clone()), own)
            }
            params::Observable::WeightNorm(args) => {
                let restrict = NamePatterns::new(&args.restrict, "weight_norm.restrict")?;
                (Observable::WeightNorm(restrict), None)
            }
            params::Observable::GradientNorm(args) => {
                let own = data_of(&args.data)?;
                (Observable::GradientNorm(own.clone()), own)
            }
            params::Observable::HessianTrace(args) => {
                let own = data_of(&args.data)?;
                let samples = count(args.samples).max(1);
                (Observable::HessianTrace { samples, data: own.clone() }, own)
            }
            params::Observable::Outputs(args) => {
                let probe = data_of(&args.probe)?;
                let samples = count(args.samples).max(1);
                (Observable::Outputs { samples, probe: probe.clone() }, probe)
            }
            params::Observable::Accuracy(args) => {
                let own = data_of(&args.data)?;
                (Observable::Accuracy(own.clone()), own)
            }
            params::Observable::InductionScore(args) => {
                let probe = data_of(&args.probe)?;
                (Observable::InductionScore(probe.clone()), probe)
            }
            params::Observable::TmsGeometry(params::NoArgs {}) => (Observable::TmsGeometry, None),
            params::Observable::IclBaselines(params::NoArgs {}) => (Observable::IclBaselines, None),
        };
        // A `checkpoint` step has no `loss`: the data's natural loss, as `auto` picks it.
        let loss = match own_data.as_ref().or(data.as_ref()) {
            Some(data) => Loss::new(params.loss.unwrap_or(params::Loss::Auto), data)?,
            None => Loss::MSE,
        };
        let train_batch_size = match params.train_batch_size {
            Some(BatchSize::Samples(size)) => usize::try_from(size).ok(),
            Some(BatchSize::Full) | None => None,
        };
        Ok(EstimateSpec {
            loss,
            // A `checkpoint` step holds nothing out.
            test_fraction: params.test_fraction.unwrap_or(0.0),
            seed: params.seed,
            kind: spec::dtype(params.dtype),
            device: spec::device(params.device),
            model,
            data,
            train_batch_size,
            observable,
        })
    }
}

impl EstimateSpec {
    /// What members must share to be sampled as one computation: everything but the LLC
    /// sampler's step size and localization and `n_beta`, which are per row (a calibration's
    /// cells differ in these).
    pub fn batch_key(&self) -> EstimateSpec {
        let mut key = self.clone();
        if let Observable::Llc(llc) = &mut key.observable {
            llc.sampler = llc.sampler.with(0.0, 0.0);
            llc.nbeta = Nbeta::Auto;
        }
        key
    }

    /// The data an observable's loss is taken on, with the fraction held out of it: its own
    /// (all of it), else the step's.
    pub fn data_for<'a>(
        &'a self,
        own: Option<&'a DataSpec>,
    ) -> Result<(&'a DataSpec, f64), EstimateError> {
        match (own, &self.data) {
            (Some(own), _) => Ok((own, 0.0)),
            (None, Some(data)) => Ok((data, self.test_fraction)),
            (None, None) => Err(EstimateError::unfit(
                "the step it is on has no `data`: give that step `data = ...`, or the \
                 observable its own (`llc(..., data = ...)`)",
            )),
        }
    }
}

impl LlcSpec {
    fn new(args: &params::Llc, data: Option<DataSpec>) -> Result<LlcSpec, SpecError> {
        let chains = count(args.chains).max(1);
        let nbeta = match args.nbeta {
            params::Nbeta::Auto => Nbeta::Auto,
            params::Nbeta::Dataset => Nbeta::Dataset,
            params::Nbeta::Value(value) => Nbeta::Value(value),
        };
        Ok(LlcSpec {
            sampler: SamplerSpec::new(&args.sampler),
            nbeta,
            chains,
            draws: count(args.draws).max(1),
            burnin: count(args.burnin),
            steps_between_draws: count(args.steps_between_draws).max(1),
            batch_size: args.batch_size.and_then(|b| usize::try_from(b).ok()),
            init_loss_batches: args.init_loss_batches.and_then(|b| usize::try_from(b).ok()),
            restrict: NamePatterns::new(&args.restrict, "llc.restrict")?,
            data,
            // Left out, half of `chains` rounded up, as the registry derives it.
            min_chains: args
                .min_chains
                .and_then(|m| usize::try_from(m).ok())
                .unwrap_or(chains.div_ceil(2)),
            independent_batches: args.independent_batches,
            companion: args.companion,
            acceptance_every: count(args.acceptance_every).max(1),
            batched: args.batched,
        })
    }

    /// The `n_beta` used: `data_size` is the number of samples of the loss's data (`None` for
    /// fresh data), `batch` the sampler's minibatch.
    pub fn nbeta_value(&self, batch: usize, data_size: Option<usize>) -> Result<f64, SpecError> {
        let over_log = |n: usize| n as f64 / (n as f64).ln();
        match self.nbeta {
            Nbeta::Value(value) => Ok(value),
            Nbeta::Auto if batch > 1 => Ok(over_log(batch)),
            Nbeta::Dataset => match data_size {
                Some(n) if n > 1 => Ok(over_log(n)),
                _ => Err(SpecError(
                    "`nbeta = dataset` needs a fixed data set (`samples = N`), not fresh samples"
                        .into(),
                )),
            },
            Nbeta::Auto => {
                Err(SpecError("`nbeta = auto` is B / ln B and needs a batch size above 1".into()))
            }
        }
    }
}

/// Globs of parameter names (`restrict = ["layers.0.*"]`), compiled once; none: every name.
#[derive(Debug, Clone)]
pub struct NamePatterns {
    patterns: Vec<String>,
    set: GlobSet,
}

/// Two pattern lists are the same when they are written the same.
impl PartialEq for NamePatterns {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl NamePatterns {
    /// Compiles `patterns`, the field `what` (`llc.restrict`).
    fn new(patterns: &[String], what: &str) -> Result<NamePatterns, SpecError> {
        let mut set = GlobSetBuilder::new();
        for pattern in patterns {
            set.add(Glob::new(pattern).map_err(|err| {
                SpecError(format!("`{what}`: `{pattern}` is not a valid glob: {err}"))
            })?);
        }
        let set = set.build().map_err(|err| SpecError(format!("`{what}`: {err}")))?;
        Ok(NamePatterns { patterns: patterns.to_vec(), set })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.set.is_match(name)
    }
}

fn count(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}
