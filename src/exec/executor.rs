//! Runs a plan: instances whose key is in the store are taken from it; the others run on a
//! pool of `devspec-worker` processes, in dependency order, as many requests at once as `jobs`
//! allows. A failed instance fails its dependents only; independent work goes on and is
//! recorded.
//!
//! The scheduler is one thread that owns all state; each pool thread ([`super::pool`]) owns
//! one worker process. Two things make a run faster than one step at a time:
//! - streaming: an output a step reports before it ends (a checkpoint during training) makes
//!   the instances that read it ready at once, while the step goes on;
//! - sibling batching: ready instances of one step that differ only in the fields the step
//!   kind allows (its seed, say) go to one worker in one request, computed together; each is
//!   still keyed, locked and recorded on its own.
//!
//! What the store holds is checked as it is used (`docs/store.md`): a damaged record is a miss;
//! the blobs a step reads are checked against their digests before it is sent, and the results
//! `devspec` serves at the end of a run (detections, reports) when they are taken from the
//! store. A damaged blob sends the instance that made it back to run, with what waits for it,
//! in the same run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devspec_protocol::StepRequest;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use super::in_process::{self, InProcessJob};
use super::pool::{Job, PoolMessage};
use super::results::Results;
use super::step_key::{StepKey, explicit_device, instance_key};
use super::survey::{InstanceStatus, survey};
use crate::failure::{Failure, FailureClass};
use crate::plan::{Dependency, Instance, Plan};
use crate::registry::{self, schema::Batching};
use crate::store::{Damage, FileDigests, Lookup, Manifest, Store};

/// How often a long run records the keys of what ran (they are also recorded at its end).
const KEY_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    pub threads_per_step: super::ThreadsPerStep,
    pub fail_fast: bool,
    /// Most instances in one sibling group (1: no batching).
    pub max_batch: usize,
    /// Where steps whose spec says `auto` (or nothing) run: `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// What changes numbers, in every key: libtorch version, device kind, CPU kernels.
    pub environment: BTreeMap<String, String>,
    /// Extra variables for the workers (the pinned CPU kernels).
    pub worker_env: Vec<(String, String)>,
    /// How long a worker may take to start, and stay silent while busy (its heartbeat).
    pub deadlines: super::worker_process::WorkerDeadlines,
    /// The digests of the files steps read, which keys hold in place of their paths.
    pub files: Arc<FileDigests>,
    /// The spec's path in the project: with an instance's name, it names the instance across
    /// runs, for `status --why`.
    pub spec_id: String,
    /// The BLAKE3 of the spec file, for the provenance of what the run computes.
    pub spec_digest: String,
    /// Run the workers' steps as Slurm jobs (`--executor slurm`) instead of a local pool; `jobs`
    /// is then how many jobs are in Slurm's queue at once.
    pub slurm: Option<super::slurm::SlurmSettings>,
}

impl RunOptions {
    /// The environment part of every key: what changes numbers, threads per step included.
    pub fn key_environment(&self) -> BTreeMap<String, String> {
        let mut environment = self.environment.clone();
        environment.insert("threads_per_step".into(), self.threads_per_step.to_string());
        environment
    }
}

/// What happened to each instance, as the run goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Cached {
        instance: String,
    },
    Started {
        instance: String,
    },
    /// A running instance's own progress (training step, SGLD draw).
    Progress {
        instance: String,
        done: u64,
        total: u64,
        message: String,
        /// A training's loss at `done`, when its worker said (for the display only).
        loss: Option<f64>,
    },
    Finished {
        instance: String,
        seconds: f64,
    },
    Failed {
        instance: String,
        error: String,
        log: Option<PathBuf>,
    },
    Skipped {
        instance: String,
        because: String,
    },
    /// A store entry of an instance was found damaged, set aside, and the instance will be
    /// computed again (`was_cached`: it had been reported cached in this run).
    Damaged {
        instance: String,
        /// `the result of llc[seed=1]@16`, `checkpoint@8 of run[seed=0]`.
        what: String,
        detail: String,
        was_cached: bool,
    },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunSummary {
    pub executed: usize,
    pub cached: usize,
    /// In the order they failed.
    pub failed: Vec<FailedInstance>,
    pub skipped: usize,
    /// Why the run stopped early, when the environment failed (the store full or read-only):
    /// the first such failure; what was in flight then is in `failed`, what never started in
    /// `skipped`.
    pub environment: Option<crate::failure::Failure>,
    /// Every instance's record as the run ended: what it took from the store or computed.
    pub results: super::results::Results,
}

