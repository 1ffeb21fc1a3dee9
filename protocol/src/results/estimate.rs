//! An estimate step's result, tagged by its observable (the `observable` field holds the
//! constructor's name). Each observable declares the series a detection can read from it
//! ([`Observed::series`], its default first); `devspec`'s registry states the same names for
//! `check` and the docs, and a contract test holds the two together.

use serde::{Deserialize, Serialize};

use super::llc::LlcResult;
use super::{Versioned, nan_as_null};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateResult {
    pub schema_version: u32,
    #[serde(flatten)]
    pub observed: Observed,
}

impl EstimateResult {
    pub fn new(observed: Observed) -> EstimateResult {
        EstimateResult { schema_version: super::SCHEMA_VERSION, observed }
    }
}

impl Versioned for EstimateResult {
    const SCHEMA_VERSION: u32 = super::SCHEMA_VERSION;

    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

/// What an observable measured at one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "observable")]
pub enum Observed {
    #[serde(rename = "llc")]
    Llc(Box<LlcResult>),
    #[serde(rename = "loss")]
    Loss {
        #[serde(deserialize_with = "nan_as_null::number")]
        loss: f64,
    },
    #[serde(rename = "weight_norm")]
    WeightNorm {
        #[serde(deserialize_with = "nan_as_null::number")]
        weight_norm: f64,
    },
    #[serde(rename = "gradient_norm")]
    GradientNorm {
        #[serde(deserialize_with = "nan_as_null::number")]
        gradient_norm: f64,
    },
    #[serde(rename = "hessian_trace")]
    HessianTrace {
        #[serde(deserialize_with = "nan_as_null::number")]
        hessian_trace: f64,
        #[serde(deserialize_with = "nan_as_null::number")]
        hessian_trace_se: f64,
        probes: usize,
    },
    /// The model's outputs on the probe's samples, flattened, with their shape.
    #[serde(rename = "outputs")]
    Outputs {
        shape: Vec<i64>,
        #[serde(deserialize_with = "nan_as_null::numbers")]
        outputs: Vec<f64>,
    },
    #[serde(rename = "accuracy")]
    Accuracy(Accuracy),
    #[serde(rename = "induction_score")]
    InductionScore(InductionScore),
    #[serde(rename = "tms.geometry")]
    TmsGeometry(TmsGeometry),
    #[serde(rename = "icl.baselines")]
    IclBaselines(IclBaselines),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    #[serde(deserialize_with = "nan_as_null::number")]
    pub accuracy: f64,
    pub samples: usize,
    /// On the held-out part, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_samples: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InductionScore {
    /// The best head's score.
    #[serde(deserialize_with = "nan_as_null::number")]
    pub induction_score: f64,
    /// (layer, head) of the best head.
    pub best_head: [usize; 2],
    /// Per layer, each head's score.
    #[serde(deserialize_with = "nan_as_null::lists")]
    pub heads: Vec<Vec<f64>>,
    pub positions_scored: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TmsGeometry {
    /// The series a detection reads by default (stored for readers of the JSON).
    pub headline: String,
    /// How many features are represented.
    pub features: usize,
    /// Each feature's column norm.
    #[serde(deserialize_with = "nan_as_null::numbers")]
    pub norms: Vec<f64>,
    pub represented: Vec<usize>,
    /// With two hidden dimensions and two or more represented features: their directions in
    /// degrees, sorted, and the angles between neighbours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directions: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angles: Option<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IclBaselines {
    /// The series a detection reads by default (stored for readers of the JSON).
    pub headline: String,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub model_loss: f64,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub ridge_loss: f64,
    /// For a finite task set, the posterior mean's over that set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmmse_loss: Option<f64>,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub noise_var: f64,
    pub per_position: PerPosition,
    pub sequences: usize,
}

/// Each position's mean squared error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerPosition {
    #[serde(deserialize_with = "nan_as_null::numbers")]
    pub model: Vec<f64>,
    #[serde(deserialize_with = "nan_as_null::numbers")]
    pub ridge: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmmse: Option<Vec<f64>>,
}

/// A series' value in one result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading<'a> {
    Number(f64),
    /// The observable has this series, but this result did not record it (no held-out data,
    /// no MALA check).
    Absent,
    /// A vector rather than a number (a probe's outputs, for essential dynamics).
    Values(&'a [f64]),
}

impl Observed {
    /// The observable's constructor name, as stored in `observable`.
    pub fn name(&self) -> &'static str {
        match self {
            Observed::Llc(_) => "llc",
            Observed::Loss { .. } => "loss",
            Observed::WeightNorm { .. } => "weight_norm",
            Observed::GradientNorm { .. } => "gradient_norm",
            Observed::HessianTrace { .. } => "hessian_trace",
            Observed::Outputs { .. } => "outputs",
            Observed::Accuracy(_) => "accuracy",
            Observed::InductionScore(_) => "induction_score",
            Observed::TmsGeometry(_) => "tms.geometry",
            Observed::IclBaselines(_) => "icl.baselines",
        }
    }

