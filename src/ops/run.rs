//! Running a planned spec (`devspec run`): refuses what cannot run before starting anything
//! (declared but unbuilt kinds, instances beyond the memory where they would run, Slurm steps
//! reserving fewer CPUs than they compute with), registers the run so a `gc` meanwhile keeps
//! its work, executes the plan, draws its reports and writes its lock from the records the run
//! ended with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use petgraph::graph::NodeIndex;
use rayon::prelude::*;

use super::report::{Drawn, draw_reports};
use super::{Observer, Session};
use crate::compile::value::{Value, ValueKind};
use crate::exec::slurm::SlurmSettings;
use crate::exec::{InstanceStatus, RunSummary, ThreadsPerStep, survey};
use crate::failure::{Failure, FailureClass};
use crate::plan::Plan;
use crate::plan::memory_budget::{self, MemoryBudget};
use crate::registry::{self, schema::Status};
use crate::store::{LiveRun, Store};
use crate::study::Lock;

/// How a run goes, beyond the session's settings.
pub struct RunSettings<'a> {
    /// The spec file: its lock lives beside it, its path is in the reports.
    pub spec: &'a Path,
    /// Why this run's lock would not be the spec's (`--set`, `--target`): it is then left as
    /// it is.
    pub partial: Option<&'static str>,
    pub fail_fast: bool,
    /// Run the workers' steps as Slurm jobs, at most this many at once.
    pub slurm: Option<(SlurmSettings, usize)>,
    /// The most memory, in GiB, an instance may need where it runs.
    pub max_memory: Option<f64>,
    /// Where the reports are drawn.
    pub reports: PathBuf,
}

/// What a run did.
pub struct RunOutcome {
    /// Counts, failures, and every instance's record as the run ended.
    pub summary: RunSummary,
    pub reports: Vec<Drawn>,
    pub lock: LockOutcome,
}

/// What became of the spec's lock file.
#[derive(Debug)]
pub enum LockOutcome {
    Written(PathBuf),
    Unchanged(PathBuf),
    /// Not rewritten: the run was partial (the reason).
    LeftAsIs(PathBuf, String),
    /// The results are in the store, but the lock file could not be written.
    Unwritable(Failure),
}

/// Runs `plan`; the summary says what failed. An environment failure (a full or read-only
/// store) ends it with that one failure.
pub fn run(
    plan: &Plan,
    session: &Session,
    settings: &RunSettings<'_>,
    observer: &mut dyn Observer,
) -> Result<RunOutcome, Failure> {
    refuse_unimplemented(plan)?;
    let mut options = session.options.clone();
    options.fail_fast = settings.fail_fast;
    // What the store holds, keyed once: for the notes and refusals below, the live run's
    // registration, and the executor, which takes what is cached from it.
    let statuses = survey(plan, &session.store, &options);
    let will_run = |node: NodeIndex| !matches!(statuses[node.index()], InstanceStatus::Cached(_));
    let lock_file = crate::study::lock_path(settings.spec);
    // Only instances that run can meet a machine difference (it is in their keys): a run that
    // takes everything from the store does not read the lock for it.
    if plan.order.iter().any(|&node| will_run(node))
        && let Ok(lock) = Lock::read(&lock_file)
    {
        for d in lock.machine_differences(plan, &session.options) {
            observer.note(&format!(
                "note: {} has {} instance(s) computed with {} = {}; here it is {}: they are \
                 recomputed, and match only statistically (`devspec verify` compares them)",
                lock_file.display(),
                d.instances,
                d.part,
                d.locked,
                d.here
            ));
        }
    }
    let budget =
        MemoryBudget::here(settings.max_memory, settings.slurm.is_some(), &session.options.device);
    // Only what will run needs memory: a rerun of what a larger limit computed is fine.
    memory_budget::refuse(&budget.over_budget(plan, will_run))?;
    if let Some((slurm, max_jobs)) = &settings.slurm {
        refuse_fewer_cpus_than_threads(plan, options.threads_per_step)?;
        options.jobs = *max_jobs;
        options.slurm = Some(slurm.clone());
    }
    // Held until the run ends: `gc` meanwhile keeps what this run reads and writes.
    let _live_run = register_live_run(&statuses, &session.store)?;
    let summary = session.execute_surveyed(plan, &options, statuses, observer);
    if let Some(failure) = summary.environment.clone() {
        // The store or the machine failed: one message, not one per step it stopped.
        return Err(failure);
    }
    let reports = draw_reports(
        plan,
        &session.store,
        &options,
        settings.spec,
        &settings.reports,
        &summary.results,
    );
    let lock = write_lock(plan, session, settings, &summary);
    Ok(RunOutcome { summary, reports, lock })
}

