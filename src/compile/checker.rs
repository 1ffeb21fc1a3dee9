//! Checks a spec's steps: known kinds and fields, values of the right type and range, required
//! fields present, `on` naming steps of allowed kinds, no dependency cycle; merges `from`
//! presets and `--set` overrides; lists each step's sweep axes. Every error of the file is
//! reported, not only the first.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use devspec_protocol::StepKind;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::DiGraph;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::registry::schema::{Default, StepKindEntry};
use crate::registry::{self};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, Item};

use super::did_you_mean;
use super::evaluator::Evaluator;
use super::literal;
use super::module_loader::LoadedModules;
use super::param::{OpenParam, ParamType};
use super::program::{Axis, CheckedStep, Program};
use super::type_check;
use super::value::{Origin, Value, ValueKind};

/// A `--set TARGET=EXPR` from the command line, parsed: `TARGET` is `LET` or `STEP.FIELD`.
#[derive(Debug, Clone)]
pub struct Override {
    pub target: String,
    pub target_span: Span,
    pub value: ast::Expr,
    /// The pseudo-file holding the `--set` text, for diagnostics.
    pub file: FileId,
}

/// A parameter the spec can bind: its name as `--bind` gives it (`NAME`, or `ALIAS.NAME` for
/// one declared in a file the spec imports as `ALIAS`), the file declaring it, its syntax.
pub struct DeclaredParam<'a> {
    pub name: String,
    pub file: FileId,
    pub item: &'a ast::Param,
}

/// The parameters of the root spec and of the files it imports directly, in reading order.
pub fn declared_params(loaded: &LoadedModules, root: FileId) -> Vec<DeclaredParam<'_>> {
    let Some(module) = loaded.modules.get(&root) else { return Vec::new() };
    let mut found = Vec::new();
    for item in &module.items {
        match item {
            Item::Param(param) => {
                found.push(DeclaredParam {
                    name: param.name.text.clone(),
                    file: root,
                    item: param,
                });
            }
            Item::Import(import) => {
                let alias = match &import.source {
                    ast::ImportSource::Std(name) | ast::ImportSource::File { alias: name, .. } => {
                        name
                    }
                };
                let Some(&target) = loaded.imports.get(&(root, import.span)) else { continue };
                let Some(imported) = loaded.modules.get(&target) else { continue };
                for item in &imported.items {
                    if let Item::Param(param) = item {
                        found.push(DeclaredParam {
                            name: format!("{}.{}", alias.text, param.name.text),
                            file: target,
                            item: param,
                        });
                    }
                }
            }
            Item::Let(_) | Item::Step(_) => {}
        }
    }
    found
}

pub fn check(
    loaded: &LoadedModules,
    root: FileId,
    overrides: &[Override],
    binds: &[Override],
) -> Result<Program, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let mut evaluator = Evaluator::new(loaded);
    let Some(module) = loaded.modules.get(&root) else {
        // The root did not parse; the loader has reported why.
        return Err(evaluator.diagnostics.into_vec());
    };
    let steps: Vec<&ast::Step> = module
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Step(step) => Some(step),
            _ => None,
        })
        .collect();

    let step_overrides = split_overrides(root, overrides, &steps, &mut evaluator, &mut diags);
    let declared = declared_params(loaded, root);
    for bind in binds {
        // `Bindings::to_overrides` kept only names declared here.
        if let Some(param) = declared.iter().find(|p| p.name == bind.target) {
            evaluator.bind_param(param.file, &param.item.name.text, (bind.file, &bind.value));
        }
    }

    evaluator.evaluate_all_lets();

    check_imported(loaded, root, &declared, &mut diags);

    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (index, step) in steps.iter().enumerate() {
        if let Some(&first) = index_of.get(step.name.text.as_str()) {
            diags.push(
                Diagnostic::error(
                    root,
                    step.name.span,
                    format!("there are two steps named `{}`", step.name.text),
                )
                .also_at(root, steps[first].name.span, "first defined here")
                .with_hint("step names must be unique within a spec"),
            );
        } else {
            index_of.insert(&step.name.text, index);
        }
    }

    let mut checked: Vec<Option<CheckedStep>> = Vec::with_capacity(steps.len());
    for step in &steps {
        let overrides_here: Vec<(&str, &Override)> = step_overrides
            .iter()
            .filter(|((s, _), _)| *s == step.name.text)
            .map(|((_, f), o)| (*f, *o))
            .collect();
        checked.push(check_step(
            root,
            step,
            &steps,
            &index_of,
            &overrides_here,
            &mut evaluator,
            &mut diags,
        ));
    }

    report_cycles(root, &steps, &index_of, &mut diags);
    check_series(&checked, &mut diags);

    let mut all = evaluator.diagnostics.into_vec();
    all.extend(diags.into_vec());
    if !all.is_empty() {
        // In reading order, file by file, whichever check found them.
        all.sort_by_key(|d| (d.primary.file, d.primary.span.start, d.primary.span.end));
        return Err(all);
    }
    let (params, param_origins) = program_params(&declared, binds);
    Ok(Program {
        steps: checked.into_iter().map(|s| s.expect("no errors, so every step checked")).collect(),
        params,
        param_origins,
        bound: Vec::new(),
    })
}

