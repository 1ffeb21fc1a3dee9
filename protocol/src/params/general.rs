//! The optimizers' arguments (`sgd`, `adam`, `adamw`, with their learning-rate schedules) and
//! the checkpoint schedules (`logspace`, `linspace`, `every`), as the registry's
//! `constructors/general.rs` declares them. `sweep` is resolved by the planner and never sent.

use serde::{Deserialize, Serialize};

/// An `Optimizer` constructor: `{"call": "sgd", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Optimizer {
    #[serde(rename = "sgd")]
    Sgd(Sgd),
    #[serde(rename = "adam")]
    Adam(AdamArgs),
    /// Adam with decoupled weight decay: the same arguments as `adam`, another rule.
    #[serde(rename = "adamw")]
    Adamw(AdamArgs),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
    pub warmup: i64,
    /// Required with `schedule = step_decay`, unused otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay_every: Option<i64>,
    pub decay_factor: f64,
}

/// The arguments of `adam` and `adamw` (their defaults differ only in `weight_decay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamArgs {
    pub lr: f64,
    /// Derived: `[0.9, 0.999]` (the registry states it in words: a literal has no list form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub betas: Option<Vec<f64>>,
    pub eps: f64,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
    pub warmup: i64,
    /// Required with `schedule = step_decay`, unused otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decay_every: Option<i64>,
    pub decay_factor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    Constant,
    Cosine,
    StepDecay,
}

/// A `Schedule` constructor (which training steps to checkpoint, or which checkpoints to
/// measure): `{"call": "logspace", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Schedule {
    #[serde(rename = "logspace")]
    Logspace(Spacing),
    #[serde(rename = "linspace")]
    Linspace(Spacing),
    #[serde(rename = "every")]
    Every(Every),
}

/// The arguments of `logspace` and `linspace`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spacing {
    pub start: i64,
    pub stop: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Every {
    pub k: i64,
}
