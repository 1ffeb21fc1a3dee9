//! `devspec run FILE`: plans the spec, runs it (`ops::run`: what is cached is taken from the
//! store, the rest runs on a pool of workers or as Slurm jobs) and ends with a summary, the
//! estimates that have diagnostics (a warning), the stage tables, the reports and the lock.
//! Exit 0 when every instance is done, 1 when any failed (the others are still recorded) or,
//! with `--strict`, when any estimate has diagnostics.

use std::path::{Path, PathBuf};

use super::args::ExecutorKind;
use super::args::SettingsArgs;
use super::flagged_estimates::FlaggedEstimates;
use super::run_context::{ContextArgs, planned, session};
use super::run_progress::{LogFormat, RunProgress};
use crate::exec::slurm::{SlurmSettings, interrupted};
use crate::exec::survey;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::{
    self, Session,
    report::default_folder,
    run::{LockOutcome, RunOutcome, RunSettings},
};

// The command line's switches, as they were typed.
#[allow(clippy::struct_excessive_bools)]
pub struct RunArgs<'a> {
    pub file: &'a Path,
    pub sets: &'a [String],
    /// `--bind` and `--bind-file`: a bound run is complete, and its lock records the bindings.
    pub bind: &'a super::args::BindArgs,
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
    pub strict: bool,
}

pub fn run(args: &RunArgs<'_>) -> Result<ExitCode, Failure> {
    let plan = match planned(args.file, args.sets, args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let plan = if args.targets.is_empty() {
        plan
    } else {
        plan.restricted_to(args.targets).map_err(|unknown| {
            Failure::bad_input(format!("`--target {}`: {unknown}", unknown.0))
                .with_hint("name a step of the spec, as written after its kind")
        })?
    };
    let session = session(&ContextArgs {
        file: args.file,
        settings: args.settings.clone(),
        jobs: args.jobs,
        batch: args.batch,
        worker: args.worker.clone(),
    })?;
    if args.dry_run {
        let statuses = survey(&plan, &session.store, &session.options);
        for &node in &plan.order {
            outln!("  {:<16}  {}", statuses[node.index()].label(), plan.graph[node].display_name());
        }
        return Ok(ExitCode::Success);
    }
    let slurm = slurm_settings(args, &session)?;
    if slurm.is_some() {
        // Ctrl-C and SIGTERM cancel the jobs this driver waits on; finished work is kept.
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register(signal, std::sync::Arc::clone(interrupted()));
        }
    }
    let settings = RunSettings {
        spec: args.file,
        partial: if !args.sets.is_empty() {
            Some("the run used --set")
        } else if !args.targets.is_empty() {
            Some("the run used --target")
        } else {
            None
        },
        fail_fast: args.fail_fast,
        max_memory: args.max_memory.or(session.config.max_memory_gb),
        reports: default_folder(&session.config.root, args.file),
        slurm,
    };
    // Nobody reads the progress any more (`run ... 2>&1 | head`): stop as Ctrl-C does. Under
    // Slurm the driver cancels its jobs and records what they finished; here the process ends,
    // its workers with it (each notices its parent is gone), and what finished is recorded
    // already.
    let stop: fn() = if settings.slurm.is_some() {
        || interrupted().store(true, std::sync::atomic::Ordering::SeqCst)
    } else {
        || std::process::exit(SIGPIPE_EXIT)
    };
    let mut progress = RunProgress::new(&plan, args.log_format, args.quiet);
    let outcome = super::output::stop_on_close(stop, || {
        ops::run::run(&plan, &session, &settings, &mut progress)
    });
    progress.finish();
    let RunOutcome { summary, reports, lock } = outcome?;
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
    if let Some(tables) = super::stage_table::stage_tables(&plan, &session.store, &summary.results)
    {
        out!("{tables}");
    }
    super::report_command::print_drawn(&reports);
    match lock {
        LockOutcome::Written(path) => outln!("lock: {} (written)", path.display()),
        LockOutcome::Unchanged(path) => outln!("lock: {} (unchanged)", path.display()),
        LockOutcome::LeftAsIs(path, why) => outln!("lock: {} left as it is: {why}", path.display()),
        LockOutcome::Unwritable(failure) => eoutln!("warning: {failure}"),
    }
    // Estimates that ran but diagnose themselves are said last, where the run's summary ends,
    // whatever the exit code.
    let flagged = FlaggedEstimates::of(&plan, &summary.results);
    if let Some(warning) = flagged.warning(args.file) {
        eout!("{warning}");
    }
    Ok(match summary.exit_code() {
        ExitCode::Success if args.strict && flagged.flagged > 0 => ExitCode::Failed,
        code => code,
    })
}

/// The Slurm settings and the most jobs at once, when the run goes to Slurm: command line, then
/// `devspec.toml` (`run.executor`, `[slurm]`), then the defaults. `None` for the local pool.
fn slurm_settings(
    args: &RunArgs<'_>,
    session: &Session,
) -> Result<Option<(SlurmSettings, usize)>, Failure> {
    let config = &session.config;
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
