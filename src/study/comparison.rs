//! [`Comparison`]: two runs of one study side by side, as `devspec diff A B` shows them: the
//! parameters that differ, the instances only one run has, and per step each shared instance's
//! headline results (final losses, LLC with its standard error, other numbers, boundaries) with
//! the change.
//!
//! It is pure data built from two [`Lock`]s (a lock file, or a spec's current results seen as
//! one), so the CLI only loads, calls and prints:
//!
//! ```ignore
//! let comparison = Comparison::new("old.lock", &old, "study.dev.lock", &new);
//! print!("{}", comparison.to_table());
//! ```
//!
//! Instances are matched by name (`run[seed=0]`, `llc[seed=0]@100`). A parameter change is
//! reported once per parameter, not once per instance: a sweep of 50 seeds whose optimizer
//! changed is one line, and so is a model change that the estimates copy from their train.
//!
//! The JSON document (`--format json`) is this struct serialized; its shape, at
//! [`DIFF_SCHEMA_VERSION`] 1:
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "a": "old.lock", "b": "study.dev.lock",          // the paths as given
//!   "parameters": [                                  // each differing parameter once
//!     { "parameter": "optimizer",
//!       "steps": ["run"],                            // the steps it differs on, plan order
//!       "instances": 1,                              // how many instances, over those steps
//!       "changes": [ { "a": "sgd(..., lr = 0.1, ...)", "b": "sgd(..., lr = 0.05, ...)",
//!                      "instances": 1 } ] }          // each distinct change; null: absent
//!   ],
//!   "environment": [ ... ],                          // the key's environment parts, same shape
//!   "only_in_a": [ { "step": "llc", "instances": ["llc@8"] } ],
//!   "only_in_b": [ ... ],
//!   "steps": [
//!     { "step": "llc", "kind": "estimate",
//!       "rows": [
//!         { "instance": "llc@1",
//!           "same_key": false,                       // true: the identical computation
//!           "quantities": [
//!             { "name": "llc_mean", "a": 0.30, "b": 0.34, "a_se": 0.03, "b_se": 0.04,
//!               "change": 0.04, "percent": 13.3,     // change relative to |a|
//!               "standard_errors": 0.8 } ],          // |change| / sqrt(a_se² + b_se²)
//!           "boundaries": null } ] },                // a detection's: {a, b, appeared,
//!   ]                                                //   disappeared}
//! }
//! ```
//!
//! A number missing on one side is `null`, and so are the changes computed from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use devspec_protocol::StepKind;
use serde::Serialize;

use super::lock::{Headline, Lock, LockedInstance};

/// Bumped when the JSON's shape changes.
pub const DIFF_SCHEMA_VERSION: u32 = 1;

/// How many instance names a table lists before it says how many more.
const NAMES_SHOWN: usize = 3;

/// How many distinct changes of one parameter a table lists before it says how many more.
const CHANGES_SHOWN: usize = 5;

/// Two runs of a study compared; see the module's documentation for its JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub schema_version: u32,
    /// The first run's path, as given.
    pub a: String,
    /// The second run's path, as given.
    pub b: String,
    /// The parameters that differ between instances of the same name.
    pub parameters: Vec<ParameterChange>,
    /// The parts of the keys' environment that differ (libtorch, device, CPU kernels): a
    /// changed key with unchanged parameters often comes from here.
    pub environment: Vec<ParameterChange>,
    pub only_in_a: Vec<StepInstances>,
    pub only_in_b: Vec<StepInstances>,
    /// The instances in both runs, by step in plan order.
    pub steps: Vec<StepComparison>,
}

/// One parameter that differs, over all the instances (of one or more steps) it differs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterChange {
    /// Its name: `optimizer`.
    pub parameter: String,
    /// The steps whose instances it differs on, in plan order: `["run", "llc"]` for a model
    /// the estimates copy from their train.
    pub steps: Vec<String>,
    /// How many instances it differs on, over those steps.
    pub instances: usize,
    /// Each distinct change, most instances first; usually one.
    pub changes: Vec<ValueChange>,
}

/// One change of a parameter's value, as `.dev` text; `None` where that run lacks the parameter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ValueChange {
    pub a: Option<String>,
    pub b: Option<String>,
    pub instances: usize,
}

