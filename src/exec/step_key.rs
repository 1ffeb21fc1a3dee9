//! [`StepKey`]: what a step instance's result depends on, serialized canonically (every map a
//! `BTreeMap`, every float as its one canonical text) and hashed with BLAKE3. Two instances
//! with the same key have the same result, so the key names it in the store.
//!
//! In the key: a format version, the step kind and its implementation version, the resolved
//! parameters, the realized output digests of its inputs, its seed, and what changes numbers
//! (libtorch version, device, threads per step, CPU kernels, what decides MKL's code path); for a
//! report, which records them, its inputs' display names and keys too. Not in the key:
//! `--jobs`, paths, any other step's display names, comments, formatting, field order, and
//! execution-only fields (`resources`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use devspec_protocol::StepKind;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use crate::compile::value::{Value, ValueKind, canonical_float};
use crate::plan::Plan;
use crate::store::FileDigests;

/// Bumped when the key's meaning changes, which invalidates every cached result.
pub const KEY_FORMAT: u32 = 2;

/// Fields that say how to run a step, not what it computes. (`device` changes numbers, but
/// through the device kind the environment part records, whoever chose it: the spec, the
/// command line, the environment or `devspec.toml`.)
const EXECUTION_ONLY: &[&str] = &["resources", "device"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepKey {
    pub format: u32,
    /// Serialized as its name (`train`), as when it was a string: keys never move.
    pub kind: StepKind,
    /// Bumped by a step's implementation when its numbers change.
    pub implementation: u32,
    pub params: BTreeMap<String, serde_json::Value>,
    /// Input role (its place among the `on` steps, its coordinates and output) to digest.
    pub inputs: BTreeMap<String, String>,
    pub seed: Option<i64>,
    pub environment: BTreeMap<String, String>,
    /// For a step whose result records its inputs' names and keys (a report,
    /// [`crate::registry::StepKindEntry::records_inputs`]): each input's display name and key.
    /// Left out of the bytes when empty, so every other key keeps its digest.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub named_inputs: BTreeMap<String, String>,
}

impl StepKey {
    pub fn new(
        kind: StepKind,
        params: &BTreeMap<String, Value>,
        inputs: BTreeMap<String, String>,
        environment: BTreeMap<String, String>,
        named_inputs: BTreeMap<String, String>,
        files: &FileDigests,
    ) -> Self {
        StepKey {
            format: KEY_FORMAT,
            kind,
            implementation: crate::registry::step_kind(kind).implementation,
            params: params
                .iter()
                .filter(|(name, _)| !EXECUTION_ONLY.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), canonical(value, files)))
                .collect(),
            inputs,
            seed: params.get("seed").and_then(Value::as_int),
            environment,
            named_inputs,
        }
    }

    /// The hex BLAKE3 of the canonical serialization.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("keys serialize");
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// The digest the key built by [`StepKey::new`] from the same parts has, without building
    /// it: the same bytes, written straight from the values. A no-op rerun needs only the
    /// digests, and building each key's JSON trees was most of its time.
    pub fn digest_of(
        kind: StepKind,
        params: &BTreeMap<String, Value>,
        inputs: &BTreeMap<String, String>,
        environment: &BTreeMap<String, String>,
        named_inputs: &BTreeMap<String, String>,
        files: &FileDigests,
    ) -> String {
        let view = KeyView {
            format: KEY_FORMAT,
            kind,
            implementation: crate::registry::step_kind(kind).implementation,
            params: KeyParams { params, files },
            inputs,
            seed: params.get("seed").and_then(Value::as_int),
            environment,
            named_inputs,
        };
        let bytes = serde_json::to_vec(&view).expect("keys serialize");
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// For a training step, the key of its trajectory: this key without the fields that only
    /// say how far to go and what to keep (`steps`, `checkpoints`), unless the run's course
    /// depends on its length (a cosine schedule). Instances that share it pass through the same
    /// states, so a longer one continues from what a shorter one reached. `None` for a step
    /// that does not train.
    pub fn trajectory(&self) -> Option<String> {
        let trajectory = crate::registry::step_kind(self.kind).trajectory?;
        let mut key = self.clone();
        for field in trajectory.extent {
            let kept = trajectory.total_dependence.is_some_and(|dependence| {
                dependence.field == *field && depends_on_total(&self.params, dependence.when)
            });
            if !kept {
                key.params.remove(*field);
            }
        }
        let bytes = serde_json::to_vec(&("trajectory", &key)).expect("keys serialize");
        Some(blake3::hash(&bytes).to_hex().to_string())
    }
}

