//! The study's wall time: the executor's schedule replayed with predicted durations. At most
//! `jobs` requests run at once; siblings waiting together go as one request of at most
//! `max_batch` members (the registry's batching rule), which pays the fixed part once; an
//! estimate may start as soon as its checkpoint is streamed, part way through its training;
//! devspec's own steps (detection, reports) run beside the workers. First come, first served,
//! as the executor takes them (`exec::executor`'s `Waiting`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::rates::Price;
use super::work::{Phase, Work};
use crate::plan::{Output, Plan};
use crate::registry::{self, schema::Batching};

/// What the schedule needs of one instance.
#[derive(Debug, Clone)]
pub enum Job {
    /// Its results are in the store: nothing to run.
    Cached,
    /// Its work and price on this machine.
    Priced(Work, Price),
    /// It will run, but its duration cannot be predicted (a TorchScript model).
    Unknown,
}

/// One instance's place in the replayed schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub start: f64,
    pub end: f64,
    /// Seconds of the request it ran in (its group's, shared by the siblings in it).
    pub request: f64,
    /// Which request it ran in, numbered in the order they start: siblings in one request
    /// share it; two requests never do, even when they start and end together.
    pub request_id: usize,
}

/// The replayed schedule: each instance's slot (`None` when cached), and the study's end.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub slots: Vec<Option<Slot>>,
    /// When the last instance ends; `None` when an instance's duration is unknown.
    pub total: Option<f64>,
}

/// Replays the executor on `plan` with these jobs (indexed by node).
pub fn replay(plan: &Plan, jobs: &[Job], workers: usize, max_batch: usize) -> Schedule {
    let graph = &plan.graph;
    let nodes = graph.node_count();
    let mut slots: Vec<Option<Slot>> = vec![None; nodes];
    let mut done_at: Vec<Option<f64>> = vec![None; nodes];
    let mut unstarted_inputs: Vec<usize> = vec![0; nodes];
    for node in graph.node_indices() {
        match jobs[node.index()] {
            Job::Cached => done_at[node.index()] = Some(0.0),
            Job::Priced(..) | Job::Unknown => {}
        }
    }
    for node in graph.node_indices() {
        unstarted_inputs[node.index()] = graph
            .neighbors_directed(node, Direction::Incoming)
            .filter(|source| done_at[source.index()].is_none())
            .count();
    }
    let mut replay = Replay {
        plan,
        jobs,
        slots: &mut slots,
        unstarted_inputs,
        candidates: Vec::new(),
        waiting: Waiting::default(),
        running: Vec::new(),
        beside: 0.0,
        requests: 0,
    };
    for &node in &plan.order {
        if !matches!(jobs[node.index()], Job::Cached) && replay.unstarted_inputs[node.index()] == 0
        {
            replay.candidates.push(node);
        }
    }
    let mut now = 0.0_f64;
    loop {
        replay.queue_ready(now, max_batch);
        replay.running.retain(|&end| end > now);
        while replay.running.len() < workers.max(1) {
            let Some(group) = replay.waiting.take(max_batch.max(1)) else { break };
            let end = replay.start_group(&group, now);
            replay.running.push(end);
        }
        let next_end = replay.running.iter().copied().filter(|&end| end > now).reduce(f64::min);
        let next_ready = replay
            .candidates
            .iter()
            .map(|&node| replay.ready_at(node))
            .filter(|&ready| ready > now)
            .reduce(f64::min);
        match (next_end, next_ready) {
            (Some(a), Some(b)) => now = a.min(b),
            (Some(t), None) | (None, Some(t)) => now = t,
            // Requests of no duration just ended, or freed what waits: go round at `now`.
            (None, None) if !replay.waiting.is_empty() || !replay.candidates.is_empty() => {}
            (None, None) => break,
        }
    }
    let unknown = jobs.iter().any(|job| matches!(job, Job::Unknown));
    let end = slots.iter().flatten().map(|slot| slot.end).fold(0.0, f64::max);
    Schedule { slots, total: (!unknown).then_some(end) }
}

struct Replay<'a> {
    plan: &'a Plan,
    jobs: &'a [Job],
    slots: &'a mut Vec<Option<Slot>>,
    /// Per instance: how many of its inputs have not started (cached ones count as done).
    unstarted_inputs: Vec<usize>,
    /// Instances whose inputs have all started, not yet queued.
    candidates: Vec<NodeIndex>,
    waiting: Waiting,
    /// The end of each request in flight.
    running: Vec<f64>,
    /// When devspec's own steps are free again: they run one at a time, beside the workers.
    beside: f64,
    /// Requests started so far (each slot's `request_id`).
    requests: usize,
}