impl RunSummary {
    /// The exit code of the run: success when nothing failed, else the code of its worst
    /// failure's class, so a worker's environment failure (a device that vanished, a disk
    /// full under it) exits 3 like devspec's own, and a step's failure 1.
    pub fn exit_code(&self) -> crate::exit_code::ExitCode {
        let worst = |class: FailureClass| match class {
            FailureClass::StepFailed => 0,
            FailureClass::BadInput => 1,
            FailureClass::NotImplemented => 2,
            FailureClass::Environment => 3,
            FailureClass::Internal => 4,
        };
        self.failed
            .iter()
            .map(|failed| failed.class)
            .max_by_key(|&class| worst(class))
            .map_or(crate::exit_code::ExitCode::Success, FailureClass::exit_code)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FailedInstance {
    pub instance: String,
    pub error: String,
    /// Whose fault it is: an environment failure (disk full, a worker that cannot start or
    /// hung) is told apart from a step that failed.
    pub class: crate::failure::FailureClass,
    /// The step's log in the store, when it ran far enough to have one.
    pub log: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum State {
    Waiting,
    /// Running, with the outputs it has streamed so far.
    Running(BTreeMap<String, String>),
    Done(BTreeMap<String, String>),
    Failed,
}

pub struct Executor<'a> {
    pub plan: &'a Plan,
    pub store: &'a Store,
    pub worker: PathBuf,
    pub options: RunOptions,
}

/// The scheduler's state while a run goes.
struct Schedule<'p> {
    graph: &'p DiGraph<Instance, Dependency>,
    state: Vec<State>,
    /// Per instance: how many of its input edges are not yet satisfied.
    missing: Vec<usize>,
    /// Per edge: whether its output exists (streamed or final).
    satisfied: Vec<bool>,
    ready: VecDeque<NodeIndex>,
    /// The key parts of each instance sent to run, and of those that ran since the last
    /// flush, by name (`status --why` compares against them).
    key_parts: Vec<Option<serde_json::Value>>,
    ran_keys: BTreeMap<String, serde_json::Value>,
    /// The environment failure that stopped the run, if one did.
    environment: Option<crate::failure::Failure>,
    /// Per instance: its key, once known.
    keys: Vec<Option<String>>,
    /// Per instance: whether it was taken from the store, and whether it was sent back to
    /// run for a damaged output (once at most: a second time, what reads it fails).
    was_cached: Vec<bool>,
    reopened: Vec<bool>,
    /// Blobs known intact in this run: checked, or just written by a step.
    intact: std::collections::HashSet<String>,
    /// The record of every instance done so far, which the run's summary hands on.
    results: super::results::Results,
    /// Per instance: its record as the survey before the run found it, until taken; and
    /// whether it was taken from there (then its dependents' survey records hold too).
    surveyed: Vec<Option<Box<Manifest>>>,
    from_survey: Vec<bool>,
}

impl Executor<'_> {
    pub fn run(&self, on_event: &mut dyn FnMut(&RunEvent)) -> RunSummary {
        self.run_surveyed(survey(self.plan, self.store, &self.options), on_event)
    }

