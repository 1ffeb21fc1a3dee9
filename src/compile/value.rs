//! [`Value`]: what an expression means once names, arithmetic, calls and `with` are resolved.
//! Every value remembers where it was written ([`Origin`]), so a type error found when a preset
//! from another file is used still points at that file.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::registry::schema::CtorKind;
use crate::source::{FileId, Span};

/// Where a value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: FileId,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Auto,
    /// A bare name read as an enumeration value (`pelt`, `relu`).
    Enum(String),
    List(Vec<Value>),
    Record(BTreeMap<String, Value>),
    /// The value of a built-in constructor, with every argument (defaults filled in).
    Ctor {
        name: &'static str,
        kind: CtorKind,
        args: BTreeMap<String, Value>,
    },
    /// `sweep(...)`: the step becomes one instance per element. `axis` is the name the spec
    /// gave its axis (`sweep([32, 64], axis = "width")`); without one, the axis is named by the
    /// sweep's place in the step (`lr`, `widths[1]`).
    Sweep {
        values: Vec<Value>,
        axis: Option<String>,
    },
    /// A string in a field that names a file: as written, and (once checked) resolved against
    /// the folder of the file that wrote it. Its content's digest, not its path, goes in keys.
    File {
        written: String,
        path: std::path::PathBuf,
    },
    /// An unbound parameter (`param NAME: TYPE`), or arithmetic on one: a value known only
    /// once bound. `check` holds it to the fields it reaches by its type; planning refuses it.
    Open {
        name: String,
        ty: super::param::ParamType,
    },
}

impl Value {
    /// The value as the worker protocol carries it: numbers, strings, booleans; options and
    /// `auto` as their names; files as their paths (a key holds their content's digest);
    /// constructors as `{"call": name, "args": {...}}`, which `devspec_protocol::params`
    /// reads as typed structs.
    pub fn to_wire(&self) -> serde_json::Value {
        match &self.kind {
            ValueKind::Int(v) => (*v).into(),
            ValueKind::Float(v) => (*v).into(),
            ValueKind::Str(text) | ValueKind::Enum(text) => text.clone().into(),
            ValueKind::File { path, .. } => path.display().to_string().into(),
            ValueKind::Bool(v) => (*v).into(),
            ValueKind::Auto => "auto".into(),
            ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
                items.iter().map(Value::to_wire).collect()
            }
            ValueKind::Record(fields) => fields
                .iter()
                .map(|(k, v)| (k.clone(), v.to_wire()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            ValueKind::Ctor { name, args, .. } => {
                let args: serde_json::Map<_, _> =
                    args.iter().map(|(k, v)| (k.clone(), v.to_wire())).collect();
                serde_json::json!({ "call": name, "args": args })
            }
            // Never planned: the planner refuses a program with open parameters.
            ValueKind::Open { name, ty } => serde_json::json!({ "open": name, "type": ty.word() }),
        }
    }

    /// The value read as the protocol's typed form of it (`params::Model`, `params::Schedule`,
    /// ...), or `None` when it is not one.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.to_wire()).ok()
    }

    pub fn new(kind: ValueKind, origin: Origin) -> Self {
        Value { kind, origin }
    }

    /// What kind of value this is, in the user's words ("a string", "a list").
    pub fn describe(&self) -> String {
        match &self.kind {
            ValueKind::Int(_) => "a whole number".into(),
            ValueKind::Float(_) => "a number with a fraction".into(),
            ValueKind::Str(_) => "a string".into(),
            ValueKind::File { .. } => "a file path".into(),
            ValueKind::Bool(_) => "`true` or `false`".into(),
            ValueKind::Auto => "`auto`".into(),
            ValueKind::Enum(name) => format!("the name `{name}`"),
            ValueKind::List(_) => "a list".into(),
            ValueKind::Record(_) => "a record".into(),
            ValueKind::Ctor { name, .. } => format!("`{name}(...)`"),
            ValueKind::Sweep { .. } => "a sweep".into(),
            ValueKind::Open { name, ty } => format!("the open parameter `{name}` ({ty})"),
        }
    }

    /// A constructor value's argument, if this is a constructor value with it.
    pub fn ctor_arg(&self, name: &str) -> Option<&Value> {
        match &self.kind {
            ValueKind::Ctor { args, .. } => args.get(name),
            _ => None,
        }
    }

