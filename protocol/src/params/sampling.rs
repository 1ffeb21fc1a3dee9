//! The samplers' arguments (`sgld`, `rmsprop_sgld`) and the observables' (`llc`, `loss`,
//! `weight_norm`, ...), as the registry's `constructors/sampling.rs` declares them.

use serde::{Deserialize, Serialize};

use super::data::Data;
use super::number_or_word::number_or_word;

/// A `Sampler` constructor: `{"call": "sgld", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Sampler {
    #[serde(rename = "sgld")]
    Sgld(Sgld),
    #[serde(rename = "rmsprop_sgld")]
    RmspropSgld(RmspropSgld),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sgld {
    pub lr: f64,
    pub localization: f64,
    pub noise_level: f64,
    pub weight_decay: f64,
    /// Derived: none, unbounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounding_box: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmspropSgld {
    pub lr: f64,
    pub localization: f64,
    pub alpha: f64,
    pub eps: f64,
}

/// An `Observable` constructor: `{"call": "llc", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Observable {
    #[serde(rename = "llc")]
    Llc(Box<Llc>),
    #[serde(rename = "loss")]
    Loss(DataOnly),
    #[serde(rename = "weight_norm")]
    WeightNorm(WeightNorm),
    #[serde(rename = "gradient_norm")]
    GradientNorm(DataOnly),
    #[serde(rename = "hessian_trace")]
    HessianTrace(HessianTrace),
    #[serde(rename = "outputs")]
    Outputs(Outputs),
    #[serde(rename = "accuracy")]
    Accuracy(DataOnly),
    #[serde(rename = "induction_score")]
    InductionScore(ProbeOnly),
    #[serde(rename = "tms.geometry")]
    TmsGeometry(NoArgs),
    #[serde(rename = "icl.baselines")]
    IclBaselines(NoArgs),
}

number_or_word! {
    /// n times the inverse temperature: `auto` (B / ln B for batch size B), `dataset`
    /// (n / ln n for the data's size n) or a number.
    pub enum Nbeta {
        Value(f64),
        "auto" => Auto,
        "dataset" => Dataset,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Llc {
    pub sampler: Sampler,
    pub nbeta: Nbeta,
    pub chains: i64,
    pub draws: i64,
    pub burnin: i64,
    pub steps_between_draws: i64,
    /// Derived: the training batch size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Derived: the whole data set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_loss_batches: Option<i64>,
    pub restrict: Vec<String>,
    /// Derived: the data of the step it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    /// Derived: half of `chains`, rounded up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_chains: Option<i64>,
    pub independent_batches: bool,
    pub companion: bool,
    pub acceptance_every: i64,
    pub batched: bool,
}

/// The arguments of `loss` and `accuracy`: the data, derived from the step it is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataOnly {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightNorm {
    pub restrict: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HessianTrace {
    pub samples: i64,
    /// Derived: the data of the step it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    /// Derived: the data of the step it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<Data>,
    pub samples: i64,
}

/// The arguments of `induction_score`: the probe data, derived from the step it is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeOnly {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<Data>,
}

/// The arguments of a constructor that takes none (`tms.geometry`): written `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}
