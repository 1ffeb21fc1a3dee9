//! A training run's result: its loss series.

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
