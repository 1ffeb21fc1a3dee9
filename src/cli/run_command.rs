//! `devspec run FILE`: plans the spec, takes what is cached from the store, runs the rest on a
//! pool of workers, and ends with a summary. Exit 0 when every instance is done, 1 when any
//! failed (the others are still recorded).

use std::path::{Path, PathBuf};

use super::args::ExecutorKind;
use super::args::SettingsArgs;
use super::run_context::{ContextArgs, RunContext, planned};
use super::run_progress::{LogFormat, RunProgress};
use crate::compile::value::{Value, ValueKind};
use crate::exec::slurm::{SlurmSettings, interrupted};
use crate::exec::{Executor, InstanceStatus, survey};
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};
use crate::plan;
use crate::plan::memory_budget::{self, MemoryBudget};
use crate::registry::{self, schema::Status};
use crate::study::Lock;

pub struct RunArgs<'a> {
    pub file: &'a Path,
    pub sets: &'a [String],
    pub jobs: Option<usize>,
    pub batch: Option<u32>,
    pub settings: &'a SettingsArgs,
    pub worker: Option<PathBuf>,
    pub fail_fast: bool,
    pub quiet: bool,
    pub log_format: LogFormat,
    pub targets: &'a [String],
    pub dry_run: bool,
    pub executor: Option<ExecutorKind>,
    pub partition: Option<&'a str>,
    pub max_jobs: Option<u32>,
    pub max_memory: Option<f64>,
}

pub fn run(args: &RunArgs<'_>) -> Result<ExitCode, Failure> {
    let plan = match planned(args.file, args.sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let plan = if args.targets.is_empty() {
        plan
    } else {
        plan.restricted_to(args.targets).map_err(|unknown| {
            Failure::bad_input(format!("`--target {unknown}`: the spec has no step `{unknown}`"))
                .with_hint("name a step of the spec, as written after its kind")
        })?
    };
    refuse_unimplemented(&plan)?;
    let context = RunContext::new(&ContextArgs {
        file: args.file,
        settings: args.settings.clone(),
        jobs: args.jobs,
        batch: args.batch,
        worker: args.worker.clone(),
    })?;
    if args.dry_run {
        let statuses = survey(&plan, &context.store, &context.options);
        for &node in &plan.order {
            outln!("  {:<16}  {}", statuses[node.index()].label(), plan.graph[node].display_name());
        }
        return Ok(ExitCode::Success);
    }
    let lock_file = crate::study::lock_path(args.file);
    if let Ok(lock) = Lock::read(&lock_file) {
        for d in lock.machine_differences(&plan, &context.options) {
            eoutln!(
                "note: {} has {} instance(s) computed with {} = {}; here it is {}: they are \
                 recomputed, and match only statistically (`devspec verify` compares them)",
                lock_file.display(),
                d.instances,
                d.part,
                d.locked,
                d.here
            );
        }
    }
    let slurm = slurm_settings(args, &context)?;
    let max_memory = args.max_memory.or(context.config.max_memory_gb);
    let budget = MemoryBudget::here(max_memory, slurm.is_some(), &context.options.device);
    if !budget.over_budget(&plan, |_| true).is_empty() {
        // Only what will run needs memory: a rerun of what a larger limit computed is fine.
        let statuses = survey(&plan, &context.store, &context.options);
        let will_run = |node: petgraph::graph::NodeIndex| {
            !matches!(statuses[node.index()], InstanceStatus::Cached(_))
        };
        memory_budget::refuse(&budget.over_budget(&plan, will_run))?;
    }
    let RunContext { store, worker, mut options, config } = context;
    options.fail_fast = args.fail_fast;
    if let Some((settings, max_jobs)) = slurm {
        refuse_fewer_cpus_than_threads(&plan, options.threads_per_step)?;
        // Ctrl-C and SIGTERM cancel the jobs this driver waits on; finished work is kept.
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register(signal, std::sync::Arc::clone(interrupted()));
        }
        options.jobs = max_jobs;
        options.slurm = Some(settings);
    }
    // Held until the run ends: `gc` meanwhile keeps what this run reads and writes.
    let _live_run = super::gc_command::register_live_run(&plan, &store, &options)?;
    let executor = Executor { plan: &plan, store: &store, worker, options: options.clone() };
    let mut progress = RunProgress::new(plan.order.len(), args.log_format, args.quiet);
    // Nobody reads the progress any more (`run ... 2>&1 | head`): stop as Ctrl-C does. Under
    // Slurm the driver cancels its jobs and records what they finished; here the process
    // ends, its workers with it (each notices its parent is gone), and what finished is
    // recorded already.
    let stop: fn() = if options.slurm.is_some() {
        || interrupted().store(true, std::sync::atomic::Ordering::SeqCst)
    } else {
        || std::process::exit(SIGPIPE_EXIT)
    };
    let summary =
        super::output::stop_on_close(stop, || executor.run(&mut |event| progress.event(event)));
    progress.finish();
    if let Some(failure) = summary.environment {
        // The store or the machine failed: one message, not one per step it stopped.
        return Err(failure);
    }
    eoutln!(
        "{} instances: {} ran, {} cached, {} failed, {} not run",
        plan.order.len(),
        summary.executed,
        summary.cached,
        summary.failed.len(),
        summary.skipped
    );
    for failed in &summary.failed {
        eoutln!("error: {} failed: {}", failed.instance, failed.error);
        // A log that could not be written (a full disk) is not named.
        if let Some(log) = failed.log.as_ref().filter(|log| log.is_file()) {
            eoutln!("  log: {}", log.display());
        }
    }
    if let Some(tables) = super::stage_table::stage_tables(&plan, &store, &options) {
        out!("{tables}");
    }
    let reports = super::report_command::default_folder(&config.root, args.file);
    for html in super::report_command::write_reports(&plan, &store, &options, args.file, &reports) {
        outln!("report: {}", html.display());
    }
    write_lock(args, &plan, &store, &options, &summary);
    Ok(if summary.failed.is_empty() { ExitCode::Success } else { ExitCode::Failed })
}