    /// The number, if this is one (whole numbers included).
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            #[allow(clippy::cast_precision_loss)] // spec integers are far below 2^53
            ValueKind::Int(value) => Some(value as f64),
            ValueKind::Float(value) => Some(value),
            _ => None,
        }
    }

    /// A copy with every sweep replaced by `choose(i)` for the i-th sweep met, in the order
    /// the checker lists a step's axes (fields and arguments by name, list elements by
    /// position), so the i-th sweep is the i-th axis.
    #[must_use]
    pub fn replace_sweeps(&self, choose: &mut dyn FnMut(usize) -> Value) -> Value {
        let mut count = 0;
        self.replace_sweeps_counting(choose, &mut count)
    }

    fn replace_sweeps_counting(
        &self,
        choose: &mut dyn FnMut(usize) -> Value,
        count: &mut usize,
    ) -> Value {
        let kind = match &self.kind {
            ValueKind::Sweep { .. } => {
                let chosen = choose(*count);
                *count += 1;
                return chosen;
            }
            ValueKind::List(items) => ValueKind::List(
                items.iter().map(|item| item.replace_sweeps_counting(choose, count)).collect(),
            ),
            ValueKind::Record(fields) => ValueKind::Record(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.replace_sweeps_counting(choose, count)))
                    .collect(),
            ),
            ValueKind::Ctor { name, kind, args } => ValueKind::Ctor {
                name,
                kind: *kind,
                args: args
                    .iter()
                    .map(|(k, v)| (k.clone(), v.replace_sweeps_counting(choose, count)))
                    .collect(),
            },
            other => other.clone(),
        };
        Value::new(kind, self.origin)
    }

    /// Every file this value names, however deep (a constructor's argument, a list's item), as
    /// resolved by the checker.
    pub fn files(&self) -> Vec<&std::path::Path> {
        self.descendants()
            .into_iter()
            .filter_map(|value| match &value.kind {
                ValueKind::File { path, .. } => Some(path.as_path()),
                _ => None,
            })
            .collect()
    }

    /// This value and every value inside it (a list's items, a record's fields, a
    /// constructor's arguments, a sweep's values), parents before children, in order; walked
    /// with a stack of its own, so a deep value cannot exhaust the thread's.
    pub fn descendants(&self) -> Vec<&Value> {
        let mut out = Vec::new();
        let mut pending: Vec<&Value> = vec![self];
        while let Some(value) = pending.pop() {
            out.push(value);
            match &value.kind {
                ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
                    pending.extend(items.iter().rev());
                }
                ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
                    pending.extend(fields.values().rev());
                }
                _ => {}
            }
        }
        out
    }

    /// How many values this one is made of, itself included (a list of two numbers: 3).
    pub fn node_count(&self) -> usize {
        let mut count = 0;
        let mut pending: Vec<&Value> = vec![self];
        while let Some(value) = pending.pop() {
            count += 1;
            match &value.kind {
                ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
                    pending.extend(items);
                }
                ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
                    pending.extend(fields.values());
                }
                _ => {}
            }
        }
        count
    }

    /// Whether the value nests more than `limit` levels (a number is one level, a list of
    /// numbers two); walks no deeper than `limit` and never recurses.
    pub fn depth_exceeds(&self, limit: usize) -> bool {
        let mut pending: Vec<(&Value, usize)> = vec![(self, 1)];
        while let Some((value, depth)) = pending.pop() {
            let children: Box<dyn Iterator<Item = &Value>> = match &value.kind {
                ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
                    Box::new(items.iter())
                }
                ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
                    Box::new(fields.values())
                }
                _ => continue,
            };
            for child in children {
                if depth + 1 > limit {
                    return true;
                }
                pending.push((child, depth + 1));
            }
        }
        false
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Int(value) => Some(value),
            _ => None,
        }
    }
}

/// The canonical text of a value: one spelling per value, used in instance names
/// (`tms_run[lr=0.001]`) and plans. Floats use the shortest text that reads back to the same
/// number (Rust's `Display` for f64), with `.0` kept off integers-valued floats' exponent forms.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ValueKind::Int(value) => write!(f, "{value}"),
            ValueKind::Float(value) => f.write_str(&canonical_float(*value)),
            ValueKind::Str(text) | ValueKind::File { written: text, .. } => write!(f, "{text:?}"),
            ValueKind::Bool(value) => write!(f, "{value}"),
            ValueKind::Auto => f.write_str("auto"),
            ValueKind::Enum(name) | ValueKind::Open { name, .. } => f.write_str(name),
            ValueKind::List(items) => {
                f.write_str("[")?;
                write_joined(f, items.iter().map(ToString::to_string))?;
                f.write_str("]")
            }
            ValueKind::Sweep { values, axis } => {
                f.write_str("sweep([")?;
                write_joined(f, values.iter().map(ToString::to_string))?;
                match axis {
                    Some(axis) => write!(f, "], axis = {axis:?})"),
                    None => f.write_str("])"),
                }
            }
            ValueKind::Record(fields) => {
                f.write_str("{ ")?;
                write_joined(f, fields.iter().map(|(k, v)| format!("{k} = {v}")))?;
                f.write_str(" }")
            }
            ValueKind::Ctor { name, args, .. } => {
                write!(f, "{name}(")?;
                write_joined(f, args.iter().map(|(k, v)| format!("{k} = {v}")))?;
                f.write_char(')')
            }
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: impl Iterator<Item = String>) -> fmt::Result {
    for (index, item) in items.enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        f.write_str(&item)?;
    }
    Ok(())
}

/// One spelling per float: the shortest digits that read back exactly, as a plain decimal
/// between 1e-4 and 1e16 (`0.001`, `20000.0`) and in exponent form outside (`1e-7`, `3e20`),
/// as Python prints floats; so the same value always names the same instance.
pub fn canonical_float(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || (1e-4..1e16).contains(&magnitude) || !value.is_finite() {
        let plain = format!("{value}");
        if plain.contains(['.', 'N', 'i']) { plain } else { format!("{plain}.0") }
    } else {
        format!("{value:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_have_one_spelling() {
        assert_eq!(canonical_float(1e-3), "0.001");
        assert_eq!(canonical_float(0.001), "0.001");
        assert_eq!(canonical_float(1e-7), "1e-7");
        assert_eq!(canonical_float(20000.0), "20000.0");
        assert_eq!(canonical_float(0.1), "0.1");
        assert_eq!(canonical_float(3e20), "3e20");
    }
}