/// A step's instances that only one run has (a longer sweep, other checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepInstances {
    pub step: String,
    pub instances: Vec<String>,
}

/// A step's instances that both runs have.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepComparison {
    pub step: String,
    pub kind: StepKind,
    pub rows: Vec<InstanceComparison>,
}

/// One instance's headline results in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceComparison {
    pub instance: String,
    /// Whether both ran the identical computation (the same key): their results are then the
    /// same, unless the computation is not deterministic.
    pub same_key: bool,
    pub quantities: Vec<QuantityChange>,
    /// A detection's boundaries, when either run has them.
    pub boundaries: Option<BoundaryChange>,
}

/// One number of an instance in both runs, with the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantityChange {
    /// `final_train_loss`, `final_test_loss`, `llc_mean`, or an observable's number.
    pub name: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// The standard errors, for an LLC.
    pub a_se: Option<f64>,
    pub b_se: Option<f64>,
    /// b - a.
    pub change: Option<f64>,
    /// The change in percent of |a|; `None` when a is 0.
    pub percent: Option<f64>,
    /// `|change| / sqrt(a_se² + b_se²)`: how many combined standard errors the change is (under 2,
    /// it is within the estimates' noise).
    pub standard_errors: Option<f64>,
}

/// A detection's boundaries (`228-675 plateau`) in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundaryChange {
    pub a: Vec<String>,
    pub b: Vec<String>,
    /// In B, not in A.
    pub appeared: Vec<String>,
    /// In A, not in B.
    pub disappeared: Vec<String>,
}

impl Comparison {
    /// Compares two runs; `a_path` and `b_path` only label them.
    pub fn new(a_path: &str, a: &Lock, b_path: &str, b: &Lock) -> Comparison {
        let in_b: HashMap<&str, &LockedInstance> =
            b.instances.iter().map(|i| (i.name.as_str(), i)).collect();
        let in_a: HashMap<&str, &LockedInstance> =
            a.instances.iter().map(|i| (i.name.as_str(), i)).collect();
        let pairs: Vec<(&LockedInstance, &LockedInstance)> =
            a.instances.iter().filter_map(|x| Some((x, *in_b.get(x.name.as_str())?))).collect();
        let only = |lock: &Lock, other: &HashMap<&str, &LockedInstance>| {
            by_step(lock.instances.iter().filter(|i| !other.contains_key(i.name.as_str())))
        };
        Comparison {
            schema_version: DIFF_SCHEMA_VERSION,
            a: a_path.to_owned(),
            b: b_path.to_owned(),
            parameters: differences(&pairs, |i| &i.params),
            environment: differences(&pairs, |i| &i.environment),
            only_in_a: only(a, &in_b),
            only_in_b: only(b, &in_a),
            steps: steps(&pairs),
        }
    }

    /// Whether the runs are the same computations: the same instances, each with the same key.
    pub fn is_identical(&self) -> bool {
        self.parameters.is_empty()
            && self.environment.is_empty()
            && self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self.steps.iter().flat_map(|s| &s.rows).all(|row| row.same_key)
    }

    /// The comparison for people: the parameters that differ, the instances only one run has,
    /// then a table per step of the instances whose results differ (identical ones are counted,
    /// not listed).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let compared: usize = self.steps.iter().map(|s| s.rows.len()).sum();
        let _ = writeln!(out, "A: {}\nB: {}", self.a, self.b);
        if self.is_identical() {
            let _ = writeln!(
                out,
                "no differences: the same {} the same computations (same keys)",
                plural(compared, "instance")
            );
            return out;
        }
        for (title, changes) in
            [("parameters", &self.parameters), ("environment parts", &self.environment)]
        {
            if !changes.is_empty() {
                let _ = writeln!(out, "\n{title} that differ:");
                for change in changes {
                    render_parameter(&mut out, change);
                }
            }
        }
        for (title, only) in [("only in A", &self.only_in_a), ("only in B", &self.only_in_b)] {
            if !only.is_empty() {
                let _ = writeln!(out, "\n{title}:");
                for step in only {
                    let _ = writeln!(
                        out,
                        "  {}: {} ({})",
                        step.step,
                        plural(step.instances.len(), "instance"),
                        names(&step.instances)
                    );
                }
            }
        }
        for step in &self.steps {
            render_step(&mut out, step);
        }
        out
    }
}

