//! Whether a value fits a field's or argument's declared type and range, with the conversions
//! the language allows (a whole number where a number is expected), and the messages when not.

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::registry::schema::{Bound, CtorKind, Default, Param, ValueType};
use crate::registry::{self};

use super::did_you_mean;
use super::literal;
use super::value::{Value, ValueKind};

/// The type in the user's words: "a whole number >= 1", "one of `pelt`, `binseg`".
pub fn describe(ty: &ValueType) -> String {
    match ty {
        ValueType::Int { min, max } => match (min, max) {
            (Some(min), Some(max)) => format!("a whole number from {min} to {max}"),
            (Some(min), None) => format!("a whole number >= {min}"),
            (None, Some(max)) => format!("a whole number <= {max}"),
            (None, None) => "a whole number".into(),
        },
        ValueType::Float { min, max } => {
            let low = min.map(|b| match b {
                Bound::Inclusive(v) => format!(">= {v}"),
                Bound::Exclusive(v) => format!("> {v}"),
            });
            let high = max.map(|b| match b {
                Bound::Inclusive(v) => format!("<= {v}"),
                Bound::Exclusive(v) => format!("< {v}"),
            });
            match (low, high) {
                (Some(low), Some(high)) => format!("a number {low} and {high}"),
                (Some(bound), None) | (None, Some(bound)) => format!("a number {bound}"),
                (None, None) => "a number".into(),
            }
        }
        ValueType::Str => "a string".into(),
        ValueType::Bool => "`true` or `false`".into(),
        ValueType::Path => "a file path (a string)".into(),
        ValueType::Enum(values) => {
            let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            format!("one of {}", names.join(", "))
        }
        ValueType::List(inner) => format!("a list of {}", plural(&describe(inner))),
        ValueType::Record(_) => "a record `{ ... }`".into(),
        ValueType::Ctor(kind) => describe_kind(*kind),
        ValueType::Auto => "`auto`".into(),
        ValueType::OneOf(types) => {
            let words: Vec<String> = types.iter().map(describe).collect();
            match words.split_last() {
                Some((last, init)) if !init.is_empty() => format!("{} or {last}", init.join(", ")),
                _ => words.join(""),
            }
        }
    }
}

fn plural(words: &str) -> String {
    words.strip_prefix("a ").map_or_else(|| words.to_owned(), |rest| format!("{rest}s"))
}

/// "a model such as `tms.model(...)`": the kind, with the first constructors that make one.
pub fn describe_kind(kind: CtorKind) -> String {
    let noun = match kind {
        CtorKind::Model => "a model",
        CtorKind::Data => "a data set",
        CtorKind::Teacher => "a teacher",
        CtorKind::Optimizer => "an optimizer",
        CtorKind::Sampler => "a sampler",
        CtorKind::Observable => "an observable",
        CtorKind::Schedule => "a step schedule",
        CtorKind::Method => "a detection method",
        CtorKind::Sweep => "a sweep",
    };
    let examples: Vec<String> = registry::constructors()
        .iter()
        .filter(|c| c.kind == kind)
        .take(3)
        .map(|c| format!("`{}(...)`", c.name))
        .collect();
    if examples.is_empty() {
        noun.to_owned()
    } else {
        format!("{noun} such as {}", examples.join(", "))
    }
}

/// Checks `value` against `ty`, converting where allowed. `what` names the place for messages
/// ("`steps`", "argument `lr` of `sgd`").
pub fn conform(value: Value, ty: &ValueType, what: &str, diags: &mut Diagnostics) -> Option<Value> {
    match try_conform(value, ty, what) {
        Ok(value) => Some(value),
        Err(errors) => {
            diags.extend(errors);
            None
        }
    }
}

/// Each element of a sweep must have the field's type.
fn conform_sweep(
    items: Vec<Value>,
    axis: Option<String>,
    ty: &ValueType,
    what: &str,
    origin: super::value::Origin,
) -> Result<Value, Vec<Diagnostic>> {
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for item in items {
        match try_conform(item, ty, what) {
            Ok(item) => out.push(item),
            Err(more) => errors.extend(more),
        }
    }
    if errors.is_empty() {
        Ok(Value::new(ValueKind::Sweep { values: out, axis }, origin))
    } else {
        Err(errors)
    }
}

/// A file path as written; `compile::file_refs` resolves it once the spec is checked.
fn file(written: &str, origin: super::value::Origin) -> Value {
    Value::new(ValueKind::File { written: written.to_owned(), path: written.into() }, origin)
}

