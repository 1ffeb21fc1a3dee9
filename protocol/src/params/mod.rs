//! Every parameter `devspec` sends a worker, typed: a constructor's arguments as a struct per
//! constructor, grouped by what it makes (`Model`, `Data`, `Optimizer`, ...) into enums tagged
//! the way the planner writes a call (`{"call": "tms.model", "args": {...}}`), and a step's
//! parameters as a struct per step kind (`TrainParams`, ...) in [`StepParams`].
//!
//! The registry (`devspec::registry`) states every name, type and default once; these types
//! restate only names and types, never a default: the planner sends every field whose registry
//! default is a value, so those are plain fields, and leaves out the fields whose default the
//! step derives (`Default::Derived`), which are `Option` here and derived by whoever reads
//! them, as the registry documents. A test in `devspec` (`registry::contract_tests`) fails when
//! a struct and the registry disagree on a name, a type or a default. `deny_unknown_fields`
//! everywhere: a name the struct does not know is refused, never ignored.
//!
//! ```
//! use devspec_protocol::params::{Model, Activation};
//! let json = r#"{"call":"mlp.model","args":{"widths":[2,3],"activation":"gelu","bias":true}}"#;
//! let Model::Mlp(mlp) = serde_json::from_str(json).unwrap() else { panic!() };
//! assert_eq!(mlp.activation, Activation::Gelu);
//! assert_eq!(mlp.init_scale, None);
//! ```

mod data;
mod detection;
mod general;
mod models;
mod number_or_word;
mod sampling;
mod steps;

pub use data::{
    Data, DlnData, DlnTeacher, Encoding, IclRegression, InductionData, ModularData, ModularOp,
    Samples, Tasks, Teacher, Tensors, TmsData,
};
pub use detection::{
    Axis, Bocpd, ChangePoints, CriticalPoints, EssentialDynamics, Method, Penalty, Segmentation,
    Transitions,
};
pub use general::{AdamArgs, Every, LrSchedule, Optimizer, Schedule, Sgd, Spacing};
pub use models::{
    Activation, DlnModel, MlpModel, Model, TmsModel, TorchscriptModel, TransformerModel,
};
pub use sampling::{
    DataOnly, HessianTrace, Llc, Nbeta, NoArgs, Observable, Outputs, ProbeOnly, RmspropSgld,
    Sampler, Sgld, WeightNorm,
};
pub use steps::{
    At, AtWord, BatchSize, CheckpointParams, Checkpoints, Device, Dtype, EstimateParams, Loss,
    Resources, StepParams, TestParams, TrainParams,
};