/// Imported files hold presets only: no steps, and parameters only where the spec imports
/// them directly (elsewhere `--bind ALIAS.NAME` could not reach them).
fn check_imported(
    loaded: &LoadedModules,
    root: FileId,
    declared: &[DeclaredParam<'_>],
    diags: &mut Diagnostics,
) {
    let mut imported: Vec<_> = loaded.modules.iter().filter(|(file, _)| **file != root).collect();
    imported.sort_by_key(|(file, _)| **file);
    let bindable: Vec<FileId> = declared.iter().map(|param| param.file).collect();
    for (file, module) in imported {
        for item in &module.items {
            // A parameter only the spec's imports import could never be bound by name.
            if let Item::Param(param) = item
                && !bindable.contains(file)
            {
                diags.push(
                    Diagnostic::error(
                        *file,
                        param.name.span,
                        format!(
                            "`{}` is a parameter of a file the spec imports only through another",
                            param.name.text
                        ),
                    )
                    .with_hint(
                        "declare parameters in the spec or in a file it imports directly, so \
                         `--bind ALIAS.NAME` can reach them",
                    ),
                );
            }
            if let Item::Step(step) = item {
                diags.push(
                    Diagnostic::error(*file, step.name.span, format!("an imported file cannot declare steps (`{}`)", step.name.text))
                        .with_hint("a study is one file; imported files hold `let` presets: move the step into the study"),
                );
            }
        }
    }
}

/// The declared parameters as the program lists them, with where each is declared. Every
/// declared type was read (an unknown one is an error before this).
fn program_params(
    declared: &[DeclaredParam<'_>],
    binds: &[Override],
) -> (Vec<OpenParam>, Vec<Origin>) {
    declared
        .iter()
        .filter_map(|declared| {
            let param = OpenParam {
                name: declared.name.clone(),
                ty: ParamType::from_word(&declared.item.ty.text)?,
                doc: declared.item.doc.as_ref().map(|(doc, _)| doc.clone()),
                bound: binds.iter().any(|bind| bind.target == declared.name),
            };
            Some((param, Origin { file: declared.file, span: declared.item.name.span }))
        })
        .unzip()
}

/// Sorts `--set` overrides: a let's replaces its expression in the evaluator now; a step
/// field's is returned, keyed by step and field, for the step's check.
fn split_overrides<'o>(
    root: FileId,
    overrides: &'o [Override],
    steps: &[&'o ast::Step],
    evaluator: &mut Evaluator<'o>,
    diags: &mut Diagnostics,
) -> HashMap<(&'o str, &'o str), &'o Override> {
    let mut step_overrides = HashMap::new();
    for over in overrides {
        let (message, hint) = match over.target.split_once('.') {
            Some((step, field)) if steps.iter().any(|s| s.name.text == step) => {
                step_overrides.insert((step, field), over);
                continue;
            }
            Some((step, _)) => (
                format!("`--set`: there is no step `{step}`"),
                did_you_mean::hint(step, steps.iter().map(|s| s.name.text.as_str())),
            ),
            None if evaluator.param_type(root, &over.target).is_some() => (
                format!("`--set`: `{}` is a parameter, not a let", over.target),
                Some(format!(
                    "bind a parameter with `--bind {}=...` (its type is `{}`)",
                    over.target,
                    evaluator.param_type(root, &over.target).expect("matched")
                )),
            ),
            None if evaluator.replace_let(root, &over.target, (over.file, &over.value)) => continue,
            None => (
                format!("`--set`: there is no `let {}` in the spec", over.target),
                did_you_mean::hint(&over.target, evaluator.let_names(root)).or_else(|| {
                    Some("override a let by its name, or a step's field as `STEP.FIELD`".into())
                }),
            ),
        };
        let mut diagnostic = Diagnostic::error(over.file, over.target_span, message);
        diagnostic.hint = hint;
        diags.push(diagnostic);
    }
    step_overrides
}

fn check_step(
    root: FileId,
    step: &ast::Step,
    steps: &[&ast::Step],
    index_of: &HashMap<&str, usize>,
    overrides: &[(&str, &Override)],
    evaluator: &mut Evaluator<'_>,
    diags: &mut Diagnostics,
) -> Option<CheckedStep> {
    let Some(kind) = StepKind::from_name(&step.kind.text) else {
        let kinds = registry::user_step_kinds().map(|entry| entry.kind.name());
        let hint = did_you_mean::hint(&step.kind.text, kinds.clone()).unwrap_or_else(|| {
            format!("a step is one of: {}", kinds.collect::<Vec<_>>().join(", "))
        });
        diags.push(
            Diagnostic::error(
                root,
                step.kind.span,
                format!("unknown step kind `{}`", step.kind.text),
            )
            .with_hint(hint),
        );
        return None;
    };
    let entry = registry::step_kind(kind);
    let mut ok = true;
    let inputs = check_inputs(root, step, entry, steps, index_of, diags, &mut ok);

    let gathered = gather_fields(root, step, entry, overrides, evaluator, diags);
    let (written, mut attempted, preset_failed) =
        (gathered.written, gathered.attempted, gathered.preset_failed);
    ok &= gathered.ok;

    let origin = Origin { file: root, span: step.name.span };
    let mut fields = BTreeMap::new();
    for (name, value) in written {
        let Some(param) = registry::param(entry.fields, &name) else {
            // Only a preset can bring an unknown field this far.
            diags.push(
                unknown_field(value.origin.file, value.origin.span, &name, entry)
                    .label(format!("`{name}` comes from the preset")),
            );
            ok = false;
            continue;
        };
        attempted.push(param.name);
        match type_check::conform(value, &param.ty, &format!("`{name}`"), diags) {
            Some(value) => {
                fields.insert(name, value);
            }
            None => ok = false,
        }
    }
    for param in entry.fields {
        if fields.contains_key(param.name) || attempted.contains(&param.name) {
            continue;
        }
        match param.default {
            Default::Required if preset_failed => ok = false,
            Default::Required => {
                diags.push(
                    Diagnostic::error(
                        root,
                        step.name.span,
                        format!(
                            "`{} {}` is missing the field `{}`",
                            kind, step.name.text, param.name
                        ),
                    )
                    .label(format!("needs `{}`", param.name))
                    .with_hint(format!("add `{} = ...`: {}", param.name, param.doc)),
                );
                ok = false;
            }
            Default::Value(lit) => {
                fields.insert(param.name.to_owned(), literal::to_value(lit, origin));
            }
            Default::Derived(_) => {}
        }
    }
    let (axes, axes_ok) = axes_of(kind, &step.name.text, &fields, diags);
    (ok && axes_ok).then(|| CheckedStep {
        kind,
        name: step.name.text.clone(),
        inputs,
        fields,
        axes,
        origin,
    })
}

/// A step's fields as written, before type checks: the preset's, then the block's, then
/// `--set`'s (later ones win).
struct GatheredFields<'k> {
    written: BTreeMap<String, Value>,
    /// Fields whose value failed (already reported), not to be reported again as missing.
    attempted: Vec<&'k str>,
    /// A failed preset may have held any field, so none is reported as missing.
    preset_failed: bool,
    ok: bool,
}

