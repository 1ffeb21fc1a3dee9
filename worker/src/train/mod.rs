//! What training is made of, each written once for a group of members (a leading member
//! dimension): reading a step's parameters (`spec`), seeded random streams (`rng`) and the
//! epochs' minibatch orders drawn from them (`epoch_order`), the data (`data`, the literature's
//! sequence data in `sequence_data`, and the user's own in `user_data`), the built-in models
//! (`model`, the transformer in `transformer`, the user's own TorchScript module in
//! `torchscript`, and the toy model's preallocated gradients in `tms_workspace`, and in plain
//! Rust on the CPU in `tms_lanes`: the sampler's shared minibatches and training's own per
//! member, read from a pool in host memory, `host_pool`), the loss (`loss`; a transformer's
//! members on threads of their own in `member_threads`), the optimizers and their schedules
//! (`optimizer`), checkpoint files (`checkpoint_file`; PyTorch's own state dicts in
//! `state_dict`), the training loop itself (`trainer`), and the states a trajectory has reached
//! (`trajectory`).

// Sizes and steps move between libtorch's i64, Rust's usize and f64 (log-spaced steps): all are
// far below 2^53, so these conversions are exact here.
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

pub mod checkpoint_file;
pub mod data;
pub mod epoch_order;
pub mod host_pool;
pub mod loss;
pub mod member_threads;
pub mod model;
pub mod optimizer;
pub mod rng;
pub mod sequence_data;
pub mod spec;
pub mod state_dict;
pub mod tms_lanes;
pub mod tms_workspace;
pub mod torchscript;
pub mod trainer;
pub mod trajectory;
pub mod transformer;
pub mod user_data;
