//! A training run's result: its loss series, and the steps it is recorded at.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Versioned, nan_as_null};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub schema_version: u32,
    pub series: TrainSeries,
}

/// The losses recorded over a run, at `steps` (the same grid for both).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainSeries {
    pub steps: Vec<u64>,
    #[serde(deserialize_with = "nan_as_null::numbers")]
    pub train_loss: Vec<f64>,
    /// Empty (and not stored) without held-out data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "nan_as_null::numbers")]
    pub test_loss: Vec<f64>,
}

impl TrainSeries {
    /// The series a detection can read by name (`registry::series::TRAIN`), if this run
    /// recorded it.
    pub fn named(&self, name: &str) -> Option<&[f64]> {
        match name {
            "train_loss" => Some(&self.train_loss),
            "test_loss" if !self.test_loss.is_empty() => Some(&self.test_loss),
            _ => None,
        }
    }
}

impl TrainResult {
    pub fn new(series: TrainSeries) -> TrainResult {
        TrainResult { schema_version: super::SCHEMA_VERSION, series }
    }

    /// The metrics the result determines: each series' last loss.
    pub fn metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut metrics = serde_json::Map::new();
        if let Some(last) = self.series.train_loss.last() {
            metrics.insert("final_train_loss".into(), (*last).into());
        }
        if let Some(last) = self.series.test_loss.last() {
            metrics.insert("final_test_loss".into(), (*last).into());
        }
        metrics
    }
}

impl Versioned for TrainResult {
    const SCHEMA_VERSION: u32 = super::SCHEMA_VERSION;

    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

/// The loss series is recorded at every step up to here (so at least this many points when the
/// run is longer), then at [`PER_DECADE`] log-spaced steps per decade.
pub const DENSE_UNTIL: u64 = 200;
pub const PER_DECADE: f64 = 100.0;

/// Samples a fresh-data run evaluates its training loss on (drawn once, from its own stream);
/// for sequences, as many as hold [`FRESH_EVAL_POSITIONS`] positions. The loss is recorded
/// about 300 times in a run of a few thousand steps, so this pass must cost little next to
/// training: 2,048 positions is two steps' worth at batch 64 of 16 positions (128 sequences of
/// in-context regression, 1,024 scored predictions); at 8,192 a transformer run spent a fifth
/// of its time evaluating.
pub const FRESH_EVAL_SAMPLES: usize = 4096;
pub const FRESH_EVAL_POSITIONS: usize = 2048;

/// The steps at which the series is recorded: every step up to [`DENSE_UNTIL`], then
/// [`PER_DECADE`] log-spaced steps per decade, the checkpoints, and the last step. The first two
/// do not depend on the run's length, so a run continued to more steps records what a run
/// started anew records. (The worker records there; `plan --cost` prices those passes.)
// Log-spaced steps are positive and far below 2^53: the conversions are exact.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
pub fn record_steps(total: u64, checkpoints: &BTreeSet<u64>) -> BTreeSet<u64> {
    let mut steps: BTreeSet<u64> = (0..=DENSE_UNTIL.min(total)).collect();
    let mut j = (DENSE_UNTIL as f64).log10() * PER_DECADE;
    loop {
        let step = 10f64.powf(j / PER_DECADE).round() as u64;
        if step > total {
            break;
        }
        steps.insert(step);
        j += 1.0;
    }
    steps.extend(checkpoints.range(..=total));
    steps.insert(total);
    steps
}
