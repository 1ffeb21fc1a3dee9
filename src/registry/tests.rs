//! Invariants of the registry's content that the type system cannot state: unique names, enum
//! values that never shadow a built-in, defaults that fit their types, the generated docs in
//! step with the registry, and the entries each resolved issue must have implemented.

use std::collections::BTreeSet;
use std::path::PathBuf;

use devspec_protocol::StepKind;

use super::reference_doc::{self, render_markdown};
use super::schema::{Bound, CtorKind, Default, Literal, Param, Status, ValueType};
use super::{
    constructor, constructors, enum_values, group_of, groups, is_builtin_name, step_kind,
    step_kinds,
};

/// Registry entries that must be `Status::Implemented` once the issue is resolved. Each issue
/// that resolves adds its line, so a resolved issue never leaves a declared entry unbuilt.
const IMPLEMENTED_BY_ISSUE: &[(u32, &[&str])] = &[
    // The language's own (issue 3): the compiler evaluates these itself.
    (3, &["sweep", "logspace", "linspace", "every"]),
    // Training (issue 5), with the executor's own `test` step (issue 4).
    (4, &["test"]),
    (
        5,
        &[
            "train",
            "checkpoint",
            "tms.model",
            "dln.model",
            "mlp.model",
            "tms.data",
            "dln.teacher",
            "dln.data",
            "tensors",
            "sgd",
            "adam",
            "adamw",
        ],
    ),
    // Estimation (issue 6).
    (
        6,
        &[
            "estimate",
            "llc",
            "sgld",
            "rmsprop_sgld",
            "loss",
            "weight_norm",
            "hessian_trace",
            "outputs",
        ],
    ),
];

/// Every parameter list in the registry, with the name of its owner, records included.
fn every_param_list() -> Vec<(String, &'static [Param])> {
    let mut lists: Vec<(String, &'static [Param])> = Vec::new();
    for kind in step_kinds() {
        lists.push((format!("step kind `{}`", kind.kind), kind.fields));
    }
    for ctor in constructors() {
        lists.push((format!("constructor `{}`", ctor.name), ctor.params));
    }
    let mut records = Vec::new();
    for (owner, params) in &lists {
        for param in *params {
            collect_records(&format!("{owner}, `{}`", param.name), &param.ty, &mut records);
        }
    }
    lists.extend(records);
    lists
}

fn collect_records(owner: &str, ty: &'static ValueType, out: &mut Vec<(String, &'static [Param])>) {
    match ty {
        ValueType::Record(fields) => {
            out.push((owner.to_owned(), fields));
            for field in *fields {
                collect_records(&format!("{owner}.{}", field.name), &field.ty, out);
            }
        }
        ValueType::List(element) => collect_records(owner, element, out),
        ValueType::OneOf(alternatives) => {
            for alternative in *alternatives {
                collect_records(owner, alternative, out);
            }
        }
        _ => {}
    }
}

#[test]
fn names_are_unique() {
    let mut seen = BTreeSet::new();
    for ctor in constructors() {
        assert!(seen.insert(ctor.name), "constructor `{}` is declared twice", ctor.name);
    }
    for kind in StepKind::ALL {
        assert_eq!(step_kind(kind).kind, kind, "`{kind}` has another kind's entry");
    }
    for (owner, params) in every_param_list() {
        let mut seen = BTreeSet::new();
        for param in params {
            assert!(seen.insert(param.name), "{owner} declares `{}` twice", param.name);
        }
    }
}

#[test]
fn names_have_the_shape_the_grammar_reads() {
    let identifier = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    for ctor in constructors() {
        let parts: Vec<&str> = ctor.name.split('.').collect();
        assert!(
            parts.len() <= 2 && parts.iter().all(|p| identifier(p)),
            "constructor name `{}` is neither bare nor `group.name`",
            ctor.name
        );
    }
    for (owner, params) in every_param_list() {
        for param in params {
            assert!(identifier(param.name), "{owner}: `{}` is not an identifier", param.name);
        }
    }
    for value in enum_values() {
        assert!(identifier(value), "enum value `{value}` is not an identifier");
    }
}

