//! Arrow columns from the values devspec holds: text typed by what every value parses as, JSON
//! metrics typed by what every value is, and lists. A missing value is a null, never a made-up
//! number (a NaN stored as JSON `null` reads back as null).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use serde_json::Value;

pub fn strings<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<StringArray>())
}

pub fn ints(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<Int64Array>())
}

pub fn floats(values: impl IntoIterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<Float64Array>())
}

/// Sweep coordinates, written in their canonical text: whole numbers when every value is one,
/// numbers when every value is one, booleans likewise, else text (a list such as `[2, 2]`).
pub fn typed_text(values: &[Option<&str>]) -> ArrayRef {
    let present = || values.iter().flatten();
    if present().all(|v| v.parse::<i64>().is_ok()) {
        return ints(values.iter().map(|v| v.and_then(|v| v.parse().ok())));
    }
    if present().all(|v| v.parse::<f64>().is_ok()) {
        return floats(values.iter().map(|v| v.and_then(|v| v.parse().ok())));
    }
    if present().all(|v| matches!(*v, "true" | "false")) {
        return Arc::new(values.iter().map(|v| v.map(|v| v == "true")).collect::<BooleanArray>());
    }
    strings(values.iter().copied())
}

/// A metric's value, `null` (a NaN as stored) counting as absent.
fn value(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Metrics as recorded in manifests: whole numbers when every value is a JSON integer, numbers
/// when every value is a number, booleans, text, lists of text (an estimate's `diagnostics`);
/// anything mixed is written as its JSON text, so nothing is dropped.
pub fn json_values(values: &[Option<&Value>]) -> ArrayRef {
    let present = || values.iter().flatten().filter(|v| !v.is_null());
    if present().all(|v| v.is_i64()) {
        return ints(values.iter().map(|v| value(*v).and_then(Value::as_i64)));
    }
    if present().all(|v| v.is_number()) {
        return floats(values.iter().map(|v| value(*v).and_then(Value::as_f64)));
    }
    if present().all(|v| v.is_boolean()) {
        let mut builder = BooleanBuilder::new();
        for v in values {
            builder.append_option(value(*v).and_then(Value::as_bool));
        }
        return Arc::new(builder.finish());
    }
    if present().all(|v| v.is_string()) {
        return strings(values.iter().map(|v| value(*v).and_then(Value::as_str)));
    }
    if present().all(|v| v.as_array().is_some_and(|items| items.iter().all(Value::is_string))) {
        return string_lists(values.iter().map(|v| {
            value(*v).and_then(Value::as_array).map(|items| {
                items.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>()
            })
        }));
    }
    let texts: Vec<Option<String>> =
        values.iter().map(|v| value(*v).map(Value::to_string)).collect();
    strings(texts.iter().map(Option::as_deref))
}

pub fn float_lists(values: impl IntoIterator<Item = Option<Vec<Option<f64>>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(Float64Builder::new());
    for value in values {
        match value {
            Some(items) => {
                builder.values().extend(items);
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

pub fn int_lists(values: impl IntoIterator<Item = Option<Vec<i64>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(Int64Builder::new());
    for value in values {
        match value {
            Some(items) => {
                builder.values().extend(items.into_iter().map(Some));
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

pub fn string_lists(values: impl IntoIterator<Item = Option<Vec<String>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for value in values {
        match value {
            Some(items) => {
                for item in items {
                    builder.values().append_value(item);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

/// A list of lists of numbers per row (an LLC's traces: a list per chain).
pub fn float_list_lists(values: impl IntoIterator<Item = Option<Vec<Vec<f64>>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
    for value in values {
        match value {
            Some(lists) => {
                for list in lists {
                    builder.values().values().extend(list.into_iter().map(finite));
                    builder.values().append(true);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

/// A stored number that is not finite (stored as JSON `null`, read back as NaN) is a null.
pub fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}