fn gather_fields<'k>(
    root: FileId,
    step: &ast::Step,
    entry: &'k StepKindEntry,
    overrides: &[(&str, &Override)],
    evaluator: &mut Evaluator<'_>,
    diags: &mut Diagnostics,
) -> GatheredFields<'k> {
    let mut ok = true;
    let mut written: BTreeMap<String, Value> = BTreeMap::new();
    let mut attempted: Vec<&'k str> = Vec::new();
    let mut preset_failed = false;
    if let Some(preset) = &step.preset {
        let span = preset[0].span.to(preset[preset.len() - 1].span);
        let path = ast::Expr { kind: ast::ExprKind::Path(preset.clone()), span };
        match evaluator.eval(root, &path, None) {
            Some(Value { kind: ValueKind::Record(fields), .. }) => written.extend(fields),
            Some(other) => {
                diags.push(
                    Diagnostic::error(
                        root,
                        span,
                        format!(
                            "`from` takes a record of fields, and `{}` is {}",
                            ast::dotted(preset),
                            other.describe()
                        ),
                    )
                    .with_hint("a preset is written `let name = { field = value, ... }`"),
                );
                ok = false;
                preset_failed = true;
            }
            None => {
                ok = false;
                preset_failed = true;
            }
        }
    }
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for field in &step.fields {
        if let Some(first) = seen.insert(&field.name.text, field.name.span) {
            diags.push(
                Diagnostic::error(
                    root,
                    field.name.span,
                    format!("the field `{}` is written twice", field.name.text),
                )
                .also_at(root, first, "first written here"),
            );
            ok = false;
            continue;
        }
        let Some(param) = registry::param(entry.fields, &field.name.text) else {
            // A misspelt field is not also reported as missing.
            attempted.extend(did_you_mean::closest(
                &field.name.text,
                entry.fields.iter().map(|p| p.name),
            ));
            diags.push(unknown_field(root, field.name.span, &field.name.text, entry));
            ok = false;
            continue;
        };
        attempted.push(param.name);
        match evaluator.eval(root, &field.value, Some(&param.ty)) {
            Some(value) => {
                written.insert(field.name.text.clone(), value);
            }
            None => ok = false,
        }
    }
    for (field, over) in overrides {
        let Some(param) = registry::param(entry.fields, field) else {
            diags.push(unknown_field(over.file, over.target_span, field, entry));
            ok = false;
            continue;
        };
        attempted.push(param.name);
        match evaluator.eval_in(root, over.file, &over.value, Some(&param.ty)) {
            Some(value) => {
                written.insert((*field).to_owned(), value);
            }
            None => ok = false,
        }
    }

    GatheredFields { written, attempted, preset_failed, ok }
}

