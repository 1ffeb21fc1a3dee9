//! The command-line front end: parses arguments, runs the verb, and is the only place that
//! prints. Every failure arrives here as data ([`Failure`]) and leaves as text plus an exit code.

// First: its macros (`outln!`, `eoutln!`) serve every module below.
#[macro_use]
mod output;

mod args;
mod bid_command;
mod calibrate_command;
mod check_command;
mod checkout_command;
mod diff_command;
mod export_command;
mod flagged_estimates;
mod fmt_command;
mod gc_command;
mod import_command;
mod lsp_command;
mod plan_command;
mod report_command;
mod run_command;
mod run_context;
mod run_progress;
mod run_rates;
mod show_command;
mod show_paths;
mod stage_table;
mod status_command;
mod store_command;
mod verify_command;
mod version_command;

use std::path::Path;

use clap::Parser;

pub use args::{Args, Command};

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::project_config::ProjectConfig;

pub fn main() -> std::process::ExitCode {
    let args = Args::parse();
    crate::bid::parent_watch::exit_with_parent_if_asked();
    let code = match run(&args) {
        Ok(code) => code,
        Err(failure) => {
            eoutln!("{failure}");
            failure.exit_code()
        }
    };
    // Output that did not reach its file (a full disk under a redirection) is not a success;
    // a reader that went away (`| head`) is nobody's failure.
    if let Some(err) = output::write_failure() {
        let failure = Failure::environment(format!("cannot write devspec's output: {err}"));
        eoutln!("{failure}");
        return failure.exit_code().into();
    }
    code.into()
}

fn run(args: &Args) -> Result<ExitCode, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|err| Failure::environment(format!("cannot read the current folder: {err}")))?;
    if args.version {
        let config = project_config(&cwd)?;
        return version_command::run(args.worker.clone(), &config);
    }
    match &args.command {
        Some(Command::Check(check)) => {
            check_command::run(&check.files, &check.sets, &check.bind, check.format)
        }
        Some(Command::Fmt(fmt)) => fmt_command::run(&fmt.files, fmt.check),
        Some(Command::Lsp) => lsp_command::run(),
        Some(Command::Plan(plan)) => plan_command::run(plan, args.worker.clone()),
        Some(Command::Show(show)) => show_command::run(show, args.worker.clone()),
        Some(Command::Checkout(checkout)) => checkout_command::run(checkout, args.worker.clone()),
        Some(Command::Calibrate(calibrate)) => {
            calibrate_command::run(&calibrate_command::CalibrateArgs {
                file: &calibrate.file,
                step: &calibrate.step,
                checkpoint: calibrate.checkpoint,
                lrs: &calibrate.lrs,
                nbetas: &calibrate.nbetas,
                localizations: &calibrate.localizations,
                sets: &calibrate.sets,
                bind: &calibrate.bind,
                point: &calibrate.point,
                settings: &calibrate.settings,
                worker: args.worker.clone(),
            })
        }
        Some(Command::Gc(gc)) => {
            gc_command::run(&gc.keep, gc.dry_run, gc.min_age, args.worker.as_deref())
        }
        Some(Command::Status(status)) => status_command::run(
            &status.file,
            &status.sets,
            &status.bind,
            status.why,
            status.format,
            &status.settings,
            args.worker.clone(),
        ),
        Some(Command::Report(report)) => report_command::run(&report_command::ReportArgs {
            file: &report.file,
            sets: &report.sets,
            bind: &report.bind,
            out: report.out.as_deref(),
            open: report.open,
            settings: &report.settings,
            worker: args.worker.clone(),
        }),
        Some(Command::Run(run)) => run_command::run(&run_command::RunArgs {
            file: &run.file,
            sets: &run.sets,
            bind: &run.bind,
            jobs: run.jobs,
            batch: run.batch,
            settings: &run.settings,
            worker: args.worker.clone(),
            fail_fast: run.fail_fast,
            quiet: run.quiet,
            log_format: run.log_format,
            targets: &run.targets,
            dry_run: run.dry_run,
            executor: run.executor,
            partition: run.partition.as_deref(),
            max_jobs: run.max_jobs,
            max_memory: run.max_memory,
            strict: run.strict,
        }),
        Some(Command::Export(export)) => export_command::run(export, args.worker.clone()),
        Some(Command::Import(import)) => import_command::run(import),
        Some(Command::Verify(verify)) => verify_command::run(verify, args.worker.clone()),
        Some(Command::Diff(diff)) => diff_command::run(diff, args.worker.clone()),
        Some(Command::Store(store)) => store_command::run(&store.command),
        Some(Command::Bid(bid)) => bid_command::run(&bid.command, args.worker.clone()),
        // clap's `arg_required_else_help` prints the help before we get here.
        None => Ok(ExitCode::Success),
    }
}

fn project_config(cwd: &Path) -> Result<ProjectConfig, Failure> {
    Ok(ProjectConfig::discover(cwd)?.unwrap_or_else(|| ProjectConfig::defaults(cwd)))
}
