//! Completion: what may be written at the cursor, from [`cursor_context`]: step kinds at the
//! top level, the fields of this step or arguments of this constructor (with their docs and
//! defaults), the constructors and enumeration values a field's type accepts, the steps a
//! header may be `on`, presets after `from`, stdlib modules after `import`.

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, MarkupContent,
    MarkupKind, TextEdit,
};

use crate::compile::ParamType;
use crate::compile::stdlib;
use devspec_protocol::StepKind;

use crate::registry::{self, schema::CtorKind, schema::ValueType, series};
use crate::source::FileId;
use crate::syntax::{self, ast};

use super::cursor_context::{self, Place};
use super::lexical::{Outline, tokens};
use super::line_index::LineIndex;
use super::registry_docs;

pub fn complete(text: &str, offset: usize) -> Vec<CompletionItem> {
    let context = cursor_context::at(text, offset);
    let index = LineIndex::new(text);
    let range = lsp_types::Range {
        start: index.position(context.prefix_start),
        end: index.position(offset),
    };
    let outline = Outline::of(text, &tokens(text));
    let mut items = Items { range, list: Vec::new() };
    match context.place {
        Place::ItemStart => {
            for entry in registry::user_step_kinds() {
                let doc = registry_docs::step_kind(entry.kind);
                items.keyword(entry.kind.name(), "step", Some(doc));
            }
            items.keyword("let", "a named value or preset", None);
            items.keyword("param", "a value the spec leaves open, bound with `--bind`", None);
            items.keyword("import", "a stdlib module or a file", None);
        }
        Place::ParamType => {
            for ty in ParamType::ALL {
                items.push(
                    CompletionItem {
                        label: ty.word().to_owned(),
                        kind: Some(CompletionItemKind::TYPE_PARAMETER),
                        detail: Some("parameter type".into()),
                        documentation: Some(markdown(ty.doc().to_owned())),
                        ..CompletionItem::default()
                    },
                    ty.word().to_owned(),
                );
            }
        }
        Place::Import => {
            for name in stdlib::names() {
                items.add(format!("std.{name}"), CompletionItemKind::MODULE, "stdlib module");
            }
        }
        Place::Preset => presets(text, &outline, &mut items),
        Place::OnTarget(kind) => {
            let allowed = kind.map(|kind| registry::step_kind(kind).on);
            for (step_kind, token) in &outline.steps {
                let name = token.text(text);
                let fits = allowed.is_none_or(|on| on.contains(step_kind));
                if fits && Some(name) != context.step_name.as_deref() {
                    let detail = format!("{step_kind} step");
                    items.add(name.to_owned(), CompletionItemKind::REFERENCE, &detail);
                }
            }
        }
        Place::FieldName(owner) => {
            for param in owner.params() {
                items.push(
                    CompletionItem {
                        label: param.name.to_owned(),
                        kind: Some(CompletionItemKind::FIELD),
                        detail: Some(registry_docs::param_summary(param)),
                        documentation: Some(markdown(param.doc.to_owned())),
                        ..CompletionItem::default()
                    },
                    format!("{} = ", param.name),
                );
            }
        }
        Place::Value(_, Some(param)) if param.name == "series" => {
            for name in series_of(text, &outline, &context.inputs) {
                let detail = "a series the target produces";
                items.push(
                    CompletionItem {
                        label: format!("\"{name}\""),
                        kind: Some(CompletionItemKind::VALUE),
                        detail: Some(detail.into()),
                        ..CompletionItem::default()
                    },
                    format!("\"{name}\""),
                );
            }
        }
        Place::Value(ty, _) => values(text, ty, &outline, &mut items),
        Place::Other => {}
    }
    items.list
}

/// The items, each replacing the name typed so far.
struct Items {
    range: lsp_types::Range,
    list: Vec<CompletionItem>,
}

impl Items {
    fn push(&mut self, item: CompletionItem, new_text: String) {
        let edit = TextEdit { range: self.range, new_text };
        self.list.push(CompletionItem { text_edit: Some(CompletionTextEdit::Edit(edit)), ..item });
    }

    fn add(&mut self, label: String, kind: CompletionItemKind, detail: &str) {
        let item = CompletionItem {
            label: label.clone(),
            kind: Some(kind),
            detail: Some(detail.to_owned()),
            ..CompletionItem::default()
        };
        self.push(item, label);
    }

    fn keyword(&mut self, word: &str, detail: &str, doc: Option<String>) {
        let item = CompletionItem {
            label: word.to_owned(),
            kind: Some(CompletionItemKind::KEYWORD),
            detail: Some(detail.to_owned()),
            documentation: doc.map(markdown),
            ..CompletionItem::default()
        };
        self.push(item, word.to_owned());
    }
}

fn markdown(value: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })
}

