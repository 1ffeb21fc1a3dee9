//! The shape of the registry: what a step kind or a built-in constructor accepts. Plain static
//! data, so one declaration serves the checker (types, ranges, defaults), the docs generator
//! (the tables in docs/language.md) and the executor (which implementation runs it).

use devspec_protocol::StepKind;

/// The type of a field or argument, with its allowed range where it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueType {
    /// A whole number within the bounds (both inclusive).
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A number (whole numbers are accepted) within the bounds.
    Float {
        min: Option<Bound>,
        max: Option<Bound>,
    },
    Str,
    Bool,
    /// A file path, written as a string, relative to the spec that names it.
    Path,
    /// One of these bare names (`pelt`, `relu`, ...).
    Enum(&'static [&'static str]),
    /// A list whose every element has this type.
    List(&'static ValueType),
    /// A record with these fields (`{ cpus = 2, mem_gb = 8 }`).
    Record(&'static [Param]),
    /// The value of a constructor of this kind (`tms.model(...)` is a `Model`).
    Ctor(CtorKind),
    /// The keyword `auto`.
    Auto,
    /// Any of these types; the first that fits is taken.
    OneOf(&'static [ValueType]),
}

/// One end of a number's allowed range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Inclusive(f64),
    Exclusive(f64),
}

/// What a constructor produces, so a field can ask for "a model" or "a sampler".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtorKind {
    Model,
    Data,
    Teacher,
    Optimizer,
    Sampler,
    Observable,
    /// Which training steps to checkpoint (`logspace`, `linspace`, `every`).
    Schedule,
    /// A detection method (`critical_points`, `change_points`, ...).
    Method,
    /// A swept value (`sweep`); accepted wherever its elements are.
    Sweep,
}

/// A field of a step kind or an argument of a constructor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub ty: ValueType,
    pub default: Default,
    /// One line, shown in docs and in "missing field" hints.
    pub doc: &'static str,
}

/// What happens when a field or argument is not written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// It must be written.
    Required,
    /// This value is used.
    Value(Literal),
    /// Left absent; the step decides (the text says how, for the docs).
    Derived(&'static str),
}

/// A default value, written as the user would write it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
    /// A bare enumeration value such as `relu`.
    Enum(&'static str),
    Auto,
    /// The empty list `[]`.
    EmptyList,
}

/// Whether the executor can run it yet. The checker accepts both; `run` refuses a pending one
/// with "not implemented yet" (exit 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Implemented,
    /// Declared so specs check; built by the issue with this number.
    Pending {
        issue: u32,
    },
}

/// A built-in constructor: `sgd`, `tms.model`, `critical_points`, ...
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constructor {
    /// Its full name: bare (`sgd`) or grouped (`tms.model`).
    pub name: &'static str,
    pub kind: CtorKind,
    /// Positional arguments bind to these in order; named ones by name.
    pub params: &'static [Param],
    /// One or two sentences for the docs.
    pub doc: &'static str,
    /// The paper a setting or method comes from, if any.
    pub reference: Option<&'static str>,
    pub status: Status,
}

/// What a step kind (`train`, `checkpoint`, `estimate`, `detect`, `report`) accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepKindEntry {
    pub kind: StepKind,
    pub doc: &'static str,
    /// The kinds of step it may be `on`; empty means it takes no `on`.
    pub on: &'static [StepKind],
    /// Whether `on` must name at least one step.
    pub needs_on: bool,
    pub fields: &'static [Param],
    pub status: Status,
    pub batching: Batching,
    /// For a step that trains: which fields only say how far along its trajectory it goes, so
    /// a longer run continues a shorter one instead of starting over.
    pub trajectory: Option<Trajectory>,
    /// The version of its implementation, in every key of its instances: bumped whenever the
    /// worker's numbers for the same parameters change, so no result of the old code is served.
    pub implementation: u32,
    /// Whether its result records its inputs' names and keys (a report: its series' names, its
    /// provenance rows), which then go in its key beside their digests: otherwise renaming a
    /// step, or a bump of an input's implementation that leaves its result as it was, would
    /// serve the result with the old names and keys.
    pub records_inputs: bool,
}

/// What a training step's trajectory (the sequence of its states, step after step) does not
/// depend on. Its trajectory key is its key without these fields, so raising `steps` or moving
/// the checkpoint grid finds the states already reached under the same trajectory key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trajectory {
    /// The fields that say where to stop and what to keep along the way (`steps`,
    /// `checkpoints`).
    pub extent: &'static [&'static str],
    /// The field among `extent` that the trajectory does depend on when an argument of a
    /// constructor field has one of these values: a cosine schedule decays to 0 at the last
    /// step, so its run to 40,000 steps is not the run to 20,000 continued.
    pub total_dependence: Option<TotalDependence>,
}

/// `when.0.when.1 = one of when.2` makes the trajectory depend on the field `field`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TotalDependence {
    pub field: &'static str,
    pub when: (&'static str, &'static str, &'static [&'static str]),
}

/// Whether ready sibling instances of a step run in one worker request, as one batched
/// computation (a leading member dimension). A member's bytes never depend on its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Each instance runs on its own.
    Never,
    /// Instances of one step whose parameters agree except these fields (their inputs may
    /// differ) form a group. `field.arg` names an argument of the constructor in `field`.
    Siblings { may_differ: &'static [&'static str] },
}