/// Writes the spec's lock file after a complete run, or says why it was left as it is.
fn write_lock(
    args: &RunArgs<'_>,
    plan: &plan::Plan,
    store: &crate::store::Store,
    options: &crate::exec::RunOptions,
    summary: &crate::exec::RunSummary,
) {
    let lock_file = crate::study::lock_path(args.file);
    let partial = if !args.sets.is_empty() {
        Some("the run used --set")
    } else if !args.targets.is_empty() {
        Some("the run used --target")
    } else if !summary.failed.is_empty() || summary.skipped > 0 {
        Some("not every instance succeeded")
    } else {
        None
    };
    match partial {
        Some(why) => outln!("lock: {} left as it is: {why}", lock_file.display()),
        None => match Lock::from_store(plan, store, options, args.file) {
            // The results are in the store either way: a lock that cannot be written (a
            // read-only checkout) is said, and the run still succeeded.
            Ok(lock) => match lock.write(&lock_file) {
                Ok(changed) => {
                    let what = if changed { "written" } else { "unchanged" };
                    outln!("lock: {} ({what})", lock_file.display());
                }
                Err(failure) => eoutln!("warning: {failure}"),
            },
            Err(incomplete) => outln!(
                "lock: {} left as it is: {} instance(s) have no result ({})",
                lock_file.display(),
                incomplete.missing.len(),
                incomplete.missing[0]
            ),
        },
    }
}

/// The Slurm settings and the most jobs at once, when the run goes to Slurm: command line, then
/// `devspec.toml` (`run.executor`, `[slurm]`), then the defaults. `None` for the local pool.
fn slurm_settings(
    args: &RunArgs<'_>,
    context: &RunContext,
) -> Result<Option<(SlurmSettings, usize)>, Failure> {
    let config = &context.config;
    let executor = match (args.executor, config.executor.as_deref()) {
        (Some(kind), _) => kind,
        (None, None | Some("local")) => ExecutorKind::Local,
        (None, Some("slurm")) => ExecutorKind::Slurm,
        (None, Some(other)) => {
            return Err(Failure::bad_input(format!(
                "devspec.toml: `run.executor = \"{other}\"` is not an executor"
            ))
            .with_hint("executors are `local` and `slurm`"));
        }
    };
    if executor == ExecutorKind::Local {
        return Ok(None);
    }
    if which::which("sbatch").is_err() || which::which("squeue").is_err() {
        return Err(Failure::environment(
            "--executor slurm: `sbatch` and `squeue` are not on PATH".to_owned(),
        )
        .with_hint("run devspec on a Slurm login node, or see docs/cluster.md"));
    }
    let settings = SlurmSettings {
        partition: args.partition.map(str::to_owned).or_else(|| config.slurm.partition.clone()),
        retries: config.slurm.retries.unwrap_or(SlurmSettings::default().retries),
        ..SlurmSettings::default()
    };
    let max_jobs = args
        .max_jobs
        .and_then(|n| usize::try_from(n).ok())
        .or(config.slurm.max_jobs)
        .unwrap_or(DEFAULT_MAX_JOBS)
        .max(1);
    Ok(Some((settings, max_jobs)))
}

/// The exit code of a run stopped because nobody reads its output: a shell's for a process
/// ended by SIGPIPE (128 + 13), which is what the run would have met without Rust's `SIG_IGN`.
const SIGPIPE_EXIT: i32 = 141;

/// Slurm jobs queued or running at once, unless a setting says otherwise.
const DEFAULT_MAX_JOBS: usize = 64;

/// A step that reserves fewer CPUs than the threads each step computes with is refused: its
/// job would run slower than asked, or be killed by the cluster's CPU limits.
fn refuse_fewer_cpus_than_threads(plan: &plan::Plan, threads: u32) -> Result<(), Failure> {
    for instance in plan.instances() {
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
pub(super) fn refuse_unimplemented(plan: &plan::Plan) -> Result<(), Failure> {
    for instance in plan.instances() {
        if let Status::Pending { issue } = registry::step_kind(instance.kind).status {
            return Err(not_implemented(&format!("`{}` steps", instance.kind), issue));
        }
        for value in instance.params.values() {
            if let Some((name, issue)) = pending_constructor(value) {
                return Err(not_implemented(&format!("`{name}`"), issue));
            }
        }
    }
    Ok(())
}

fn pending_constructor(value: &Value) -> Option<(&'static str, u32)> {
    match &value.kind {
        ValueKind::Ctor { name, args, .. } => match registry::constructor(name).map(|c| c.status) {
            Some(Status::Pending { issue }) => Some((name, issue)),
            _ => args.values().find_map(pending_constructor),
        },
        ValueKind::List(items) | ValueKind::Sweep(items) => {
            items.iter().find_map(pending_constructor)
        }
        ValueKind::Record(fields) => fields.values().find_map(pending_constructor),
        _ => None,
    }
}

fn not_implemented(what: &str, issue: u32) -> Failure {
    Failure::new(FailureClass::NotImplemented, format!("{what} cannot run: not implemented yet"))
        .with_hint(format!("it is declared so specs check; issue {issue} builds it"))
}
