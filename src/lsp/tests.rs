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

fn document(text: &str) -> super::document::Document {
    super::document::Document::new("untitled:study.dev".parse().unwrap(), 1, text.to_owned())
}

const STUDY: &str = "import std.tms\nlet lr = 0.1\ntrain run from tms.chen2023 {\n  optimizer = sgd(lr = lr)\n}\nestimate llc on run { observable = loss() }\ndetect d on run, llc { series = \"loss\" }\n";

fn nth(text: &str, needle: &str, n: usize) -> usize {
    text.match_indices(needle).nth(n).expect("needle").0
}

#[test]
fn definitions_of_lets_steps_and_stdlib_presets() {
    let doc = document(STUDY);
    let index = super::line_index::LineIndex::new(STUDY);
    // `lr` the value (the third `lr`), not the argument name, goes to the let.
    let found = super::navigation::definition(&doc, nth(STUDY, "lr", 2)).unwrap();
    assert_eq!(found.range.start, index.position(nth(STUDY, "lr", 0)));
    assert!(super::navigation::definition(&doc, nth(STUDY, "lr", 1)).is_none(), "an argument name");
    let found = super::navigation::definition(&doc, nth(STUDY, "run,", 0)).unwrap();
    assert_eq!(found.range.start, index.position(nth(STUDY, "run", 0)));
    // Into the stdlib: a file with the module's text, at the preset's name.
    let found = super::navigation::definition(&doc, nth(STUDY, "chen2023", 0)).unwrap();
    let path = super::document::file_path(&found.uri).unwrap();
    let module = std::fs::read_to_string(path).unwrap();
    assert_eq!(module, crate::compile::stdlib::source("tms").unwrap());
    let at = super::line_index::LineIndex::new(&module).offset(found.range.start);
    assert!(module[at..].starts_with("chen2023 = {"));
    let found = super::navigation::definition(&doc, nth(STUDY, "std.tms", 0)).unwrap();
    assert_eq!(found.range, lsp_types::Range::default());
}

#[test]
fn references_and_rename_of_steps_and_lets() {
    let doc = document(STUDY);
    let refs = super::navigation::references(&doc, nth(STUDY, "run", 0), true);
    assert_eq!(refs.len(), 3, "{refs:?}");
    assert_eq!(super::navigation::references(&doc, nth(STUDY, "run", 0), false).len(), 2);
    let edit = super::navigation::rename(&doc, nth(STUDY, "lr", 0), "rate").unwrap().unwrap();
    let edits = edit.changes.unwrap().into_values().next().unwrap();
    let mut renamed = STUDY.to_owned();
    let index = super::line_index::LineIndex::new(STUDY);
    let mut spans: Vec<(usize, usize)> =
        edits.iter().map(|e| (index.offset(e.range.start), index.offset(e.range.end))).collect();
    spans.sort_unstable();
    for (start, end) in spans.into_iter().rev() {
        renamed.replace_range(start..end, "rate");
    }
    assert!(renamed.contains("let rate = 0.1") && renamed.contains("sgd(lr = rate)"), "{renamed}");
    assert!(super::navigation::rename(&doc, nth(STUDY, "lr", 0), "llc").is_err(), "a taken name");
    assert!(super::navigation::rename(&doc, nth(STUDY, "lr", 0), "on").is_err(), "a keyword");
}

#[test]
fn outline_lists_lets_and_steps_even_when_broken() {
    let broken = format!("{STUDY}report r on d {{ title = ");
    let names: Vec<(String, String)> = super::navigation::symbols(&broken)
        .into_iter()
        .map(|s| (s.name, s.detail.unwrap()))
        .collect();
    let expected =
        [("lr", "let"), ("run", "train"), ("llc", "estimate"), ("d", "detect"), ("r", "report")];
    assert_eq!(names, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
}

#[test]
fn formatting_is_the_formatters_and_leaves_broken_text_alone() {
    let edits = super::formatting::format_document("let  a=1\ntrain t{steps=a}").unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].new_text, "let a = 1\ntrain t { steps = a }\n");
    assert_eq!(edits[0].range.end, lsp_types::Position { line: 1, character: 16 });
    assert!(super::formatting::format_document("let a = 1\n").unwrap().is_empty());
    assert!(super::formatting::format_document("train t {").unwrap().is_empty());
}

#[test]
fn semantic_tokens_classify_with_utf16_positions() {
    // (line, start, length, type index, modifiers), decoded from the deltas.
    let text = "# é\nlet n = 2\ntrain run { optimizer = sgd(lr = n) }\ndetect d on run { method = change_points(method = pelt) }\n";
    let tokens = super::semantic_tokens::tokens(text).data;
    let mut decoded = Vec::new();
    let (mut line, mut start) = (0, 0);
    for token in tokens {
        line += token.delta_line;
        start = if token.delta_line == 0 { start + token.delta_start } else { token.delta_start };
        decoded.push((line, start, token.length, token.token_type, token.token_modifiers_bitset));
    }
    let legend = super::semantic_tokens::legend().token_types;
    let type_of = |name: &str| {
        u32::try_from(legend.iter().position(|t| t.as_str() == name).unwrap()).unwrap()
    };
    let expected = [
        (0, 0, 3, type_of("comment"), 0),
        (1, 0, 3, type_of("keyword"), 0),
        (1, 4, 1, type_of("variable"), 1),
        (1, 8, 1, type_of("number"), 0),
        (2, 0, 5, type_of("keyword"), 0),
        (2, 6, 3, type_of("class"), 1),
        (2, 12, 9, type_of("property"), 0),
        (2, 24, 3, type_of("function"), 0),
        (2, 28, 2, type_of("property"), 0),
        (2, 33, 1, type_of("variable"), 0),
        (3, 0, 6, type_of("keyword"), 0),
        (3, 7, 1, type_of("class"), 1),
        (3, 9, 2, type_of("keyword"), 0),
        (3, 12, 3, type_of("class"), 0),
        (3, 18, 6, type_of("property"), 0),
        (3, 27, 13, type_of("function"), 0),
        (3, 41, 6, type_of("property"), 0),
        (3, 50, 4, type_of("enumMember"), 0),
    ];
    assert_eq!(decoded, expected);
}