/// The series `detect` may read from its targets: a train step's losses, an estimate's
/// observable's numbers (the observable read from its block).
fn series_of(text: &str, outline: &Outline, inputs: &[String]) -> Vec<&'static str> {
    let all = tokens(text);
    let mut names = Vec::new();
    for input in inputs {
        let Some((kind, token)) = outline.steps.iter().find(|(_, t)| t.text(text) == input) else {
            continue;
        };
        let produced = match kind {
            StepKind::Estimate => {
                let at = all.iter().position(|t| t == token).unwrap_or(all.len());
                all[at..]
                    .windows(3)
                    .find(|w| w[0].text(text) == "observable" && w[1].is('='))
                    .and_then(|w| series::of_observable(w[2].text(text)))
            }
            StepKind::Train
            | StepKind::Checkpoint
            | StepKind::Detect
            | StepKind::Report
            | StepKind::Test => series::of_step_kind(*kind),
        };
        for name in produced.unwrap_or_default() {
            if !names.contains(name) {
                names.push(*name);
            }
        }
    }
    names
}

/// Lets whose value is a record, here and in the imported stdlib modules.
fn presets(text: &str, outline: &Outline, items: &mut Items) {
    for (token, preset) in &outline.lets {
        if *preset {
            items.add(token.text(text).to_owned(), CompletionItemKind::VARIABLE, "preset");
        }
    }
    for group in &outline.std_imports {
        for name in stdlib_presets(group) {
            let detail = format!("preset from std.{group}");
            items.add(format!("{group}.{name}"), CompletionItemKind::VARIABLE, &detail);
        }
    }
}

/// What a value of type `ty` may be, and the document's lets (which may hold anything).
fn values(text: &str, ty: Option<ValueType>, outline: &Outline, items: &mut Items) {
    let mut accepted = Vec::new();
    if let Some(ty) = &ty {
        accepted_values(ty, &mut accepted);
    }
    let accepted_ty = ty;
    for value in accepted {
        match value {
            Accepted::Ctor(ctor) => {
                let item = CompletionItem {
                    label: ctor.name.to_owned(),
                    kind: Some(CompletionItemKind::CONSTRUCTOR),
                    detail: Some(registry::reference_doc::kind_noun(ctor.kind).to_owned()),
                    documentation: Some(markdown(registry_docs::constructor(ctor))),
                    ..CompletionItem::default()
                };
                items.push(item, ctor.name.to_owned());
            }
            Accepted::Word(word) => {
                items.add(word.to_owned(), CompletionItemKind::ENUM_MEMBER, "value");
            }
        }
    }
    for (token, _) in &outline.lets {
        items.add(token.text(text).to_owned(), CompletionItemKind::VARIABLE, "let");
    }
    // A parameter fits where its type does: offered where that is known to fit, or anywhere
    // a value's type is unknown.
    for (token, ty, _) in &outline.params {
        let fits = match (ParamType::from_word(ty), &accepted_ty) {
            (Some(param), Some(field)) => param.fits(field),
            (None, _) | (_, None) => true,
        };
        if fits {
            items.add(
                token.text(text).to_owned(),
                CompletionItemKind::VARIABLE,
                &format!("param: {ty}"),
            );
        }
    }
}

enum Accepted {
    Ctor(&'static registry::schema::Constructor),
    Word(&'static str),
}

fn accepted_values(ty: &ValueType, out: &mut Vec<Accepted>) {
    match ty {
        ValueType::Ctor(kind) => {
            out.extend(
                registry::constructors().iter().filter(|c| c.kind == *kind).map(Accepted::Ctor),
            );
        }
        ValueType::Enum(names) => out.extend(names.iter().copied().map(Accepted::Word)),
        ValueType::Bool => out.extend(["true", "false"].map(Accepted::Word)),
        ValueType::Auto => out.push(Accepted::Word("auto")),
        ValueType::OneOf(alternatives) => {
            for alternative in *alternatives {
                accepted_values(alternative, out);
            }
        }
        ValueType::List(element) => accepted_values(element, out),
        ValueType::Int { .. }
        | ValueType::Float { .. }
        | ValueType::Str
        | ValueType::Path
        | ValueType::Record(_) => {}
    }
    // A sweep is accepted wherever its elements are (`seed = sweep(0..4)`).
    if !matches!(ty, ValueType::OneOf(_) | ValueType::List(_))
        && !out.iter().any(|a| matches!(a, Accepted::Ctor(c) if c.kind == CtorKind::Sweep))
    {
        out.extend(
            registry::constructors()
                .iter()
                .filter(|c| c.kind == CtorKind::Sweep)
                .map(Accepted::Ctor),
        );
    }
}

/// The lets of a stdlib module whose value is a record: the presets it offers.
fn stdlib_presets(group: &str) -> Vec<String> {
    let Some(source) = stdlib::source(group) else { return Vec::new() };
    let Ok(module) = syntax::parse(FileId(0), source) else { return Vec::new() };
    module
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Let(item) => {
                matches!(item.value.kind, ast::ExprKind::Record(_) | ast::ExprKind::With { .. })
                    .then(|| item.name.text.clone())
            }
            ast::Item::Import(_) | ast::Item::Param(_) | ast::Item::Step(_) => None,
        })
        .collect()
}
