//! Open parameters: `param NAME: TYPE "doc"` declares a value a spec leaves open. [`ParamType`]
//! is the declared type (the source word and what it accepts), [`OpenParam`] what a checked
//! [`Program`](super::Program) says about each parameter: its type, doc, and whether it was
//! bound. An unbound parameter's value is [`ValueKind::Open`](super::value::ValueKind::Open):
//! checked against every field it is given to, and refused by anything that plans.

use std::fmt;

use crate::registry::schema::{CtorKind, ValueType};

/// The declared type of a parameter, as written after `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A glob or path of files (`"runs/*.safetensors"`), resolved like `files = "..."`.
    Files,
    /// One file's path.
    File,
    /// A model, as a constructor call gives one (`tms.model(...)`).
    Model,
    /// A data set (`tms.data(...)`).
    Data,
    /// A number (a whole number is accepted).
    Number,
    /// A whole number.
    Integer,
    String,
    Boolean,
}

impl ParamType {
    /// Every type, in the order the docs and completion list them.
    pub const ALL: [ParamType; 8] = [
        ParamType::Files,
        ParamType::File,
        ParamType::Model,
        ParamType::Data,
        ParamType::Number,
        ParamType::Integer,
        ParamType::String,
        ParamType::Boolean,
    ];

    /// The type's word in the language (`files`, `model`).
    pub fn word(self) -> &'static str {
        match self {
            ParamType::Files => "files",
            ParamType::File => "file",
            ParamType::Model => "model",
            ParamType::Data => "data",
            ParamType::Number => "number",
            ParamType::Integer => "integer",
            ParamType::String => "string",
            ParamType::Boolean => "boolean",
        }
    }

    pub fn from_word(word: &str) -> Option<ParamType> {
        ParamType::ALL.into_iter().find(|ty| ty.word() == word)
    }

    /// What a value of this type is, in the user's words (for docs and hover).
    pub fn doc(self) -> &'static str {
        match self {
            ParamType::Files => "a glob or path of files, such as `\"runs/*.safetensors\"`",
            ParamType::File => "one file's path",
            ParamType::Model => "a model, such as `tms.model(features = 5, hidden = 2)`",
            ParamType::Data => "a data set, such as `tms.data(features = 5)`",
            ParamType::Number => "a number (a whole number is accepted)",
            ParamType::Integer => "a whole number",
            ParamType::String => "a string",
            ParamType::Boolean => "`true` or `false`",
        }
    }

    /// The value type a bound value must conform to (files as paths, resolved against where
    /// they were bound).
    pub fn value_type(self) -> ValueType {
        match self {
            ParamType::Files | ParamType::File => ValueType::Path,
            ParamType::Model => ValueType::Ctor(CtorKind::Model),
            ParamType::Data => ValueType::Ctor(CtorKind::Data),
            ParamType::Number => ValueType::Float { min: None, max: None },
            ParamType::Integer => ValueType::Int { min: None, max: None },
            ParamType::String => ValueType::Str,
            ParamType::Boolean => ValueType::Bool,
        }
    }

    /// Whether a field of type `ty` accepts a value of this type; `OneOf` and lists are
    /// looked through (a `files` parameter fits a field that takes a path or a list of paths'
    /// single element, never the list itself).
    pub fn fits(self, ty: &ValueType) -> bool {
        match ty {
            ValueType::OneOf(types) => types.iter().any(|ty| self.fits(ty)),
            // Ranges are checked once the value is bound: an open number fits any number.
            ValueType::Int { .. } => self == ParamType::Integer,
            ValueType::Float { .. } => matches!(self, ParamType::Number | ParamType::Integer),
            ValueType::Str => self == ParamType::String,
            ValueType::Bool => self == ParamType::Boolean,
            ValueType::Path => matches!(self, ParamType::Files | ParamType::File),
            ValueType::Ctor(CtorKind::Model) => self == ParamType::Model,
            ValueType::Ctor(CtorKind::Data) => self == ParamType::Data,
            ValueType::Ctor(
                CtorKind::Teacher
                | CtorKind::Optimizer
                | CtorKind::Sampler
                | CtorKind::Observable
                | CtorKind::Schedule
                | CtorKind::Method
                | CtorKind::Sweep,
            )
            | ValueType::Enum(_)
            | ValueType::List(_)
            | ValueType::Record(_)
            | ValueType::Auto => false,
        }
    }

    /// Whether the parameter names files (`file`, `files`): what a lock digests and a bid's
    /// results hide.
    pub fn names_files(self) -> bool {
        self.value_type() == ValueType::Path
    }

    /// Whether a bound value's text is taken as written (a path, a string) rather than read
    /// as an expression.
    pub fn takes_raw_text(self) -> bool {
        match self {
            ParamType::Files | ParamType::File | ParamType::String => true,
            ParamType::Model
            | ParamType::Data
            | ParamType::Number
            | ParamType::Integer
            | ParamType::Boolean => false,
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A parameter of a checked spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenParam {
    /// As `--bind` names it: `checkpoints`, or `presets.checkpoints` for one declared in a
    /// file the spec imports as `presets`.
    pub name: String,
    pub ty: ParamType,
    pub doc: Option<String>,
    /// Whether a binding gave it a value.
    pub bound: bool,
}

/// What a bound parameter was given, for the lock: the text bound and, for `file` and
/// `files`, the files it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundParam {
    pub name: String,
    pub ty: ParamType,
    /// The value's text as bound (`runs/*.safetensors`, `tms.model(...)`, `8`).
    pub text: String,
    /// For `file`/`files`: every matched file, absolute, sorted.
    pub files: Vec<std::path::PathBuf>,
}
