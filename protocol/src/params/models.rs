//! The models' arguments (`tms.model`, `dln.model`, `mlp.model`, `transformer.model`,
//! `torchscript.model`), as the registry's `constructors/models.rs` declares them.

use serde::{Deserialize, Serialize};

/// A `Model` constructor: `{"call": "tms.model", "args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", content = "args")]
pub enum Model {
    #[serde(rename = "tms.model")]
    Tms(TmsModel),
    #[serde(rename = "dln.model")]
    Dln(DlnModel),
    #[serde(rename = "mlp.model")]
    Mlp(MlpModel),
    #[serde(rename = "transformer.model")]
    Transformer(TransformerModel),
    #[serde(rename = "torchscript.model")]
    Torchscript(TorchscriptModel),
}

impl Model {
    /// The constructor's registry name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Tms(_) => "tms.model",
            Model::Dln(_) => "dln.model",
            Model::Mlp(_) => "mlp.model",
            Model::Transformer(_) => "transformer.model",
            Model::Torchscript(_) => "torchscript.model",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmsModel {
    pub features: i64,
    pub hidden: i64,
    pub bias: bool,
    pub init_scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlnModel {
    pub widths: Vec<i64>,
    pub bias: bool,
    /// Derived: 1 / sqrt(fan in) for each layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_scale: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpModel {
    pub widths: Vec<i64>,
    pub activation: Activation,
    pub bias: bool,
    /// Derived: 1 / sqrt(fan in) for each layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_scale: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    Gelu,
    Tanh,
    Silu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerModel {
    pub layers: i64,
    pub heads: i64,
    pub d_model: i64,
    /// Derived: `d_model / heads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_head: Option<i64>,
    /// Derived: `4 * d_model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_mlp: Option<i64>,
    pub activation: Activation,
    pub context: i64,
    /// One of `vocab` (token inputs) and `input_dim` (vector inputs) is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocab: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_dim: Option<i64>,
    /// Derived: `vocab` for token inputs; required with `input_dim`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dim: Option<i64>,
    pub layer_norm: bool,
    pub init_scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorchscriptModel {
    pub path: String,
}