#[test]
fn enum_values_never_shadow_a_builtin() {
    let keywords = ["auto", "true", "false", "import", "let", "on", "from", "with", "as"];
    for value in enum_values() {
        assert!(constructor(value).is_none(), "enum value `{value}` is also a constructor");
        assert!(!groups().contains(&value), "enum value `{value}` is also a group");
        assert!(StepKind::from_name(value).is_none(), "enum value `{value}` is also a step kind");
        assert!(!is_builtin_name(value), "enum value `{value}` is a built-in name");
        assert!(!keywords.contains(&value), "enum value `{value}` is a keyword");
    }
}

#[test]
fn the_language_examples_enum_values_are_declared() {
    let values = enum_values();
    for value in ["pelt", "binseg", "relu", "gelu", "tanh", "log", "dataset", "all", "f32", "cpu"] {
        assert!(values.contains(value), "enum value `{value}` is missing");
    }
    assert!(values.contains("add"));
}

/// Whether the user writing `literal` where `ty` is expected would pass the checker.
fn literal_fits(literal: Literal, ty: &ValueType) -> bool {
    match (literal, ty) {
        (Literal::Int(n), ValueType::Int { min, max }) => {
            min.is_none_or(|lo| n >= lo) && max.is_none_or(|hi| n <= hi)
        }
        // Whole numbers are accepted where a number is expected.
        (Literal::Int(n), ValueType::Float { min, max }) => float_in_range(n as f64, *min, *max),
        (Literal::Float(x), ValueType::Float { min, max }) => float_in_range(x, *min, *max),
        (Literal::Str(_), ValueType::Str | ValueType::Path)
        | (Literal::Bool(_), ValueType::Bool)
        | (Literal::Auto, ValueType::Auto)
        | (Literal::EmptyList, ValueType::List(_)) => true,
        (Literal::Enum(name), ValueType::Enum(names)) => names.contains(&name),
        (_, ValueType::OneOf(alternatives)) => {
            alternatives.iter().any(|t| literal_fits(literal, t))
        }
        _ => false,
    }
}

fn float_in_range(x: f64, min: Option<Bound>, max: Option<Bound>) -> bool {
    let above = match min {
        None => true,
        Some(Bound::Inclusive(lo)) => x >= lo,
        Some(Bound::Exclusive(lo)) => x > lo,
    };
    let below = match max {
        None => true,
        Some(Bound::Inclusive(hi)) => x <= hi,
        Some(Bound::Exclusive(hi)) => x < hi,
    };
    x.is_finite() && above && below
}

#[test]
fn the_default_checker_itself_rejects_what_it_should() {
    let positive = ValueType::Float { min: Some(Bound::Exclusive(0.0)), max: None };
    assert!(!literal_fits(Literal::Float(0.0), &positive));
    assert!(literal_fits(Literal::Int(1), &positive));
    assert!(!literal_fits(Literal::Int(0), &ValueType::Int { min: Some(1), max: None }));
    assert!(!literal_fits(Literal::Enum("gelu"), &ValueType::Enum(&["relu"])));
    assert!(literal_fits(
        Literal::Auto,
        &ValueType::OneOf(&[ValueType::Enum(&["all"]), ValueType::Auto])
    ));
    assert!(!literal_fits(Literal::Str("x"), &ValueType::Ctor(CtorKind::Data)));
}

#[test]
fn every_default_fits_its_type_and_range() {
    for (owner, params) in every_param_list() {
        for param in params {
            if let Default::Value(literal) = param.default {
                assert!(
                    literal_fits(literal, &param.ty),
                    "{owner}: the default `{}` of `{}` does not fit its type {:?}",
                    reference_doc::literal_text(literal),
                    param.name,
                    param.ty
                );
            }
        }
    }
}

