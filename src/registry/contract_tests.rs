//! The contract between the registry and the typed parameters of `devspec_protocol::params`:
//! the registry states every name, type and default once, and the protocol's structs restate
//! the names and types (never a default), so this test fails when the two disagree. It exists
//! because nothing else ties them: the structs cannot read the registry (the protocol crate is
//! serde only), and a disagreement would otherwise surface as a failed run, or worse, as a field
//! silently read otherwise than the spec wrote it.
//!
//! For every constructor and every step kind a worker runs, the parameters are built as the
//! planner builds them (checked values, defaults through `compile::literal`, then the
//! executor's own `Value::to_wire` and `request_params`), and read as the protocol type:
//! - with each defaulted field at its default, each required one at a sample of its type and
//!   each derived one absent, the parameters must read, and write back as the same JSON: a
//!   field the struct lacks or misnames (`deny_unknown_fields`), a field the planner sends that
//!   the struct does not know, or a default of another type (an integer read as a float comes
//!   back `4.0`, not `4`) fails here;
//! - the same with the derived fields present: a derived field the struct lacks fails;
//! - the struct's field names (as serde's derive lists them) are the registry's: a field the
//!   registry lacks fails even when it is an `Option` that is never sent;
//! - a field the planner always sends (required, or with a default) must not be optional to
//!   the struct: absent, it is refused, so no reader needs a default of its own;
//! - every field accepts exactly the values of its registry type, over a pool of values of
//!   every shape (numbers whole and not, strings, booleans, `auto`, every enumeration value the
//!   registry names and one it does not, lists, records, one call of every constructor): an
//!   enumeration value missing from a Rust enum, a float field typed as an integer, a data
//!   field typed as a model, all fail. Ranges are left to the checker: the types only.

use std::collections::{BTreeMap, BTreeSet};

use devspec_protocol::{StepKind, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::schema::{Constructor, CtorKind, Default, Param, ValueType};
use crate::compile::literal;
use crate::compile::value::{Origin, Value, ValueKind};
use crate::exec::request_params;

fn origin() -> Origin {
    Origin { file: crate::source::FileId(0), span: crate::source::Span { start: 0, end: 0 } }
}

fn value(kind: ValueKind) -> Value {
    Value::new(kind, origin())
}

/// A value of the type, the first of its choices: what a spec could write there.
fn sample(ty: &ValueType) -> Value {
    value(match ty {
        ValueType::Int { min, .. } => ValueKind::Int(min.unwrap_or(0).max(1)),
        ValueType::Float { .. } => ValueKind::Float(0.5),
        ValueType::Str => ValueKind::Str("text".into()),
        ValueType::Path => {
            ValueKind::File { written: "file.bin".into(), path: "/data/file.bin".into() }
        }
        ValueType::Bool => ValueKind::Bool(true),
        ValueType::Enum(names) => ValueKind::Enum(names[0].into()),
        ValueType::List(element) => ValueKind::List(vec![sample(element), sample(element)]),
        ValueType::Record(fields) => {
            ValueKind::Record(fields.iter().map(|f| (f.name.to_owned(), sample(&f.ty))).collect())
        }
        ValueType::Ctor(kind) => return sample_call(first_of(*kind)),
        ValueType::Auto => ValueKind::Auto,
        ValueType::OneOf(alternatives) => return sample(&alternatives[0]),
    })
}

fn first_of(kind: CtorKind) -> &'static Constructor {
    super::constructors().iter().find(|c| c.kind == kind).expect("every kind has a constructor")
}

/// A call of the constructor as the planner sends it: every argument, defaults filled in.
fn sample_call(ctor: &'static Constructor) -> Value {
    value(ValueKind::Ctor { name: ctor.name, kind: ctor.kind, args: planned(ctor.params, false) })
}

/// Fields as the planner resolves them: defaults filled in, required ones at a sample value,
/// derived ones absent (or, with `derived`, at a sample value too).
fn planned(params: &[Param], derived: bool) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for param in params {
        let field = match param.default {
            Default::Required => Some(sample(&param.ty)),
            Default::Value(default) => Some(literal::to_value(default, origin())),
            Default::Derived(_) => derived.then(|| sample(&param.ty)),
        };
        if let Some(field) = field {
            fields.insert(param.name.to_owned(), field);
        }
    }
    fields
}

