//! The built-in constructors, one file per topic: `general` (optimizers, checkpoint schedules,
//! `sweep`), `models`, `data`, `sampling` (samplers and observables) and `detection`. This file
//! joins them into one list and holds the shorthands and shared value types they are written
//! with, so that a constructor's declaration reads like its documentation.

mod data;
mod detection;
mod general;
mod models;
mod sampling;

use std::sync::LazyLock;

use super::schema::{Bound, Constructor, Default, Literal, Param, ValueType};

/// Every constructor, in topic order. Joined once: the topic files stay plain static data.
pub(super) static ALL: LazyLock<Vec<Constructor>> = LazyLock::new(|| {
    [
        general::CONSTRUCTORS,
        models::CONSTRUCTORS,
        data::CONSTRUCTORS,
        sampling::CONSTRUCTORS,
        detection::CONSTRUCTORS,
    ]
    .concat()
});

/// A whole number `>= min`.
pub(super) const fn whole(min: i64) -> ValueType {
    ValueType::Int { min: Some(min), max: None }
}

/// A number `> min`.
pub(super) const fn above(min: f64) -> ValueType {
    ValueType::Float { min: Some(Bound::Exclusive(min)), max: None }
}

/// A number `>= min`.
pub(super) const fn at_least(min: f64) -> ValueType {
    ValueType::Float { min: Some(Bound::Inclusive(min)), max: None }
}

/// A number between two bounds.
pub(super) const fn between(min: Bound, max: Bound) -> ValueType {
    ValueType::Float { min: Some(min), max: Some(max) }
}

pub(super) const fn required(name: &'static str, ty: ValueType, doc: &'static str) -> Param {
    Param { name, ty, default: Default::Required, doc }
}

pub(super) const fn defaults_to(
    name: &'static str,
    ty: ValueType,
    value: Literal,
    doc: &'static str,
) -> Param {
    Param { name, ty, default: Default::Value(value), doc }
}

pub(super) const fn derived(
    name: &'static str,
    ty: ValueType,
    how: &'static str,
    doc: &'static str,
) -> Param {
    Param { name, ty, default: Default::Derived(how), doc }
}

/// A training step number; step 0 is the initialization.
pub(super) const STEP: ValueType = whole(0);

pub(super) const SEED: ValueType = whole(0);

pub(super) const PROBABILITY: ValueType = between(Bound::Inclusive(0.0), Bound::Inclusive(1.0));

pub(super) const DEVICE: ValueType =
    ValueType::OneOf(&[ValueType::Auto, ValueType::Enum(&["cpu", "cuda"])]);

pub(super) const DTYPE: ValueType = ValueType::Enum(&["f32", "f64"]);

/// A fixed pool of that many samples, or a fresh draw for every batch.
pub(super) const SAMPLES: ValueType = ValueType::OneOf(&[whole(1), ValueType::Enum(&["fresh"])]);

/// Glob patterns over parameter names in PyTorch's convention (`layers.0.weight`).
pub(super) const NAME_PATTERNS: ValueType = ValueType::List(&ValueType::Str);

/// Generated data follows the step's seed unless pinned, so a swept seed also redraws the data.
pub(super) const DATA_SEED: Param = derived(
    "seed",
    SEED,
    "derived from the step's seed (0 on a `checkpoint` step)",
    "seed of the data's random draws",
);
