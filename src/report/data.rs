//! [`ReportData`]: what a report shows, gathered from its inputs' results by the report step
//! and cached in the store as that step's result. Drawing it (figures, HTML) is a pure function
//! of this data and the spec, so `devspec report` redraws without recomputing anything.
//!
//! Numbers that can be missing (a diverged chain, a loss that overflowed) are `None`: JSON has
//! no NaN.

use devspec_protocol::StepKind;
use serde::{Deserialize, Serialize};

use crate::detect::Detection;

/// Bumped whenever the shape changes. 4: `title` is absent when the spec gives none (the page
/// is then titled by the report step's name, which is not part of the step's key). 5: each
/// detection names the step whose series it searched (`DetectionOf::on`).
pub const SCHEMA_VERSION: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportData {
    pub schema_version: u32,
    /// The spec's `title`; `None`: the report is titled by its step's name.
    #[serde(default)]
    pub title: Option<String>,
    pub description: Option<String>,
    /// The LLC over checkpoints, one series per estimate step and sweep point.
    pub llc: Vec<LlcSeries>,
    /// The training loss over steps, one series per train step and sweep point.
    pub losses: Vec<LossSeries>,
    /// Every chain's loss trace at every estimated checkpoint.
    pub traces: Vec<TracePanel>,
    /// The other scalar observables (accuracy, induction score, baselines) over checkpoints,
    /// one series per estimate step, sweep point and measured number.
    #[serde(default)]
    pub observables: Vec<ObservableSeries>,
    /// Every detection, one per detect step and sweep point.
    pub detections: Vec<DetectionOf>,
    /// Estimates at checkpoints whose learning coefficient is known in closed form.
    #[serde(default)]
    pub theory: Vec<TheoryPoint>,
    /// Which instance each input is, one row per instance. Their provenance (host, wall time,
    /// versions) is read from the store when the report is drawn: kept here, it would make a
    /// recomputed report differ in bytes from the first.
    pub provenance: Vec<Source>,
    /// What the owner of a bid's checkpoints left out of this data (`bid results --redact
    /// STEP.FIELD`), one line each (`llc.traces: every chain's loss trace..., left out by the
    /// owner`), shown at the top of the page so a figure without traces does not read as
    /// "there were none". Empty, and not stored, everywhere else: a report's data from a run
    /// keeps its bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
}

impl ReportData {
    /// The report's title: the spec's, else the report step's name. Before version 4 the data
    /// stored `report` where the spec gave no title.
    pub fn title_or<'a>(&'a self, name: &'a str) -> &'a str {
        match self.title.as_deref() {
            Some("report") if self.schema_version < 4 => name,
            Some(title) => title,
            None => name,
        }
    }
}

/// An LLC estimate next to the true learning coefficient of its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TheoryPoint {
    pub step: String,
    pub instance: String,
    /// The checkpoint instance it measured (`truth`).
    pub checkpoint: String,
    pub theory: f64,
    pub llc_mean: Option<f64>,
    pub llc_se: Option<f64>,
}

/// One estimate step's LLC at one sweep point, in checkpoint order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LlcSeries {
    pub step: String,
    /// The sweep point (`seed=0`; empty without sweeps).
    pub point: String,
    pub checkpoints: Vec<i64>,
    pub mean: Vec<Option<f64>>,
    /// Standard error of the mean over chains.
    pub se: Vec<Option<f64>>,
    /// The lowest and highest chain's estimate: the band of the chains' spread.
    pub chain_low: Vec<Option<f64>>,
    pub chain_high: Vec<Option<f64>>,
    /// The loss at the checkpoint itself (where every chain starts).
    pub init_loss: Vec<Option<f64>>,
    /// Each checkpoint's diagnostics (`low_acceptance`, `poor_mixing`, ...).
    pub diagnostics: Vec<Vec<String>>,
    /// The instance behind each number (`llc[seed=0]@1200`).
    pub instances: Vec<String>,
}

/// One number an estimate step measured (`test_accuracy`), at one sweep point, in checkpoint
/// order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservableSeries {
    pub step: String,
    pub point: String,
    pub observable: String,
    pub name: String,
    pub checkpoints: Vec<i64>,
    pub values: Vec<Option<f64>>,
}

/// One training run's recorded loss.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LossSeries {
    pub step: String,
    pub point: String,
    pub steps: Vec<i64>,
    pub train_loss: Vec<Option<f64>>,
    /// Present when the run had test data.
    pub test_loss: Option<Vec<Option<f64>>>,
    pub instance: String,
}

/// The chains of one estimate: each one's recorded loss per draw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TracePanel {
    pub step: String,
    pub point: String,
    pub checkpoint: i64,
    pub instance: String,
    pub traces: Vec<Vec<Option<f64>>>,
    pub init_loss: Option<f64>,
    pub llc_mean: Option<f64>,
    /// Each chain's estimate; `None`: it diverged and was left out.
    pub llc_per_chain: Vec<Option<f64>>,
    pub diagnostics: Vec<String>,
}

/// One detect instance's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectionOf {
    pub step: String,
    pub point: String,
    pub instance: String,
    /// The step whose series it searched (an estimate step, or a training run), so its stages
    /// go with that step's figure; absent in data from before version 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    pub detection: Detection,
}

/// One input of the report: its instance, step kind and key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub instance: String,
    pub kind: StepKind,
    pub key: String,
}