/// Whether a constructor field's argument (`optimizer`'s `schedule`) has one of the values that
/// tie a run's course to its length.
fn depends_on_total(
    params: &BTreeMap<String, serde_json::Value>,
    (field, arg, values): (&str, &str, &[&str]),
) -> bool {
    let value = params.get(field).and_then(|ctor| ctor.get("args")?.get(arg));
    let name = value.and_then(|v| v.get("enum").or_else(|| v.get("str"))?.as_str());
    name.is_some_and(|name| values.contains(&name))
}

/// A value as canonical JSON: tagged so that `1`, `1.0`, `"1"` and the option `one` differ,
/// floats as their canonical text (never `Debug` output, never locale-dependent), files as
/// their content's digest (never their path).
pub fn canonical(value: &Value, files: &FileDigests) -> serde_json::Value {
    use serde_json::json;
    match &value.kind {
        ValueKind::Int(v) => json!({ "int": v }),
        ValueKind::Float(v) => json!({ "float": canonical_float(*v) }),
        ValueKind::Str(text) => json!({ "str": text }),
        // The planner refuses open parameters, so no key holds one.
        ValueKind::Open { name, .. } => json!({ "open": name }),
        ValueKind::File { path, .. } => json!({ "file": files.digest(path) }),
        ValueKind::Bool(v) => json!({ "bool": v }),
        ValueKind::Auto => json!("auto"),
        ValueKind::Enum(name) => json!({ "enum": name }),
        ValueKind::List(items) => {
            json!({ "list": items.iter().map(|v| canonical(v, files)).collect::<Vec<_>>() })
        }
        ValueKind::Record(fields) => {
            let fields: serde_json::Map<String, serde_json::Value> =
                fields.iter().map(|(k, v)| (k.clone(), canonical(v, files))).collect();
            json!({ "record": fields })
        }
        ValueKind::Ctor { name, args, .. } => {
            let args: serde_json::Map<String, serde_json::Value> =
                args.iter().map(|(k, v)| (k.clone(), canonical(v, files))).collect();
            json!({ "call": name, "args": args })
        }
        ValueKind::Sweep { values, axis } => {
            let values: Vec<_> = values.iter().map(|v| canonical(v, files)).collect();
            // A named axis only: an unnamed sweep's text is what it always was.
            match axis {
                Some(axis) => json!({ "sweep": values, "axis": axis }),
                None => json!({ "sweep": values }),
            }
        }
    }
}

/// [`StepKey`]'s fields, in its order, borrowed: what [`StepKey::digest_of`] serializes.
#[derive(Serialize)]
struct KeyView<'a> {
    format: u32,
    kind: StepKind,
    implementation: u32,
    params: KeyParams<'a>,
    inputs: &'a BTreeMap<String, String>,
    seed: Option<i64>,
    environment: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    named_inputs: &'a BTreeMap<String, String>,
}

/// A key's parameters: every field but the execution-only ones, each as [`canonical`] writes it.
struct KeyParams<'a> {
    params: &'a BTreeMap<String, Value>,
    files: &'a FileDigests,
}

impl Serialize for KeyParams<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.params {
            if !EXECUTION_ONLY.contains(&name.as_str()) {
                map.serialize_entry(name, &Canonical { value, files: self.files })?;
            }
        }
        map.end()
    }
}

/// A value serialized as the JSON tree [`canonical`] builds for it, without building the tree.
/// Its maps are written in the order `serde_json`'s map keeps (sorted by name: the crate is
/// built without `preserve_order`); the tests hold the two to the same bytes.
struct Canonical<'a> {
    value: &'a Value,
    files: &'a FileDigests,
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let files = self.files;
        match &self.value.kind {
            ValueKind::Int(v) => tagged(serializer, "int", v),
            ValueKind::Float(v) => tagged(serializer, "float", &canonical_float(*v)),
            ValueKind::Str(text) => tagged(serializer, "str", text),
            ValueKind::Open { name, .. } => tagged(serializer, "open", name),
            ValueKind::File { path, .. } => tagged(serializer, "file", &files.digest(path)),
            ValueKind::Bool(v) => tagged(serializer, "bool", v),
            ValueKind::Auto => serializer.serialize_str("auto"),
            ValueKind::Enum(name) => tagged(serializer, "enum", name),
            ValueKind::List(items) => tagged(serializer, "list", &CanonicalList { items, files }),
            ValueKind::Record(fields) => {
                tagged(serializer, "record", &CanonicalFields { fields, files })
            }
            ValueKind::Ctor { name, args, .. } => {
                // Sorted: "args" before "call".
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("args", &CanonicalFields { fields: args, files })?;
                map.serialize_entry("call", name)?;
                map.end()
            }
            ValueKind::Sweep { values, axis } => {
                let values = CanonicalList { items: values, files };
                // Sorted: "axis" before "sweep"; an unnamed sweep's text is what it always was.
                let mut map = serializer.serialize_map(None)?;
                if let Some(axis) = axis {
                    map.serialize_entry("axis", axis)?;
                }
                map.serialize_entry("sweep", &values)?;
                map.end()
            }
        }
    }
}

