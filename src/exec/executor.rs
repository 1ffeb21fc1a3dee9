//! Runs a plan: instances whose key is in the store are taken from it; the others run on a
//! pool of `devspec-worker` processes, in dependency order, as many at once as `jobs` allows.
//! A failed instance fails its dependents only; independent work goes on and is recorded.
//!
//! The scheduler is one thread that owns all state; each pool thread owns one worker process
//! (replaced when it dies) and takes the key's advisory lock around the step, so two runs on one
//! store never compute a key twice: the second finds the first's manifest once the lock frees.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use devspec_protocol::{Reply, RequestBody, StepRequest};
use petgraph::Direction;
use petgraph::graph::NodeIndex;

use super::step_key::{StepKey, instance_key};
use super::worker_process::{WorkerProcess, WorkerProcessError};
use crate::plan::Plan;
use crate::store::{Manifest, Provenance, Store};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    pub threads_per_step: u32,
    pub fail_fast: bool,
    /// What changes numbers, in every key: libtorch version, device, CPU kernels, threads.
    pub environment: BTreeMap<String, String>,
    /// Extra variables for the workers (the pinned CPU kernels).
    pub worker_env: Vec<(String, String)>,
    /// The spec's path in the project: with an instance's name, it names the instance across
    /// runs, for `status --why`.
    pub spec_id: String,
}

/// What happened to each instance, as the run goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Cached { instance: String },
    Started { instance: String },
    Finished { instance: String, seconds: f64 },
    Failed { instance: String, error: String },
    Skipped { instance: String, because: String },
}