/// Whether a registry type accepts this JSON as the planner writes values of that type (ranges
/// aside: they are the checker's).
fn fits(ty: &ValueType, json: &Json) -> bool {
    match ty {
        ValueType::Int { .. } => json.is_i64(),
        // Whole numbers are numbers too.
        ValueType::Float { .. } => json.is_number(),
        ValueType::Str | ValueType::Path => json.is_string(),
        ValueType::Bool => json.is_boolean(),
        ValueType::Enum(names) => json.as_str().is_some_and(|name| names.contains(&name)),
        ValueType::List(element) => {
            json.as_array().is_some_and(|items| items.iter().all(|item| fits(element, item)))
        }
        ValueType::Record(fields) => json.as_object().is_some_and(|record| {
            record.iter().all(|(name, field)| {
                super::param(fields, name).is_some_and(|param| fits(&param.ty, field))
            }) && fields.iter().all(|param| {
                !matches!(param.default, Default::Required) || record.contains_key(param.name)
            })
        }),
        // The pool's calls are complete: whether a call fits is whether its kind does.
        ValueType::Ctor(kind) => json
            .get("call")
            .and_then(Json::as_str)
            .and_then(super::constructor)
            .is_some_and(|ctor| ctor.kind == *kind),
        ValueType::Auto => json == "auto",
        ValueType::OneOf(alternatives) => alternatives.iter().any(|ty| fits(ty, json)),
    }
}

/// Values of every shape a field could be sent: each is offered to every field, which must
/// accept exactly those its type fits.
fn pool() -> Vec<Value> {
    let mut pool = vec![
        value(ValueKind::Int(1)),
        value(ValueKind::Int(-3)),
        value(ValueKind::Float(0.5)),
        value(ValueKind::Float(2.0)),
        value(ValueKind::Str("text".into())),
        value(ValueKind::Bool(false)),
        value(ValueKind::Auto),
        value(ValueKind::Enum("no_such_value".into())),
        value(ValueKind::List(Vec::new())),
        value(ValueKind::List(vec![value(ValueKind::Int(2))])),
        value(ValueKind::List(vec![value(ValueKind::Float(0.5))])),
        value(ValueKind::List(vec![value(ValueKind::Str("layers.*".into()))])),
        value(ValueKind::Record(BTreeMap::new())),
    ];
    pool.extend(super::enum_values().into_iter().map(|name| value(ValueKind::Enum(name.into()))));
    pool.extend(
        super::constructors().iter().filter(|c| c.kind != CtorKind::Sweep).map(sample_call),
    );
    pool
}

/// `T` read from `json` and written back.
fn through<T: DeserializeOwned + Serialize>(json: Json) -> Result<Json, String> {
    let typed: T = serde_json::from_value(json).map_err(|err| err.to_string())?;
    Ok(serde_json::to_value(&typed).expect("parameters serialize"))
}

/// How the protocol reads a constructor of each kind, and the names of its fields.
fn read_call(kind: CtorKind, call: Json) -> Result<Json, String> {
    match kind {
        CtorKind::Model => through::<params::Model>(call),
        CtorKind::Data => through::<params::Data>(call),
        CtorKind::Teacher => through::<params::Teacher>(call),
        CtorKind::Optimizer => through::<params::Optimizer>(call),
        CtorKind::Sampler => through::<params::Sampler>(call),
        CtorKind::Observable => through::<params::Observable>(call),
        CtorKind::Schedule => through::<params::Schedule>(call),
        CtorKind::Method => through::<params::Method>(call),
        CtorKind::Sweep => Err("a sweep is resolved by the planner and never sent".into()),
    }
}

fn call_fields(kind: CtorKind, name: &str) -> Option<&'static [&'static str]> {
    let tags = ("call", "args");
    match kind {
        CtorKind::Model => probe::fields::<params::Model>(tags, name),
        CtorKind::Data => probe::fields::<params::Data>(tags, name),
        CtorKind::Teacher => probe::fields::<params::Teacher>(tags, name),
        CtorKind::Optimizer => probe::fields::<params::Optimizer>(tags, name),
        CtorKind::Sampler => probe::fields::<params::Sampler>(tags, name),
        CtorKind::Observable => probe::fields::<params::Observable>(tags, name),
        CtorKind::Schedule => probe::fields::<params::Schedule>(tags, name),
        CtorKind::Method => probe::fields::<params::Method>(tags, name),
        CtorKind::Sweep => None,
    }
}

/// One thing with parameters (a constructor or a step kind) checked against its protocol type.
struct Contract<'a> {
    name: String,
    params: Vec<Param>,
    /// The fields as they are sent (a call's `args`, a step's `params`), from the planned ones.
    send: &'a dyn Fn(&BTreeMap<String, Value>) -> Json,
    /// The sent fields read as the protocol type and written back.
    read: &'a dyn Fn(Json) -> Result<Json, String>,
    /// The names of the protocol struct's fields.
    fields: Option<&'static [&'static str]>,
    /// Fields whose sent value is not the planned one (a step's `device`, resolved by the
    /// executor): their values are checked by a test of their own.
    resolved: &'a [&'a str],
}

