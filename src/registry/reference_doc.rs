//! The generated reference of docs/language.md: for every step kind and built-in constructor, its
//! doc, status, reference and a table of its fields, with types in the user's words. Generated
//! from the registry so the docs cannot drift from what the checker accepts (a test compares).

use super::constructors;
use super::schema::{
    Bound, Constructor, CtorKind, Default, Literal, Param, Status, StepKindEntry, ValueType,
};

/// Where the generated text starts and ends in docs/language.md.
pub const BEGIN_MARKER: &str = "<!-- registry:begin -->";
pub const END_MARKER: &str = "<!-- registry:end -->";

/// The order of the constructor sections: the order in which a study names them.
const SECTIONS: [CtorKind; 9] = [
    CtorKind::Model,
    CtorKind::Data,
    CtorKind::Teacher,
    CtorKind::Optimizer,
    CtorKind::Schedule,
    CtorKind::Sampler,
    CtorKind::Observable,
    CtorKind::Method,
    CtorKind::Sweep,
];

/// The reference part of docs/language.md, ending with a newline.
pub fn render_markdown() -> String {
    let mut lines = vec!["## Step kinds".to_owned(), String::new()];
    for kind in super::user_step_kinds() {
        render_step_kind(kind, &mut lines);
    }
    for section in SECTIONS {
        let members: Vec<&Constructor> =
            constructors().iter().filter(|c| c.kind == section).collect();
        if members.is_empty() {
            continue;
        }
        lines.push(format!("## {}", section_title(section)));
        lines.push(String::new());
        for ctor in members {
            render_constructor(ctor, &mut lines);
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// `document` with the text between its markers replaced by `rendered`; `None` when a marker is
/// missing or out of order.
pub fn splice(document: &str, rendered: &str) -> Option<String> {
    let (before, after) = split_at_markers(document)?;
    Some(format!("{before}{BEGIN_MARKER}\n\n{}\n\n{END_MARKER}{after}", rendered.trim()))
}

/// The text between the markers, trimmed; `None` when a marker is missing or out of order.
pub fn generated_part(document: &str) -> Option<&str> {
    let start = document.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = start + document[start..].find(END_MARKER)?;
    Some(document[start..end].trim())
}

fn split_at_markers(document: &str) -> Option<(&str, &str)> {
    let begin = document.find(BEGIN_MARKER)?;
    let end = begin + document[begin..].find(END_MARKER)?;
    Some((&document[..begin], &document[end + END_MARKER.len()..]))
}

fn render_step_kind(kind: &StepKindEntry, lines: &mut Vec<String>) {
    lines.push(format!("### {}", kind.kind));
    lines.push(String::new());
    lines.push(kind.doc.to_owned());
    lines.push(String::new());
    lines.push(format!("Status: {}.", status_text(kind.status)));
    lines.push(String::new());
    lines.push(on_text(kind));
    lines.push(String::new());
    render_series(super::series::of_step_kind(kind.kind), lines);
    render_table("field", kind.fields, lines);
}

/// What a `detect` step on it may search, if it produces series.
fn render_series(series: Option<&[&str]>, lines: &mut Vec<String>) {
    let Some(series) = series else { return };
    let names: Vec<String> = series.iter().map(|s| format!("`{s}`")).collect();
    lines.push(format!(
        "Series (what a `detect` step on it may search; the first by default): {}.",
        names.join(", ")
    ));
    lines.push(String::new());
}

fn render_constructor(ctor: &Constructor, lines: &mut Vec<String>) {
    lines.push(format!("### {}", ctor.name));
    lines.push(String::new());
    lines.push(ctor.doc.to_owned());
    lines.push(String::new());
    lines.push(format!("Status: {}.", status_text(ctor.status)));
    lines.push(String::new());
    if let Some(reference) = ctor.reference {
        lines.push(format!("Reference: {reference}."));
        lines.push(String::new());
    }
    render_series(super::series::of_observable(ctor.name), lines);
    if ctor.params.is_empty() {
        lines.push("Takes no arguments.".to_owned());
        lines.push(String::new());
    } else if ctor.kind == CtorKind::Sweep {
        // A sweep's values take the type of the field it stands in, which no fixed type says.
        lines.push(table_header("argument"));
        for param in ctor.params {
            lines.push(table_row(
                param.name,
                "a list, or a range `a..b`, of values of the swept field's type",
                param,
            ));
        }
        lines.push(String::new());
    } else {
        render_table("argument", ctor.params, lines);
    }
}

fn render_table(first_column: &str, params: &[Param], lines: &mut Vec<String>) {
    lines.push(table_header(first_column));
    for param in params {
        lines.push(table_row(param.name, &describe(&param.ty, false), param));
        // A record's fields get rows of their own, named by their path.
        if let ValueType::Record(fields) = param.ty {
            for field in fields {
                let path = format!("{}.{}", param.name, field.name);
                lines.push(table_row(&path, &describe(&field.ty, false), field));
            }
        }
    }
    lines.push(String::new());
}

fn table_header(first_column: &str) -> String {
    format!("| {first_column} | type | default | meaning |\n|---|---|---|---|")
}

fn table_row(name: &str, ty: &str, param: &Param) -> String {
    format!(
        "| `{name}` | {} | {} | {} |",
        cell(ty),
        cell(&default_text(param.default)),
        cell(param.doc)
    )
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

pub fn status_text(status: Status) -> String {
    match status {
        Status::Implemented => "implemented".to_owned(),
        Status::Pending { issue } => format!("not implemented yet (issue {issue})"),
    }
}

pub fn on_text(kind: &StepKindEntry) -> String {
    if kind.on.is_empty() {
        return "Takes no `on`.".to_owned();
    }
    let kinds = join_alternatives(&kind.on.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>());
    let need = if kind.needs_on { "at least one" } else { "optional" };
    format!("On: {kinds} steps ({need}).")
}

pub fn default_text(default: Default) -> String {
    match default {
        Default::Required => "required".to_owned(),
        Default::Value(literal) => format!("`{}`", literal_text(literal)),
        Default::Derived(how) => how.to_owned(),
    }
}

/// A literal as the user would write it.
pub(super) fn literal_text(literal: Literal) -> String {
    match literal {
        Literal::Int(n) => n.to_string(),
        Literal::Float(x) => format!("{x:?}"),
        Literal::Str(s) => format!("{s:?}"),
        Literal::Bool(b) => b.to_string(),
        Literal::Enum(name) => name.to_owned(),
        Literal::Auto => "auto".to_owned(),
        Literal::EmptyList => "[]".to_owned(),
    }
}

/// A type in the user's words: "whole number >= 1", "a model (`tms.model`, ...)". With
/// `article`, a noun phrase that reads inside an enumeration ("`auto` or a number > 0").
pub fn describe(ty: &ValueType, article: bool) -> String {
    let a = |noun: &str| if article { format!("a {noun}") } else { noun.to_owned() };
    match ty {
        ValueType::Int { min, max } => a(&format!("whole number{}", int_range(*min, *max))),
        ValueType::Float { min, max } => a(&format!("number{}", float_range(*min, *max))),
        ValueType::Str => a("string"),
        ValueType::Bool => "`true` or `false`".to_owned(),
        ValueType::Path => a("file path (a string)"),
        ValueType::Enum(names) => enum_text(names),
        ValueType::List(element) => a(&format!("list of {}", plural(element))),
        ValueType::Record(fields) => {
            let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name)).collect();
            a(&format!("record of {} (rows below)", names.join(", ")))
        }
        ValueType::Ctor(kind) => format!("{} ({})", kind_noun(*kind), ctor_names(*kind)),
        ValueType::Auto => "`auto`".to_owned(),
        ValueType::OneOf(alternatives) => join_alternatives(
            &alternatives.iter().map(|alt| describe(alt, true)).collect::<Vec<_>>(),
        ),
    }
}

fn plural(ty: &ValueType) -> String {
    match ty {
        ValueType::Int { min, max } => format!("whole numbers{}", int_range(*min, *max)),
        ValueType::Float { min, max } => format!("numbers{}", float_range(*min, *max)),
        ValueType::Str => "strings".to_owned(),
        ValueType::Bool => "`true`/`false` values".to_owned(),
        ValueType::Path => "file paths".to_owned(),
        ValueType::Enum(names) => format!("values, each {}", enum_text(names)),
        ValueType::List(element) => format!("lists of {}", plural(element)),
        ValueType::Record(_) => "records".to_owned(),
        ValueType::Ctor(kind) => format!("{} ({})", kind_plural(*kind), ctor_names(*kind)),
        ValueType::Auto => "`auto`".to_owned(),
        ValueType::OneOf(_) => format!("values, each {}", describe(ty, true)),
    }
}

fn enum_text(names: &[&str]) -> String {
    if let [only] = names {
        return format!("`{only}`");
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("one of {}", quoted.join(", "))
}

/// "A", "A or B", "A, B or C".
fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn int_range(min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (None, None) => String::new(),
        (Some(lo), None) => format!(" >= {lo}"),
        (None, Some(hi)) => format!(" <= {hi}"),
        (Some(lo), Some(hi)) => format!(" from {lo} to {hi}"),
    }
}

fn float_range(min: Option<Bound>, max: Option<Bound>) -> String {
    let lower = min.map(|bound| match bound {
        Bound::Inclusive(x) => format!(">= {}", number_text(x)),
        Bound::Exclusive(x) => format!("> {}", number_text(x)),
    });
    let upper = max.map(|bound| match bound {
        Bound::Inclusive(x) => format!("<= {}", number_text(x)),
        Bound::Exclusive(x) => format!("< {}", number_text(x)),
    });
    match (min, max) {
        (Some(Bound::Inclusive(lo)), Some(Bound::Inclusive(hi))) => {
            format!(" from {} to {}", number_text(lo), number_text(hi))
        }
        _ => match (lower, upper) {
            (None, None) => String::new(),
            (Some(one), None) | (None, Some(one)) => format!(" {one}"),
            (Some(lo), Some(hi)) => format!(" {lo} and {hi}"),
        },
    }
}

/// A bound as a person writes it: `0`, `1`, `0.5`.
fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:?}") }
}