#[test]
fn completes_the_series_a_detections_targets_produce() {
    let text = "train run { steps = 1 }\nestimate e on run { observable = llc(chains = 2) }\ndetect d on run, e { series = ‸ }";
    let found = labels(text);
    assert!(found.contains(&"\"train_loss\"".to_owned()), "{found:?}");
    assert!(found.contains(&"\"llc_mean\"".to_owned()), "{found:?}");
    let only_train = labels("train run { steps = 1 }\ndetect d on run { series = ‸ }");
    assert_eq!(only_train, ["\"train_loss\"", "\"test_loss\""]);
}

#[test]
fn a_devspec_toml_that_does_not_load_is_a_diagnostic() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("devspec.toml"), "[store\n").unwrap();
    let path = folder.path().join("a.dev");
    let uri = super::document::file_uri(&path).unwrap();
    let document = super::document::Document::new(uri, 1, "let a = 1\n".into());
    let analysis = super::analysis::Analysis::of(&document);
    assert_eq!(analysis.diagnostics.len(), 1, "{:?}", analysis.diagnostics);
    assert!(analysis.diagnostics[0].message.contains("devspec.toml"), "{:?}", analysis.diagnostics);
}

/// The text after applying every quick fix of the analysis.
fn fixed(text: &str) -> String {
    let analysis = super::analysis::Analysis::of(&document(text));
    let mut fixes = super::quick_fix::of(&analysis);
    assert!(!fixes.is_empty(), "no quick fix for {text}: {:?}", analysis.diagnostics);
    fixes.sort_by_key(|fix| std::cmp::Reverse(fix.span.start));
    let mut out = text.to_owned();
    for fix in fixes {
        out.replace_range(fix.span.range(), &fix.new_text);
    }
    out
}

#[test]
fn quick_fixes_replace_the_misspelt_part_only() {
    assert_eq!(fixed("trian run { steps = 1 }"), "train run { steps = 1 }");
    assert_eq!(
        fixed("train run { model = tms.modle(features = 6, hidden = 2) }"),
        "train run { model = tms.model(features = 6, hidden = 2) }"
    );
    assert_eq!(fixed("import std.tmss\n"), "import std.tms\n");
    assert_eq!(
        fixed("train run { steps = 1 }\nestimate e on rn { observable = loss() }"),
        "train run { steps = 1 }\nestimate e on run { observable = loss() }"
    );
}

#[test]
fn hovering_a_sweep_lists_its_points() {
    let range = hover_text("train t { seed = swe‸ep(0..4) }");
    assert!(range.starts_with("4 points: 0, 1, 2, 3\n\n**`sweep(values)`**"), "{range}");
    let list = hover_text("train t { optimizer = sweep‸([sgd(lr = 0.1), adam(lr = 1e-3)]) }");
    assert!(list.starts_with("2 points: sgd(lr = 0.1), adam(lr = 1e-3)\n\n"), "{list}");
    let computed = hover_text("let n = 3\ntrain t { seed = sweep‸(0..n) }");
    assert!(computed.starts_with("**`sweep(values)`**"), "{computed}");
}

const PARAMS: &str = "import std.tms\nparam checkpoints: files \"the training checkpoints, one per step\"\ncheckpoint ckpts {\n  model = tms.model(features = 5, hidden = 2)\n  files = checkpoints\n}\n";

#[test]
fn a_param_hovers_with_its_type_and_doc_and_its_use_goes_to_it() {
    let at_use = nth(PARAMS, "checkpoints", 2);
    let text = PARAMS;
    let shown = hover_text(&format!("{}‸{}", &text[..at_use + 3], &text[at_use + 3..]));
    assert!(shown.starts_with("```devspec\nparam checkpoints: files\n```"), "{shown}");
    assert!(shown.contains("the training checkpoints, one per step"), "{shown}");
    assert!(shown.contains("`--bind checkpoints=...`"), "{shown}");
    let at_type = nth(PARAMS, "files", 0);
    let shown = hover_text(&format!("{}‸{}", &text[..=at_type], &text[at_type + 1..]));
    assert!(shown.starts_with("parameter type `files`"), "{shown}");

    let doc = document(PARAMS);
    let index = super::line_index::LineIndex::new(PARAMS);
    let found = super::navigation::definition(&doc, at_use).unwrap();
    assert_eq!(found.range.start, index.position(nth(PARAMS, "checkpoints", 0)));
    // An unbound parameter is no error in the editor: the spec checks.
    let analysis = super::analysis::Analysis::of(&doc);
    assert!(analysis.diagnostics.is_empty(), "{:?}", analysis.diagnostics);
}

#[test]
fn completes_param_types_and_offers_params_where_they_fit() {
    let types = labels("param checkpoints: ‸");
    assert_eq!(types, ["files", "file", "model", "data", "number", "integer", "string", "boolean"]);
    assert!(labels(&format!("{HEAD}pa‸")).iter().any(|l| l == "param"));
    let spec = "param checkpoints: files\nparam m: model\ncheckpoint c {\n  model = ‸\n}\n";
    let models = labels(spec);
    assert!(models.iter().any(|l| l == "m"), "{models:?}");
    assert!(!models.iter().any(|l| l == "checkpoints"), "a `files` param is no model: {models:?}");
}