#[test]
fn every_range_is_well_formed() {
    fn check(owner: &str, name: &str, ty: &ValueType) {
        match ty {
            ValueType::Int { min: Some(lo), max: Some(hi) } => {
                assert!(lo <= hi, "{owner}: `{name}` has an empty range");
            }
            ValueType::Float { min: Some(lo), max: Some(hi) } => {
                let (Bound::Inclusive(lo) | Bound::Exclusive(lo)) = *lo;
                let (Bound::Inclusive(hi) | Bound::Exclusive(hi)) = *hi;
                assert!(lo < hi, "{owner}: `{name}` has an empty range");
            }
            ValueType::Enum(names) => assert!(!names.is_empty(), "{owner}: `{name}` is empty"),
            ValueType::OneOf(alternatives) => {
                assert!(alternatives.len() >= 2, "{owner}: `{name}` has a one-way OneOf");
                for alternative in *alternatives {
                    check(owner, name, alternative);
                }
            }
            ValueType::List(element) => check(owner, name, element),
            _ => {}
        }
    }
    for (owner, params) in every_param_list() {
        for param in params {
            check(&owner, param.name, &param.ty);
        }
    }
}

#[test]
fn every_kind_a_field_asks_for_has_a_constructor() {
    fn kinds(ty: &ValueType, out: &mut BTreeSet<CtorKind>) {
        match ty {
            ValueType::Ctor(kind) => {
                out.insert(*kind);
            }
            ValueType::List(element) => kinds(element, out),
            ValueType::OneOf(alternatives) => alternatives.iter().for_each(|t| kinds(t, out)),
            ValueType::Record(fields) => fields.iter().for_each(|f| kinds(&f.ty, out)),
            _ => {}
        }
    }
    let mut wanted = BTreeSet::new();
    for (_, params) in every_param_list() {
        for param in params {
            kinds(&param.ty, &mut wanted);
        }
    }
    for kind in wanted {
        assert!(
            constructors().iter().any(|c| c.kind == kind),
            "a field asks for {kind:?}, which no constructor produces"
        );
    }
}

#[test]
fn docs_are_one_nonempty_line() {
    let one_line = |s: &str| !s.trim().is_empty() && !s.contains('\n');
    for kind in step_kinds() {
        assert!(one_line(kind.doc), "step kind `{}` needs a one-line doc", kind.kind);
    }
    for ctor in constructors() {
        assert!(one_line(ctor.doc), "constructor `{}` needs a one-line doc", ctor.name);
        assert!(ctor.reference.is_none_or(one_line), "`{}`: reference", ctor.name);
    }
    for (owner, params) in every_param_list() {
        for param in params {
            assert!(one_line(param.doc), "{owner}: `{}` needs a one-line doc", param.name);
            if let Default::Derived(how) = param.default {
                assert!(one_line(how), "{owner}: `{}` must say how it is derived", param.name);
            }
        }
    }
}

#[test]
fn on_rules_follow_the_language() {
    for entry in step_kinds() {
        // `test` may start a chain (no `on`) or continue one, to build any graph in tests.
        if entry.kind != StepKind::Test {
            assert_eq!(entry.needs_on, !entry.on.is_empty(), "`{}`: needs_on", entry.kind);
        }
    }
    assert!(step_kind(StepKind::Train).on.is_empty());
    assert!(step_kind(StepKind::Checkpoint).on.is_empty());
    assert!(!step_kind(StepKind::Estimate).on.contains(&StepKind::Estimate));
    let names: Vec<&str> = step_kinds().map(|k| k.kind.name()).collect();
    assert_eq!(names, ["train", "checkpoint", "estimate", "detect", "report", "test"]);
}

#[test]
fn pending_entries_name_a_later_issue() {
    let statuses = step_kinds()
        .map(|k| (k.kind.name(), k.status))
        .chain(constructors().iter().map(|c| (c.name, c.status)));
    for (name, status) in statuses {
        if let Status::Pending { issue } = status {
            assert!((4..=8).contains(&issue), "`{name}` is pending on unknown issue {issue}");
        }
    }
}

