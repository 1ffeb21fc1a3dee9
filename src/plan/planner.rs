//! Expands a checked [`Program`] into the DAG of step [`Instance`]s: one train instance per
//! sweep point, emitting a checkpoint per checkpoint step; one estimate instance per checkpoint
//! it reads (`at`); one detect instance per sweep point; one report instance joining every
//! sweep point. Axes are joined by name across `on`: same-named axes are matched, others
//! multiplied.

use std::collections::{BTreeMap, HashMap, HashSet};

use devspec_protocol::{StepKind, params};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::compile::value::{Value, ValueKind};
use crate::compile::{Axis, CheckedStep, Program, schedule};
use crate::diagnostic::Diagnostic;

use super::checkpoint_files;
use super::instance::{Coordinate, Instance, Output};
use super::{Dependency, Plan};

/// One sweep point: a value per axis, in axis order.
type Point = Vec<Coordinate>;

/// What a planned step offers the steps `on` it: its points, and the instances at each.
struct PlannedStep {
    points: Vec<(Point, Vec<NodeIndex>)>,
}

pub fn plan(program: &Program) -> Result<Plan, Vec<Diagnostic>> {
    // Nothing is planned while a value is open: every verb that plans says which to bind.
    let open = open_params(program);
    if !open.is_empty() {
        return Err(open);
    }
    // Refused before any instance is made: a plan too large to make, or beyond any machine.
    let too_large = super::size_limits::check(program);
    if !too_large.is_empty() {
        return Err(too_large);
    }
    let mut graph: DiGraph<Instance, Dependency> = DiGraph::new();
    let mut planned: Vec<Option<PlannedStep>> = (0..program.steps.len()).map(|_| None).collect();
    let mut errors = Vec::new();
    for index in step_order(program) {
        let step = &program.steps[index];
        let inputs: Vec<&PlannedStep> =
            step.inputs.iter().filter_map(|&input| planned[input].as_ref()).collect();
        let result = match Layout::of(step) {
            Layout::Joined => Ok(plan_report(index, step, &inputs, &mut graph)),
            Layout::Fanned(fan) => plan_fanned(index, step, fan, &inputs, &mut graph),
        };
        match result {
            Ok(done) => planned[index] = Some(done),
            Err(more) => {
                // Every sweep point of a step makes the same mistake: say it once.
                for error in more {
                    if !errors.contains(&error) {
                        errors.push(error);
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Instances are added step by step in dependency order, each after its inputs, so creation
    // order is a topological order, and the one that reads like the spec.
    let order = graph.node_indices().collect();
    let step_inputs = program.steps.iter().map(|step| step.inputs.clone()).collect();
    Ok(Plan { graph, order, step_inputs, bound: program.bound.clone() })
}

/// One diagnostic per open parameter, at its declaration: its name, type and doc, and how to
/// bind it.
fn open_params(program: &Program) -> Vec<Diagnostic> {
    program
        .params()
        .iter()
        .zip(&program.param_origins)
        .filter(|(param, _)| !param.bound)
        .map(|(param, origin)| {
            let doc = param.doc.as_deref().map_or_else(String::new, |doc| format!(": {doc}"));
            let example = match param.ty {
                crate::compile::ParamType::Files => "\"runs/*.safetensors\"",
                crate::compile::ParamType::File => "\"path/to/file\"",
                crate::compile::ParamType::Model => "\"tms.model(features = 5, hidden = 2)\"",
                crate::compile::ParamType::Data => "\"tms.data(features = 5)\"",
                crate::compile::ParamType::Number => "0.5",
                crate::compile::ParamType::Integer => "8",
                crate::compile::ParamType::String => "text",
                crate::compile::ParamType::Boolean => "true",
            };
            Diagnostic::error(
                origin.file,
                origin.span,
                format!("the parameter `{}` ({}) is not bound{doc}", param.name, param.ty),
            )
            .label(format!("`param {}: {}` needs a value to plan", param.name, param.ty))
            .with_hint(format!(
                "give it one: `--bind {}={example}` (or a `--bind-file` TOML table)",
                param.name
            ))
        })
        .collect()
}

/// How a step's instances are made and joined to its inputs' instances (also how
/// `size_limits` counts them).
#[derive(Debug, Clone, Copy)]
pub(super) enum Layout {
    /// Instances per sweep point (and checkpoint).
    Fanned(Fan),
    /// One instance on every instance of its inputs.
    Joined,
}

/// What a fanned step's instances are at each sweep point.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fan {
    /// One training run, with a checkpoint output per checkpoint step.
    Trains,
    /// One instance per checkpoint file, or one at the weights given.
    Imports,
    /// One instance per checkpoint of its inputs that `at` selects.
    Measures,
    /// One instance on its inputs' results at this point.
    Reads,
}

impl Layout {
    pub(super) fn of(step: &CheckedStep) -> Layout {
        match step.kind {
            StepKind::Train => Layout::Fanned(Fan::Trains),
            StepKind::Checkpoint => Layout::Fanned(Fan::Imports),
            StepKind::Estimate => Layout::Fanned(Fan::Measures),
            StepKind::Report => Layout::Joined,
            // The test kind takes either role on request, so the executor's streaming is tested
            // without numerical steps.
            StepKind::Test if step.fields.contains_key("checkpoints") => {
                Layout::Fanned(Fan::Trains)
            }
            StepKind::Test if step.fields.contains_key("at") => Layout::Fanned(Fan::Measures),
            StepKind::Detect | StepKind::Test => Layout::Fanned(Fan::Reads),
        }
    }
}

/// Steps in an order where every step comes after the steps it is `on` (the checker has
/// refused cycles), file order among independent ones.
pub(super) fn step_order(program: &Program) -> Vec<usize> {
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<NodeIndex> = (0..program.steps.len()).map(|i| graph.add_node(i)).collect();
    for (index, step) in program.steps.iter().enumerate() {
        for &input in &step.inputs {
            graph.add_edge(nodes[input], nodes[index], ());
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    let mut placed = vec![false; nodes.len()];
    // Repeatedly take the first step (in file order) whose inputs are all placed: a stable
    // topological order, so plans list steps as the file does wherever it can.
    while order.len() < nodes.len() {
        let next = (0..nodes.len())
            .find(|&i| !placed[i] && program.steps[i].inputs.iter().all(|&input| placed[input]))
            .expect("the checker refuses dependency cycles");
        placed[next] = true;
        order.push(next);
    }
    order
}

/// Joins two points if they agree on every axis they share.
fn merge(a: &[Coordinate], b: &[Coordinate]) -> Option<Point> {
    let mut merged = a.to_vec();
    for coordinate in b {
        match merged.iter().find(|c| c.axis == coordinate.axis) {
            Some(existing) if same_value(&existing.value, &coordinate.value) => {}
            Some(_) => return None,
            None => merged.push(coordinate.clone()),
        }
    }
    Some(merged)
}

/// Values are compared by their canonical text: where they were written does not matter.
fn same_value(a: &Value, b: &Value) -> bool {
    a.to_string() == b.to_string()
}

/// The cartesian product of a step's own axes.
fn own_points(step: &CheckedStep) -> Vec<Point> {
    let mut points: Vec<Point> = vec![Vec::new()];
    for axis in &step.axes {
        points = points
            .into_iter()
            .flat_map(|point| {
                axis.values.iter().map(move |value| {
                    let mut next = point.clone();
                    next.push(Coordinate { axis: axis.name.clone(), value: value.clone() });
                    next
                })
            })
            .collect();
    }
    points
}

/// The points of a step `on` others: every consistent combination of its inputs' points,
/// times its own axes (an own axis named like an inherited one is matched, not multiplied).
/// Each input's points are looked up by their values on the shared axes, so joining is linear
/// in the points, not quadratic: a plan near the size limit is made in seconds.
fn joined_points(step: &CheckedStep, inputs: &[&PlannedStep]) -> Vec<Point> {
    let mut points: Vec<Point> = vec![Vec::new()];
    for input in inputs {
        let index = PointIndex::new(input, &axis_names(points.first()));
        let mut seen = HashSet::new();
        let mut next: Vec<Point> = Vec::new();
        for point in &points {
            for (other, _) in index.matching(point) {
                if let Some(merged) = merge(point, other)
                    && seen.insert(point_key(&merged, &axis_names(Some(&merged))))
                {
                    next.push(merged);
                }
            }
        }
        points = next;
    }
    let own = own_points(step);
    points.iter().flat_map(|point| own.iter().filter_map(|mine| merge(point, mine))).collect()
}

/// The axis names of a point (every point of a step has the same ones).
fn axis_names(point: Option<&Point>) -> Vec<String> {
    point.map(|point| point.iter().map(|c| c.axis.clone()).collect()).unwrap_or_default()
}

/// A point's values on `axes`, as canonical text: equal keys, equal values there.
fn point_key(point: &[Coordinate], axes: &[String]) -> String {
    let mut key = String::new();
    for axis in axes {
        if let Some(coordinate) = point.iter().find(|c| c.axis == *axis) {
            key.push_str(&coordinate.value.to_string());
        }
        key.push('\0');
    }
    key
}

/// An input's points, by their values on the axes they share with the points that ask.
struct PointIndex<'a> {
    input: &'a PlannedStep,
    shared: Vec<String>,
    by_key: HashMap<String, Vec<usize>>,
}

impl<'a> PointIndex<'a> {
    /// `asking`: the axes of the points that will ask.
    fn new(input: &'a PlannedStep, asking: &[String]) -> Self {
        let theirs = axis_names(input.points.first().map(|(point, _)| point));
        let shared: Vec<String> = theirs.into_iter().filter(|a| asking.contains(a)).collect();
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, (point, _)) in input.points.iter().enumerate() {
            by_key.entry(point_key(point, &shared)).or_default().push(at);
        }
        PointIndex { input, shared, by_key }
    }

    /// The input's points that agree with `point` on every axis they share.
    fn matching(
        &self,
        point: &[Coordinate],
    ) -> impl Iterator<Item = &'a (Point, Vec<NodeIndex>)> + use<'a, '_> {
        let input = self.input;
        let found = self.by_key.get(&point_key(point, &self.shared));
        found.into_iter().flatten().map(move |&at| &input.points[at])
    }

    /// The instances of the input at (or compatible with) `point`.
    fn instances_at(&self, point: &[Coordinate]) -> Vec<NodeIndex> {
        self.matching(point).flat_map(|(_, nodes)| nodes.iter().copied()).collect()
    }
}

/// Train, checkpoint, estimate and detect steps: instances per sweep point.
fn plan_fanned(
    index: usize,
    step: &CheckedStep,
    fan: Fan,
    inputs: &[&PlannedStep],
    graph: &mut DiGraph<Instance, Dependency>,
) -> Result<PlannedStep, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut points = Vec::new();
    let joined = joined_points(step, inputs);
    let axes = axis_names(joined.first());
    let indexes: Vec<PointIndex> =
        inputs.iter().map(|input| PointIndex::new(input, &axes)).collect();
    for point in joined {
        let params = resolve_sweeps(step, &point);
        let new = Instance {
            step: index,
            step_name: step.name.clone(),
            kind: step.kind,
            coords: point.clone(),
            checkpoint: None,
            params,
            outputs: vec![Output::Result],
        };
        let nodes = match fan {
            Fan::Trains => match train_checkpoints(step, &new.params) {
                Ok(steps) => {
                    let mut instance = new;
                    instance.outputs =
                        steps.into_iter().map(Output::Checkpoint).chain([Output::Result]).collect();
                    vec![graph.add_node(instance)]
                }
                Err(error) => {
                    errors.push(*error);
                    Vec::new()
                }
            },
            Fan::Imports => match checkpoint_files::discover(step) {
                // Checkpoints given as weights are one checkpoint, at step 0.
                Ok(None) => {
                    let mut instance = new;
                    instance.outputs = vec![Output::Checkpoint(0), Output::Result];
                    vec![graph.add_node(instance)]
                }
                // Files: one instance per file, at the training step its name gives.
                Ok(Some(files)) => files
                    .into_iter()
                    .map(|file| {
                        let mut instance = new.clone();
                        let origin = step.fields["files"].origin;
                        instance.params.insert(
                            "files".into(),
                            Value {
                                kind: ValueKind::File { written: file.written, path: file.path },
                                origin,
                            },
                        );
                        instance.params.insert(
                            "step".into(),
                            Value { kind: ValueKind::Int(file.step), origin },
                        );
                        instance.checkpoint = Some(file.step);
                        instance.outputs = vec![Output::Checkpoint(file.step), Output::Result];
                        graph.add_node(instance)
                    })
                    .collect(),
                Err(error) => {
                    errors.push(*error);
                    Vec::new()
                }
            },
            Fan::Measures => match plan_estimate(step, &new, &indexes, &point, graph) {
                Ok(nodes) => nodes,
                Err(error) => {
                    errors.push(*error);
                    Vec::new()
                }
            },
            Fan::Reads => {
                let node = graph.add_node(new);
                for index in &indexes {
                    for source in index.instances_at(&point) {
                        graph.add_edge(source, node, Dependency { output: Output::Result });
                    }
                }
                vec![node]
            }
        };
        points.push((point, nodes));
    }
    if errors.is_empty() { Ok(PlannedStep { points }) } else { Err(errors) }
}

/// One estimate instance per checkpoint of each upstream instance that `at` selects.
fn plan_estimate(
    step: &CheckedStep,
    template: &Instance,
    inputs: &[PointIndex],
    point: &[Coordinate],
    graph: &mut DiGraph<Instance, Dependency>,
) -> Result<Vec<NodeIndex>, Box<Diagnostic>> {
    let mut nodes = Vec::new();
    for input in inputs {
        // `at` selects among the checkpoints of all the input's instances at this point: one
        // training run's, or the files of an imported checkpoint step (an instance each).
        let sources: Vec<(NodeIndex, Vec<i64>)> = input
            .instances_at(point)
            .into_iter()
            .map(|source| {
                let steps = graph[source]
                    .outputs
                    .iter()
                    .filter_map(|output| match output {
                        Output::Checkpoint(step) => Some(*step),
                        Output::Result => None,
                    })
                    .collect();
                (source, steps)
            })
            .collect();
        let mut available: Vec<i64> = sources.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        available.sort_unstable();
        available.dedup();
        let chosen = select_checkpoints(step, &available)?;
        for (source, steps) in sources {
            for checkpoint in steps.into_iter().filter(|c| chosen.contains(c)) {
                let mut instance = template.clone();
                instance.checkpoint = Some(checkpoint);
                if matches!(instance.kind, StepKind::Estimate) {
                    inherit_model_and_data(&mut instance.params, &graph[source].params);
                }
                let node = graph.add_node(instance);
                graph.add_edge(source, node, Dependency { output: Output::Checkpoint(checkpoint) });
                nodes.push(node);
            }
        }
    }
    Ok(nodes)
}

/// What an estimate needs of the step whose checkpoints it measures: the model (to read the
/// checkpoint), the data and loss (of the posterior it samples), the training batch size (for
/// `nbeta = auto`) and the dtype unless it sets its own. They enter its key with its own fields,
/// so another data set is another estimate, while more training steps are not.
pub(super) fn inherit_model_and_data(
    params: &mut BTreeMap<String, Value>,
    source: &BTreeMap<String, Value>,
) {
    for (from, to) in [
        ("model", "model"),
        ("data", "data"),
        ("loss", "loss"),
        ("test_fraction", "test_fraction"),
        ("batch_size", "train_batch_size"),
        // Data seeds left out are the training step's own.
        ("seed", "train_seed"),
        ("dtype", "dtype"),
    ] {
        if let Some(value) = source.get(from) {
            params.entry(to.to_owned()).or_insert_with(|| value.clone());
        }
    }
}

/// The checkpoints an estimate's `at` selects from those its input offers.
fn select_checkpoints(step: &CheckedStep, available: &[i64]) -> Result<Vec<i64>, Box<Diagnostic>> {
    let Some(at) = step.fields.get("at") else { return Ok(available.to_vec()) };
    let wanted = match at.typed::<params::At>() {
        // `all`, the default (and nothing else passes the checker).
        Some(params::At::Word(params::AtWord::All)) | None => return Ok(available.to_vec()),
        Some(params::At::Schedule(params::Schedule::Every(every))) => {
            let k = usize::try_from(every.k).unwrap_or(1).max(1);
            let mut chosen: Vec<i64> = available.iter().copied().step_by(k).collect();
            if let Some(&last) = available.last()
                && chosen.last() != Some(&last)
            {
                chosen.push(last);
            }
            return Ok(chosen);
        }
        Some(
            params::At::Steps(_)
            | params::At::Schedule(params::Schedule::Logspace(_) | params::Schedule::Linspace(_)),
        ) => schedule_steps(at, available.last().copied().unwrap_or(0)),
    };
    for step_number in &wanted {
        if !available.contains(step_number) {
            let nearest = available.iter().min_by_key(|c| (*c - step_number).abs());
            let mut diagnostic = Diagnostic::error(
                at.origin.file,
                at.origin.span,
                format!("`at` asks for step {step_number}, where the input has no checkpoint"),
            );
            if let Some(nearest) = nearest {
                diagnostic = diagnostic
                    .with_hint(format!("the nearest checkpoint is at step {nearest}; add {step_number} to the train step's `checkpoints`"));
            }
            return Err(Box::new(diagnostic));
        }
    }
    Ok(wanted)
}

/// A train instance's checkpoint steps: its schedule, within `steps`, always ending at the
/// last step.
fn train_checkpoints(
    step: &CheckedStep,
    params: &BTreeMap<String, Value>,
) -> Result<Vec<i64>, Box<Diagnostic>> {
    let total = params.get("steps").and_then(Value::as_int).unwrap_or(0);
    let mut steps = match params.get("checkpoints") {
        Some(schedule) => {
            let steps = schedule_steps(schedule, total);
            if let Some(&beyond) = steps.iter().find(|&&s| s > total) {
                return Err(Box::new(Diagnostic::error(
                    schedule.origin.file,
                    schedule.origin.span,
                    format!("a checkpoint at step {beyond} is after the last training step, {total}"),
                )
                .also_at(step.origin.file, step.origin.span, format!("`{}` trains for {total} steps", step.name))
                .with_hint(format!(
                    "end the schedule at `steps`, e.g. `checkpoints = logspace(1, {total}, 60)`, or train longer"
                ))));
            }
            steps
        }
        None => Vec::new(),
    };
    steps.push(total);
    steps.sort_unstable();
    steps.dedup();
    Ok(steps)
}

/// The steps a schedule value names: `logspace`, `linspace`, `every` or a list.
fn schedule_steps(value: &Value, total: i64) -> Vec<i64> {
    let mut steps = match value.typed::<params::Checkpoints>() {
        Some(params::Checkpoints::Steps(steps)) => steps,
        Some(params::Checkpoints::Schedule(params::Schedule::Logspace(s))) => {
            schedule::logspace(s.start, s.stop, s.count)
        }
        Some(params::Checkpoints::Schedule(params::Schedule::Linspace(s))) => {
            schedule::linspace(s.start, s.stop, s.count)
        }
        Some(params::Checkpoints::Schedule(params::Schedule::Every(every))) => {
            schedule::every(every.k, total)
        }
        // Not a schedule: nothing the checker passes.
        None => Vec::new(),
    };
    steps.sort_unstable();
    steps.dedup();
    steps
}

/// A report joins every sweep point of the steps it is `on`: one instance.
fn plan_report(
    index: usize,
    step: &CheckedStep,
    inputs: &[&PlannedStep],
    graph: &mut DiGraph<Instance, Dependency>,
) -> PlannedStep {
    let instance = Instance {
        step: index,
        step_name: step.name.clone(),
        kind: step.kind,
        coords: Vec::new(),
        checkpoint: None,
        params: step.fields.clone(),
        outputs: vec![Output::Result],
    };
    let node = graph.add_node(instance);
    for input in inputs {
        for (_, sources) in &input.points {
            for &source in sources {
                graph.add_edge(source, node, Dependency { output: Output::Result });
            }
        }
    }
    PlannedStep { points: vec![(Vec::new(), vec![node])] }
}

/// The step's fields with each of its own sweeps replaced by the point's value on that axis.
fn resolve_sweeps(step: &CheckedStep, point: &[Coordinate]) -> BTreeMap<String, Value> {
    fields_choosing(step, |axis| {
        point
            .iter()
            .find(|c| c.axis == axis.name)
            .map(|c| c.value.clone())
            .expect("every own axis has a coordinate")
    })
}

/// The step's fields with each of its own sweeps replaced by `choose`'s value of its axis (the
/// sweeps, in reading order, are the step's axes in order).
pub(super) fn fields_choosing(
    step: &CheckedStep,
    mut choose: impl FnMut(&Axis) -> Value,
) -> BTreeMap<String, Value> {
    let mut next_axis = 0;
    step.fields
        .iter()
        .map(|(name, value)| {
            let resolved = value.replace_sweeps(&mut |_| {
                let axis = &step.axes[next_axis];
                next_axis += 1;
                choose(axis)
            });
            (name.clone(), resolved)
        })
        .collect()
}
