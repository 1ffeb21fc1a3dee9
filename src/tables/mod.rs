//! A step's results as an Arrow table: what `devspec show --format parquet` writes and what the
//! Python module hands to pandas and polars. Two shapes (docs/results.md lists every column):
//!
//! - **wide**: a row per instance: its name, a column per sweep axis (typed: whole numbers,
//!   numbers, booleans, else text), its checkpoint, status and key, a column per metric the
//!   manifests record, and the result's series as list columns (a train's loss curve, an LLC's
//!   per-chain estimates and traces, a detection's boundaries);
//! - **long**: a row per instance and training step, the tidy form for plotting over training:
//!   a train's loss series at every recorded step, an estimate's metrics at its checkpoint, a
//!   detection's boundaries at theirs. Only instances with results have rows.
//!
//! The schema carries its version and what it holds in its metadata (`devspec.*` keys), so a
//! reader of a Parquet file days later can tell what it is.

mod column;
mod files;
mod long;
mod wide;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};

pub use files::{ipc_stream, write_parquet};

use crate::ops::StepResults;

/// Bumped whenever a column's name, type or meaning changes (docs/results.md).
pub const TABLE_SCHEMA_VERSION: u32 = 1;

/// The table's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A row per instance, series as list columns.
    Wide,
    /// A row per instance and training step.
    Long,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Wide => "wide",
            Shape::Long => "long",
        }
    }
}

/// The step's results as one record batch of the given shape.
pub fn step_table(results: &StepResults, shape: Shape) -> RecordBatch {
    let columns = match shape {
        Shape::Wide => wide::columns(results),
        Shape::Long => long::columns(results),
    };
    assemble(results, shape, columns)
}

/// Named columns into a batch whose schema's metadata says what it is. Column names are made
/// unique here: an axis named like another column (a sweep over `steps`, whose name the loss
/// series' steps have) becomes `axis.steps`, so every fixed, metric and series column keeps the
/// name docs/results.md gives it; any other repeat is prefixed `metric.`.
fn assemble(results: &StepResults, shape: Shape, columns: Vec<(String, ArrayRef)>) -> RecordBatch {
    let axes: BTreeSet<&str> =
        results.rows.iter().flat_map(|r| r.coords.iter().map(|(axis, _)| axis.as_str())).collect();
    // The axis columns come first after `instance` (wide::axes), in the order of `columns`.
    let mut is_axis: Vec<bool> = Vec::with_capacity(columns.len());
    let mut axes_seen = BTreeSet::new();
    for (name, _) in &columns {
        is_axis.push(axes.contains(name.as_str()) && axes_seen.insert(name.clone()));
    }
    let others: BTreeSet<&str> = columns
        .iter()
        .zip(&is_axis)
        .filter(|(_, axis)| !**axis)
        .map(|((name, _), _)| name.as_str())
        .collect();
    let renamed: Vec<String> = columns
        .iter()
        .zip(&is_axis)
        .map(|((name, _), &axis)| {
            if axis && others.contains(name.as_str()) {
                format!("axis.{name}")
            } else {
                name.clone()
            }
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for (name, (_, array)) in renamed.into_iter().zip(columns) {
        let mut name = name;
        while !seen.insert(name.clone()) {
            name = format!("metric.{name}");
        }
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    let metadata: std::collections::HashMap<String, String> = [
        ("devspec.schema_version", TABLE_SCHEMA_VERSION.to_string()),
        ("devspec.step", results.step.clone()),
        ("devspec.kind", results.kind.to_string()),
        ("devspec.shape", shape.name().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let rows = arrays.first().map_or(0, |a| a.len());
    RecordBatch::try_new_with_options(
        schema,
        arrays,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .expect("every column is built with the table's row count")
}

#[cfg(test)]
mod tests;