impl Contract<'_> {
    fn check(&self, pool: &[Value], failures: &mut Vec<String>) {
        let mut fail = |what: String| failures.push(format!("{}: {what}", self.name));
        for derived in [false, true] {
            let sent = (self.send)(&planned(&self.params, derived));
            match (self.read)(sent.clone()) {
                Ok(back) if back == sent => {}
                Ok(back) => fail(format!("sent {sent}, read back as {back}")),
                Err(err) => fail(format!("sent {sent}, refused: {err}")),
            }
        }
        let names: BTreeSet<&str> = self.params.iter().map(|p| p.name).collect();
        match self.fields {
            Some(fields) => {
                let fields: BTreeSet<&str> = fields.iter().copied().collect();
                if fields != names {
                    fail(format!(
                        "the struct's fields {fields:?} are not the registry's {names:?}"
                    ));
                }
            }
            None => fail("no protocol struct".into()),
        }
        for param in &self.params {
            let mut planned = planned(&self.params, false);
            if !matches!(param.default, Default::Derived(_)) {
                planned.remove(param.name);
                if (self.read)((self.send)(&planned)).is_ok() {
                    fail(format!(
                        "`{}` is always sent, but the struct reads its absence (as a default of \
                         its own)",
                        param.name
                    ));
                }
            }
            if self.resolved.contains(&param.name) {
                continue;
            }
            for candidate in pool {
                planned.insert(param.name.to_owned(), candidate.clone());
                let sent = (self.send)(&planned);
                let offered = &sent[param.name];
                let (accepted, expected) =
                    ((self.read)(sent.clone()).is_ok(), fits(&param.ty, offered));
                if accepted != expected {
                    fail(format!(
                        "`{}` {} {offered}, which its registry type {:?} {}",
                        param.name,
                        if accepted { "accepts" } else { "refuses" },
                        param.ty,
                        if expected { "accepts" } else { "refuses" },
                    ));
                }
            }
        }
    }
}

