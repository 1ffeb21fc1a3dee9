//! Reading a step's resolved parameters (the planner's plain JSON: numbers, strings, lists, and
//! constructors as `{"call": NAME, "args": {...}}`), with errors that name the field.

use serde_json::Value;

/// A parameter that is missing or of the wrong shape: which one, and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// A constructor value: its name and arguments.
#[derive(Debug, Clone, Copy)]
pub struct Ctor<'a> {
    pub name: &'a str,
    pub args: &'a serde_json::Map<String, Value>,
}

impl<'a> Ctor<'a> {
    pub fn of(value: &'a Value, what: &str) -> Result<Ctor<'a>, SpecError> {
        let name = value.get("call").and_then(Value::as_str);
        let args = value.get("args").and_then(Value::as_object);
        match (name, args) {
            (Some(name), Some(args)) => Ok(Ctor { name, args }),
            _ => Err(SpecError(format!("`{what}` must be a constructor such as `sgd(lr = 0.1)`"))),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64, SpecError> {
        int(self.args.get(name), &self.field(name))
    }

    pub fn float(&self, name: &str) -> Result<f64, SpecError> {
        float(self.args.get(name), &self.field(name))
    }

    pub fn opt_int(&self, name: &str) -> Option<i64> {
        self.args.get(name).and_then(Value::as_i64)
    }

    pub fn opt_float(&self, name: &str) -> Option<f64> {
        self.args.get(name).and_then(Value::as_f64)
    }

    pub fn bool_or(&self, name: &str, default: bool) -> bool {
        self.args.get(name).and_then(Value::as_bool).unwrap_or(default)
    }

    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.args.get(name).and_then(Value::as_str)
    }

    pub fn ints(&self, name: &str) -> Result<Vec<i64>, SpecError> {
        ints(self.args.get(name), &self.field(name))
    }

    pub fn ctor(&self, name: &str) -> Result<Ctor<'a>, SpecError> {
        let value = self.args.get(name).ok_or_else(|| missing(&self.field(name)))?;
        Ctor::of(value, &self.field(name))
    }

    fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.name)
    }
}

/// A step's `device` (`cpu`, `cuda`, `cuda:N`; devspec resolves `auto` before sending it).
pub fn device(params: &Value) -> Result<tch::Device, SpecError> {
    match params.get("device").and_then(Value::as_str).unwrap_or("cpu") {
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" => Ok(tch::Device::Cuda(0)),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(index) => Ok(tch::Device::Cuda(index)),
            None => Err(SpecError(format!("unknown device `{other}`"))),
        },
    }
}

/// A step's `dtype`: `f32` (also when absent: an estimate's is derived from its checkpoint's by
/// the planner) or `f64`; any other value is refused, not read as single precision.
pub fn dtype(params: &Value) -> Result<tch::Kind, SpecError> {
    match params.get("dtype").and_then(Value::as_str) {
        Some("f32") | None => Ok(tch::Kind::Float),
        Some("f64") => Ok(tch::Kind::Double),
        Some(other) => Err(SpecError(format!("this worker has no `dtype = {other}`"))),
    }
}

pub fn int(value: Option<&Value>, what: &str) -> Result<i64, SpecError> {
    value.ok_or_else(|| missing(what))?.as_i64().ok_or_else(|| wrong(what, "a whole number"))
}

pub fn float(value: Option<&Value>, what: &str) -> Result<f64, SpecError> {
    value.ok_or_else(|| missing(what))?.as_f64().ok_or_else(|| wrong(what, "a number"))
}

pub fn ints(value: Option<&Value>, what: &str) -> Result<Vec<i64>, SpecError> {
    let items =
        value.ok_or_else(|| missing(what))?.as_array().ok_or_else(|| wrong(what, "a list"))?;
    items
        .iter()
        .map(|item| item.as_i64().ok_or_else(|| wrong(what, "a list of whole numbers")))
        .collect()
}

fn missing(what: &str) -> SpecError {
    SpecError(format!("`{what}` is missing (the planner should have filled it in)"))
}

fn wrong(what: &str, expected: &str) -> SpecError {
    SpecError(format!("`{what}` must be {expected}"))
}
