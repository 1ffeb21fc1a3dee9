//! One thread of the executor's pool: it owns one `devspec-worker` process (started on first
//! use, replaced after a death and after a group estimated at `REPLACE_WORKER_AFTER_BYTES` or
//! more) and runs the groups of instances the scheduler hands it, one
//! request per group. Around each group it holds every member's key lock, so two runs on one
//! store never compute a key twice (the second finds the first's manifest once the lock
//! frees); it records each member's manifest as soon as the worker reports that member done,
//! and writes each member's log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use devspec_protocol::{Reply, RequestBody, StepResult, WorkerErrorKind};
use petgraph::graph::NodeIndex;

use super::executor::RunOptions;
use super::provenance::{now, provenance};
use super::step_log::StepLog;
use super::worker_process::{WorkerProcess, WorkerProcessError};
use crate::failure::{Failure, FailureClass};
use crate::store::{Manifest, Store};

/// One instance to compute.
pub struct Job {
    pub node: NodeIndex,
    pub key: String,
    /// The device kind it runs on (its key's), for its provenance.
    pub device: String,
    pub request: devspec_protocol::StepRequest,
    pub instance: String,
    /// What it asks a batch scheduler for.
    pub resources: super::slurm::Resources,
    /// Its memory estimate (`plan::memory_estimate`), 0 where none is known.
    pub memory_bytes: f64,
}

/// A group whose members' memory estimates sum to this or more leaves its worker replaced:
/// the worker's allocator keeps what a step frees, up to 1 GiB of the heap's free top and every
/// freed block below a live one (`ops::settings::KEEP_FREED_MEMORY`), so a worker that ran a
/// large step may hold close to its memory while other workers run theirs. On a GPU, libtorch's
/// caching allocator likewise keeps the device memory a step freed. A fresh worker starts in
/// about a second on the CPU (a few more where it sets up CUDA), little next to a step of that
/// size.
const REPLACE_WORKER_AFTER_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// Whether a healthy worker serves the next group after `members`.
fn keeps_worker(members: &[Job]) -> bool {
    members.iter().map(|job| job.memory_bytes).sum::<f64>() < REPLACE_WORKER_AFTER_BYTES
}

/// What a pool thread tells the scheduler.
pub enum PoolMessage {
    /// An instance's output exists before the instance has finished.
    Output { node: NodeIndex, name: String, digest: String },
    Progress {
        node: NodeIndex,
        done: u64,
        total: u64,
        message: String,
        /// Its training loss at `done`, when the worker said.
        loss: Option<f64>,
    },
    /// An instance ended: its manifest and whether this run computed it (false: another run
    /// had, meanwhile), or the failure (classified: a step that failed, or the environment
    /// under it) and its log.
    Finished { node: NodeIndex, outcome: Result<(Box<Manifest>, bool), (Failure, Option<PathBuf>)> },
    /// The thread finished its group and takes another.
    Idle,
    /// The environment failed (the store is full or read-only): no later step can succeed,
    /// so the scheduler starts none. Sent before the `Finished` of the instance it failed.
    EnvironmentFailed(Failure),
}

/// Takes groups until the scheduler closes the queue.
pub fn serve(
    store: &Store,
    worker_path: &Path,
    options: &RunOptions,
    jobs: &Mutex<mpsc::Receiver<Vec<Job>>>,
    messages: &mpsc::Sender<PoolMessage>,
) {
    let mut runner = GroupRunner { store, worker_path, options, worker: None, messages };
    loop {
        let Ok(Ok(group)) = jobs.lock().map(|rx| rx.recv()) else { return };
        runner.run(group);
        if messages.send(PoolMessage::Idle).is_err() {
            return;
        }
    }
}

struct GroupRunner<'a> {
    store: &'a Store,
    worker_path: &'a Path,
    options: &'a RunOptions,
    worker: Option<WorkerProcess>,
    messages: &'a mpsc::Sender<PoolMessage>,
}

