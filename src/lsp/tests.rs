//! Completion and hover at marked places (`‸`) in small specs, broken ones included.

use super::{completion, hover};

/// The text without its `‸` and the byte offset where it was.
fn marked(text: &str) -> (String, usize) {
    let at = text.find('‸').expect("a cursor mark");
    (text.replacen('‸', "", 1), at)
}

fn labels(text: &str) -> Vec<String> {
    let (text, at) = marked(text);
    completion::complete(&text, at).into_iter().map(|item| item.label).collect()
}

fn hover_text(text: &str) -> String {
    let (text, at) = marked(text);
    match hover::hover(&text, at).map(|hover| hover.contents) {
        Some(lsp_types::HoverContents::Markup(markup)) => markup.value,
        other => panic!("no markdown hover: {other:?}"),
    }
}

const HEAD: &str =
    "import std.tms\nlet features = 6\nlet base = { steps = 10 }\ntrain run { steps = 5 }\n";

#[test]
fn completes_step_kinds_at_the_top_level_but_not_the_fixture() {
    let found = labels(&format!("{HEAD}tr‸"));
    for kind in ["train", "checkpoint", "estimate", "detect", "report", "let", "import"] {
        assert!(found.iter().any(|l| l == kind), "{kind} missing from {found:?}");
    }
    assert!(!found.iter().any(|l| l == "test"), "{found:?}");
}

#[test]
fn completes_fields_of_the_step_with_their_defaults() {
    let (text, at) = marked("train run {\n  steps = 5\n  opt‸\n");
    let items = completion::complete(&text, at);
    let optimizer = items.iter().find(|item| item.label == "optimizer").expect("optimizer offered");
    assert!(optimizer.detail.as_deref().unwrap().contains("default"), "{optimizer:?}");
    assert!(items.iter().any(|item| item.label == "batch_size"));
    // The edit replaces the typed prefix with `name = `.
    let Some(lsp_types::CompletionTextEdit::Edit(edit)) = &optimizer.text_edit else { panic!() };
    assert_eq!(edit.new_text, "optimizer = ");
    assert_eq!(edit.range.start.character, 2);
    assert_eq!(edit.range.end.character, 5);
}

#[test]
fn completes_what_a_field_accepts() {
    let optimizers = labels("train run {\n  optimizer = ‸\n}");
    assert!(
        optimizers.iter().any(|l| l == "sgd") && optimizers.iter().any(|l| l == "adam"),
        "{optimizers:?}"
    );
    assert!(!optimizers.iter().any(|l| l == "tms.model"), "{optimizers:?}");
    let models = labels("train run { model = tms.‸ }");
    assert!(models.iter().any(|l| l == "tms.model"), "{models:?}");
}

#[test]
fn completes_arguments_and_enum_values_inside_constructor_calls() {
    let args = labels("train run { optimizer = sgd(‸) }");
    assert!(args.iter().any(|l| l == "lr"), "{args:?}");
    let methods = labels("detect d on e { method = change_points(method = ‸) }");
    let expected = registry_enum("change_points", "method");
    assert!(!expected.is_empty());
    for value in expected {
        assert!(methods.iter().any(|l| l == value), "{value} missing from {methods:?}");
    }
}

fn registry_enum(ctor: &str, param: &str) -> Vec<&'static str> {
    let ctor = crate::registry::constructor(ctor).unwrap();
    match crate::registry::param(ctor.params, param).map(|p| p.ty) {
        Some(crate::registry::schema::ValueType::Enum(names)) => names.to_vec(),
        other => panic!("not an enum: {other:?}"),
    }
}

#[test]
fn completes_on_targets_of_the_right_kind_presets_and_stdlib_modules() {
    let text = format!("{HEAD}estimate e on ‸");
    assert_eq!(labels(&text), ["run"]);
    // A detect may be `on` an estimate or a train; a second target after a comma.
    let text = format!("{HEAD}estimate e on run {{}}\ndetect d on run, ‸");
    let found = labels(&text);
    assert!(found.iter().any(|l| l == "e"), "{found:?}");
    let presets = labels(&format!("{HEAD}train t from ‸"));
    assert!(presets.iter().any(|l| l == "base"), "{presets:?}");
    assert!(presets.iter().any(|l| l == "tms.chen2023"), "{presets:?}");
    assert!(!presets.iter().any(|l| l == "features"), "{presets:?}");
    let modules = labels("import ‸");
    assert!(
        modules.iter().any(|l| l == "std.tms") && modules.iter().any(|l| l == "std.dln"),
        "{modules:?}"
    );
}

#[test]
fn offers_nothing_in_comments_and_strings() {
    assert!(labels("# train ‸").is_empty());
    assert!(labels("report r on a { title = \"tr‸").is_empty());
}

#[test]
fn hovers_show_the_registrys_docs() {
    assert!(hover_text("tra‸in run { }").starts_with("**`train`** step"));
    let field = hover_text("train run { batch_‸size = 4 }");
    assert!(field.starts_with("**`batch_size`**: a whole number"), "{field}");
    assert!(field.contains("default"), "{field}");
    let ctor = hover_text("train run { optimizer = s‸gd(lr = 0.1) }");
    assert!(ctor.starts_with("**`sgd(lr"), "{ctor}");
    let arg = hover_text("train run { optimizer = sgd(l‸r = 0.1) }");
    assert!(arg.starts_with("**`lr`**: number"), "{arg}");
    let value = registry_enum("change_points", "method")[0];
    let enum_hover =
        hover_text(&format!("detect d on e {{ method = change_points(method = {value}‸) }}"));
    assert!(enum_hover.starts_with(&format!("**`{value}`**: a value of `method`")), "{enum_hover}");
}

#[test]
fn hovers_show_lets_steps_and_stdlib_presets_in_broken_text() {
    let text = format!("{HEAD}estimate e on ru‸n {{ observable = llc(sampler = sgld(lr = features");
    assert!(hover_text(&text).starts_with("`train run`"), "{}", hover_text(&text));
    let text = format!("{HEAD}train t {{ steps = feat‸ures + ");
    assert_eq!(hover_text(&text), "```devspec\nlet features = 6\n```");
    let text = format!("{HEAD}train t from tms.chen‸2023 {{");
    let preset = hover_text(&text);
    assert!(preset.starts_with("```devspec\nlet chen2023 = {"), "{preset}");
    assert!(preset.ends_with("(from `std.tms`)"), "{preset}");
}