fn unknown_field(file: FileId, span: Span, name: &str, entry: &StepKindEntry) -> Diagnostic {
    let hint = did_you_mean::hint(name, entry.fields.iter().map(|p| p.name)).unwrap_or_else(|| {
        format!(
            "`{}` steps have: {}",
            entry.kind,
            entry.fields.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        )
    });
    Diagnostic::error(file, span, format!("`{}` steps have no field `{name}`", entry.kind))
        .with_hint(hint)
}

fn check_inputs(
    root: FileId,
    step: &ast::Step,
    entry: &StepKindEntry,
    steps: &[&ast::Step],
    index_of: &HashMap<&str, usize>,
    diags: &mut Diagnostics,
    ok: &mut bool,
) -> Vec<usize> {
    if entry.on.is_empty() && !step.inputs.is_empty() {
        let span = step.inputs[0].span.to(step.inputs[step.inputs.len() - 1].span);
        diags.push(
            Diagnostic::error(root, span, format!("`{}` steps do not take `on`", entry.kind))
                .with_hint(format!(
                    "`{}` steps start from their own fields; remove `on ...`",
                    entry.kind
                )),
        );
        *ok = false;
        return Vec::new();
    }
    if entry.needs_on && step.inputs.is_empty() {
        diags.push(
            Diagnostic::error(
                root,
                step.name.span,
                format!("`{} {}` needs `on STEP`", entry.kind, step.name.text),
            )
            .with_hint(format!(
                "name the step it reads: `{} {} on {} ...`",
                entry.kind,
                step.name.text,
                one_of(entry.on)
            )),
        );
        *ok = false;
    }
    let mut inputs = Vec::new();
    for input in &step.inputs {
        let Some(&index) = index_of.get(input.text.as_str()) else {
            let hint = did_you_mean::hint(&input.text, steps.iter().map(|s| s.name.text.as_str()));
            let mut d =
                Diagnostic::error(root, input.span, format!("there is no step `{}`", input.text));
            d.hint = hint;
            diags.push(d);
            *ok = false;
            continue;
        };
        let target = steps[index];
        // A target of an unknown kind is reported as such, not here.
        if StepKind::from_name(&target.kind.text).is_some_and(|kind| !entry.on.contains(&kind)) {
            diags.push(
                Diagnostic::error(
                    root,
                    input.span,
                    format!("`{}` steps cannot be `on` a `{}` step", entry.kind, target.kind.text),
                )
                .also_at(
                    root,
                    target.kind.span,
                    format!("`{}` is a `{}` step", target.name.text, target.kind.text),
                )
                .with_hint(format!(
                    "`{}` steps are `on` {}",
                    entry.kind,
                    one_of(entry.on)
                )),
            );
            *ok = false;
        }
        inputs.push(index);
    }
    inputs
}

