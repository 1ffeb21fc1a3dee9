//! Registry defaults ([`Literal`]) as values, so a field left out and a field written with its
//! default value mean exactly the same thing.

use crate::registry::schema::Literal;

use super::value::{Origin, Value, ValueKind};

pub fn to_value(literal: Literal, origin: Origin) -> Value {
    let kind = match literal {
        Literal::Int(v) => ValueKind::Int(v),
        Literal::Float(v) => ValueKind::Float(v),
        Literal::Str(s) => ValueKind::Str(s.to_owned()),
        Literal::Bool(b) => ValueKind::Bool(b),
        Literal::Enum(name) => ValueKind::Enum(name.to_owned()),
        Literal::Auto => ValueKind::Auto,
        Literal::EmptyList => ValueKind::List(Vec::new()),
    };
    Value::new(kind, origin)
}