impl Replay<'_> {
    /// When `node`'s inputs exist: each input edge is satisfied when its source ends, or, for
    /// a checkpoint, when training reaches its step.
    fn ready_at(&self, node: NodeIndex) -> f64 {
        let graph = &self.plan.graph;
        graph
            .edges_directed(node, Direction::Incoming)
            .map(|edge| {
                let source = edge.source();
                let Some(slot) = self.slots[source.index()] else { return 0.0 };
                match (&edge.weight().output, &self.jobs[source.index()]) {
                    (Output::Checkpoint(step), Job::Priced(work, price))
                        if work.phase == Phase::Train && work.steps > 0.0 =>
                    {
                        let along = (*step as f64 / work.steps).clamp(0.0, 1.0);
                        let variable = slot.request - price.fixed;
                        slot.start + price.fixed + variable * along
                    }
                    _ => slot.end,
                }
            })
            .fold(0.0, f64::max)
    }

    /// Moves the candidates ready by `now` into the waiting groups (in plan order), or, for
    /// devspec's own steps, runs them.
    fn queue_ready(&mut self, now: f64, max_batch: usize) {
        let mut index = 0;
        while index < self.candidates.len() {
            let node = self.candidates[index];
            let ready = self.ready_at(node);
            if ready > now {
                index += 1;
                continue;
            }
            self.candidates.remove(index);
            match &self.jobs[node.index()] {
                Job::Priced(work, price) if matches!(work.phase, Phase::Detect | Phase::Report) => {
                    let start = ready.max(self.beside);
                    let end = start + price.seconds();
                    self.beside = end;
                    let request_id = self.next_request();
                    self.record(node, Slot { start, end, request: end - start, request_id });
                    // Its dependents may now be candidates, ready at once.
                    index = 0;
                }
                Job::Priced(..) | Job::Unknown => {
                    let key = group_key(self.plan, node, max_batch);
                    self.waiting.push(key, node);
                }
                Job::Cached => {}
            }
        }
    }

    /// Starts `group` as one request at `now`; returns its end.
    fn start_group(&mut self, group: &[NodeIndex], now: f64) -> f64 {
        let prices = group.iter().filter_map(|node| match &self.jobs[node.index()] {
            Job::Priced(_, price) => Some(*price),
            Job::Unknown | Job::Cached => None,
        });
        let prices: Vec<Price> = prices.collect();
        let fixed = prices.iter().map(|p| p.fixed).fold(0.0, f64::max);
        // The longest member in full, each other one at its marginal part.
        let longest = prices.iter().map(|p| p.variable).fold(0.0, f64::max);
        let rest: f64 = prices.iter().map(|p| p.variable * p.marginal).sum::<f64>()
            - prices.iter().map(|p| p.variable * p.marginal).fold(0.0, f64::max);
        let variable = longest + rest;
        let request = fixed + variable;
        let end = now + request;
        let request_id = self.next_request();
        for &node in group {
            self.record(node, Slot { start: now, end, request, request_id });
        }
        end
    }

    fn next_request(&mut self) -> usize {
        self.requests += 1;
        self.requests - 1
    }

    fn record(&mut self, node: NodeIndex, slot: Slot) {
        self.slots[node.index()] = Some(slot);
        let dependents: Vec<NodeIndex> =
            self.plan.graph.neighbors_directed(node, Direction::Outgoing).collect();
        for dependent in dependents {
            let count = &mut self.unstarted_inputs[dependent.index()];
            *count = count.saturating_sub(1);
            if *count == 0
                && self.slots[dependent.index()].is_none()
                && !self.candidates.contains(&dependent)
            {
                self.candidates.push(dependent);
            }
        }
    }
}

/// Which request an instance may share: the executor's rule (the step, and its parameters but
/// the fields its kind lets siblings differ in), or its own when batching is off.
fn group_key(plan: &Plan, node: NodeIndex, max_batch: usize) -> String {
    let instance = &plan.graph[node];
    match registry::step_kind(instance.kind).batching {
        Batching::Siblings { may_differ } if max_batch > 1 => {
            let mut params: BTreeMap<String, serde_json::Value> =
                instance.params.iter().map(|(k, v)| (k.clone(), v.to_wire())).collect();
            for path in may_differ {
                remove_path(&mut params, path);
            }
            serde_json::json!({ "step": instance.step, "params": params }).to_string()
        }
        Batching::Siblings { .. } | Batching::Never => format!("node {}", node.index()),
    }
}

/// Removes `seed` or `optimizer.lr` (the argument of the constructor in `optimizer`).
fn remove_path(params: &mut BTreeMap<String, serde_json::Value>, path: &str) {
    let mut parts = path.split('.');
    let Some(field) = parts.next() else { return };
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        params.remove(field);
        return;
    }
    let mut value = params.get_mut(field);
    for (i, part) in rest.iter().enumerate() {
        let Some(args) = value.and_then(|v| v.get_mut("args")).and_then(|a| a.as_object_mut())
        else {
            return;
        };
        if i + 1 == rest.len() {
            args.remove(*part);
            return;
        }
        value = args.get_mut(*part);
    }
}

/// Requests waiting for a free worker, by group, first come first served.
#[derive(Default)]
struct Waiting {
    groups: HashMap<String, VecDeque<NodeIndex>>,
    order: VecDeque<String>,
}

impl Waiting {
    fn push(&mut self, key: String, node: NodeIndex) {
        let group = self.groups.entry(key.clone()).or_default();
        if group.is_empty() {
            self.order.push_back(key);
        }
        group.push_back(node);
    }

    fn take(&mut self, limit: usize) -> Option<Vec<NodeIndex>> {
        let key = self.order.pop_front()?;
        let group = self.groups.get_mut(&key)?;
        let taken: Vec<NodeIndex> = group.drain(..limit.min(group.len())).collect();
        if group.is_empty() {
            self.groups.remove(&key);
        } else {
            self.order.push_front(key);
        }
        Some(taken)
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}
