//! An LLC estimate's result: every chain's trace and distance from the checkpoint, the
//! estimate drawn from them and its diagnostics.

use serde::{Deserialize, Serialize};

use super::nan_as_null;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlcResult {
    pub estimate: Estimate,
    pub batch_size: usize,
    pub chains: usize,
    pub draws: usize,
    pub burnin: usize,
    pub steps_between_draws: usize,
    /// The step at which each chain's loss stopped being finite.
    pub diverged_at: Vec<Option<u64>>,
    /// Each chain's recorded losses (a diverged chain's stop at its divergence).
    #[serde(deserialize_with = "nan_as_null::lists")]
    pub traces: Vec<Vec<f64>>,
    /// With each recorded loss, half the squared distance of the sampled parameters from the
    /// checkpoint.
    #[serde(deserialize_with = "nan_as_null::lists")]
    pub distances: Vec<Vec<f64>>,
    /// With `companion = true`: the chains again at another localization (stored as `null`
    /// without; results from before the companion existed lack the field).
    #[serde(default)]
    pub companion: Option<CompanionChains>,
}

/// Every chain sampled again at another localization, with its noise and minibatches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanionChains {
    #[serde(deserialize_with = "nan_as_null::number")]
    pub localization: f64,
    #[serde(deserialize_with = "nan_as_null::lists")]
    pub traces: Vec<Vec<f64>>,
    pub diverged_at: Vec<Option<u64>>,
}

/// The estimate of one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    #[serde(deserialize_with = "nan_as_null::number")]
    pub llc_mean: f64,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub llc_std: f64,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub llc_se: f64,
    /// Each chain's estimate (`None`: it diverged and is excluded).
    pub llc_per_chain: Vec<Option<f64>>,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub init_loss: f64,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub nbeta: f64,
    pub acceptance_mean: Option<f64>,
    pub acceptance_per_chain: Vec<Option<f64>>,
    pub r_hat: Option<f64>,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub ess: f64,
    /// −d ln λ̂ / d ln γ and its standard error; `None` without localization or a positive
    /// estimate.
    pub localization_sensitivity: Option<Sensitivity>,
    pub diagnostics: Vec<Diagnostic>,
}

/// How much the estimate depends on the localization γ: the fraction by which it would fall
/// per fraction γ rose, with the standard error of that figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    #[serde(deserialize_with = "nan_as_null::number")]
    pub value: f64,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub se: f64,
    /// Whether the chains had settled. If not, the figure errs low.
    pub settled: bool,
    /// With a companion: its localization and estimate, from which the figure is measured
    /// directly (results from before the companion existed lack the field).
    #[serde(default)]
    pub companion: Option<CompanionEstimate>,
}

/// The estimate at the companion's localization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompanionEstimate {
    #[serde(deserialize_with = "nan_as_null::number")]
    pub localization: f64,
    #[serde(deserialize_with = "nan_as_null::number")]
    pub llc_mean: f64,
}

/// What went wrong in a run, for people: which check failed, what it means here, and what to
/// try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub name: DiagnosticName,
    pub message: String,
    pub fix: String,
}

/// The checks an estimate can fail (docs/estimation.md explains each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticName {
    Negative,
    Diverged,
    NotStationary,
    LowAcceptance,
    PoorMixing,
    LocalizationDominated,
    LocalizationUnknown,
}

impl DiagnosticName {
    pub const ALL: [DiagnosticName; 7] = [
        DiagnosticName::Negative,
        DiagnosticName::Diverged,
        DiagnosticName::NotStationary,
        DiagnosticName::LowAcceptance,
        DiagnosticName::PoorMixing,
        DiagnosticName::LocalizationDominated,
        DiagnosticName::LocalizationUnknown,
    ];