/// `{"tag": value}`, as `json!` writes a one-entry object.
fn tagged<S: Serializer, T: Serialize + ?Sized>(
    serializer: S,
    tag: &str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(tag, value)?;
    map.end()
}

struct CanonicalList<'a> {
    items: &'a [Value],
    files: &'a FileDigests,
}

impl Serialize for CanonicalList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.items.len()))?;
        for value in self.items {
            seq.serialize_element(&Canonical { value, files: self.files })?;
        }
        seq.end()
    }
}

struct CanonicalFields<'a> {
    fields: &'a BTreeMap<String, Value>,
    files: &'a FileDigests,
}

impl Serialize for CanonicalFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in self.fields {
            map.serialize_entry(name, &Canonical { value, files: self.files })?;
        }
        map.end()
    }
}

/// An instance's key, once the outputs of all its inputs are known (`outputs_of` gives a done
/// instance's output digests, by output name); with the input digests in input order, as the
/// worker receives them. `None` while an input is not done.
pub fn instance_key<'o>(
    plan: &Plan,
    node: NodeIndex,
    outputs_of: &dyn Fn(NodeIndex) -> Option<&'o BTreeMap<String, String>>,
    key_of: &dyn Fn(NodeIndex) -> Option<String>,
    environment: &BTreeMap<String, String>,
    files: &FileDigests,
) -> Option<(StepKey, Vec<String>)> {
    let instance = &plan.graph[node];
    let (inputs, digests) = key_inputs(plan, node, outputs_of)?;
    let named = named_inputs(plan, node, key_of)?;
    let environment = environment_of(instance, environment).into_owned();
    Some((
        StepKey::new(instance.kind, &instance.params, inputs, environment, named, files),
        digests,
    ))
}

/// The digest of [`instance_key`]'s key, without building the key ([`StepKey::digest_of`]).
pub fn instance_digest<'o>(
    plan: &Plan,
    node: NodeIndex,
    outputs_of: &dyn Fn(NodeIndex) -> Option<&'o BTreeMap<String, String>>,
    key_of: &dyn Fn(NodeIndex) -> Option<String>,
    environment: &BTreeMap<String, String>,
    files: &FileDigests,
) -> Option<String> {
    let instance = &plan.graph[node];
    let (inputs, _) = key_inputs(plan, node, outputs_of)?;
    let named = named_inputs(plan, node, key_of)?;
    let environment = environment_of(instance, environment);
    Some(StepKey::digest_of(instance.kind, &instance.params, &inputs, &environment, &named, files))
}

/// [`StepKey::named_inputs`]: for a step that records its inputs' names and keys, each input's
/// display name and its key (as `key_of` knows it: the key the input was run or found under,
/// never recomputed here, so an input whose own inputs are gone, a training that failed after
/// streaming the checkpoints it read, still has one), followed by the names of what that input
/// read (` on run[seed=0]`: a report draws them too, the step a detection searched, the
/// checkpoint an estimate was made at); empty for every other step. `None` while an input's key
/// is not known.
fn named_inputs(
    plan: &Plan,
    node: NodeIndex,
    key_of: &dyn Fn(NodeIndex) -> Option<String>,
) -> Option<BTreeMap<String, String>> {
    let graph = &plan.graph;
    if !crate::registry::step_kind(graph[node].kind).records_inputs {
        return Some(BTreeMap::new());
    }
    graph
        .neighbors_directed(node, Direction::Incoming)
        .map(|source| {
            let key = key_of(source)?;
            let mut read: Vec<String> = graph
                .neighbors_directed(source, Direction::Incoming)
                .map(|upstream| graph[upstream].display_name())
                .collect();
            read.sort();
            read.dedup();
            let value = if read.is_empty() { key } else { format!("{key} on {}", read.join(", ")) };
            Some((graph[source].display_name(), value))
        })
        .collect()
}