/// A detection's `series` must be one its targets produce (the registry's `series`): refused
/// here, with the nearest name, rather than after the training and estimates it reads have run.
/// Targets whose series are not known (a `checkpoint`, a step that failed its own check) leave
/// the name to the run.
fn check_series(checked: &[Option<CheckedStep>], diags: &mut Diagnostics) {
    for step in checked.iter().flatten().filter(|s| s.kind == StepKind::Detect) {
        let Some(wanted) = step.fields.get("series") else { continue };
        let Some(produced) = produced_series(checked, &step.inputs) else { continue };
        let names: Vec<&Value> = match &wanted.kind {
            ValueKind::Sweep { values, .. } => values.iter().collect(),
            _ => vec![wanted],
        };
        for value in names {
            let ValueKind::Str(name) = &value.kind else { continue };
            if produced.contains(&name.as_str()) {
                continue;
            }
            let hint = did_you_mean::hint(name, produced.iter().copied()).unwrap_or_else(|| {
                format!("`{}`'s inputs produce: {}", step.name, produced.join(", "))
            });
            diags.push(
                Diagnostic::error(
                    value.origin.file,
                    value.origin.span,
                    format!("`{}` searches `{name}`, which its inputs do not produce", step.name),
                )
                .with_hint(hint),
            );
        }
    }
}

/// What the steps at `inputs` produce, if all of them are known.
fn produced_series(checked: &[Option<CheckedStep>], inputs: &[usize]) -> Option<Vec<&'static str>> {
    let mut produced: Vec<&'static str> = Vec::new();
    for &input in inputs {
        let target = checked.get(input)?.as_ref()?;
        match target.kind {
            StepKind::Train => produced.extend(registry::series::of_step_kind(target.kind)?),
            StepKind::Estimate => {
                for name in constructor_names(target.fields.get("observable")?) {
                    produced.extend(registry::series::of_observable(name)?);
                }
            }
            StepKind::Checkpoint | StepKind::Detect | StepKind::Report | StepKind::Test => {
                return None;
            }
        }
    }
    produced.sort_unstable();
    produced.dedup();
    Some(produced)
}

/// The constructor names of a value: its own, or each swept one's.
fn constructor_names(value: &Value) -> Vec<&'static str> {
    match &value.kind {
        ValueKind::Ctor { name, .. } => vec![name],
        ValueKind::Sweep { values, .. } => values.iter().flat_map(constructor_names).collect(),
        _ => Vec::new(),
    }
}

fn one_of(kinds: &[StepKind]) -> String {
    let words: Vec<String> = kinds.iter().map(|k| format!("`{k}`")).collect();
    match words.split_last() {
        Some((last, init)) if !init.is_empty() => format!("{} or {last} steps", init.join(", ")),
        Some((last, _)) => format!("{last} steps"),
        None => "no step".into(),
    }
}

/// Cycles among `on` references as written, whatever the steps' kinds, so a cycle is named as
/// such even when its steps have other errors too.
fn report_cycles(
    root: FileId,
    steps: &[&ast::Step],
    index_of: &HashMap<&str, usize>,
    diags: &mut Diagnostics,
) {
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
    for (index, step) in steps.iter().enumerate() {
        for input in &step.inputs {
            if let Some(&from) = index_of.get(input.text.as_str()) {
                graph.add_edge(nodes[from], nodes[index], ());
            }
        }
    }
    // Kosaraju's walk is iterative; Tarjan's in petgraph recurses once per step of a chain.
    for component in kosaraju_scc(&graph) {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let mut members: Vec<usize> = component.iter().map(|n| graph[*n]).collect();
        members.sort_unstable();
        let names: Vec<&str> = members.iter().map(|&i| steps[i].name.text.as_str()).collect();
        let first = steps[members[0]];
        let mut d = Diagnostic::error(
            root,
            first.name.span,
            format!("these steps depend on each other in a cycle: {}", cycle_text(&names)),
        )
        .with_hint("a step can only read steps that do not read it back; remove one `on`");
        for &other in &members[1..] {
            d = d.also_at(root, steps[other].name.span, "part of the cycle");
        }
        diags.push(d);
    }
}

fn cycle_text(names: &[&str]) -> String {
    let mut text = names.join(" -> ");
    text.push_str(" -> ");
    text.push_str(names[0]);
    text
}

/// Where a sweep sits in a step: its field, the arguments and list elements down to it.
#[derive(Clone)]
enum Segment {
    Name(String),
    Index(usize),
}