impl GroupRunner<'_> {
    fn run(&mut self, mut group: Vec<Job>) {
        // Locks in key order: two runs locking overlapping groups cannot deadlock.
        group.sort_by(|a, b| a.key.cmp(&b.key));
        let mut locks = Vec::with_capacity(group.len());
        let mut members: Vec<Job> = Vec::with_capacity(group.len());
        // Instances of different steps can share a key (the same checkpoint written twice):
        // computed once; its lock is ours already, and taking it again would wait on ourselves.
        let mut duplicates = Vec::new();
        for job in group {
            if members.iter().any(|member| member.key == job.key) {
                duplicates.push(job);
                continue;
            }
            match self.store.lock_key(&job.key) {
                Ok(lock) => {
                    // Another run may have computed this key while we waited for its lock.
                    if let Some(manifest) = self.store.cached(&job.key) {
                        self.finished(job.node, Ok((Box::new(manifest), false)));
                    } else {
                        locks.push(lock);
                        members.push(job);
                    }
                }
                Err(err) => {
                    self.environment_failed(&err);
                    let failure = Failure::environment(format!("cannot lock the store: {err}"));
                    self.finished(job.node, Err((failure, None)));
                }
            }
        }
        if !members.is_empty() {
            self.compute(&members);
        }
        drop(locks);
        for job in duplicates {
            let outcome = match self.store.cached(&job.key) {
                Some(manifest) => Ok((Box::new(manifest), false)),
                None => Err((
                    Failure::new(
                        FailureClass::StepFailed,
                        "the same computation, run for another step, failed",
                    ),
                    None,
                )),
            };
            self.finished(job.node, outcome);
        }
    }

    fn compute(&mut self, members: &[Job]) {
        // On the local pool, this thread's worker process; on Slurm, none.
        let mut worker = None;
        if self.options.slurm.is_none() {
            worker = match self.worker.take() {
                Some(worker) => Some(worker),
                None => match WorkerProcess::spawn_with(
                    self.worker_path,
                    &self.options.worker_env,
                    self.options.deadlines,
                ) {
                    Ok(worker) => Some(worker),
                    Err(err) => {
                        // No worker: the machine's failure, not the steps'.
                        let failure = Failure::from(err);
                        for job in members {
                            self.finished(job.node, Err((failure.clone(), None)));
                        }
                        return;
                    }
                },
            };
        }
        if let Some(worker) = &mut worker {
            worker.capture_stderr();
        }
        let started = now();
        let mut logs: Vec<StepLog> = members
            .iter()
            .map(|job| StepLog::new(self.store, &job.instance, &job.key, members))
            .collect();
        if let Some(worker) = &worker {
            for log in &mut logs {
                log.worker(worker.id());
            }
        }
        // Each member's error, once it has ended (`None` inside: it succeeded).
        let mut ended: Vec<Option<Option<String>>> = vec![None; members.len()];
        let mut on_event = |event: &Reply| match event {
            Reply::Output { member, name, digest, .. } => {
                if let Some(job) = members.get(*member) {
                    let (name, digest) = (name.clone(), digest.clone());
                    let _ =
                        self.messages.send(PoolMessage::Output { node: job.node, name, digest });
                }
            }
            Reply::Progress { done, total, message, losses, .. } => {
                for (index, job) in members.iter().enumerate().filter(|(i, _)| ended[*i].is_none())
                {
                    logs[index].progress(*done, *total, message);
                    let _ = self.messages.send(PoolMessage::Progress {
                        node: job.node,
                        done: *done,
                        total: *total,
                        message: message.clone(),
                        loss: losses.get(index).copied().flatten(),
                    });
                }
            }
            // Recorded at once, so dependents start and a kill later in the group loses it not.
            Reply::StepDone { member, result, .. } if ended.get(*member) == Some(&None) => {
                let job = &members[*member];
                let outcome = self.record(job, result.clone(), started);
                ended[*member] = Some(outcome.as_ref().err().map(|f| f.message.clone()));
                let log = logs[*member].path().to_path_buf();
                self.finished(
                    job.node,
                    outcome.map(|m| (Box::new(m), true)).map_err(|f| (f, Some(log))),
                );
            }
            Reply::StepFailed { member, error, .. } if ended.get(*member) == Some(&None) => {
                let job = &members[*member];
                if error.kind == WorkerErrorKind::Environment {
                    let failure = Failure::environment(error.message.clone())
                        .with_hint(Failure::STORE_UNWRITABLE_HINT);
                    let _ = self.messages.send(PoolMessage::EnvironmentFailed(failure));
                }
                ended[*member] = Some(Some(error.message.clone()));
                let log = logs[*member].path().to_path_buf();
                let class = FailureClass::of_worker(error.kind);
                self.finished(job.node, Err((Failure::new(class, &error.message), Some(log))));
            }
            _ => {}
        };
        let (reply, stderr) = self.send(worker.as_mut(), members, &mut on_event);
        let (group_error, broken) = group_failure(reply);
        // A worker that died or spoke out of turn is dropped (and so reaped); the next group
        // gets a fresh one. So is one that holds a large step's memory, its stdin closed.
        if !broken && keeps_worker(members) {
            self.worker = worker;
        }
        for (index, job) in members.iter().enumerate() {
            let error = if let Some(error) = &ended[index] {
                error.clone()
            } else {
                let log = logs[index].path().to_path_buf();
                self.finished(job.node, Err((group_error.clone(), Some(log))));
                Some(group_error.message.clone())
            };
            logs[index].write(error.as_deref(), &stderr);
        }
    }

    /// Sends the group to this thread's worker, or to Slurm as a job; the final reply (or the
    /// error, and whether the worker is broken) and what the worker or job wrote on stderr.
    fn send(
        &self,
        worker: Option<&mut WorkerProcess>,
        members: &[Job],
        on_event: &mut dyn FnMut(&Reply),
    ) -> (Result<Reply, (Failure, bool)>, String) {
        match (worker, &self.options.slurm) {
            (Some(worker), _) => {
                let body = RequestBody::Steps {
                    members: members.iter().map(|job| job.request.clone()).collect(),
                };
                let reply = worker.request(body, on_event).map_err(|err| {
                    let broken = !matches!(err, WorkerProcessError::Refused(_));
                    (request_failure(err), broken)
                });
                (reply, worker.captured_stderr())
            }
            (None, Some(settings)) => {
                // Absolute: the job runs elsewhere, from another folder.
                let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.into());
                let (store, worker) = (absolute(self.store.root()), absolute(self.worker_path));
                let job = super::slurm::GroupJob {
                    store: &store,
                    worker: &worker,
                    worker_env: &self.options.worker_env,
                    members: members.iter().map(|job| job.request.clone()).collect(),
                    resources: members[0].resources.with_device(&members[0].device),
                    threads: members.iter().map(|job| job.request.threads).max().unwrap_or(1),
                    step: members[0].instance.split(['[', '@']).next().unwrap_or_default(),
                };
                match job.run(settings, on_event) {
                    Ok(reply) => (Ok(reply), String::new()),
                    Err(lost) => (
                        Err((Failure::new(FailureClass::StepFailed, lost.message), false)),
                        lost.log,
                    ),
                }
            }
            (None, None) => unreachable!("a local pool thread has its worker"),
        }
    }

    /// Records a member's manifest, once its result holds every output the plan expects.
    fn record(&self, job: &Job, result: StepResult, started: f64) -> Result<Manifest, Failure> {
        if let Some(missing) = job.request.outputs.iter().find(|o| !result.outputs.contains_key(*o))
        {
            return Err(Failure::new(
                FailureClass::Internal,
                format!("the step did not write its output `{missing}`"),
            ));
        }
        let manifest = Manifest {
            manifest_version: 1,
            key: job.key.clone(),
            instance: job.instance.clone(),
            kind: job.request.kind(),
            outputs: result.outputs,
            sizes: BTreeMap::new(),
            metrics: result.metrics,
            provenance: provenance(self.options, &job.device, job.request.threads, true, started),
        };
        self.store.record(manifest).map_err(|err| {
            self.environment_failed(&err);
            Failure::environment(format!("cannot record the result in the store: {err}"))
        })
    }

    /// Tells the scheduler when a store error is the environment's (full, read-only).
    fn environment_failed(&self, err: &std::io::Error) {
        if let Some(failure) = Failure::store_unwritable(self.store.root(), err) {
            let _ = self.messages.send(PoolMessage::EnvironmentFailed(failure));
        }
    }

    fn finished(
        &self,
        node: NodeIndex,
        outcome: Result<(Box<Manifest>, bool), (Failure, Option<PathBuf>)>,
    ) {
        let _ = self.messages.send(PoolMessage::Finished { node, outcome });
    }
}

/// What the members the worker did not answer for fail with, from the request's end; and
/// whether the worker is broken (to be replaced).
fn group_failure(reply: Result<Reply, (Failure, bool)>) -> (Failure, bool) {
    match reply {
        Ok(Reply::StepsDone { .. }) => (
            Failure::new(
                FailureClass::Internal,
                "the worker ended the request without answering for this step",
            ),
            false,
        ),
        Ok(other) => (
            Failure::new(
                FailureClass::Internal,
                format!(
                    "the worker answered the group with a `{}` reply, not `steps_done`",
                    other.kind_name()
                ),
            ),
            true,
        ),
        Err(error) => error,
    }
}

/// A request that went wrong, classified: a worker that died under a step failed that step (as
/// an out-of-memory kill does: the README's exit 1); one that hung, or refused for want of disk,
/// is the machine's failure; a reply devspec cannot read is its own bug.
fn request_failure(err: WorkerProcessError) -> Failure {
    match err {
        WorkerProcessError::Died { .. } => Failure::new(FailureClass::StepFailed, err.to_string()),
        other => Failure::from(other),
    }
}