fn ctor_names(kind: CtorKind) -> String {
    let names: Vec<String> =
        constructors().iter().filter(|c| c.kind == kind).map(|c| format!("`{}`", c.name)).collect();
    names.join(", ")
}

fn section_title(kind: CtorKind) -> &'static str {
    match kind {
        CtorKind::Model => "Models",
        CtorKind::Data => "Data",
        CtorKind::Teacher => "Teachers",
        CtorKind::Optimizer => "Optimizers",
        CtorKind::Schedule => "Checkpoint schedules",
        CtorKind::Sampler => "Samplers",
        CtorKind::Observable => "Observables",
        CtorKind::Method => "Detection methods",
        CtorKind::Sweep => "Sweeps",
    }
}

pub fn kind_noun(kind: CtorKind) -> &'static str {
    match kind {
        CtorKind::Model => "a model",
        CtorKind::Data => "data",
        CtorKind::Teacher => "a teacher",
        CtorKind::Optimizer => "an optimizer",
        CtorKind::Schedule => "a schedule",
        CtorKind::Sampler => "a sampler",
        CtorKind::Observable => "an observable",
        CtorKind::Method => "a detection method",
        CtorKind::Sweep => "a sweep",
    }
}

fn kind_plural(kind: CtorKind) -> &'static str {
    match kind {
        CtorKind::Model => "models",
        CtorKind::Data => "data",
        CtorKind::Teacher => "teachers",
        CtorKind::Optimizer => "optimizers",
        CtorKind::Schedule => "schedules",
        CtorKind::Sampler => "samplers",
        CtorKind::Observable => "observables",
        CtorKind::Method => "detection methods",
        CtorKind::Sweep => "sweeps",
    }
}
