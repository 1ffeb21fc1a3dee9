//! The data's and teachers' arguments (`tms.data`, `dln.teacher`, `dln.data`, `tensors`,
//! `icl.regression`, `induction.data`, `modular.data`), as the registry's
//! `constructors/data.rs` declares them.

use serde::{Deserialize, Serialize};

use super::number_or_word::number_or_word;

/// A `Data` constructor: `{"call": "tms.data", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Data {
    #[serde(rename = "tms.data")]
    Tms(TmsData),
    #[serde(rename = "dln.data")]
    Dln(DlnData),
    #[serde(rename = "tensors")]
    Tensors(Tensors),
    #[serde(rename = "icl.regression")]
    IclRegression(IclRegression),
    #[serde(rename = "induction.data")]
    Induction(InductionData),
    #[serde(rename = "modular.data")]
    Modular(ModularData),
}

impl Data {
    /// The constructor's registry name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Data::Tms(_) => "tms.data",
            Data::Dln(_) => "dln.data",
            Data::Tensors(_) => "tensors",
            Data::IclRegression(_) => "icl.regression",
            Data::Induction(_) => "induction.data",
            Data::Modular(_) => "modular.data",
        }
    }
}

/// A `Teacher` constructor: `{"call": "dln.teacher", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Teacher {
    #[serde(rename = "dln.teacher")]
    Dln(DlnTeacher),
}

number_or_word! {
    /// A fixed pool of that many samples, or `fresh` samples for every batch.
    pub enum Samples {
        Pool(i64),
        "fresh" => Fresh,
    }
}

number_or_word! {
    /// `auto`: a fresh task per sequence; a number: a finite set of that many tasks.
    pub enum Tasks {
        Count(i64),
        "auto" => Auto,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmsData {
    pub features: i64,
    pub sparsity: f64,
    pub samples: Samples,
    /// Derived: the step's seed (0 on a `checkpoint` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlnTeacher {
    pub widths: Vec<i64>,
    pub rank: i64,
    pub seed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlnData {
    pub teacher: Teacher,
    pub samples: Samples,
    pub noise: f64,
    /// Derived: the step's seed (0 on a `checkpoint` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tensors {
    pub path: String,
    pub inputs: String,
    pub targets: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IclRegression {
    pub dims: i64,
    pub context: i64,
    pub noise_var: f64,
    pub tasks: Tasks,
    /// Derived: the step's seed (0 on a `checkpoint` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InductionData {
    pub vocab: i64,
    pub length: i64,
    /// Derived: a quarter of `length`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<i64>,
    pub samples: Samples,
    /// Derived: the step's seed (0 on a `checkpoint` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModularData {
    pub p: i64,
    pub op: ModularOp,
    pub encoding: Encoding,
    pub train_fraction: f64,
    /// Derived: the step's seed (0 on a `checkpoint` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModularOp {
    Add,
    Sub,
    Mul,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    OneHot,
    Tokens,
}