/// The differences between the maps `field` picks from each pair, one entry per parameter
/// (merging the steps that share one set of changes), in the order first met.
fn differences<'l>(
    pairs: &[(&'l LockedInstance, &'l LockedInstance)],
    field: impl Fn(&'l LockedInstance) -> &'l BTreeMap<String, String>,
) -> Vec<ParameterChange> {
    // Per (step, parameter): each (a, b) change with its count.
    type Changes = BTreeMap<(Option<String>, Option<String>), usize>;
    let mut per_step: Vec<(&str, &str, Changes)> = Vec::new();
    for (x, y) in pairs {
        let (a, b) = (field(x), field(y));
        let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for name in names {
            let (va, vb) = (a.get(name), b.get(name));
            if va == vb {
                continue;
            }
            let position = per_step.iter().position(|(s, p, _)| *s == x.step && *p == name);
            let index = position.unwrap_or_else(|| {
                per_step.push((&x.step, name, Changes::new()));
                per_step.len() - 1
            });
            *per_step[index].2.entry((va.cloned(), vb.cloned())).or_default() += 1;
        }
    }
    let mut merged: Vec<(String, Vec<String>, Changes)> = Vec::new();
    for (step, parameter, changes) in per_step {
        let same =
            merged.iter_mut().find(|(p, _, c)| p == parameter && c.keys().eq(changes.keys()));
        match same {
            Some((_, steps, counts)) => {
                steps.push(step.to_owned());
                for (change, count) in changes {
                    *counts.entry(change).or_default() += count;
                }
            }
            None => merged.push((parameter.to_owned(), vec![step.to_owned()], changes)),
        }
    }
    merged
        .into_iter()
        .map(|(parameter, steps, counts)| {
            let mut changes: Vec<ValueChange> = counts
                .into_iter()
                .map(|((a, b), instances)| ValueChange { a, b, instances })
                .collect();
            changes.sort_by(|x, y| y.instances.cmp(&x.instances).then_with(|| x.cmp(y)));
            let instances = changes.iter().map(|c| c.instances).sum();
            ParameterChange { parameter, steps, instances, changes }
        })
        .collect()
}

/// Instances grouped by step, steps and instances in their order.
fn by_step<'l>(instances: impl Iterator<Item = &'l LockedInstance>) -> Vec<StepInstances> {
    let mut steps: Vec<StepInstances> = Vec::new();
    for instance in instances {
        match steps.iter_mut().find(|s| s.step == instance.step) {
            Some(step) => step.instances.push(instance.name.clone()),
            None => steps.push(StepInstances {
                step: instance.step.clone(),
                instances: vec![instance.name.clone()],
            }),
        }
    }
    steps
}

fn steps(pairs: &[(&LockedInstance, &LockedInstance)]) -> Vec<StepComparison> {
    let mut steps: Vec<StepComparison> = Vec::new();
    for (x, y) in pairs {
        let row = InstanceComparison {
            instance: x.name.clone(),
            same_key: x.key == y.key,
            quantities: quantities(&x.results, &y.results),
            boundaries: boundaries(&x.results, &y.results),
        };
        match steps.iter_mut().find(|s| s.step == x.step) {
            Some(step) => step.rows.push(row),
            None => {
                steps.push(StepComparison { step: x.step.clone(), kind: x.kind, rows: vec![row] });
            }
        }
    }
    steps
}

/// The numbers either run has, in a fixed order: losses, LLC, then other numbers by name.
fn quantities(a: &Headline, b: &Headline) -> Vec<QuantityChange> {
    let mut quantities = Vec::new();
    let fixed = [
        ("final_train_loss", a.final_train_loss, b.final_train_loss, None, None),
        ("final_test_loss", a.final_test_loss, b.final_test_loss, None, None),
        ("llc_mean", a.llc_mean, b.llc_mean, a.llc_se, b.llc_se),
    ];
    for (name, x, y, x_se, y_se) in fixed {
        if x.is_some() || y.is_some() {
            quantities.push(quantity(name, x, y, x_se, y_se));
        }
    }
    let others: BTreeSet<&String> = a.numbers.keys().chain(b.numbers.keys()).collect();
    for name in others {
        let (x, y) = (a.numbers.get(name).copied(), b.numbers.get(name).copied());
        quantities.push(quantity(name, x, y, None, None));
    }
    quantities
}

