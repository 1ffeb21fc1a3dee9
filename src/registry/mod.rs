//! The registry: every step kind and built-in constructor, declared once as static data
//! (`schema`) and read by the checker, the docs generator (`reference_doc`) and the executor.
//! Adding a constructor means adding one entry to a topic file under `constructors/`.
//!
//! ```
//! use devspec::registry;
//! let sgd = registry::constructor("sgd").unwrap();
//! assert_eq!(sgd.params[0].name, "lr");
//! assert!(registry::is_builtin_name("tms"));
//! ```

mod constructors;
#[cfg(test)]
mod contract_tests;
pub mod reference_doc;
#[cfg(test)]
mod result_contract_tests;
pub mod schema;
pub mod series;
mod step_kinds;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use devspec_protocol::StepKind;
use schema::{Constructor, Param, StepKindEntry, ValueType};

/// Every built-in constructor, in topic order (general, models, data, sampling, detection).
pub fn constructors() -> &'static [Constructor] {
    constructors::ALL.as_slice()
}

pub fn constructor(name: &str) -> Option<&'static Constructor> {
    constructors().iter().find(|c| c.name == name)
}

/// The step kinds, in the order a study uses them.
pub fn step_kinds() -> impl Iterator<Item = &'static StepKindEntry> + Clone {
    StepKind::ALL.into_iter().map(step_kind)
}

/// The executor's own test fixture (`test`): the parser and the executor accept it (the
/// executor's tests and `benches/run_speed.rs` use it), but it is not offered to users.
pub const FIXTURE_STEP_KIND: StepKind = StepKind::Test;

/// The step kinds users see: in the docs, in `check`'s lists, in completions.
pub fn user_step_kinds() -> impl Iterator<Item = &'static StepKindEntry> + Clone {
    step_kinds().filter(|entry| entry.kind != FIXTURE_STEP_KIND)
}

/// What a step kind accepts: every kind has an entry.
pub fn step_kind(kind: StepKind) -> &'static StepKindEntry {
    step_kinds::entry(kind)
}

/// The group of a grouped constructor name (`tms` for `tms.model`); `None` for a bare name.
pub fn group_of(name: &str) -> Option<&str> {
    name.split_once('.').map(|(group, _)| group)
}

/// The distinct groups of grouped constructors (`dln`, `tms`, ...), sorted.
pub fn groups() -> Vec<&'static str> {
    let groups: BTreeSet<&'static str> =
        constructors().iter().filter_map(|c| group_of(c.name)).collect();
    groups.into_iter().collect()
}

/// Every enumeration value the registry names anywhere, nested types included. A bare name that
/// is one of these reads as that value, so none may also name a constructor or a group.
pub fn enum_values() -> BTreeSet<&'static str> {
    ENUM_VALUES.clone()
}

/// Whether `name` is an enumeration value; cheaper than `enum_values()` for one question.
pub fn is_enum_value(name: &str) -> bool {
    ENUM_VALUES.contains(name)
}

// The checker asks about every bare name it reads, so the set is collected once.
static ENUM_VALUES: LazyLock<BTreeSet<&'static str>> = LazyLock::new(|| {
    let mut values = BTreeSet::new();
    let params =
        step_kinds().flat_map(|k| k.fields).chain(constructors().iter().flat_map(|c| c.params));
    for param in params {
        collect_enum_values(&param.ty, &mut values);
    }
    values
});

fn collect_enum_values(ty: &'static ValueType, values: &mut BTreeSet<&'static str>) {
    match ty {
        ValueType::Enum(names) => values.extend(names.iter().copied()),
        ValueType::List(element) => collect_enum_values(element, values),
        ValueType::Record(fields) => {
            for field in *fields {
                collect_enum_values(&field.ty, values);
            }
        }
        ValueType::OneOf(alternatives) => {
            for alternative in *alternatives {
                collect_enum_values(alternative, values);
            }
        }
        ValueType::Int { .. }
        | ValueType::Float { .. }
        | ValueType::Str
        | ValueType::Bool
        | ValueType::Path
        | ValueType::Ctor(_)
        | ValueType::Auto => {}
    }
}

/// Whether `name` is taken by the built-ins: a bare constructor (`sgd`) or a group (`tms`).
/// A `let` or a preset with such a name would shadow a built-in.
pub fn is_builtin_name(name: &str) -> bool {
    constructors().iter().any(|c| c.name == name && group_of(c.name).is_none())
        || constructors().iter().any(|c| group_of(c.name) == Some(name))
}

/// The parameter of that name in a step kind's fields or a constructor's arguments.
pub fn param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name == name)
}