impl RunOptions {
    /// The environment part of every key: what changes numbers, threads per step included.
    pub fn key_environment(&self) -> BTreeMap<String, String> {
        let mut environment = self.environment.clone();
        environment.insert("threads_per_step".into(), self.threads_per_step.to_string());
        environment
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunSummary {
    pub executed: usize,
    pub cached: usize,
    /// Instance and error, in the order they failed.
    pub failed: Vec<(String, String)>,
    pub skipped: usize,
}

#[derive(Debug, Clone)]
enum State {
    Waiting,
    Running,
    Done(BTreeMap<String, String>),
    Failed,
}

struct Job {
    node: NodeIndex,
    key: String,
    /// The key's parts, recorded under the instance's name for `status --why`.
    key_parts: serde_json::Value,
    request: StepRequest,
    instance: String,
}

struct JobResult {
    node: NodeIndex,
    /// The manifest, and whether this run computed it (false: another run had, meanwhile).
    outcome: Result<(Manifest, bool), String>,
}

pub struct Executor<'a> {
    pub plan: &'a Plan,
    pub store: &'a Store,
    pub worker: PathBuf,
    pub options: RunOptions,
}

impl Executor<'_> {
    pub fn run(&self, on_event: &mut dyn FnMut(&RunEvent)) -> RunSummary {
        let graph = &self.plan.graph;
        let mut state: Vec<State> = vec![State::Waiting; graph.node_count()];
        let mut missing: Vec<usize> = graph
            .node_indices()
            .map(|n| graph.neighbors_directed(n, Direction::Incoming).count())
            .collect();
        let mut ready: VecDeque<NodeIndex> =
            self.plan.order.iter().copied().filter(|n| missing[n.index()] == 0).collect();
        let mut summary = RunSummary::default();

        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (result_tx, result_rx) = mpsc::channel::<JobResult>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut running = 0usize;
        let mut stopping = false;
        let jobs = self.options.jobs.max(1);
        let mut waiting_jobs: VecDeque<Job> = VecDeque::new();

        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let job_rx = Arc::clone(&job_rx);
                let result_tx = result_tx.clone();
                scope.spawn(move || self.pool_thread(&job_rx, &result_tx));
            }
            drop(result_tx);
            loop {
                while let Some(node) = ready.pop_front() {
                    if stopping {
                        break;
                    }
                    let instance = graph[node].display_name();
                    let (key_parts, request) = self.request_for(node, &state);
                    let key = key_parts.digest();
                    let key_parts = serde_json::to_value(&key_parts).expect("keys serialize");
                    if let Some(manifest) = self.store.cached(&key) {
                        summary.cached += 1;
                        on_event(&RunEvent::Cached { instance });
                        complete(
                            graph,
                            node,
                            manifest.outputs,
                            &mut state,
                            &mut missing,
                            &mut ready,
                        );
                        continue;
                    }
                    waiting_jobs.push_back(Job { node, key, key_parts, request, instance });
                }
                // At most `jobs` in flight: the rest wait here, so `--fail-fast` can still
                // hold them back.
                while running < jobs && !stopping {
                    let Some(job) = waiting_jobs.pop_front() else { break };
                    state[job.node.index()] = State::Running;
                    running += 1;
                    on_event(&RunEvent::Started { instance: job.instance.clone() });
                    job_tx.send(job).expect("pool threads live");
                }
                if running == 0 {
                    break;
                }
                let result = result_rx.recv().expect("pool threads live while jobs run");
                running -= 1;
                let instance = graph[result.node].display_name();
                match result.outcome {
                    Ok((manifest, ran)) => {
                        if ran {
                            summary.executed += 1;
                            let seconds = manifest.provenance.ended - manifest.provenance.started;
                            on_event(&RunEvent::Finished { instance, seconds });
                        } else {
                            summary.cached += 1;
                            on_event(&RunEvent::Cached { instance });
                        }
                        complete(
                            graph,
                            result.node,
                            manifest.outputs,
                            &mut state,
                            &mut missing,
                            &mut ready,
                        );
                    }
                    Err(error) => {
                        on_event(&RunEvent::Failed {
                            instance: instance.clone(),
                            error: error.clone(),
                        });
                        summary.failed.push((instance.clone(), error));
                        state[result.node.index()] = State::Failed;
                        summary.skipped +=
                            skip_dependents(graph, result.node, &instance, &mut state, on_event);
                        stopping |= self.options.fail_fast;
                    }
                }
            }
            drop(job_tx);
        });
        // After `--fail-fast`, what never started is reported as not run too.
        summary.skipped += state.iter().filter(|s| matches!(s, State::Waiting)).count();
        summary
    }

    /// The instance's key (from its parameters and its inputs' realized digests) and the
    /// request that computes it.
    fn request_for(&self, node: NodeIndex, state: &[State]) -> (StepKey, StepRequest) {
        let instance = &self.plan.graph[node];
        let outputs_of = |source: NodeIndex| match &state[source.index()] {
            State::Done(outputs) => Some(outputs),
            _ => None,
        };
        let (key, input_digests) =
            instance_key(self.plan, node, &outputs_of, &self.options.key_environment())
                .expect("an instance is ready only when its inputs are done");
        let params: serde_json::Map<String, serde_json::Value> =
            instance.params.iter().map(|(name, value)| (name.clone(), plain_json(value))).collect();
        let request = StepRequest {
            kind: instance.kind.to_owned(),
            display_name: instance.display_name(),
            params: serde_json::Value::Object(params),
            inputs: input_digests,
            store: self.store.root().display().to_string(),
            threads: self.options.threads_per_step,
        };
        (key, request)
    }

    /// One pool thread: takes jobs, runs each on its own worker (started on first use and
    /// replaced after a death), records the manifest, reports back.
    fn pool_thread(&self, jobs: &Mutex<mpsc::Receiver<Job>>, results: &mpsc::Sender<JobResult>) {
        let mut worker: Option<WorkerProcess> = None;
        loop {
            // The scheduler closes the queue when the run ends.
            let Ok(Ok(job)) = jobs.lock().map(|rx| rx.recv()) else { return };
            let outcome = self.execute(&job, &mut worker);
            if results.send(JobResult { node: job.node, outcome }).is_err() {
                return;
            }
        }
    }

    fn execute(
        &self,
        job: &Job,
        worker: &mut Option<WorkerProcess>,
    ) -> Result<(Manifest, bool), String> {
        let _lock =
            self.store.lock_key(&job.key).map_err(|err| format!("cannot lock the store: {err}"))?;
        // Another run may have computed this key while we waited for its lock.
        if let Some(manifest) = self.store.cached(&job.key) {
            return Ok((manifest, false));
        }
        if worker.is_none() {
            *worker = Some(
                WorkerProcess::spawn_with_env(&self.worker, &self.options.worker_env)
                    .map_err(|err| err.to_string())?,
            );
        }
        let started = now();
        let reply = worker
            .as_mut()
            .expect("started above")
            .request(RequestBody::Step(job.request.clone()), &mut |_progress| {});
        let ended = now();
        let result = match reply {
            Ok(Reply::StepDone { result, .. }) => result,
            Ok(other) => return Err(format!("the worker answered with {other:?}")),
            Err(err) => {
                if matches!(
                    err,
                    WorkerProcessError::Died { .. } | WorkerProcessError::BadReply { .. }
                ) {
                    // The next job gets a fresh worker.
                    *worker = None;
                }
                return Err(err.to_string());
            }
        };
        let manifest = Manifest {
            manifest_version: 1,
            key: job.key.clone(),
            instance: job.instance.clone(),
            kind: job.request.kind.clone(),
            outputs: result.outputs,
            sizes: BTreeMap::new(),
            metrics: result.metrics,
            provenance: Provenance {
                devspec_version: env!("CARGO_PKG_VERSION").to_owned(),
                libtorch: self.options.environment.get("libtorch").cloned().unwrap_or_default(),
                threads: self.options.threads_per_step,
                device: self
                    .options
                    .environment
                    .get("device")
                    .cloned()
                    .unwrap_or_else(|| "cpu".into()),
                host: hostname(),
                started,
                ended,
            },
        };
        let manifest = self
            .store
            .record(manifest)
            .map_err(|err| format!("cannot record the result in the store: {err}"))?;
        // Only explains later reruns: failing to write it costs no result.
        let name = format!("{}\n{}", self.options.spec_id, job.instance);
        let _ = self.store.record_last_key(&name, &job.key_parts);
        Ok((manifest, true))
    }
}

