//! The detection methods' arguments (`critical_points`, `transitions`, `change_points`,
//! `bocpd`, `essential_dynamics`), as the registry's `constructors/detection.rs` declares them.
//! `devspec` runs detection itself; the methods are typed here all the same, so the one
//! contract test covers every constructor.

use serde::{Deserialize, Serialize};

use super::number_or_word::number_or_word;

/// A `Method` constructor: `{"call": "change_points", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Method {
    #[serde(rename = "critical_points")]
    CriticalPoints(CriticalPoints),
    #[serde(rename = "transitions")]
    Transitions(Transitions),
    #[serde(rename = "change_points")]
    ChangePoints(ChangePoints),
    #[serde(rename = "bocpd")]
    Bocpd(Bocpd),
    #[serde(rename = "essential_dynamics")]
    EssentialDynamics(EssentialDynamics),
}

/// The time axis a series is smoothed and differentiated over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    Log,
    Linear,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalPoints {
    pub smoothing: f64,
    pub axis: Axis,
    pub plateau: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transitions {
    pub smoothing: f64,
    pub axis: Axis,
    pub threshold: f64,
}

/// `change_points`' search: exact (PELT) or binary segmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segmentation {
    Pelt,
    Binseg,
}

number_or_word! {
    /// The cost of one more change point: `auto` (the modified BIC) or a number.
    pub enum Penalty {
        Value(f64),
        "auto" => Auto,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePoints {
    pub method: Segmentation,
    pub penalty: Penalty,
    pub min_size: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bocpd {
    pub hazard: f64,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EssentialDynamics {
    pub components: i64,
    pub smoothing: f64,
}