#[test]
fn lookups_find_what_the_language_names() {
    assert_eq!(
        groups(),
        ["dln", "icl", "induction", "mlp", "modular", "tms", "torchscript", "transformer"]
    );
    for name in ["sgd", "adam", "sgld", "rmsprop_sgld", "llc", "logspace", "critical_points"] {
        assert!(is_builtin_name(name), "`{name}` should be a built-in name");
    }
    assert!(is_builtin_name("tms"));
    assert!(!is_builtin_name("tms.model"), "a grouped name is not a bare name");
    assert!(!is_builtin_name("model"));
    assert!(!is_builtin_name("features"));
    assert_eq!(group_of("tms.model"), Some("tms"));
    assert_eq!(constructor("tms.model").unwrap().kind, CtorKind::Model);
    assert_eq!(constructor("sweep").unwrap().kind, CtorKind::Sweep);
    assert!(constructor("nope").is_none());
    let logspace = constructor("logspace").unwrap();
    let args: Vec<&str> = logspace.params.iter().map(|p| p.name).collect();
    assert_eq!(args, ["start", "stop", "count"]);
}

#[test]
fn implemented_by_resolved_issues() {
    for (issue, names) in IMPLEMENTED_BY_ISSUE {
        for name in *names {
            let status = constructor(name)
                .map(|c| c.status)
                .or_else(|| StepKind::from_name(name).map(|k| step_kind(k).status))
                .unwrap_or_else(|| panic!("issue {issue} lists `{name}`, which is not declared"));
            assert_eq!(
                status,
                Status::Implemented,
                "issue {issue} is resolved, so `{name}` must be implemented"
            );
        }
    }
}

#[test]
fn every_entry_appears_in_the_generated_docs_but_the_test_fixture() {
    let text = render_markdown();
    let users = super::user_step_kinds().map(|k| k.kind.name());
    for name in users.chain(constructors().iter().map(|c| c.name)) {
        assert!(text.contains(&format!("\n### {name}\n")), "`{name}` is missing from the docs");
    }
    // The executor's fixture is accepted but not offered (issue 21).
    let fixture = super::FIXTURE_STEP_KIND;
    assert!(!text.contains(&format!("\n### {fixture}\n")), "the `{fixture}` step is documented");
    assert_eq!(text, render_markdown(), "the docs must render deterministically");
}

#[test]
fn language_md_matches_the_registry() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/language.md");
    let document = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rendered = render_markdown();
    let current = reference_doc::generated_part(&document).unwrap_or_else(|| {
        panic!(
            "{} lacks the markers `{}` and `{}`",
            path.display(),
            reference_doc::BEGIN_MARKER,
            reference_doc::END_MARKER
        )
    });
    if current == rendered.trim() {
        return;
    }
    if std::env::var("DEVSPEC_UPDATE_DOCS").as_deref() == Ok("1") {
        let updated = reference_doc::splice(&document, &rendered).expect("markers were found");
        std::fs::write(&path, updated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    panic!(
        "{} is stale: its generated reference differs from the registry. Regenerate it with \
         `DEVSPEC_UPDATE_DOCS=1 cargo test --lib registry` and commit the result.",
        path.display()
    );
}

#[test]
fn every_observable_declares_its_series_and_only_observables_do() {
    let observables: BTreeSet<&str> =
        constructors().iter().filter(|c| c.kind == CtorKind::Observable).map(|c| c.name).collect();
    let declared: BTreeSet<&str> =
        super::series::OBSERVABLES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        observables, declared,
        "an observable without its series, or series of a non-observable"
    );
    for (name, series) in super::series::OBSERVABLES {
        assert!(!series.is_empty(), "{name} declares no series");
        let unique: BTreeSet<&&str> = series.iter().collect();
        assert_eq!(unique.len(), series.len(), "{name} declares a series twice");
    }
}