fn quantity(
    name: &str,
    a: Option<f64>,
    b: Option<f64>,
    a_se: Option<f64>,
    b_se: Option<f64>,
) -> QuantityChange {
    let change = a.zip(b).map(|(a, b)| b - a);
    let percent = a.zip(change).filter(|(a, _)| *a != 0.0).map(|(a, d)| 100.0 * d / a.abs());
    let combined = a_se.zip(b_se).map(|(x, y)| x.hypot(y)).filter(|se| *se > 0.0);
    let standard_errors = change.zip(combined).map(|(d, se)| d.abs() / se);
    QuantityChange { name: name.to_owned(), a, b, a_se, b_se, change, percent, standard_errors }
}

fn boundaries(a: &Headline, b: &Headline) -> Option<BoundaryChange> {
    if a.boundaries.is_none() && b.boundaries.is_none() {
        return None;
    }
    let (a, b) =
        (a.boundaries.clone().unwrap_or_default(), b.boundaries.clone().unwrap_or_default());
    let appeared = b.iter().filter(|x| !a.contains(x)).cloned().collect();
    let disappeared = a.iter().filter(|x| !b.contains(x)).cloned().collect();
    Some(BoundaryChange { a, b, appeared, disappeared })
}

impl InstanceComparison {
    /// Whether nothing about it differs: the same key and the same results.
    fn is_identical(&self) -> bool {
        self.same_key
            && self.quantities.iter().all(|q| q.a == q.b && q.a_se == q.b_se)
            && self.boundaries.as_ref().is_none_or(|b| b.a == b.b)
    }
}

fn render_parameter(out: &mut String, change: &ParameterChange) {
    let label: Vec<String> =
        change.steps.iter().map(|step| format!("{step}.{}", change.parameter)).collect();
    let label = label.join(", ");
    let count = plural(change.instances, "instance");
    let side = |value: &Option<String>| value.clone().unwrap_or_else(|| "(absent)".to_owned());
    if let [only] = change.changes.as_slice() {
        let (a, b) = abbreviated(&side(&only.a), &side(&only.b));
        let _ = writeln!(out, "  {label}: {a} -> {b}  ({count})");
        return;
    }
    let _ = writeln!(out, "  {label}: {count}, {} different changes:", change.changes.len());
    for value in change.changes.iter().take(CHANGES_SHOWN) {
        let (a, b) = abbreviated(&side(&value.a), &side(&value.b));
        let _ = writeln!(out, "    {a} -> {b}  ({})", plural(value.instances, "instance"));
    }
    if change.changes.len() > CHANGES_SHOWN {
        let _ = writeln!(out, "    and {} more", change.changes.len() - CHANGES_SHOWN);
    }
}

