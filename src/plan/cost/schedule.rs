//! The study's wall time: the executor's schedule replayed with predicted durations. At most
//! `jobs` requests run at once; siblings waiting together go as one request of at most
//! `max_batch` members (the registry's batching rule), which pays the fixed part once; an
//! estimate may start as soon as its checkpoint is streamed, part way through its training;
//! devspec's own steps (detection, reports) run beside the workers. First come, first served,
//! as the executor takes them (`exec::executor`'s `Waiting`). Requests side by side go slower
//! than alone by the contention the calibration measured.

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

/// How much slower each of `running` requests goes than alone, on a machine where `workers`
/// requests at once go `contention` times slower each (measured by the calibration: two
/// requests on a 2-core machine share caches, memory bandwidth and, on a virtual machine,
/// often one physical core). Linear in between.
fn slowdown(running: usize, workers: usize, contention: f64) -> f64 {
    if workers <= 1 || running <= 1 {
        return 1.0;
    }
    let busy = (running.min(workers) - 1) as f64 / (workers - 1) as f64;
    1.0 + (contention.max(1.0) - 1.0) * busy
}

/// Replays the executor on `plan` with these jobs (indexed by node), `workers` requests at
/// once each [`slowdown`] times slower than alone.
pub fn replay(
    plan: &Plan,
    jobs: &[Job],
    workers: usize,
    max_batch: usize,
    contention: f64,
) -> Schedule {
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
    let workers = workers.max(1);
    let mut replay = Replay {
        plan,
        jobs,
        slots: &mut slots,
        unstarted_inputs,
        candidates: Vec::new(),
        waiting: Waiting::default(),
        running: Vec::new(),
        pace: 1.0,
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
        replay.finish_done(now);
        while replay.running.len() < workers {
            let Some(group) = replay.waiting.take(max_batch.max(1)) else { break };
            replay.start_group(&group, now);
        }
        replay.pace = slowdown(replay.running.len(), workers, contention);
        // The next event: a request ends, or an instance's input comes into being.
        let next_end = replay
            .running
            .iter()
            .map(|request| now + request.left() * replay.pace)
            .reduce(f64::min);
        let next_ready = replay
            .candidates
            .iter()
            .map(|&node| replay.ready_at(node, now))
            .filter(|&ready| ready > now)
            .reduce(f64::min);
        let next = match (next_end, next_ready) {
            (Some(a), Some(b)) => a.min(b),
            (Some(t), None) | (None, Some(t)) => t,
            // Requests of no duration just ended, or freed what waits: go round at `now`.
            (None, None) if !replay.waiting.is_empty() || !replay.candidates.is_empty() => now,
            (None, None) => break,
        };
        replay.advance(now, next);
        now = next;
    }
    let unknown = jobs.iter().any(|job| matches!(job, Job::Unknown));
    let end = slots.iter().flatten().map(|slot| slot.end).fold(0.0, f64::max);
    Schedule { slots, total: (!unknown).then_some(end) }
}

/// A request in flight: its members, and its seconds alone (a fixed part and a variable
/// part), of which `done` have passed at the pace of the requests beside it.
struct Running {
    group: Vec<NodeIndex>,
    start: f64,
    fixed: f64,
    variable: f64,
    done: f64,
}

impl Running {
    fn alone(&self) -> f64 {
        self.fixed + self.variable
    }

    /// Seconds alone still to go.
    fn left(&self) -> f64 {
        (self.alone() - self.done).max(0.0)
    }
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
    running: Vec<Running>,
    /// How many seconds each request in flight takes now per second alone ([`slowdown`]).
    pace: f64,
    /// When devspec's own steps are free again: they run one at a time, beside the workers.
    beside: f64,
    /// Requests started so far (each slot's `request_id`).
    requests: usize,
}

impl Replay<'_> {
    /// When `node`'s inputs exist: each input edge is satisfied when its source ends, or, for
    /// a checkpoint, when training reaches its step; for a source still running, as far as
    /// its present pace tells (asked again at every event, so a change of pace is followed).
    fn ready_at(&self, node: NodeIndex, now: f64) -> f64 {
        let graph = &self.plan.graph;
        graph
            .edges_directed(node, Direction::Incoming)
            .map(|edge| {
                let source = edge.source();
                let Some(slot) = self.slots[source.index()] else { return 0.0 };
                // How far into its request, as a fraction of its seconds alone.
                let along = match (&edge.weight().output, &self.jobs[source.index()]) {
                    (Output::Checkpoint(step), Job::Priced(work, _))
                        if work.phase == Phase::Train && work.steps > 0.0 =>
                    {
                        Some((*step as f64 / work.steps).clamp(0.0, 1.0))
                    }
                    _ => None,
                };
                let running = self.running.iter().find(|r| r.group.contains(&source));
                match running {
                    Some(request) => {
                        let point = along.map_or(request.alone(), |along| {
                            request.fixed + request.variable * along
                        });
                        now + (point - request.done).max(0.0) * self.pace
                    }
                    None => match along {
                        // Ended: the step's place in its wall time, the fixed part first.
                        Some(along) => {
                            let wall = slot.end - slot.start;
                            let Job::Priced(_, price) = &self.jobs[source.index()] else {
                                return slot.end;
                            };
                            let fixed = price.fixed.min(wall);
                            slot.start + fixed + (wall - fixed) * along
                        }
                        None => slot.end,
                    },
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
            let ready = self.ready_at(node, now);
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

    /// Starts `group` as one request at `now`.
    fn start_group(&mut self, group: &[NodeIndex], now: f64) {
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
        let request_id = self.next_request();
        // Its end is known when it ends ([`Replay::finish_done`]); until then, as if alone.
        let alone = fixed + variable;
        for &node in group {
            self.record(node, Slot { start: now, end: now + alone, request: alone, request_id });
        }
        self.running.push(Running {
            group: group.to_vec(),
            start: now,
            fixed,
            variable,
            done: 0.0,
        });
    }

    /// `now - from` seconds pass at the present pace.
    fn advance(&mut self, from: f64, now: f64) {
        let alone = (now - from) / self.pace;
        for request in &mut self.running {
            request.done += alone;
        }
    }

    /// Ends the requests with nothing left (to rounding) at `now`, fixing their slots.
    fn finish_done(&mut self, now: f64) {
        let (ended, running): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|request| request.left() <= 1e-9 * request.alone().max(1.0));
        self.running = running;
        for request in ended {
            for node in &request.group {
                if let Some(slot) = &mut self.slots[node.index()] {
                    slot.end = now;
                    slot.request = now - request.start;
                }
            }
        }
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