    /// The order in which diagnostics decide what to do first: a diverged chain makes every
    /// other number suspect; a negative estimate says the point is not a minimum or the step
    /// is too large; low acceptance says the step is too large; only then are unsettled or
    /// disagreeing chains a matter of drawing longer, and the localization's pull last.
    pub const PRIORITY: [DiagnosticName; 7] = [
        DiagnosticName::Diverged,
        DiagnosticName::Negative,
        DiagnosticName::LowAcceptance,
        DiagnosticName::NotStationary,
        DiagnosticName::PoorMixing,
        DiagnosticName::LocalizationDominated,
        DiagnosticName::LocalizationUnknown,
    ];

    /// The one diagnostic whose fix to try first, of those an estimate has ([`Self::PRIORITY`]):
    /// an instance is told one thing to do, never two that contradict (a negative estimate's
    /// "lower the lr" beside unsettled chains' "raise the lr").
    pub fn recommended(found: impl IntoIterator<Item = DiagnosticName>) -> Option<DiagnosticName> {
        let found: Vec<DiagnosticName> = found.into_iter().collect();
        DiagnosticName::PRIORITY.into_iter().find(|name| found.contains(name))
    }

    /// Reads a stored name.
    pub fn from_name(name: &str) -> Option<DiagnosticName> {
        DiagnosticName::ALL.into_iter().find(|d| d.name() == name)
    }

    /// What to try, in words (every estimate with this diagnostic stores the same text).
    pub fn fix(self) -> &'static str {
        match self {
            DiagnosticName::Negative => {
                "estimate at a trained checkpoint, or lower the sampler's lr"
            }
            DiagnosticName::Diverged => "lower the sampler's lr, or raise localization",
            DiagnosticName::NotStationary => "raise burnin and draws, or raise the sampler's lr",
            DiagnosticName::LowAcceptance => "lower the sampler's lr",
            DiagnosticName::PoorMixing => "raise draws, or raise the sampler's lr",
            DiagnosticName::LocalizationDominated => {
                "lower localization (compare a few with `devspec calibrate --localization`), or \
                 raise nbeta; if neither helps, the checkpoint is too flat for this temperature"
            }
            DiagnosticName::LocalizationUnknown => {
                "set `companion = true` (measures it directly, doubling the sampling), raise \
                 draws (the distance from the checkpoint mixes over about 1 / (lr γ) steps), or \
                 compare a few localizations with `devspec calibrate --localization`"
            }
        }
    }

    /// The name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            DiagnosticName::Negative => "negative",
            DiagnosticName::Diverged => "diverged",
            DiagnosticName::NotStationary => "not_stationary",
            DiagnosticName::LowAcceptance => "low_acceptance",
            DiagnosticName::PoorMixing => "poor_mixing",
            DiagnosticName::LocalizationDominated => "localization_dominated",
            DiagnosticName::LocalizationUnknown => "localization_unknown",
        }
    }
}

impl Estimate {
    /// The diagnostics' names, space-separated (the `diagnostics` metric).
    pub fn diagnostic_names(&self) -> String {
        let names: Vec<&str> = self.diagnostics.iter().map(|d| d.name.name()).collect();
        names.join(" ")
    }
}

impl LlcResult {
    /// The metrics the result determines.
    pub fn metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let e = &self.estimate;
        let mut metrics = serde_json::Map::new();
        metrics.insert("llc_mean".into(), e.llc_mean.into());
        metrics.insert("llc_std".into(), e.llc_std.into());
        metrics.insert("llc_se".into(), e.llc_se.into());
        metrics.insert("init_loss".into(), e.init_loss.into());
        metrics.insert("nbeta".into(), e.nbeta.into());
        if let Some(acceptance) = e.acceptance_mean {
            metrics.insert("acceptance".into(), acceptance.into());
        }
        if let Some(r_hat) = e.r_hat {
            metrics.insert("r_hat".into(), r_hat.into());
        }
        metrics.insert("ess".into(), e.ess.into());
        if let Some(sensitivity) = e.localization_sensitivity {
            metrics.insert("localization_sensitivity".into(), sensitivity.value.into());
            metrics.insert("localization_sensitivity_se".into(), sensitivity.se.into());
        }
        metrics.insert("diagnostics".into(), e.diagnostic_names().into());
        metrics
    }
}