fn render_step(out: &mut String, step: &StepComparison) {
    let (identical, differing): (Vec<&InstanceComparison>, Vec<&InstanceComparison>) =
        step.rows.iter().partition(|row| row.is_identical());
    let _ = writeln!(
        out,
        "\n{} ({}): {} compared, {} changed",
        step.step,
        step.kind,
        plural(step.rows.len(), "instance"),
        differing.len()
    );
    let with_se = differing.iter().flat_map(|r| &r.quantities).any(|q| q.standard_errors.is_some());
    let mut header = vec!["instance", "key", "quantity", "A", "B", "change"];
    if with_se {
        header.push("SEs");
    }
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for row in &differing {
        let key = if row.same_key { "same" } else { "changed" };
        for q in &row.quantities {
            let decimals =
                decimals_for(q.a.into_iter().chain(q.b).map(f64::abs).fold(0.0, f64::max));
            let mut cells = vec![
                row.instance.clone(),
                key.to_owned(),
                q.name.clone(),
                value_cell(q.a, q.a_se, decimals),
                value_cell(q.b, q.b_se, decimals),
                change_cell(q, decimals),
            ];
            if with_se {
                cells.push(q.standard_errors.map_or_else(String::new, |s| format!("{s:.1}")));
            }
            table.push(cells);
        }
    }
    if table.len() > 1 {
        out.push_str(&crate::columns::align(&table, "  "));
    }
    // Checkpoints and reports have no headline numbers: their key says whether they changed.
    for row in differing.iter().filter(|r| r.quantities.is_empty() && r.boundaries.is_none()) {
        let what = if row.same_key { "the same key, other outputs" } else { "its key changed" };
        let _ = writeln!(out, "  {}: {what} (no headline numbers to compare)", row.instance);
    }
    for row in &differing {
        if let Some(b) = &row.boundaries {
            let list =
                |xs: &[String]| if xs.is_empty() { "none".to_owned() } else { xs.join(", ") };
            if b.a == b.b {
                let _ = writeln!(out, "  {} boundaries: the same ({})", row.instance, list(&b.a));
            } else {
                let _ = writeln!(out, "  {} boundaries:", row.instance);
                let _ = writeln!(out, "    A: {}\n    B: {}", list(&b.a), list(&b.b));
                let _ = writeln!(
                    out,
                    "    appeared: {}; disappeared: {}",
                    list(&b.appeared),
                    list(&b.disappeared)
                );
            }
        }
    }
    if !identical.is_empty() {
        let names: Vec<String> = identical.iter().map(|r| r.instance.clone()).collect();
        let _ = writeln!(
            out,
            "  identical (same key and results): {} ({})",
            plural(names.len(), "instance"),
            self::names(&names)
        );
    }
}