/// Marks an instance done and queues the dependents whose inputs are now all done.
fn complete(
    graph: &petgraph::graph::DiGraph<crate::plan::Instance, crate::plan::Dependency>,
    node: NodeIndex,
    outputs: BTreeMap<String, String>,
    state: &mut [State],
    missing: &mut [usize],
    ready: &mut VecDeque<NodeIndex>,
) {
    state[node.index()] = State::Done(outputs);
    let mut dependents: Vec<NodeIndex> =
        graph.neighbors_directed(node, Direction::Outgoing).collect();
    dependents.sort();
    dependents.dedup();
    for dependent in dependents {
        let edges = graph.edges_connecting(node, dependent).count();
        missing[dependent.index()] -= edges;
        if missing[dependent.index()] == 0 && matches!(state[dependent.index()], State::Waiting) {
            ready.push_back(dependent);
        }
    }
}

/// Marks everything downstream of a failed instance as not run; returns how many.
fn skip_dependents(
    graph: &petgraph::graph::DiGraph<crate::plan::Instance, crate::plan::Dependency>,
    failed: NodeIndex,
    failed_name: &str,
    state: &mut [State],
    on_event: &mut dyn FnMut(&RunEvent),
) -> usize {
    let mut count = 0;
    let mut pending = vec![failed];
    while let Some(node) = pending.pop() {
        for dependent in graph.neighbors_directed(node, Direction::Outgoing) {
            if matches!(state[dependent.index()], State::Waiting) {
                state[dependent.index()] = State::Failed;
                count += 1;
                on_event(&RunEvent::Skipped {
                    instance: graph[dependent].display_name(),
                    because: failed_name.to_owned(),
                });
                pending.push(dependent);
            }
        }
    }
    count
}

/// Parameters as plain JSON for the worker: numbers, strings, booleans; options and `auto` as
/// their names; constructors as `{"call": name, "args": {...}}`.
fn plain_json(value: &crate::compile::value::Value) -> serde_json::Value {
    use crate::compile::value::ValueKind;
    match &value.kind {
        ValueKind::Int(v) => (*v).into(),
        ValueKind::Float(v) => (*v).into(),
        ValueKind::Str(text) | ValueKind::Enum(text) => text.clone().into(),
        ValueKind::Bool(v) => (*v).into(),
        ValueKind::Auto => "auto".into(),
        ValueKind::List(items) | ValueKind::Sweep(items) => items.iter().map(plain_json).collect(),
        ValueKind::Record(fields) => fields
            .iter()
            .map(|(k, v)| (k.clone(), plain_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        ValueKind::Ctor { name, args, .. } => {
            let args: serde_json::Map<_, _> =
                args.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect();
            serde_json::json!({ "call": name, "args": args })
        }
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".into(), |h| h.trim().to_owned())
}