fn try_conform(value: Value, ty: &ValueType, what: &str) -> Result<Value, Vec<Diagnostic>> {
    let origin = value.origin;
    if let ValueKind::Sweep { values: items, axis } = value.kind {
        return conform_sweep(items, axis, ty, what, origin);
    }
    let mismatch = |value: &Value| {
        vec![
            Diagnostic::error(
                origin.file,
                origin.span,
                format!("{what} expects {}, found {}", describe(ty), value.describe()),
            )
            .label(format!("this is {}", value.describe())),
        ]
    };
    match (ty, &value.kind) {
        (ValueType::Int { min, max }, ValueKind::Int(v)) => {
            let low = min.is_none_or(|min| *v >= min);
            let high = max.is_none_or(|max| *v <= max);
            if low && high { Ok(value) } else { Err(out_of_range(&value, ty, what)) }
        }
        (ValueType::Float { min, max }, ValueKind::Int(_) | ValueKind::Float(_)) => {
            let v = value.as_f64().expect("a number");
            let low = min.is_none_or(|b| match b {
                Bound::Inclusive(m) => v >= m,
                Bound::Exclusive(m) => v > m,
            });
            let high = max.is_none_or(|b| match b {
                Bound::Inclusive(m) => v <= m,
                Bound::Exclusive(m) => v < m,
            });
            if low && high && v.is_finite() {
                Ok(Value::new(ValueKind::Float(v), origin))
            } else {
                Err(out_of_range(&value, ty, what))
            }
        }
        (ValueType::Path, ValueKind::Str(text)) => Ok(file(text, origin)),
        (ValueType::Str, ValueKind::Str(_))
        | (ValueType::Path, ValueKind::File { .. })
        | (ValueType::Bool, ValueKind::Bool(_))
        | (ValueType::Auto, ValueKind::Auto) => Ok(value),
        (ValueType::Enum(values), ValueKind::Enum(name)) => {
            if values.contains(&name.as_str()) {
                Ok(value)
            } else {
                let mut diagnostic = Diagnostic::error(
                    origin.file,
                    origin.span,
                    format!("{what} expects {}, found `{name}`", describe(ty)),
                );
                if let Some(hint) = did_you_mean::hint(name, values.iter().copied()) {
                    diagnostic = diagnostic.with_hint(hint);
                }
                Err(vec![diagnostic])
            }
        }
        (ValueType::List(inner), ValueKind::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for item in items.clone() {
                match try_conform(item, inner, &format!("each element of {what}")) {
                    Ok(item) => out.push(item),
                    Err(more) => errors.extend(more),
                }
            }
            if errors.is_empty() {
                Ok(Value::new(ValueKind::List(out), origin))
            } else {
                Err(errors)
            }
        }
        (ValueType::Record(params), ValueKind::Record(fields)) => {
            conform_record(fields.clone(), params, what, origin)
                .map(|fields| Value::new(ValueKind::Record(fields), origin))
        }
        (ValueType::Ctor(kind), ValueKind::Ctor { kind: got, .. }) if kind == got => Ok(value),
        // An open parameter fits wherever its type does; its value is checked once bound.
        (_, ValueKind::Open { ty: declared, .. }) if declared.fits(ty) => Ok(value),
        (_, ValueKind::Open { name, ty: declared }) => {
            Err(vec![mismatch(&value).remove(0).with_hint(format!(
                "`{name}` is declared `param {name}: {declared}`: give {what} {} instead",
                describe(ty)
            ))])
        }
        (ValueType::OneOf(types), _) => {
            let mut best: Option<Vec<Diagnostic>> = None;
            for candidate in *types {
                match try_conform(value.clone(), candidate, what) {
                    Ok(value) => return Ok(value),
                    // A value of the right shape but out of range says more than "wrong type".
                    Err(errors) if same_shape(candidate, &value) => best = Some(errors),
                    Err(_) => {}
                }
            }
            Err(best.unwrap_or_else(|| mismatch(&value)))
        }
        _ => Err(mismatch(&value)),
    }
}

fn same_shape(ty: &ValueType, value: &Value) -> bool {
    matches!(
        (ty, &value.kind),
        (ValueType::Int { .. }, ValueKind::Int(_))
            | (ValueType::Float { .. }, ValueKind::Int(_) | ValueKind::Float(_))
            | (ValueType::Enum(_), ValueKind::Enum(_))
            | (ValueType::List(_), ValueKind::List(_))
            | (ValueType::Record(_), ValueKind::Record(_))
    )
}

fn out_of_range(value: &Value, ty: &ValueType, what: &str) -> Vec<Diagnostic> {
    vec![
        Diagnostic::error(
            value.origin.file,
            value.origin.span,
            format!(
                "{what} must be {}, found {value}",
                describe(ty).trim_start_matches("a whole number ").trim_start_matches("a number ")
            ),
        )
        .label(format!("expected {}", describe(ty))),
    ]
}

/// Checks a record against declared fields: unknown names (with a did-you-mean), each value's
/// type, missing required fields, defaults filled in.
fn conform_record(
    mut fields: BTreeMap<String, Value>,
    params: &[Param],
    what: &str,
    origin: super::value::Origin,
) -> Result<BTreeMap<String, Value>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (name, value) in std::mem::take(&mut fields) {
        if let Some(param) = registry::param(params, &name) {
            match try_conform(value, &param.ty, &format!("`{name}`")) {
                Ok(value) => {
                    out.insert(name, value);
                }
                Err(more) => errors.extend(more),
            }
        } else {
            {
                let mut diagnostic = Diagnostic::error(
                    value.origin.file,
                    value.origin.span,
                    format!("{what} has no field `{name}`"),
                );
                if let Some(hint) = did_you_mean::hint(&name, params.iter().map(|p| p.name)) {
                    diagnostic = diagnostic.with_hint(hint);
                }
                errors.push(diagnostic);
            }
        }
    }
    for param in params {
        if out.contains_key(param.name) {
            continue;
        }
        match param.default {
            Default::Required => errors.push(Diagnostic::error(
                origin.file,
                origin.span,
                format!("{what} needs the field `{}` ({})", param.name, param.doc),
            )),
            Default::Value(lit) => {
                out.insert(param.name.to_owned(), literal::to_value(lit, origin));
            }
            Default::Derived(_) => {}
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}