/// Decimals that show a number of this size with four significant digits (at most 10).
fn decimals_for(magnitude: f64) -> usize {
    if magnitude == 0.0 || !magnitude.is_finite() {
        return 4;
    }
    // Bounded to [0, 10] first, so the cast is exact.
    let decimals = (3.0 - magnitude.log10().floor()).clamp(0.0, 10.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = decimals as usize;
    decimals
}

fn value_cell(value: Option<f64>, se: Option<f64>, decimals: usize) -> String {
    match (value, se) {
        (None, _) => "-".to_owned(),
        (Some(v), None) => format!("{v:.decimals$}"),
        (Some(v), Some(se)) => format!("{v:.decimals$} ± {se:.decimals$}"),
    }
}

/// The change at the values' precision, or finer when it is smaller than that shows (two
/// significant digits), then its percentage.
fn change_cell(q: &QuantityChange, decimals: usize) -> String {
    let Some(change) = q.change else { return String::new() };
    if change == 0.0 {
        return "0".to_owned();
    }
    let decimals = decimals.max(decimals_for(change.abs()).saturating_sub(2));
    let mut cell =
        if decimals >= 10 { format!("{change:+.1e}") } else { format!("{change:+.decimals$}") };
    if let Some(percent) = q.percent {
        let _ = write!(cell, " ({percent:+.1}%)");
    }
    cell
}

/// A few names, then how many more.
fn names(names: &[String]) -> String {
    // "and 1 more" would take the place of the name it stands for.
    let shown = if names.len() == NAMES_SHOWN + 1 { names.len() } else { NAMES_SHOWN };
    let mut text = names.iter().take(shown).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > shown {
        let _ = write!(text, ", and {} more", names.len() - shown);
    }
    text
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// Two values of a parameter with what they share left out: constructor calls with the same
/// name and arguments keep only the arguments that differ (recursively), the rest shown as
/// `...`, so `sgd(decay_factor = 0.1, lr = 0.1, momentum = 0.0)` against the same with
/// `lr = 0.05` reads `sgd(lr = 0.1, ...) -> sgd(lr = 0.05, ...)`. Other values stay whole.
fn abbreviated(a: &str, b: &str) -> (String, String) {
    let (Some((head_a, args_a)), Some((head_b, args_b))) = (call(a), call(b)) else {
        return (a.to_owned(), b.to_owned());
    };
    let (args_a, args_b): (Vec<_>, Vec<_>) =
        (args_a.iter().map(|x| named(x)).collect(), args_b.iter().map(|x| named(x)).collect());
    let same_shape = head_a == head_b
        && args_a.len() == args_b.len()
        && args_a.iter().zip(&args_b).all(|((x, _), (y, _))| x == y);
    if !same_shape {
        return (a.to_owned(), b.to_owned());
    }
    let (mut kept_a, mut kept_b) = (Vec::new(), Vec::new());
    for ((name, x), (_, y)) in args_a.iter().zip(&args_b) {
        if x == y {
            continue;
        }
        let (x, y) = abbreviated(x, y);
        let prefix = if name.is_empty() { String::new() } else { format!("{name} = ") };
        kept_a.push(format!("{prefix}{x}"));
        kept_b.push(format!("{prefix}{y}"));
    }
    if kept_a.len() < args_a.len() {
        kept_a.push("...".to_owned());
        kept_b.push("...".to_owned());
    }
    (format!("{head_a}({})", kept_a.join(", ")), format!("{head_b}({})", kept_b.join(", ")))
}

/// An argument as its name (empty when positional) and its value.
fn named(arg: &str) -> (&str, &str) {
    arg.split_once(" = ").unwrap_or(("", arg))
}

/// `name(arg, arg)` as its name and its top-level arguments; `None` for anything else.
fn call(text: &str) -> Option<(&str, Vec<&str>)> {
    let open = text.find('(')?;
    let head = &text[..open];
    let valid = !head.is_empty()
        && head.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && text.ends_with(')');
    if !valid {
        return None;
    }
    let inner = &text[open + 1..text.len() - 1];
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
    let mut args = Vec::new();
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth < 0 {
                    // `f(x)(y)` or `f(x) + g(y)`: not one call.
                    return None;
                }
            }
            ',' if depth == 0 => {
                args.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || quoted {
        return None;
    }
    let last = inner[start..].trim();
    if !last.is_empty() {
        args.push(last);
    }
    Some((head, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::lock::{LOCK_FORMAT, ProducedBy};

    fn instance(
        name: &str,
        step: &str,
        kind: StepKind,
        key: &str,
        params: &[(&str, &str)],
    ) -> LockedInstance {
        LockedInstance {
            name: name.to_owned(),
            step: step.to_owned(),
            kind,
            key: key.to_owned(),
            params: params.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            outputs: BTreeMap::new(),
            results: Headline::default(),
            environment: [("device".to_owned(), "cpu".to_owned())].into(),
            produced_by: ProducedBy { devspec: "0.1.0".to_owned(), commit: String::new() },
        }
    }

    fn lock(instances: Vec<LockedInstance>) -> Lock {
        Lock { format: LOCK_FORMAT, spec: "study.dev".to_owned(), bindings: Vec::new(), instances }
    }

    const SGD: &str = "sgd(decay_factor = 0.1, lr = 0.1, momentum = 0.0)";
    const SGD_SLOW: &str = "sgd(decay_factor = 0.1, lr = 0.05, momentum = 0.0)";

    /// A sweep of three seeds: each train and one estimate of it.
    fn study(optimizer: &str, model: &str, key: &str) -> Lock {
        let mut instances = Vec::new();
        for seed in 0..3 {
            let run = format!("run[seed={seed}]");
            let params = [("optimizer", optimizer), ("model", model)];
            let mut train =
                instance(&run, "run", StepKind::Train, &format!("{key}{seed}"), &params);
            train.results.final_train_loss = Some(0.5);
            instances.push(train);
            let mut llc = instance(
                &format!("llc[seed={seed}]@100"),
                "llc",
                StepKind::Estimate,
                &format!("{key}{seed}@100"),
                &[("model", model)],
            );
            llc.results.llc_mean = Some(0.30);
            llc.results.llc_se = Some(0.03);
            instances.push(llc);
        }
        lock(instances)
    }

    #[test]
    fn a_changed_parameter_is_reported_once_over_its_instances() {
        let a = study(SGD, "tms.model(hidden = 2)", "k");
        let b = study(SGD_SLOW, "tms.model(hidden = 2)", "j");
        let comparison = Comparison::new("a.lock", &a, "b.lock", &b);
        assert_eq!(
            comparison.parameters,
            vec![ParameterChange {
                parameter: "optimizer".to_owned(),
                steps: vec!["run".to_owned()],
                instances: 3,
                changes: vec![ValueChange {
                    a: Some(SGD.to_owned()),
                    b: Some(SGD_SLOW.to_owned()),
                    instances: 3
                }],
            }]
        );
        assert!(comparison.only_in_a.is_empty() && comparison.only_in_b.is_empty());
        assert!(!comparison.is_identical());
        let table = comparison.to_table();
        assert!(
            table.contains(
                "  run.optimizer: sgd(lr = 0.1, ...) -> sgd(lr = 0.05, ...)  (3 instances)\n"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_model_the_estimates_copy_is_one_parameter_on_both_steps() {
        let a = study(SGD, "tms.model(hidden = 2)", "k");
        let b = study(SGD, "tms.model(hidden = 3)", "j");
        let comparison = Comparison::new("a.lock", &a, "b.lock", &b);
        assert_eq!(comparison.parameters.len(), 1, "{:?}", comparison.parameters);
        let model = &comparison.parameters[0];
        assert_eq!(model.steps, ["run", "llc"]);
        assert_eq!(model.instances, 6);
        assert!(
            comparison.to_table().contains(
                "  run.model, llc.model: tms.model(hidden = 2) -> tms.model(hidden = 3)  (6 \
                 instances)\n"
            ),
            "{}",
            comparison.to_table()
        );
    }

    #[test]
    fn values_that_differ_across_instances_are_listed_with_their_counts() {
        let a = study(SGD, "m", "k");
        let mut b = study(SGD, "m", "k");
        b.instances[0].params.insert("optimizer".to_owned(), SGD_SLOW.to_owned());
        b.instances[2].params.insert("optimizer".to_owned(), "adam(lr = 0.1)".to_owned());
        b.instances[4].params.insert("optimizer".to_owned(), "adam(lr = 0.1)".to_owned());
        let comparison = Comparison::new("a", &a, "b", &b);
        let changes = &comparison.parameters[0].changes;
        assert_eq!(comparison.parameters[0].instances, 3);
        assert_eq!(
            changes.iter().map(|c| (c.b.as_deref().unwrap(), c.instances)).collect::<Vec<_>>(),
            [("adam(lr = 0.1)", 2), (SGD_SLOW, 1)]
        );
        let table = comparison.to_table();
        assert!(table.contains("  run.optimizer: 3 instances, 2 different changes:\n"), "{table}");
        assert!(
            table.contains(&format!("    {SGD} -> adam(lr = 0.1)  (2 instances)\n")),
            "{table}"
        );
    }

    #[test]
    fn instances_only_in_one_run_are_listed_by_step() {
        let a = study(SGD, "m", "k");
        let mut b = study(SGD, "m", "k");
        // B's sweep is longer by a seed, and lost seed 0's estimate.
        b.instances.remove(1);
        b.instances.push(instance("run[seed=3]", "run", StepKind::Train, "k3", &[]));
        let comparison = Comparison::new("a", &a, "b", &b);
        let only = |step: &str, names: &[&str]| {
            vec![StepInstances {
                step: step.to_owned(),
                instances: names.iter().map(|n| (*n).to_owned()).collect(),
            }]
        };
        assert_eq!(comparison.only_in_a, only("llc", &["llc[seed=0]@100"]));
        assert_eq!(comparison.only_in_b, only("run", &["run[seed=3]"]));
        assert!(comparison.parameters.is_empty());
        let table = comparison.to_table();
        assert!(table.contains("only in A:\n  llc: 1 instance (llc[seed=0]@100)\n"), "{table}");
        assert!(table.contains("only in B:\n  run: 1 instance (run[seed=3])\n"), "{table}");
    }

    #[test]
    fn an_llc_change_is_measured_in_combined_standard_errors() {
        let mut a = lock(vec![instance("llc@100", "llc", StepKind::Estimate, "k", &[])]);
        let mut b = lock(vec![instance("llc@100", "llc", StepKind::Estimate, "j", &[])]);
        (a.instances[0].results.llc_mean, a.instances[0].results.llc_se) = (Some(0.30), Some(0.03));
        (b.instances[0].results.llc_mean, b.instances[0].results.llc_se) = (Some(0.34), Some(0.04));
        let comparison = Comparison::new("a", &a, "b", &b);
        let row = &comparison.steps[0].rows[0];
        assert!(!row.same_key);
        let llc = &row.quantities[0];
        assert_eq!(llc.name, "llc_mean");
        // The change is 0.04; the combined standard error sqrt(0.03² + 0.04²) = 0.05; so 0.8
        // standard errors. 1e-12: the rounding of 0.34 - 0.30 and of the square root.
        assert!((llc.change.unwrap() - 0.04).abs() < 1e-12);
        assert!((llc.standard_errors.unwrap() - 0.8).abs() < 1e-12);
        assert!((llc.percent.unwrap() - 40.0 / 3.0).abs() < 1e-9);
        let table = comparison.to_table();
        assert!(table.contains("0.3000 ± 0.0300"), "{table}");
        assert!(table.contains("0.3400 ± 0.0400"), "{table}");
        assert!(table.contains("+0.0400 (+13.3%)"), "{table}");
        assert!(table.contains("  0.8\n"), "{table}");
    }

    #[test]
    fn boundaries_that_appeared_and_disappeared() {
        let mut a = lock(vec![instance("stages", "stages", StepKind::Detect, "k", &[])]);
        let mut b = lock(vec![instance("stages", "stages", StepKind::Detect, "j", &[])]);
        let list = |xs: &[&str]| Some(xs.iter().map(|x| (*x).to_owned()).collect());
        a.instances[0].results.boundaries = list(&["1-8 plateau", "8-63 plateau"]);
        b.instances[0].results.boundaries = list(&["8-63 plateau", "63-500 loss_drop"]);
        let comparison = Comparison::new("a", &a, "b", &b);
        let boundaries = comparison.steps[0].rows[0].boundaries.as_ref().unwrap();
        assert_eq!(boundaries.appeared, ["63-500 loss_drop"]);
        assert_eq!(boundaries.disappeared, ["1-8 plateau"]);
        let table = comparison.to_table();
        assert!(
            table.contains("    appeared: 63-500 loss_drop; disappeared: 1-8 plateau\n"),
            "{table}"
        );
    }

    #[test]
    fn identical_runs_have_no_differences() {
        let a = study(SGD, "m", "k");
        let comparison = Comparison::new("a", &a, "b", &a.clone());
        assert!(comparison.is_identical());
        assert!(comparison.steps.iter().flat_map(|s| &s.rows).all(|r| r.same_key));
        assert_eq!(
            comparison.to_table(),
            "A: a\nB: b\nno differences: the same 6 instances the same computations (same keys)\n"
        );
    }

    #[test]
    fn the_json_has_its_documented_shape() {
        let a = study(SGD, "m", "k");
        let b = study(SGD_SLOW, "m", "j");
        let json = serde_json::to_value(Comparison::new("a", &a, "b", &b)).unwrap();
        assert_eq!(json["schema_version"], DIFF_SCHEMA_VERSION);
        assert_eq!(json["parameters"][0]["changes"][0]["b"], SGD_SLOW);
        let llc = &json["steps"][1];
        assert_eq!(llc["step"], "llc");
        assert_eq!(llc["rows"][0]["quantities"][0]["standard_errors"], 0.0);
        assert!(llc["rows"][0]["boundaries"].is_null());
        for field in ["a", "b", "a_se", "b_se", "change", "percent", "standard_errors"] {
            assert!(llc["rows"][0]["quantities"][0].get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn abbreviation_keeps_only_the_arguments_that_differ() {
        let a =
            "llc(chains = 2, sampler = sgld(localization = 100.0, lr = 0.003), tags = [\"a, b\"])";
        let b =
            "llc(chains = 2, sampler = sgld(localization = 100.0, lr = 0.001), tags = [\"a, b\"])";
        assert_eq!(
            abbreviated(a, b),
            (
                "llc(sampler = sgld(lr = 0.003, ...), ...)".to_owned(),
                "llc(sampler = sgld(lr = 0.001, ...), ...)".to_owned()
            )
        );
        // Different constructors, or not calls: whole.
        assert_eq!(abbreviated("sgd(lr = 0.1)", "adam(lr = 0.1)").1, "adam(lr = 0.1)");
        assert_eq!(abbreviated("256", "128"), ("256".to_owned(), "128".to_owned()));
        assert_eq!(call("f(x) + g(y)"), None);
    }
}