    /// The LLC's result, if this is one: the one observable sampled, with chains and
    /// diagnostics of its own.
    pub fn llc(&self) -> Option<&LlcResult> {
        match self {
            Observed::Llc(llc) => Some(llc),
            Observed::Loss { .. }
            | Observed::WeightNorm { .. }
            | Observed::GradientNorm { .. }
            | Observed::HessianTrace { .. }
            | Observed::Outputs { .. }
            | Observed::Accuracy(_)
            | Observed::InductionScore(_)
            | Observed::TmsGeometry(_)
            | Observed::IclBaselines(_) => None,
        }
    }

    /// Every series the observable declares, its default first, with its value here.
    pub fn series(&self) -> Vec<(&'static str, Reading<'_>)> {
        use Reading::{Number, Values};
        let optional = |value: Option<f64>| value.map_or(Reading::Absent, Number);
        match self {
            Observed::Llc(llc) => {
                let e = &llc.estimate;
                vec![
                    ("llc_mean", Number(e.llc_mean)),
                    ("llc_std", Number(e.llc_std)),
                    ("llc_se", Number(e.llc_se)),
                    ("init_loss", Number(e.init_loss)),
                    ("nbeta", Number(e.nbeta)),
                    ("acceptance_mean", optional(e.acceptance_mean)),
                    ("r_hat", optional(e.r_hat)),
                    ("ess", Number(e.ess)),
                ]
            }
            Observed::Loss { loss } => vec![("loss", Number(*loss))],
            Observed::WeightNorm { weight_norm } => vec![("weight_norm", Number(*weight_norm))],
            Observed::GradientNorm { gradient_norm } => {
                vec![("gradient_norm", Number(*gradient_norm))]
            }
            Observed::HessianTrace { hessian_trace, hessian_trace_se, .. } => vec![
                ("hessian_trace", Number(*hessian_trace)),
                ("hessian_trace_se", Number(*hessian_trace_se)),
            ],
            Observed::Outputs { outputs, .. } => vec![("outputs", Values(outputs))],
            Observed::Accuracy(a) => {
                vec![("accuracy", Number(a.accuracy)), ("test_accuracy", optional(a.test_accuracy))]
            }
            Observed::InductionScore(s) => vec![("induction_score", Number(s.induction_score))],
            Observed::TmsGeometry(g) => vec![("features", Number(count(g.features)))],
            Observed::IclBaselines(b) => vec![
                ("model_loss", Number(b.model_loss)),
                ("ridge_loss", Number(b.ridge_loss)),
                ("dmmse_loss", optional(b.dmmse_loss)),
                ("noise_var", Number(b.noise_var)),
            ],
        }
    }

    /// The value of series `name`: `None` when the observable has no such series.
    pub fn reading(&self, name: &str) -> Option<Reading<'_>> {
        self.series().into_iter().find(|(n, _)| *n == name).map(|(_, reading)| reading)
    }

    /// The series a detection reads when it names none.
    pub fn default_series(&self) -> &'static str {
        self.series()[0].0
    }

    /// The metrics the result determines (the manifest's headline numbers; `verify` checks a
    /// manifest's against its result with this).
    pub fn metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut metrics = serde_json::Map::new();
        let mut put = |name: &str, value: serde_json::Value| {
            metrics.insert(name.to_owned(), value);
        };
        match self {
            Observed::Llc(llc) => return llc.metrics(),
            Observed::Loss { loss } => put("loss", (*loss).into()),
            Observed::WeightNorm { weight_norm } => put("weight_norm", (*weight_norm).into()),
            Observed::GradientNorm { gradient_norm } => {
                put("gradient_norm", (*gradient_norm).into());
            }
            Observed::HessianTrace { hessian_trace, hessian_trace_se, .. } => {
                put("hessian_trace", (*hessian_trace).into());
                put("hessian_trace_se", (*hessian_trace_se).into());
            }
            // The number of probe samples: the outputs themselves are not a headline.
            Observed::Outputs { shape, .. } => put("outputs", shape.first().copied().into()),
            Observed::Accuracy(a) => {
                put("accuracy", a.accuracy.into());
                if let Some(test) = a.test_accuracy {
                    put("test_accuracy", test.into());
                }
            }
            Observed::InductionScore(s) => {
                put("induction_score", s.induction_score.into());
                put("head", format!("{}.{}", s.best_head[0], s.best_head[1]).into());
            }
            Observed::TmsGeometry(g) => put("features", g.features.into()),
            Observed::IclBaselines(b) => {
                put("model_loss", b.model_loss.into());
                put("ridge_loss", b.ridge_loss.into());
                if let Some(dmmse) = b.dmmse_loss {
                    put("dmmse_loss", dmmse.into());
                }
            }
        }
        metrics
    }
}

/// A count as a series value (a few hundred features at most: exact in f64).
#[allow(clippy::cast_precision_loss)]
fn count(n: usize) -> f64 {
    n as f64
}
