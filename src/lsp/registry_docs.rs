//! The registry's documentation as Markdown for hovers and completion items, in the words of
//! the generated reference (`docs/language.md`): the same type, default and range texts.

use std::fmt::Write as _;

use devspec_protocol::StepKind;

use crate::registry::{
    self, reference_doc,
    schema::{Constructor, Param, Status},
};

pub fn step_kind(kind: StepKind) -> String {
    let entry = registry::step_kind(kind);
    let fields: Vec<String> = entry.fields.iter().map(|p| format!("`{}`", p.name)).collect();
    let mut text =
        format!("**`{kind}`** step\n\n{}\n\n{}", entry.doc, reference_doc::on_text(entry));
    if !fields.is_empty() {
        let _ = write!(text, "\n\nFields: {}.", fields.join(", "));
    }
    text.push_str(&status(entry.status));
    text
}

pub fn param(param: &Param) -> String {
    format!("**`{}`**: {}\n\n{}", param.name, param_summary(param), param.doc)
}

/// Type and default on one line: "whole number >= 1; default `1`".
pub fn param_summary(param: &Param) -> String {
    format!(
        "{}; default {}",
        reference_doc::describe(&param.ty, false),
        reference_doc::default_text(param.default)
    )
}

pub fn constructor(ctor: &Constructor) -> String {
    let names: Vec<&str> = ctor.params.iter().map(|p| p.name).collect();
    let mut text = format!(
        "**`{}({})`**: {}\n\n{}",
        ctor.name,
        names.join(", "),
        reference_doc::kind_noun(ctor.kind),
        ctor.doc
    );
    if let Some(reference) = ctor.reference {
        let _ = write!(text, "\n\nReference: {reference}");
    }
    for p in ctor.params {
        let _ = write!(text, "\n- `{}`: {}. {}", p.name, param_summary(p), p.doc);
    }
    text.push_str(&status(ctor.status));
    text
}

/// An enumeration value: the fields and arguments that accept it.
pub fn enum_value(name: &str, accepted_by: Option<&Param>) -> String {
    match accepted_by {
        Some(param) => format!(
            "**`{name}`**: a value of `{}`, {}\n\n{}",
            param.name,
            param_summary(param),
            param.doc
        ),
        None => format!("**`{name}`**: an enumeration value"),
    }
}

fn status(status: Status) -> String {
    match status {
        Status::Implemented => String::new(),
        Status::Pending { .. } => format!("\n\n*{}*", reference_doc::status_text(status)),
    }
}