/// A path as written in a spec: `optimizer.lr`, `widths[1]`.
fn path_text(path: &[Segment]) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Name(name) if text.is_empty() => text.push_str(name),
            Segment::Name(name) => {
                text.push('.');
                text.push_str(name);
            }
            Segment::Index(index) => {
                let _ = write!(text, "[{index}]");
            }
        }
    }
    text
}

/// The end of a path that names it when nothing else in the step ends the same: its last name
/// and the indices after it (`lr`, `widths[1]`).
fn path_tail(path: &[Segment]) -> &[Segment] {
    let last_name = path.iter().rposition(|s| matches!(s, Segment::Name(_))).unwrap_or(0);
    &path[last_name..]
}

/// A sweep found in a step's fields: where, its values, the name the spec gave its axis, and
/// where it was written.
struct Found {
    path: Vec<Segment>,
    values: Vec<Value>,
    axis: Option<String>,
    origin: Origin,
}

/// The sweeps inside a step's fields, as its axes: each named as the spec names it (`axis =
/// "width"`), else by its path, the tail alone when that is unambiguous within the step (`lr`
/// rather than `optimizer.lr`, `widths[1]` for an element of a list). A report cannot be swept
/// (it gathers every sweep point of its inputs into one page), and two sweeps of one step
/// cannot share a name; both are reported, and `false` returned.
fn axes_of(
    kind: StepKind,
    step: &str,
    fields: &BTreeMap<String, Value>,
    diags: &mut Diagnostics,
) -> (Vec<Axis>, bool) {
    let mut found: Vec<Found> = Vec::new();
    for (name, value) in fields {
        collect_sweeps(value, &mut vec![Segment::Name(name.clone())], &mut found);
    }
    match kind {
        StepKind::Report => {
            for sweep in &found {
                diags.push(
                    Diagnostic::error(
                        sweep.origin.file,
                        sweep.origin.span,
                        format!("`report {step}` cannot sweep `{}`", path_text(&sweep.path)),
                    )
                    .label("a report is one page")
                    .with_hint(
                        "a report gathers every sweep point of its inputs into one page; for \
                         several pages, write one report step for each",
                    ),
                );
            }
            return (Vec::new(), found.is_empty());
        }
        StepKind::Train
        | StepKind::Checkpoint
        | StepKind::Estimate
        | StepKind::Detect
        | StepKind::Test => {}
    }
    let mut tails: HashMap<String, usize> = HashMap::new();
    for sweep in &found {
        *tails.entry(path_text(path_tail(&sweep.path))).or_default() += 1;
    }
    let axes: Vec<(Axis, Origin)> = found
        .into_iter()
        .map(|sweep| {
            let tail = path_text(path_tail(&sweep.path));
            let name = sweep
                .axis
                .clone()
                .unwrap_or_else(|| if tails[&tail] == 1 { tail } else { path_text(&sweep.path) });
            (Axis { name, values: sweep.values }, sweep.origin)
        })
        .collect();
    let mut ok = true;
    for (index, (axis, origin)) in axes.iter().enumerate() {
        if let Some((_, first)) = axes[..index].iter().find(|(a, _)| a.name == axis.name) {
            diags.push(
                Diagnostic::error(
                    origin.file,
                    origin.span,
                    format!("two sweeps of `{step}` name the axis `{}`", axis.name),
                )
                .also_at(first.file, first.span, "the first")
                .with_hint("give each its own `axis = \"...\"`: one axis, one name"),
            );
            ok = false;
        }
    }
    (axes.into_iter().map(|(axis, _)| axis).collect(), ok)
}

fn collect_sweeps(value: &Value, path: &mut Vec<Segment>, found: &mut Vec<Found>) {
    match &value.kind {
        ValueKind::Sweep { values, axis } => found.push(Found {
            path: path.clone(),
            values: values.clone(),
            axis: axis.clone(),
            origin: value.origin,
        }),
        ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
            for (name, inner) in fields {
                path.push(Segment::Name(name.clone()));
                collect_sweeps(inner, path, found);
                path.pop();
            }
        }
        ValueKind::List(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Segment::Index(index));
                collect_sweeps(item, path, found);
                path.pop();
            }
        }
        ValueKind::Int(_)
        | ValueKind::Float(_)
        | ValueKind::Str(_)
        | ValueKind::Bool(_)
        | ValueKind::Open { .. }
        | ValueKind::Auto
        | ValueKind::Enum(_)
        | ValueKind::File { .. } => {}
    }
}