/// An instance's inputs as its key names them (role to digest), and their digests in input
/// order; `None` while an input is not done.
fn key_inputs<'o>(
    plan: &Plan,
    node: NodeIndex,
    outputs_of: &dyn Fn(NodeIndex) -> Option<&'o BTreeMap<String, String>>,
) -> Option<(BTreeMap<String, String>, Vec<String>)> {
    let graph = &plan.graph;
    let instance = &graph[node];
    let mut inputs = BTreeMap::new();
    let mut digests = Vec::new();
    let mut edges: Vec<_> = graph.edges_directed(node, Direction::Incoming).collect();
    edges.sort_by_key(|edge| edge.source().index());
    for edge in edges {
        let source = &graph[edge.source()];
        let output = edge.weight().output.to_string();
        let digest = outputs_of(edge.source())?.get(&output).cloned().unwrap_or_default();
        // Named by the place of its step among the `on` steps, its coordinates, checkpoint and
        // output: renaming or moving a step in the file does not change its dependents' keys (but a
        // report's, which also holds its inputs' names: `named_inputs`).
        let position = plan.step_inputs[instance.step].iter().position(|&s| s == source.step);
        let checkpoint = source.checkpoint.map(|c| format!("@{c}")).unwrap_or_default();
        let role = format!(
            "{}[{}]{checkpoint}/{output}",
            position.unwrap_or(usize::MAX),
            source.point_label()
        );
        inputs.insert(role, digest.clone());
        digests.push(digest);
    }
    Some((inputs, digests))
}

/// The environment part of an instance's key: the run's, with the device the step names
/// itself in place of the run's, and with `auto` threads resolved for the instance. Borrowed
/// when it is the run's as it is (most instances: a no-op rerun copies no map).
pub fn environment_of<'e>(
    instance: &crate::plan::Instance,
    environment: &'e BTreeMap<String, String>,
) -> Cow<'e, BTreeMap<String, String>> {
    let device = explicit_device(instance);
    let auto_threads = environment.get(THREADS).is_some_and(|threads| threads == "auto");
    if device.is_none() && !auto_threads {
        return Cow::Borrowed(environment);
    }
    let mut environment = environment.clone();
    if let Some(device) = device {
        environment.insert("device".into(), device.to_owned());
    }
    if auto_threads {
        environment.insert(THREADS.into(), super::auto_threads(instance).to_string());
    }
    Cow::Owned(environment)
}

/// The environment's entry for the threads per step: a number, or `auto` until an instance's
/// key resolves it ([`super::ThreadsPerStep`]).
const THREADS: &str = "threads_per_step";