/// Writes the spec's lock file after a complete run, or says why it was left as it is.
fn write_lock(
    plan: &Plan,
    session: &Session,
    settings: &RunSettings<'_>,
    summary: &RunSummary,
) -> LockOutcome {
    let lock_file = crate::study::lock_path(settings.spec);
    let partial = settings.partial.map(str::to_owned).or_else(|| {
        (!summary.failed.is_empty() || summary.skipped > 0)
            .then(|| "not every instance succeeded".to_owned())
    });
    if let Some(why) = partial {
        return LockOutcome::LeftAsIs(lock_file, why);
    }
    match Lock::complete(plan, &summary.results, &session.store, &session.options, settings.spec) {
        // The results are in the store either way: a lock that cannot be written (a
        // read-only checkout) is said, and the run still succeeded.
        Ok(lock) => match lock.write(&lock_file) {
            Ok(true) => LockOutcome::Written(lock_file),
            Ok(false) => LockOutcome::Unchanged(lock_file),
            Err(failure) => LockOutcome::Unwritable(failure),
        },
        Err(incomplete) => LockOutcome::LeftAsIs(
            lock_file,
            format!(
                "{} instance(s) have no result ({})",
                incomplete.missing.len(),
                incomplete.missing[0]
            ),
        ),
    }
}

/// Registers a run about to start on `store` with the keys and trajectories its plan reaches
/// now, as surveyed (the cached results it will read, what it will compute), so that a `gc` meanwhile keeps
/// them; held until the returned value drops. A store that cannot take the registration (full,
/// read-only) cannot take the run's results either: that is the run's environment failure.
fn register_live_run(statuses: &[InstanceStatus], store: &Store) -> Result<LiveRun, Failure> {
    let mut keys = BTreeSet::new();
    let mut trajectories = BTreeSet::new();
    for status in statuses {
        match status {
            InstanceStatus::Cached(manifest) => {
                keys.insert(manifest.key.clone());
            }
            InstanceStatus::WillRun(key) => {
                trajectories.extend(key.trajectory());
                keys.insert(key.digest());
            }
            InstanceStatus::WaitsForInputs => {}
        }
    }
    store.register_run(keys, trajectories).map_err(|err| {
        Failure::store_unwritable(store.root(), &err).unwrap_or_else(|| {
            Failure::environment(format!(
                "cannot register the run in the store {}: {err}",
                store.root().display()
            ))
            .with_hint("check that the store's folder is yours and writable")
        })
    })
}

/// A step that reserves fewer CPUs than the threads each step computes with is refused: its
/// job would run slower than asked, or be killed by the cluster's CPU limits.
fn refuse_fewer_cpus_than_threads(plan: &Plan, threads: ThreadsPerStep) -> Result<(), Failure> {
    for instance in plan.instances() {
        let threads = threads.for_instance(instance);
        let resources = crate::exec::slurm::resources_of(&instance.params);
        if let Some(cpus) = resources.cpus.filter(|&cpus| cpus < threads) {
            return Err(Failure::bad_input(format!(
                "step `{}` reserves `resources.cpus = {cpus}`, fewer than the {threads} threads \
                 each step computes with",
                instance.step_name
            ))
            .with_hint("raise `cpus`, or lower the threads per step (--threads)"));
        }
    }
    Ok(())
}

/// Refuses, before anything runs, a plan that uses a step kind or constructor declared but not
/// implemented yet.
pub fn refuse_unimplemented(plan: &Plan) -> Result<(), Failure> {
    // Every instance's every value is walked: in parallel, the first refusal in plan order.
    let refusal = plan.order.par_iter().find_map_first(|&node| {
        let instance = &plan.graph[node];
        if let Status::Pending { issue } = registry::step_kind(instance.kind).status {
            return Some(not_implemented(&format!("`{}` steps", instance.kind), issue));
        }
        instance.params.values().find_map(|value| {
            let (name, issue) = pending_constructor(value)?;
            Some(not_implemented(&format!("`{name}`"), issue))
        })
    });
    refusal.map_or(Ok(()), Err)
}

fn pending_constructor(value: &Value) -> Option<(&'static str, u32)> {
    match &value.kind {
        ValueKind::Ctor { name, args, .. } => match registry::constructor(name).map(|c| c.status) {
            Some(Status::Pending { issue }) => Some((name, issue)),
            Some(Status::Implemented) | None => args.values().find_map(pending_constructor),
        },
        ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
            items.iter().find_map(pending_constructor)
        }
        ValueKind::Record(fields) => fields.values().find_map(pending_constructor),
        ValueKind::Int(_)
        | ValueKind::Float(_)
        | ValueKind::Str(_)
        | ValueKind::File { .. }
        | ValueKind::Open { .. }
        | ValueKind::Bool(_)
        | ValueKind::Auto
        | ValueKind::Enum(_) => None,
    }
}

fn not_implemented(what: &str, issue: u32) -> Failure {
    Failure::new(FailureClass::NotImplemented, format!("{what} cannot run: not implemented yet"))
        .with_hint(format!("it is declared so specs check; issue {issue} builds it"))
}