#[test]
fn every_constructor_reads_as_its_protocol_struct_with_the_registrys_names_types_and_defaults() {
    let pool = pool();
    let mut failures = Vec::new();
    for ctor in super::constructors() {
        // `sweep(...)` makes instances: the planner resolves it, no value of it is ever sent.
        if ctor.kind == CtorKind::Sweep {
            continue;
        }
        let send = |args: &BTreeMap<String, Value>| {
            let args = args.clone();
            value(ValueKind::Ctor { name: ctor.name, kind: ctor.kind, args }).to_wire()["args"]
                .clone()
        };
        let read = |args: Json| {
            read_call(ctor.kind, json!({ "call": ctor.name, "args": args })).map(|back| {
                assert_eq!(back["call"], ctor.name);
                back["args"].clone()
            })
        };
        let contract = Contract {
            name: ctor.name.to_owned(),
            params: ctor.params.to_vec(),
            send: &send,
            read: &read,
            fields: call_fields(ctor.kind, ctor.name),
            resolved: &[],
        };
        contract.check(&pool, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the planner adds to a step kind's own fields before sending it (`plan::planner`): an
/// estimate copies from the step it is on (`inherit_model_and_data`) that step's model (every
/// step it can be on has one), and, when that step has them, its data, loss, test fraction,
/// batch size (as `train_batch_size`), seed (as `train_seed`) and dtype (its own field); a
/// checkpoint step's file carries its training `step`. Types are the train step's fields'.
fn planner_fields(kind: StepKind) -> Vec<Param> {
    let train = super::step_kind(StepKind::Train);
    let copied = |from: &str, to: &'static str, default: Default| {
        let field = super::param(train.fields, from).expect("a train field");
        Param { name: to, ty: field.ty, default, doc: "" }
    };
    let absent = Default::Derived("absent on a `checkpoint` step");
    match kind {
        StepKind::Estimate => vec![
            copied("model", "model", Default::Required),
            copied("data", "data", absent),
            copied("loss", "loss", absent),
            copied("test_fraction", "test_fraction", absent),
            copied("batch_size", "train_batch_size", absent),
            copied("seed", "train_seed", absent),
        ],
        StepKind::Checkpoint => vec![Param {
            name: "step",
            ty: ValueType::Int { min: Some(0), max: None },
            default: Default::Derived("with `files`"),
            doc: "",
        }],
        StepKind::Train | StepKind::Detect | StepKind::Report | StepKind::Test => Vec::new(),
    }
}

fn read_step(kind: &str, params: &Json) -> Result<Json, String> {
    through::<params::StepParams>(json!({ "kind": kind, "params": params }))
        .map(|back| back["params"].clone())
}

/// The step kinds a worker runs: `devspec` computes `detect` and `report` itself.
fn worker_kinds() -> impl Iterator<Item = &'static super::schema::StepKindEntry> {
    super::step_kinds().filter(|entry| entry.kind.runs_in_worker())
}

#[test]
fn every_worker_step_kind_reads_as_its_protocol_struct_with_the_registrys_names_types_and_defaults()
{
    let pool = pool();
    let mut failures = Vec::new();
    for kind in worker_kinds() {
        let send = |params: &BTreeMap<String, Value>| Json::Object(request_params(params, "cpu"));
        let read = |params: Json| read_step(kind.kind.name(), &params);
        let contract = Contract {
            name: kind.kind.name().to_owned(),
            params: kind.fields.iter().copied().chain(planner_fields(kind.kind)).collect(),
            send: &send,
            read: &read,
            fields: probe::fields::<params::StepParams>(("kind", "params"), kind.kind.name()),
            resolved: &["device"],
        };
        contract.check(&pool, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let kinds: Vec<&str> = worker_kinds().map(|kind| kind.kind.name()).collect();
    assert_eq!(kinds, ["train", "checkpoint", "estimate", "test"]);
}

#[test]
fn a_step_reads_its_device_resolved_and_never_auto() {
    for kind in worker_kinds().filter(|kind| super::param(kind.fields, "device").is_some()) {
        let planned = planned(
            &kind.fields.iter().copied().chain(planner_fields(kind.kind)).collect::<Vec<_>>(),
            false,
        );
        for device in ["cpu", "cuda", "cuda:1"] {
            let sent = Json::Object(request_params(&planned, device));
            assert_eq!(
                read_step(kind.kind.name(), &sent),
                Ok(sent),
                "{}: {device}",
                kind.kind.name()
            );
        }
        for device in ["auto", "tpu", "cuda:x"] {
            let sent = Json::Object(request_params(&planned, device));
            assert!(read_step(kind.kind.name(), &sent).is_err(), "{}: {device}", kind.kind.name());
        }
    }
}

/// Reads the field names serde's derive gives a struct: it asks its deserializer for a struct
/// with those fields, and this deserializer records them and refuses.
mod probe {
    use std::cell::Cell;

    use serde::de::value::{Error, MapDeserializer};
    use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};

    type Fields = Option<&'static [&'static str]>;

    /// The fields of the variant `name` of an adjacently tagged enum `T` (`tag`, `content`).
    pub(super) fn fields<T: DeserializeOwned>(
        (tag, content): (&'static str, &'static str),
        name: &str,
    ) -> Fields {
        let found = Cell::new(None);
        let entries = [(tag, Part::Tag(name)), (content, Part::Content(&found))];
        let _ = T::deserialize(MapDeserializer::<_, Error>::new(entries.into_iter()));
        found.get()
    }

    #[derive(Clone, Copy)]
    enum Part<'a> {
        Tag(&'a str),
        Content(&'a Cell<Fields>),
    }

    impl<'de> Deserializer<'de> for Part<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self {
                Part::Tag(name) => visitor.visit_str(name),
                Part::Content(_) => Err(de::Error::custom("not a struct")),
            }
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            match self {
                Part::Tag(_) => self.deserialize_any(visitor),
                Part::Content(found) => {
                    found.set(Some(fields));
                    Err(de::Error::custom("probed"))
                }
            }
        }

        // An adjacently tagged enum reads its tag as an enum's variant.
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            match self {
                Part::Tag(name) => visitor.visit_enum(name.into_deserializer()),
                Part::Content(_) => self.deserialize_any(visitor),
            }
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map identifier
            ignored_any
        }
    }

    impl<'a> IntoDeserializer<'_, Error> for Part<'a> {
        type Deserializer = Part<'a>;

        fn into_deserializer(self) -> Part<'a> {
            self
        }
    }
}

#[test]
fn the_probe_reads_a_structs_field_names() {
    let fields = probe::fields::<params::Sampler>(("call", "args"), "sgld");
    assert_eq!(
        fields,
        Some(&["lr", "localization", "noise_level", "weight_decay", "bounding_box"][..])
    );
    assert_eq!(probe::fields::<params::Sampler>(("call", "args"), "no_such_sampler"), None);
}