/// The device a step names itself (`device = cpu`), which wins over every setting outside the
/// spec; `None` for `auto` or a step without the field.
pub fn explicit_device(instance: &crate::plan::Instance) -> Option<&str> {
    match &instance.params.get("device")?.kind {
        ValueKind::Enum(name) => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn train_key(steps: i64, checkpoints: i64, lr: f64, schedule: &str) -> StepKey {
        let optimizer = json!({"call": "adam", "args": {
            "lr": {"float": lr.to_string()}, "schedule": {"enum": schedule}
        }});
        StepKey {
            format: KEY_FORMAT,
            kind: StepKind::Train,
            implementation: 1,
            params: BTreeMap::from([
                ("steps".to_owned(), json!({"int": steps})),
                ("checkpoints".to_owned(), json!({"list": [{"int": checkpoints}]})),
                ("optimizer".to_owned(), optimizer),
            ]),
            inputs: BTreeMap::new(),
            seed: Some(0),
            environment: BTreeMap::new(),
            named_inputs: BTreeMap::new(),
        }
    }

    #[test]
    fn a_trajectory_is_the_key_without_how_far_it_goes() {
        let base = train_key(1000, 10, 0.01, "constant");
        let trajectory = base.trajectory().expect("a train has a trajectory");
        assert_ne!(trajectory, base.digest(), "trajectory keys are their own namespace");
        assert_eq!(train_key(2000, 20, 0.01, "constant").trajectory(), Some(trajectory.clone()));
        assert_ne!(train_key(1000, 10, 0.02, "constant").trajectory(), Some(trajectory));
    }

    #[test]
    fn a_cosine_schedule_ties_the_trajectory_to_the_length_but_not_to_the_grid() {
        let cosine = train_key(1000, 10, 0.01, "cosine").trajectory();
        assert_ne!(train_key(2000, 10, 0.01, "cosine").trajectory(), cosine);
        assert_eq!(train_key(1000, 20, 0.01, "cosine").trajectory(), cosine);
    }

    #[test]
    fn the_kind_is_keyed_by_its_name_as_it_always_was() {
        let text = serde_json::to_string(&train_key(1000, 10, 0.01, "constant")).unwrap();
        assert!(text.starts_with(r#"{"format":2,"kind":"train","implementation":1,"#), "{text}");
    }

    fn value(kind: ValueKind) -> Value {
        let origin = crate::compile::value::Origin {
            file: crate::source::FileId(0),
            span: crate::source::Span { start: 0, end: 0 },
        };
        Value::new(kind, origin)
    }

    /// Parameters with every kind of value, nested, with awkward text and floats.
    fn every_kind_of_value() -> BTreeMap<String, Value> {
        use crate::registry::schema::CtorKind;
        let int = |v| value(ValueKind::Int(v));
        let float = |v| value(ValueKind::Float(v));
        let text = |t: &str| value(ValueKind::Str(t.to_owned()));
        let model = ValueKind::Ctor {
            name: "dln.model",
            kind: CtorKind::Model,
            args: BTreeMap::from([
                ("widths".to_owned(), value(ValueKind::List(vec![int(2), int(-3)]))),
                ("activation".to_owned(), value(ValueKind::Enum("relu".into()))),
                ("bias".to_owned(), value(ValueKind::Bool(false))),
            ]),
        };
        let record = ValueKind::Record(BTreeMap::from([
            ("zeta".to_owned(), text("a \"quoted\"\tü\n\u{1}")),
            ("alpha".to_owned(), value(ValueKind::List(vec![]))),
        ]));
        BTreeMap::from([
            ("model".to_owned(), value(model)),
            ("lr".to_owned(), float(0.01)),
            ("tiny".to_owned(), float(-1.5e-7)),
            ("huge".to_owned(), float(1e300)),
            ("whole".to_owned(), float(3.0)),
            ("nan".to_owned(), float(f64::NAN)),
            ("flag".to_owned(), value(ValueKind::Bool(true))),
            ("threads".to_owned(), value(ValueKind::Auto)),
            ("record".to_owned(), value(record)),
            ("empty".to_owned(), value(ValueKind::Record(BTreeMap::new()))),
            (
                "named".to_owned(),
                value(ValueKind::Sweep { values: vec![int(1), int(2)], axis: Some("w".into()) }),
            ),
            (
                "unnamed".to_owned(),
                value(ValueKind::Sweep { values: vec![float(0.5)], axis: None }),
            ),
            (
                "data".to_owned(),
                value(ValueKind::File {
                    written: "d.bin".into(),
                    path: "/nonexistent/d.bin".into(),
                }),
            ),
            ("device".to_owned(), value(ValueKind::Enum("cpu".into()))),
            ("resources".to_owned(), value(ValueKind::Record(BTreeMap::new()))),
            ("seed".to_owned(), int(7)),
        ])
    }

    #[test]
    fn a_digest_written_straight_is_the_built_keys() {
        let files = FileDigests::default();
        let inputs = BTreeMap::from([("0[seed=1]@8/checkpoint@8".to_owned(), "ab".repeat(32))]);
        let environment = BTreeMap::from([
            ("libtorch".to_owned(), "2.9".to_owned()),
            ("device".into(), "cpu".into()),
        ]);
        let with_seed = every_kind_of_value();
        let mut without_seed = with_seed.clone();
        without_seed.remove("seed");
        // A report's inputs by name and key; no names (every other kind), left out of the bytes.
        let named = BTreeMap::from([("train[seed=1]".to_owned(), "cd".repeat(32))]);
        for params in [&with_seed, &without_seed, &BTreeMap::new()] {
            for kind in [StepKind::Train, StepKind::Estimate, StepKind::Test, StepKind::Report] {
                for named in [&BTreeMap::new(), &named] {
                    let key = StepKey::new(
                        kind,
                        params,
                        inputs.clone(),
                        environment.clone(),
                        named.clone(),
                        &files,
                    );
                    let view = KeyView {
                        format: KEY_FORMAT,
                        kind,
                        implementation: key.implementation,
                        params: KeyParams { params, files: &files },
                        inputs: &inputs,
                        seed: key.seed,
                        environment: &environment,
                        named_inputs: named,
                    };
                    assert_eq!(
                        String::from_utf8(serde_json::to_vec(&view).unwrap()).unwrap(),
                        String::from_utf8(serde_json::to_vec(&key).unwrap()).unwrap()
                    );
                    assert_eq!(
                        StepKey::digest_of(kind, params, &inputs, &environment, named, &files),
                        key.digest()
                    );
                }
            }
        }
    }

    #[test]
    fn steps_that_do_not_train_have_no_trajectory() {
        let mut key = train_key(1000, 10, 0.01, "constant");
        key.kind = StepKind::Test;
        assert_eq!(key.trajectory(), None);
    }
}
