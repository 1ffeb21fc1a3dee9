//! An `estimate` step's parameters as the worker reads them: the observable and its settings,
//! and what the planner copied from the step whose checkpoint it measures (the model, the data
//! and its seed, the loss, the training batch size, the dtype).

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::Value;
use tch::{Device, Kind};

use crate::train::data::DataSpec;
use crate::train::loss::Loss;
use crate::train::model::ModelSpec;
use crate::train::spec::{self, Ctor, SpecError};

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
    /// All chains of all checkpoints as one computation; else one chain at a time on autograd.
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
    fn parse(ctor: Ctor<'_>) -> Result<SamplerSpec, SpecError> {
        let localization = ctor.opt_float("localization").unwrap_or(0.0);
        match ctor.name {
            "sgld" => Ok(SamplerSpec::Sgld {
                lr: ctor.float("lr")?,
                localization,
                noise_level: ctor.opt_float("noise_level").unwrap_or(1.0),
                weight_decay: ctor.opt_float("weight_decay").unwrap_or(0.0),
                bounding_box: ctor.opt_float("bounding_box"),
            }),
            "rmsprop_sgld" => Ok(SamplerSpec::RmspropSgld {
                lr: ctor.float("lr")?,
                localization,
                alpha: ctor.opt_float("alpha").unwrap_or(0.99),
                eps: ctor.opt_float("eps").unwrap_or(0.1),
            }),
            other => Err(SpecError(format!("`{other}` is not a sampler"))),
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
    pub fn parse(params: &Value) -> Result<EstimateSpec, SpecError> {
        let field = |name: &str| -> Result<Ctor<'_>, SpecError> {
            Ctor::of(
                params.get(name).ok_or_else(|| SpecError(format!("`{name}` is missing")))?,
                name,
            )
        };
        // Data seeds left out are the training step's, so the data is the data it trained on.
        let train_seed = params.get("train_seed").and_then(Value::as_i64).unwrap_or(0);
        let model = ModelSpec::parse(field("model")?)?;
        let data = match params.get("data") {
            Some(_) => Some(DataSpec::parse(field("data")?, train_seed)?),
            None => None,
        };
        let observable_ctor = field("observable")?;
        let data_of = |ctor: &Ctor<'_>| -> Result<Option<DataSpec>, SpecError> {
            match ctor.args.get("data") {
                Some(value) => Ok(Some(DataSpec::parse(Ctor::of(value, "data")?, train_seed)?)),
                None => Ok(None),
            }
        };
        let (observable, own_data) = match observable_ctor.name {
            "llc" => {
                let own = data_of(&observable_ctor)?;
                (Observable::Llc(Box::new(LlcSpec::parse(observable_ctor, own.clone())?)), own)
            }
            "loss" => {
                let own = data_of(&observable_ctor)?;
                (Observable::Loss(own.clone()), own)
            }
            "weight_norm" => {
                let restrict = NamePatterns::parse(&observable_ctor, "restrict")?;
                (Observable::WeightNorm(restrict), None)
            }
            "hessian_trace" => {
                let own = data_of(&observable_ctor)?;
                let samples = observable_ctor.opt_int("samples").unwrap_or(100).max(1);
                let samples = usize::try_from(samples).unwrap_or(100);
                (Observable::HessianTrace { samples, data: own.clone() }, own)
            }
            "outputs" => {
                let probe = match observable_ctor.args.get("probe") {
                    Some(value) => Some(DataSpec::parse(Ctor::of(value, "probe")?, train_seed)?),
                    None => None,
                };
                let samples = observable_ctor.opt_int("samples").unwrap_or(256).max(1);
                let samples = usize::try_from(samples).unwrap_or(256);
                (Observable::Outputs { samples, probe: probe.clone() }, probe)
            }
            "accuracy" => {
                let own = data_of(&observable_ctor)?;
                (Observable::Accuracy(own.clone()), own)
            }
            "induction_score" => {
                let probe = match observable_ctor.args.get("probe") {
                    Some(value) => Some(DataSpec::parse(Ctor::of(value, "probe")?, train_seed)?),
                    None => None,
                };
                (Observable::InductionScore(probe.clone()), probe)
            }
            "tms.geometry" => (Observable::TmsGeometry, None),
            "icl.baselines" => (Observable::IclBaselines, None),
            other => {
                return Err(SpecError(format!("this worker cannot estimate `{other}` yet")));
            }
        };
        let loss = match own_data.as_ref().or(data.as_ref()) {
            Some(data) => Loss::parse(params.get("loss"), data)?,
            None => Loss::MSE,
        };
        let train_batch_size = params
            .get("train_batch_size")
            .and_then(Value::as_u64)
            .and_then(|b| usize::try_from(b).ok());
        Ok(EstimateSpec {
            loss,
            test_fraction: params.get("test_fraction").and_then(Value::as_f64).unwrap_or(0.0),
            seed: params.get("seed").and_then(Value::as_i64).unwrap_or(0),
            kind: spec::dtype(params)?,
            device: spec::device(params)?,
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
    ) -> Result<(&'a DataSpec, f64), String> {
        match (own, &self.data) {
            (Some(own), _) => Ok((own, 0.0)),
            (None, Some(data)) => Ok((data, self.test_fraction)),
            (None, None) => {
                Err("the step it is on has no `data`: give that step `data = ...`, or the \
                 observable its own (`llc(..., data = ...)`)"
                    .into())
            }
        }
    }
}

impl LlcSpec {
    fn parse(ctor: Ctor<'_>, data: Option<DataSpec>) -> Result<LlcSpec, SpecError> {
        let count = |name: &str, default: i64| {
            usize::try_from(ctor.opt_int(name).unwrap_or(default)).unwrap_or(0)
        };
        let chains = count("chains", 4).max(1);
        let nbeta = match ctor.args.get("nbeta") {
            None => Nbeta::Auto,
            Some(Value::String(word)) if word == "auto" => Nbeta::Auto,
            Some(Value::String(word)) if word == "dataset" => Nbeta::Dataset,
            Some(value) => Nbeta::Value(
                value.as_f64().ok_or_else(|| SpecError("`llc.nbeta` must be a number".into()))?,
            ),
        };
        let restrict = NamePatterns::parse(&ctor, "restrict")?;
        Ok(LlcSpec {
            sampler: SamplerSpec::parse(ctor.ctor("sampler")?)?,
            nbeta,
            chains,
            draws: count("draws", 200).max(1),
            burnin: count("burnin", 100),
            steps_between_draws: count("steps_between_draws", 1).max(1),
            batch_size: ctor.opt_int("batch_size").and_then(|b| usize::try_from(b).ok()),
            init_loss_batches: ctor
                .opt_int("init_loss_batches")
                .and_then(|b| usize::try_from(b).ok()),
            restrict,
            data,
            min_chains: ctor
                .opt_int("min_chains")
                .and_then(|m| usize::try_from(m).ok())
                .unwrap_or(chains.div_ceil(2)),
            independent_batches: ctor.bool_or("independent_batches", false),
            companion: ctor.bool_or("companion", false),
            acceptance_every: count("acceptance_every", 10).max(1),
            batched: ctor.bool_or("batched", true),
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
    fn parse(ctor: &Ctor<'_>, field: &str) -> Result<NamePatterns, SpecError> {
        let patterns = strings(ctor.args.get(field));
        let mut set = GlobSetBuilder::new();
        for pattern in &patterns {
            set.add(Glob::new(pattern).map_err(|err| {
                SpecError(format!(
                    "`{}.{field}`: `{pattern}` is not a valid glob: {err}",
                    ctor.name
                ))
            })?);
        }
        let set =
            set.build().map_err(|err| SpecError(format!("`{}.{field}`: {err}", ctor.name)))?;
        Ok(NamePatterns { patterns, set })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.set.is_match(name)
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}