    /// Runs the plan, starting from a survey of the store made with these options (the one a
    /// run registered itself with): what it found cached is taken without keying it again, as
    /// long as its inputs were taken from the survey too. (A blob that vanished meanwhile is
    /// found when what reads it is sent, and its maker recomputed, as for any damage.)
    pub fn run_surveyed(
        &self,
        surveyed: Vec<InstanceStatus>,
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> RunSummary {
        let graph = &self.plan.graph;
        let mut schedule = Schedule::new(graph, &self.plan.order);
        schedule.surveyed = Results::from_statuses(surveyed).into_records();
        let mut flushed = Instant::now();
        schedule.ready =
            self.plan.order.iter().copied().filter(|n| schedule.missing[n.index()] == 0).collect();
        let mut summary = RunSummary::default();
        let mut waiting = Waiting::default();
        let (job_tx, job_rx) = mpsc::channel::<Vec<Job>>();
        let (message_tx, message_rx) = mpsc::channel::<PoolMessage>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut running = 0usize;
        let mut stopping = false;
        let jobs = self.options.jobs.max(1);

        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let job_rx = Arc::clone(&job_rx);
                let message_tx = message_tx.clone();
                scope.spawn(move || {
                    super::pool::serve(
                        self.store,
                        &self.worker,
                        &self.options,
                        &job_rx,
                        &message_tx,
                    );
                });
            }
            drop(message_tx);
            loop {
                while let Some(node) = schedule.ready.pop_front() {
                    if stopping {
                        break;
                    }
                    // Sent back to wait when an input turned out damaged.
                    if !matches!(schedule.state[node.index()], State::Waiting)
                        || schedule.missing[node.index()] > 0
                    {
                        continue;
                    }
                    let progress = (&mut schedule, &mut waiting, &mut summary);
                    stopping |= self.take_ready(node, progress, on_event) && self.options.fail_fast;
                }
                // At most `jobs` requests in flight: the rest wait here, so `--fail-fast` can
                // still hold them back, and later siblings can join a group.
                while running < jobs && !stopping {
                    let Some(group) = waiting.take_group(self.options.max_batch.max(1)) else {
                        break;
                    };
                    let group = schedule.intact_inputs(
                        group,
                        self.store,
                        &mut waiting,
                        &mut summary,
                        on_event,
                    );
                    if group.is_empty() {
                        continue;
                    }
                    for job in &group {
                        schedule.state[job.node.index()] = State::Running(BTreeMap::new());
                        on_event(&RunEvent::Started { instance: job.instance.clone() });
                    }
                    running += 1;
                    job_tx.send(group).expect("pool threads live");
                }
                // An instance sent back to run (its output was damaged) is ready again.
                if running == 0 && (stopping || schedule.ready.is_empty()) {
                    break;
                }
                if running == 0 {
                    continue;
                }
                let message = message_rx.recv().expect("pool threads live while jobs run");
                match message {
                    PoolMessage::Output { node, name, digest } => {
                        schedule.intact.insert(digest.clone());
                        schedule.streamed(node, &name, digest);
                    }
                    PoolMessage::Progress { node, done, total, message, loss } => {
                        let instance = graph[node].display_name();
                        on_event(&RunEvent::Progress { instance, done, total, message, loss });
                    }
                    PoolMessage::Finished { node, outcome } => {
                        let failed = schedule.finished(node, outcome, &mut summary, on_event);
                        stopping |= failed && self.options.fail_fast;
                    }
                    PoolMessage::EnvironmentFailed(failure) => stopping |= schedule.stop(failure),
                    PoolMessage::Idle => running -= 1,
                }
                if flushed.elapsed() > KEY_FLUSH_INTERVAL {
                    self.flush_ran_keys(&mut schedule.ran_keys);
                    flushed = Instant::now();
                }
            }
            drop(job_tx);
        });
        self.flush_ran_keys(&mut schedule.ran_keys);
        // After `--fail-fast`, what never started is reported as not run too.
        summary.skipped += schedule.state.iter().filter(|s| matches!(s, State::Waiting)).count();
        summary.environment = schedule.environment;
        summary.results = schedule.results;
        summary
    }

    /// Records the keys of the instances that ran, for `status --why`.
    fn flush_ran_keys(&self, keys: &mut BTreeMap<String, serde_json::Value>) {
        if !keys.is_empty() {
            // Only explains later reruns: failing to write it costs no result.
            let _ = self.store.record_last_keys(&self.options.spec_id, std::mem::take(keys));
        }
    }

    /// Takes a ready instance: from the store when cached, computed here when `devspec`
    /// computes it, else queued for a worker; whether it failed.
    fn take_ready(
        &self,
        node: NodeIndex,
        (schedule, waiting, summary): (&mut Schedule<'_>, &mut Waiting, &mut RunSummary),
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> bool {
        let surveyed = schedule.surveyed_hit(node);
        let looked_up = surveyed.is_some();
        if let Some(manifest) = surveyed {
            let key = manifest.key.clone();
            schedule.keys[node.index()] = Some(key.clone());
            // Not keyed again, but its record is looked for again: the survey ran before this
            // run registered what it reads, so a `gc` in between may have removed the entry.
            // A gc removes records before blobs, and keeps every blob of a record it keeps, so
            // a record still there vouches for the blobs the survey found (one `stat`, not the
            // survey's whole lookup again); one gone is looked up in full (a miss, or damage).
            let found = if self.store.has_record(&key) {
                Lookup::Hit(manifest)
            } else {
                self.store.lookup(&key)
            };
            if self.take_found(node, found, schedule, summary, on_event) {
                schedule.from_survey[node.index()] = true;
                return false;
            }
        }
        let instance = self.plan.graph[node].display_name();
        let (key_parts, input_digests) = self.key_for(node, &schedule.state, &schedule.keys);
        let key = key_parts.digest();
        schedule.keys[node.index()] = Some(key.clone());
        if !looked_up && self.take_cached(node, &key, schedule, summary, on_event) {
            return false;
        }
        schedule.key_parts[node.index()] =
            Some(serde_json::to_value(&key_parts).expect("keys serialize"));
        if crate::steps::is_in_process(self.plan.graph[node].kind) {
            let job = (instance, key);
            return self.run_in_process(node, job, (schedule, waiting, summary), on_event);
        }
        let request = match self.request_for(node, &key_parts, input_digests) {
            Ok(request) => request,
            Err(failure) => {
                on_event(&RunEvent::Started { instance });
                return schedule.finished(node, Err((failure, None)), summary, on_event);
            }
        };
        let group = self.group_of(node, &key, &key_parts);
        let device = key_parts.environment.get("device").cloned().unwrap_or_default();
        let resources = super::slurm::resources_of(&self.plan.graph[node].params);
        let memory_bytes = crate::plan::memory_estimate::of_instance(
            self.plan.graph[node].kind,
            &self.plan.graph[node].params,
        )
        .map_or(0.0, |estimate| estimate.bytes());
        let job = Job { node, key, device, request, instance, resources, memory_bytes };
        waiting.push(group, job);
        false
    }

    /// Takes an instance from the store when its key is a cache hit; whether it did. A damaged
    /// entry is set aside and said (the instance then runs); a result `devspec` serves at the
    /// end of the run (a detection's, a report's) is read and checked now, so that damage there
    /// is recomputed in this run rather than found afterwards.
    fn take_cached(
        &self,
        node: NodeIndex,
        key: &str,
        schedule: &mut Schedule<'_>,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> bool {
        if schedule.reopened[node.index()] {
            // Sent back to run: what it had stored is damaged, and was said so.
            return false;
        }
        self.take_found(node, self.store.lookup(key), schedule, summary, on_event)
    }

    /// [`Executor::take_cached`] with what the store holds for the instance's key.
    fn take_found(
        &self,
        node: NodeIndex,
        found: Lookup,
        schedule: &mut Schedule<'_>,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> bool {
        let served = is_served(self.plan.graph[node].kind);
        let damage = match found {
            Lookup::Miss => return false,
            Lookup::Hit(manifest) => match served.then(|| self.store.check_result(&manifest)) {
                None | Some(Ok(_)) => {
                    summary.cached += 1;
                    schedule.was_cached[node.index()] = true;
                    on_event(&RunEvent::Cached { instance: self.plan.graph[node].display_name() });
                    if served {
                        schedule.intact.extend(manifest.outputs.get("result").cloned());
                    }
                    schedule.complete(node, manifest);
                    return true;
                }
                Some(Err(damage)) => damage,
            },
            Lookup::Damaged(damage) => damage,
        };
        schedule.said_damaged(node, &damage, self.store, false, on_event);
        false
    }

    /// Computes a step `devspec` runs itself (detection takes milliseconds: done here, between
    /// scheduling rounds, rather than sent to a worker); whether it failed.
    fn run_in_process(
        &self,
        node: NodeIndex,
        (instance, key): (String, String),
        (schedule, waiting, summary): (&mut Schedule<'_>, &mut Waiting, &mut RunSummary),
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> bool {
        // The results it reads, checked first: a damaged one is computed again, and this
        // instance waits for it.
        if schedule.damaged_input(node, self.store, waiting, summary, on_event) {
            return false;
        }
        on_event(&RunEvent::Started { instance: instance.clone() });
        // A step devspec computes has no device: its parameters as a worker's would be.
        let params = request_params(&self.plan.graph[node].params, &self.options.device);
        let job = InProcessJob {
            instance,
            key,
            kind: self.plan.graph[node].kind,
            params: &params,
            inputs: self.in_process_inputs(node, &schedule.state, &schedule.keys),
            options: &self.options,
        };
        let outcome = in_process::run(self.store, &job);
        schedule.finished(node, outcome, summary, on_event)
    }

    /// The inputs of an in-process step: each source instance and everything it produced.
    fn in_process_inputs(
        &self,
        node: NodeIndex,
        state: &[State],
        keys: &[Option<String>],
    ) -> Vec<crate::steps::Input> {
        let graph = &self.plan.graph;
        let mut sources: Vec<NodeIndex> =
            graph.neighbors_directed(node, Direction::Incoming).collect();
        sources.sort_unstable();
        sources.dedup();
        let outputs_of = |source: NodeIndex| match &state[source.index()] {
            State::Done(outputs) | State::Running(outputs) => Some(outputs),
            _ => None,
        };
        sources
            .into_iter()
            .map(|source| {
                let instance = &graph[source];
                // The source's key, for the provenance of what it produced (a report's): the
                // key it ran or was found under, the one the report's own key holds.
                let key = keys[source.index()].clone().unwrap_or_default();
                let params_of = |node: NodeIndex| -> serde_json::Map<String, serde_json::Value> {
                    graph[node].params.iter().map(|(k, v)| (k.clone(), v.to_wire())).collect()
                };
                let mut upstream: Vec<NodeIndex> =
                    graph.neighbors_directed(source, Direction::Incoming).collect();
                upstream.sort_unstable();
                upstream.dedup();
                crate::steps::Input {
                    params: params_of(source),
                    sources: upstream
                        .into_iter()
                        .map(|node| crate::steps::Source {
                            kind: graph[node].kind,
                            step: graph[node].step_name.clone(),
                            instance: graph[node].display_name(),
                            params: params_of(node),
                        })
                        .collect(),
                    kind: instance.kind,
                    step: instance.step_name.clone(),
                    instance: instance.display_name(),
                    point: instance.point_label(),
                    key,
                    checkpoint: instance.checkpoint,
                    outputs: outputs_of(source).cloned().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The instance's key (from its parameters and its inputs' realized digests) and those
    /// digests.
    fn key_for(
        &self,
        node: NodeIndex,
        state: &[State],
        keys: &[Option<String>],
    ) -> (StepKey, Vec<String>) {
        let outputs_of = |source: NodeIndex| match &state[source.index()] {
            State::Done(outputs) | State::Running(outputs) => Some(outputs),
            _ => None,
        };
        instance_key(
            self.plan,
            node,
            &outputs_of,
            &|source| keys[source.index()].clone(),
            &self.options.key_environment(),
            &self.options.files,
        )
        .expect("an instance is ready only when its inputs exist")
    }

    /// The request that computes a worker's instance: its parameters as the planner resolved
    /// them, typed ([`devspec_protocol::params`]). Parameters that do not fit their types are
    /// the planner and the protocol disagreeing (the registry's contract test keeps them
    /// agreeing): an internal error, never sent.
    fn request_for(
        &self,
        node: NodeIndex,
        key: &StepKey,
        input_digests: Vec<String>,
    ) -> Result<StepRequest, Failure> {
        let instance = &self.plan.graph[node];
        let device = explicit_device(instance).unwrap_or(&self.options.device);
        let params = request_params(&instance.params, device);
        let step = serde_json::json!({ "kind": instance.kind, "params": params });
        let step = serde_json::from_value(step).map_err(|err| {
            Failure::new(
                FailureClass::Internal,
                format!(
                    "the parameters planned for {} do not fit the worker protocol's `{}` step: \
                     {err}",
                    instance.display_name(),
                    instance.kind
                ),
            )
        })?;
        Ok(StepRequest {
            step,
            display_name: instance.display_name(),
            inputs: input_digests,
            store: self.store.root().display().to_string(),
            threads: self.options.threads_per_step.for_instance(instance),
            outputs: instance.outputs.iter().map(ToString::to_string).collect(),
            key: key.digest(),
            trajectory: key.trajectory(),
        })
    }

    /// The sibling group an instance may run in: one step's instances whose keys agree except
    /// in the fields the kind lets differ, and in their inputs. Unbatched kinds are alone.
    fn group_of(&self, node: NodeIndex, key: &str, parts: &StepKey) -> String {
        let instance = &self.plan.graph[node];
        match registry::step_kind(instance.kind).batching {
            Batching::Siblings { may_differ } if self.options.max_batch > 1 => {
                let mut params = parts.params.clone();
                for path in may_differ {
                    remove_argument(&mut params, path);
                }
                let shared = serde_json::json!({
                    "step": instance.step,
                    "params": params,
                    "environment": parts.environment,
                    "implementation": parts.implementation,
                });
                shared.to_string()
            }
            Batching::Siblings { .. } | Batching::Never => key.to_owned(),
        }
    }
}

/// Whether `devspec` reads this kind's result at the end of a run (stage tables, reports): such
/// results are checked when taken from the store, so damage there is recomputed in the run.
fn is_served(kind: devspec_protocol::StepKind) -> bool {
    crate::steps::is_in_process(kind)
}

/// Removes the field a dotted path names from a key's parameters: `seed` is a parameter,
/// `optimizer.lr` the argument `lr` of the constructor in `optimizer`, and
/// `observable.sampler.lr` the argument `lr` of the constructor in that one's `sampler`.
fn remove_argument(params: &mut BTreeMap<String, serde_json::Value>, path: &str) {
    let mut names = path.split('.');
    let Some(first) = names.next() else { return };
    let mut rest: Vec<&str> = names.collect();
    let Some(last) = rest.pop() else {
        params.remove(first);
        return;
    };
    let mut call = params.get_mut(first);
    for name in rest {
        call = call.and_then(|c| c.get_mut("args")).and_then(|args| args.get_mut(name));
    }
    if let Some(args) =
        call.and_then(|c| c.get_mut("args")).and_then(serde_json::Value::as_object_mut)
    {
        args.remove(last);
    }
}

/// Jobs whose inputs exist, waiting for a free worker, by sibling group, first come first
/// served.
#[derive(Default)]
struct Waiting {
    groups: HashMap<String, VecDeque<Job>>,
    order: VecDeque<String>,
}

impl Waiting {
    fn push(&mut self, group: String, job: Job) {
        let jobs = self.groups.entry(group.clone()).or_default();
        if jobs.is_empty() {
            self.order.push_back(group);
        }
        jobs.push_back(job);
    }

    /// Takes an instance's job out, if it waits here.
    fn remove(&mut self, node: NodeIndex) {
        self.groups.retain(|_, jobs| {
            jobs.retain(|job| job.node != node);
            !jobs.is_empty()
        });
        let groups = &self.groups;
        self.order.retain(|group| groups.contains_key(group));
    }

    /// The oldest group's first `limit` jobs.
    fn take_group(&mut self, limit: usize) -> Option<Vec<Job>> {
        let group = self.order.pop_front()?;
        let jobs = self.groups.get_mut(&group).expect("ordered groups are present");
        let taken: Vec<Job> = jobs.drain(..limit.min(jobs.len())).collect();
        if jobs.is_empty() {
            self.groups.remove(&group);
        } else {
            self.order.push_front(group);
        }
        Some(taken)
    }
}

impl<'p> Schedule<'p> {
    fn new(graph: &'p DiGraph<Instance, Dependency>, order: &[NodeIndex]) -> Self {
        let missing: Vec<usize> = graph
            .node_indices()
            .map(|n| graph.edges_directed(n, Direction::Incoming).count())
            .collect();
        Schedule {
            graph,
            state: vec![State::Waiting; graph.node_count()],
            ready: order.iter().copied().filter(|n| missing[n.index()] == 0).collect(),
            missing,
            satisfied: vec![false; graph.edge_count()],
            key_parts: vec![None; graph.node_count()],
            ran_keys: BTreeMap::new(),
            environment: None,
            keys: vec![None; graph.node_count()],
            was_cached: vec![false; graph.node_count()],
            reopened: vec![false; graph.node_count()],
            intact: std::collections::HashSet::new(),
            results: super::results::Results::none(graph.node_count()),
            surveyed: vec![None; graph.node_count()],
            from_survey: vec![false; graph.node_count()],
        }
    }

    /// The members of a group whose inputs are intact, checked before a worker reads them; the
    /// others wait for their inputs to be computed again ([`Schedule::damaged_input`]).
    fn intact_inputs(
        &mut self,
        group: Vec<Job>,
        store: &Store,
        waiting: &mut Waiting,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> Vec<Job> {
        group
            .into_iter()
            .filter(|job| !self.damaged_input(job.node, store, waiting, summary, on_event))
            .collect()
    }

    /// Checks the blobs `node` reads (the outputs its edges name; for a step `devspec` computes,
    /// each input's result too) that this run has not checked yet. On damage: it is set aside
    /// and said, the instance that made it is sent back to run, and `node` waits for it again;
    /// returns true. When that instance cannot run again (it ran again already, or has not
    /// finished), `node` fails instead.
    fn damaged_input(
        &mut self,
        node: NodeIndex,
        store: &Store,
        waiting: &mut Waiting,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> bool {
        let in_process = crate::steps::is_in_process(self.graph[node].kind);
        let mut reads: Vec<(NodeIndex, String, String)> = Vec::new();
        for edge in self.graph.edges_directed(node, Direction::Incoming) {
            let source = edge.source();
            let (State::Done(outputs) | State::Running(outputs)) = &self.state[source.index()]
            else {
                continue;
            };
            let mut names = vec![edge.weight().output.to_string()];
            if in_process {
                names.push("result".to_owned());
            }
            for name in names {
                if let Some(digest) = outputs.get(&name)
                    && !self.intact.contains(digest)
                    && !reads.iter().any(|(_, _, d)| d == digest)
                {
                    reads.push((source, name, digest.clone()));
                }
            }
        }
        for (source, name, digest) in reads {
            let err = match store.verify_blob(&digest) {
                Ok(()) => {
                    self.intact.insert(digest);
                    continue;
                }
                Err(err) => err,
            };
            let key = self.keys[source.index()].clone().unwrap_or_default();
            let damage = Damage::output(&key, &name, &digest, err.detail());
            let can_rerun = matches!(self.state[source.index()], State::Done(_))
                && !self.reopened[source.index()];
            if !can_rerun {
                let what = damage.what(&self.graph[source].display_name());
                let error =
                    format!("{what} is damaged ({}) and could not be recomputed", damage.detail);
                self.finished(
                    node,
                    Err((Failure::new(FailureClass::StepFailed, error), None)),
                    summary,
                    on_event,
                );
                return true;
            }
            let was_cached = self.was_cached[source.index()];
            if was_cached {
                summary.cached -= 1;
            }
            self.said_damaged(source, &damage, store, was_cached, on_event);
            self.reopen(source, waiting);
            return true;
        }
        false
    }

    /// Sets a damaged entry aside and says so.
    fn said_damaged(
        &self,
        node: NodeIndex,
        damage: &Damage,
        store: &Store,
        was_cached: bool,
        on_event: &mut dyn FnMut(&RunEvent),
    ) {
        let instance = self.graph[node].display_name();
        let mut detail = damage.detail.clone();
        if let Err(err) = store.set_aside(damage) {
            use std::fmt::Write as _;
            let _ = write!(detail, "; it could not be set aside: {err}");
        }
        on_event(&RunEvent::Damaged { what: damage.what(&instance), instance, detail, was_cached });
    }

    /// The record the survey found for `node`, when it still holds: the instance was not sent
    /// back to run, and its inputs were taken from the same survey (so its key is the one the
    /// survey computed).
    fn surveyed_hit(&mut self, node: NodeIndex) -> Option<Box<Manifest>> {
        if self.reopened[node.index()] {
            return None;
        }
        let from_survey = &self.from_survey;
        self.graph
            .neighbors_directed(node, Direction::Incoming)
            .all(|source| from_survey[source.index()])
            .then(|| self.surveyed[node.index()].take())
            .flatten()
    }

    /// Sends a finished instance back to run: what reads its outputs waits for them again.
    fn reopen(&mut self, node: NodeIndex, waiting: &mut Waiting) {
        self.reopened[node.index()] = true;
        self.from_survey[node.index()] = false;
        self.was_cached[node.index()] = false;
        self.results.set(node, None);
        self.state[node.index()] = State::Waiting;
        let edges: Vec<_> = self
            .graph
            .edges_directed(node, Direction::Outgoing)
            .filter(|edge| self.satisfied[edge.id().index()])
            .map(|edge| (edge.id(), edge.target()))
            .collect();
        for (edge, dependent) in edges {
            self.satisfied[edge.index()] = false;
            self.missing[dependent.index()] += 1;
            if matches!(self.state[dependent.index()], State::Waiting) {
                waiting.remove(dependent);
            }
        }
        if self.missing[node.index()] == 0 {
            self.ready.push_back(node);
        }
    }

    /// Records the environment failure that stops the run (the first one); whether to stop.
    fn stop(&mut self, failure: crate::failure::Failure) -> bool {
        self.environment.get_or_insert(failure);
        true
    }

    /// An output a running instance reported early: the edges that read it are satisfied.
    fn streamed(&mut self, node: NodeIndex, name: &str, digest: String) {
        if let State::Running(outputs) = &mut self.state[node.index()] {
            outputs.insert(name.to_owned(), digest);
            self.satisfy(node, |output| output == name);
        }
    }

    /// Marks an instance done and satisfies every edge out of it.
    fn complete(&mut self, node: NodeIndex, manifest: Box<Manifest>) {
        self.state[node.index()] = State::Done(manifest.outputs.clone());
        self.results.set(node, Some(manifest));
        self.satisfy(node, |_| true);
    }

    /// Satisfies the edges out of `node` whose output `which` selects; queues the dependents
    /// whose inputs now all exist.
    fn satisfy(&mut self, node: NodeIndex, which: impl Fn(&str) -> bool) {
        let edges: Vec<_> = self
            .graph
            .edges_directed(node, Direction::Outgoing)
            .filter(|edge| !self.satisfied[edge.id().index()])
            .filter(|edge| which(&edge.weight().output.to_string()))
            .map(|edge| (edge.id(), edge.target()))
            .collect();
        for (edge, dependent) in edges {
            self.satisfied[edge.index()] = true;
            self.missing[dependent.index()] -= 1;
            if self.missing[dependent.index()] == 0
                && matches!(self.state[dependent.index()], State::Waiting)
            {
                self.ready.push_back(dependent);
            }
        }
    }

    /// Takes an ended instance's outcome into the summary; returns whether it failed.
    fn finished(
        &mut self,
        node: NodeIndex,
        outcome: Result<(Box<Manifest>, bool), (crate::failure::Failure, Option<PathBuf>)>,
        summary: &mut RunSummary,
        on_event: &mut dyn FnMut(&RunEvent),
    ) -> bool {
        let instance = self.graph[node].display_name();
        match outcome {
            Ok((manifest, ran)) => {
                if ran {
                    self.intact.extend(manifest.outputs.values().cloned());
                    summary.executed += 1;
                    if let Some(parts) = self.key_parts[node.index()].take() {
                        self.ran_keys.insert(instance.clone(), parts);
                    }
                    let seconds = manifest.provenance.ended - manifest.provenance.started;
                    on_event(&RunEvent::Finished { instance, seconds });
                } else {
                    summary.cached += 1;
                    on_event(&RunEvent::Cached { instance });
                }
                self.complete(node, manifest);
                false
            }
            Err((failure, log)) => {
                // After an environment failure, the steps it stopped are not each reported:
                // the run ends with that one failure.
                let quiet = self.environment.is_some();
                let mut report = |event: &RunEvent| {
                    if !quiet {
                        on_event(event);
                    }
                };
                report(&RunEvent::Failed {
                    instance: instance.clone(),
                    error: failure.message.clone(),
                    log: log.clone(),
                });
                self.state[node.index()] = State::Failed;
                summary.skipped += self.skip_dependents(node, &mut report);
                let (error, class) = (failure.message, failure.class);
                summary.failed.push(FailedInstance { instance, error, class, log });
                true
            }
        }
    }

    /// Marks as not run everything downstream of a failed instance that still waits for an
    /// output it will now never get; returns how many. What has all its inputs (streamed
    /// before the failure: the checkpoints a training run wrote before its NaN) goes on.
    fn skip_dependents(&mut self, failed: NodeIndex, on_event: &mut dyn FnMut(&RunEvent)) -> usize {
        let failed_name = self.graph[failed].display_name();
        let mut count = 0;
        let mut pending = vec![failed];
        while let Some(node) = pending.pop() {
            for dependent in self.graph.neighbors_directed(node, Direction::Outgoing) {
                if matches!(self.state[dependent.index()], State::Waiting)
                    && self.missing[dependent.index()] > 0
                {
                    self.state[dependent.index()] = State::Failed;
                    count += 1;
                    on_event(&RunEvent::Skipped {
                        instance: self.graph[dependent].display_name(),
                        because: failed_name.clone(),
                    });
                    pending.push(dependent);
                }
            }
        }
        count
    }
}

/// An instance's parameters as a worker's request carries them: plain JSON, with `device`
/// resolved (the step's own, else the run's: `device`), for the worker never sees `auto`.
pub(crate) fn request_params(
    params: &BTreeMap<String, crate::compile::value::Value>,
    device: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut json: serde_json::Map<String, serde_json::Value> =
        params.iter().map(|(name, value)| (name.clone(), value.to_wire())).collect();
    if json.contains_key("device") {
        json.insert("device".into(), device.into());
    }
    json
}

#[cfg(test)]
mod tests {
    use super::{FailedInstance, RunSummary};
    use crate::exit_code::ExitCode;
    use crate::failure::FailureClass;

    fn failed(class: FailureClass) -> FailedInstance {
        FailedInstance { instance: "x".into(), error: "e".into(), class, log: None }
    }

    #[test]
    fn a_runs_exit_code_is_its_worst_failures_class() {
        let mut summary = RunSummary::default();
        assert_eq!(summary.exit_code(), ExitCode::Success);
        summary.failed.push(failed(FailureClass::StepFailed));
        assert_eq!(summary.exit_code(), ExitCode::Failed);
        // A worker's environment failure (it stopped answering) outranks a step's own.
        summary.failed.push(failed(FailureClass::Environment));
        summary.failed.push(failed(FailureClass::StepFailed));
        assert_eq!(summary.exit_code(), ExitCode::Environment);
    }
}
