//! The parameters of each step kind a worker runs (`train`, `checkpoint`, `estimate`, and the
//! executor's `test` fixture), as the registry's `step_kinds.rs` declares them, plus what the
//! planner and the executor add: an estimate carries the model, data, loss, training batch
//! size, seed and dtype of the step whose checkpoint it measures; an imported checkpoint file
//! carries its training `step`; `device` arrives resolved (never `auto`).

use serde::{Deserialize, Serialize};

use super::data::{Data, Teacher};
use super::general::{Optimizer, Schedule};
use super::models::Model;
use super::number_or_word::number_or_word;
use super::sampling::Observable;
use crate::StepKind;

/// A step's parameters, tagged with its kind as a request writes them:
/// `"kind": "train", "params": {...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "snake_case")]
pub enum StepParams {
    Train(Box<TrainParams>),
    Checkpoint(Box<CheckpointParams>),
    Estimate(Box<EstimateParams>),
    Test(TestParams),
}

impl StepParams {
    pub fn kind(&self) -> StepKind {
        match self {
            StepParams::Train(_) => StepKind::Train,
            StepParams::Checkpoint(_) => StepKind::Checkpoint,
            StepParams::Estimate(_) => StepKind::Estimate,
            StepParams::Test(_) => StepKind::Test,
        }
    }

    /// The model the step trains or measures (none for the executor's test step).
    pub fn model(&self) -> Option<&Model> {
        match self {
            StepParams::Train(params) => Some(&params.model),
            StepParams::Checkpoint(params) => Some(&params.model),
            StepParams::Estimate(params) => Some(&params.model),
            StepParams::Test(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    pub model: Model,
    pub data: Data,
    /// Derived: none, unless `test_fraction` splits `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_data: Option<Data>,
    pub test_fraction: f64,
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub batch_size: BatchSize,
    pub steps: i64,
    pub seed: i64,
    /// Derived: the last step only (the request's `outputs` list the checkpoints planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<Checkpoints>,
    pub device: Device,
    pub dtype: Dtype,
    /// Derived: the thread budget (the request's `threads` is what the worker uses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<i64>,
    /// Derived: the executor's defaults; for a batch scheduler, not for the worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointParams {
    pub model: Model,
    /// One of `weights` and `files` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Teacher>,
    /// With `files`, the planner sends one instance per file: this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// Derived: the last number in the file name (the planner reads it into `step`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_from: Option<String>,
    /// Derived: none; estimates on it then need their own data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    /// Added by the planner with `files`: the training step of this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateParams {
    pub observable: Observable,
    pub seed: i64,
    pub at: At,
    pub device: Device,
    /// Derived: the checkpoint's dtype; the planner copies the training step's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<Dtype>,
    /// Derived: the thread budget (the request's `threads` is what the worker uses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<i64>,
    /// Derived: the executor's defaults; for a batch scheduler, not for the worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Copied by the planner from the step it is on (a `train` or `checkpoint` step).
    pub model: Model,
    /// Copied from the step it is on, when that step has data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    /// Copied from a `train` step; absent on a `checkpoint` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Copied from a `train` step; absent on a `checkpoint` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// The `batch_size` of a `train` step; absent on a `checkpoint` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_batch_size: Option<BatchSize>,
    /// The `seed` of a `train` step (its data's seed when they leave theirs out); absent on a
    /// `checkpoint` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_seed: Option<i64>,
}

/// The executor's own test step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestParams {
    pub value: i64,
    pub sleep_ms: i64,
    pub tag: i64,
    pub fail: bool,
    pub crash: bool,
    pub outputs: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<Checkpoints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<At>,
    /// The memory its estimate claims, in MiB (for the executor's tests of memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<i64>,
}

/// A step's `loss`: `auto` is the model's natural loss for its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Auto,
    Mse,
    CrossEntropy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    F32,
    F64,
}

number_or_word! {
    /// Samples per step, or `full` for the whole data set.
    pub enum BatchSize {
        Samples(i64),
        "full" => Full,
    }
}

/// Where a step runs, as the executor resolves it (`auto` is never sent): `cpu`, `cuda`, or a
/// numbered GPU `cuda:N` (from the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
    CudaIndex(usize),
}

impl Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Device::Cpu => serializer.serialize_str("cpu"),
            Device::Cuda => serializer.serialize_str("cuda"),
            Device::CudaIndex(index) => serializer.serialize_str(&format!("cuda:{index}")),
        }
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(index) => Ok(Device::CudaIndex(index)),
                None => Err(serde::de::Error::custom(format!(
                    "unknown device `{other}`, expected `cpu`, `cuda` or `cuda:N`"
                ))),
            },
        }
    }
}

/// A step's `checkpoints`: a schedule or a list of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Checkpoints {
    Steps(Vec<i64>),
    Schedule(Schedule),
}

/// An estimate's `at`: `all`, a list of steps, or a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum At {
    Word(AtWord),
    Steps(Vec<i64>),
    Schedule(Schedule),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtWord {
    All,
}

/// What to reserve from a batch scheduler; every field derived by the executor when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}
