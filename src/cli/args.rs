//! The command line, declared with clap: every verb devspec will have, global options, and the
//! help text a user sees.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::check_command::DiagnosticFormat;
use super::run_progress::LogFormat;
use super::show_command::ShowFormat;
use super::status_command::StatusFormat;
use crate::exec::ThreadsPerStep;
use crate::plan::PlanFormat;

/// A declarative experiment-spec language and runner for developmental interpretability.
///
/// Write a `.dev` file (what to train, which checkpoints to keep, what to estimate on them,
/// which transitions to detect), then `devspec run FILE`.
#[derive(Debug, Parser)]
#[command(name = "devspec", disable_version_flag = true, arg_required_else_help = true)]
pub struct Args {
    /// Print devspec's version and the libtorch version its worker loads.
    #[arg(short = 'V', long, global = false)]
    pub version: bool,

    /// The devspec-worker executable to use (default: `DEVSPEC_WORKER`, `devspec.toml`, the folder
    /// of devspec, then PATH).
    #[arg(long, global = true, value_name = "PATH")]
    pub worker: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specs for errors without running anything.
    Check(CheckArgs),
    /// Rewrite specs in the canonical layout.
    Fmt(FmtArgs),
    /// Serve an editor over stdio as a language server (diagnostics, completion, hover, ...).
    Lsp,
    /// Show the steps a run would execute and which are cached.
    Plan(PlanArgs),
    /// Run a spec: train, checkpoint, estimate, detect, report.
    Run(RunArgs),
    /// Show what a run would do: which instances are cached, will run, or wait for inputs.
    Status(StatusArgs),
    /// Show one step's results across its instances (a row each).
    Show(ShowArgs),
    /// Lay out a train step's stored checkpoints as files named by point and step, with an index.
    ///
    /// `DIR/<step>/seed=0/step_001000.safetensors`, each a hard link to the store's file where
    /// the file system allows it (else a copy), read-only; `DIR/index.json` says what each file
    /// is (docs/results.md, "Checkpoints by name").
    Checkout(CheckoutArgs),
    /// Choose SGLD hyperparameters for an estimate by a short sweep.
    Calibrate(CalibrateArgs),
    /// Draw a spec's reports (HTML with SVG and PNG figures) from its results in the store.
    Report(ReportArgs),
    /// Compare two runs of a study: two lock files, or two specs' current results.
    Diff(DiffArgs),
    /// Bundle a study (spec and its files, lock file, results) for a colleague.
    Export(ExportArgs),
    /// Unpack a colleague's study bundle into a new folder, after checking every digest.
    Import(ImportArgs),
    /// Recompute a study's locked results in a scratch store and compare them with the lock.
    Verify(VerifyArgs),
    /// Remove store entries no spec refers to.
    Gc(GcArgs),
    /// Look after the store: `store check [--repair]` checks every entry.
    Store(StoreArgs),
    /// Bids: a study sent to a checkpoint owner, run on private checkpoints, answered with
    /// results only (docs/bids.md).
    Bid(BidArgs),
}

#[derive(Debug, clap::Args)]
pub struct BidArgs {
    #[command(subcommand)]
    pub command: BidCommand,
}

#[derive(Debug, Subcommand)]
pub enum BidCommand {
    /// (researcher) Bundle a spec with open parameters as a bid: the spec, its imports, the
    /// files it reads, its open parameters and a cost forecast, nothing else.
    Export {
        /// The spec.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The bid to write (`bid.tar.zst`).
        #[arg(long, short = 'o', value_name = "BID")]
        out: PathBuf,
        /// Leave out the forecast of the bid's cost on this machine (`plan --cost`'s, which the
        /// bid carries by default; its calibration runs once per build and setting, about a
        /// minute and a half).
        #[arg(long = "no-cost")]
        no_cost: bool,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// (owner) Say in words what a bid computes, reads and writes, and what would leave the
    /// machine; refuse one that names paths it may not.
    Inspect {
        /// The bid (`bid.tar.zst`).
        #[arg(value_name = "BID")]
        bid: PathBuf,
    },
    /// (owner) Run a bid on your checkpoints in its own folder and store, within a budget.
    Run {
        /// The bid (`bid.tar.zst`).
        #[arg(value_name = "BID")]
        bid: PathBuf,
        /// Bind an open parameter: `NAME=VALUE` (`checkpoints="runs/*.safetensors"`).
        #[arg(long = "bind", value_name = "NAME=VALUE")]
        binds: Vec<String>,
        /// Bindings from a TOML file (`NAME = "VALUE"` per line).
        #[arg(long, value_name = "FILE")]
        bind_file: Option<PathBuf>,
        /// Override a value of the spec, as `devspec run --set` does.
        #[arg(long = "set", value_name = "NAME=EXPR")]
        sets: Vec<String>,
        /// Wall time granted (`90s`, `45m`, `2h`, `1h30m`): at the end, the run is stopped and
        /// its results are marked partial.
        #[arg(long, value_name = "TIME", value_parser = crate::bid::budget::parse)]
        budget: Option<std::time::Duration>,
        /// The bid's folder (default: `bid-<study>` here).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Run the observables whose numbers can reveal weights (`bid inspect` lists them).
        #[arg(long)]
        allow_revealing: bool,
        /// Most steps at once.
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
    },
    /// (owner) Write the results of a bid run: the results only, provenance without hosts or
    /// paths, and a commitment to the checkpoints used.
    Results {
        /// The bid's folder (`bid run --dir`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The results bundle to write (`results.tar.zst`).
        #[arg(long, short = 'o', value_name = "RESULTS")]
        out: PathBuf,
        /// Leave a step's results out, and every step's that reads it (`--redact STEP`), or
        /// one field of every instance of a step (`--redact STEP.FIELD`, e.g. `llc.traces`;
        /// `bid inspect` lists each step's fields); repeatable.
        #[arg(long, value_name = "STEP|STEP.FIELD")]
        redact: Vec<String>,
    },
    /// (researcher) Check results against the bid, draw the report, and write the results'
    /// lock for `devspec diff`.
    Open {
        /// The results bundle (`results.tar.zst`).
        #[arg(value_name = "RESULTS")]
        results: PathBuf,
        /// The bid they answer.
        #[arg(long, value_name = "BID")]
        bid: PathBuf,
        /// Where to write the report and `results.lock` (default: `opened-<study>`).
        #[arg(long, short = 'o', value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Check every entry (each blob against its digest, each manifest's seal and numbers, the
    /// trajectories' states and the stored records); exit 1 when something is damaged.
    Check {
        /// Set what is damaged aside in the store's `damaged/` folder, so the next run
        /// recomputes it.
        #[arg(long)]
        repair: bool,
        /// The store (default: `DEVSPEC_STORE`, `store.path` in devspec.toml, else `.devspec/`).
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The specs to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How to print diagnostics: `text` for people (stderr), `json` for editors (stdout, one
    /// object per line).
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiagnosticFormat,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
}

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The specs to format.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Change nothing; exit 1 if any file is not in the canonical layout.
    #[arg(long)]
    pub check: bool,
}

/// Values for the spec's open parameters (`param NAME: TYPE`), beside `--set`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BindArgs {
    /// Bind an open parameter: `NAME=VALUE`. `files`, `file` and `string` parameters take the
    /// text as written (`--bind checkpoints="runs/*.safetensors"`, paths relative to the
    /// working folder); `number`, `integer` and `boolean` a literal; `model` and `data` a .dev
    /// expression, as `--set` reads one. Repeatable.
    #[arg(long = "bind", value_name = "NAME=VALUE")]
    pub binds: Vec<String>,
    /// Bind open parameters from a TOML table of `NAME = "value"`, numbers or booleans (paths
    /// relative to the file's folder); `--bind` wins over it.
    #[arg(long = "bind-file", value_name = "FILE.toml")]
    pub bind_file: Option<PathBuf>,
}

/// Where results live and what changes numbers: settings shared by the verbs that key steps.
/// Each wins over its environment variable, which wins over `devspec.toml`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// The store (default: `DEVSPEC_STORE`, `store.path` in devspec.toml, else `.devspec/`).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// CPU threads per step, part of every key, or `auto`: each step's own count, from its
    /// model and chains (default: `DEVSPEC_THREADS`, `run.threads_per_step` in devspec.toml,
    /// else 1).
    #[arg(long, value_name = "N|auto", value_parser = clap::value_parser!(ThreadsPerStep))]
    pub threads: Option<ThreadsPerStep>,
    /// Where steps that say `device = auto` (or nothing) run: `auto`, `cpu`, `cuda`, `cuda:N`
    /// (default: `DEVSPEC_DEVICE`, `run.device` in devspec.toml, else `auto`: CUDA if present).
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The spec to plan.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// `text` for people, `json` for programs, `dot` (Graphviz) or `mermaid` for pictures
    /// (nodes coloured: cached green, will run amber, waits for inputs grey).
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Draw the steps, not their instances: a node per step with its instances' statuses
    /// counted, an edge where one step reads another.
    #[arg(long)]
    pub steps: bool,
    /// Forecast each step's and the whole study's wall time on this machine (text or JSON):
    /// the plan's work priced by rates a short calibration measures once per build and
    /// setting, and cached in the store.
    #[arg(long, conflicts_with = "steps")]
    pub cost: bool,
    /// With `--cost`: measure the rates again.
    #[arg(long, requires = "cost")]
    pub recalibrate: bool,
    /// With `--cost`: the worker requests a run would have at once (default as for `run`).
    #[arg(long, value_name = "N", requires = "cost")]
    pub jobs: Option<usize>,
    /// With `--cost`: the most siblings sent as one request (default as for `run`).
    #[arg(long, value_name = "N", requires = "cost")]
    pub batch: Option<u32>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

// Each flag of `run` is a switch a user types (`--dry-run`, `--strict`): bools by nature.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The spec to run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// Worker requests at once; 0 means one per core (default: `DEVSPEC_JOBS`, `run.jobs` in
    /// devspec.toml, else one per core).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Most sibling instances computed together in one request; 1 turns batching off
    /// (default: `DEVSPEC_BATCH`, `run.batch` in devspec.toml, else 16). Results are the same
    /// bytes whatever it is.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: Option<u32>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Most memory one instance may need, in GiB: instances estimated above it are refused
    /// before anything starts (default: `run.max_memory_gb` in devspec.toml, else this
    /// machine's memory, or a step's `resources.mem_gb` under Slurm). Set it to run anyway.
    #[arg(long, value_name = "GIB", value_parser = positive_gib)]
    pub max_memory: Option<f64>,
    /// Stop starting steps at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Exit 1 when any estimate has diagnostics (the summary's warning counts them), not only
    /// when a step failed.
    #[arg(long)]
    pub strict: bool,
    /// Run only these steps and what they need (repeatable).
    #[arg(long = "target", value_name = "STEP")]
    pub targets: Vec<String>,
    /// Say what would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print only failures and the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// `text`: a progress bar on a terminal, a line per event otherwise; `json`: a JSON object
    /// per event, for programs.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Where the workers' steps run: `local` (a pool of workers here) or `slurm` (a batch job
    /// per group, against a store the nodes share; docs/cluster.md). Default: `run.executor` in
    /// devspec.toml, else `local`.
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// The Slurm partition jobs go to (default: `slurm.partition`, else the cluster's).
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// Most Slurm jobs queued or running at once (default: `slurm.max_jobs`, else 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_jobs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Local,
    Slurm,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The spec.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// The folder to write into, one subfolder per report step (default: `reports/<spec name>`
    /// in the project).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Open each report in the desktop's browser afterwards.
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The spec.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// Say why each instance will run: what changed in its key since its last run.
    #[arg(long)]
    pub why: bool,
    /// `text` for people, `json` for programs (one document: `schema_version`, `total`,
    /// `counts`, and per instance its name, step, kind, checkpoint, status and reasons).
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Count what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the results of these specs only (default: every `.dev` file of the project).
    #[arg(long, value_name = "SPEC")]
    pub keep: Vec<PathBuf>,
    /// Keep every entry younger than this many seconds, so a run going on at the same time
    /// loses nothing it is writing (what a live run reaches or wrote is kept whatever this is).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::store::MIN_AGE.as_secs())]
    pub min_age: u64,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The spec.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The step whose results to show.
    #[arg(value_name = "STEP")]
    pub step: String,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// `table` for people, `csv` for spreadsheets, `json` for programs, `parquet` for pandas,
    /// polars and Arrow (written to `-o FILE`; docs/results.md gives its columns).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
    /// The file `--format parquet` writes.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// With `--format parquet`: a row per instance and training step (a train's loss series,
    /// an estimate at its checkpoint, a detection's boundaries), instead of a row per instance
    /// with the series as lists.
    #[arg(long)]
    pub long: bool,
    /// Significant digits of the table's numbers (CSV and JSON keep every digit).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u8).range(1..=17))]
    pub precision: u8,
    /// Show what produced each result instead of its numbers: the spec's digest, devspec's
    /// version and commit, libtorch, the device and its name, the host, threads, wall time.
    #[arg(long)]
    pub provenance: bool,
    /// Print each stored output's file in the store instead (instance, output, digest, path).
    #[arg(long, conflicts_with_all = ["provenance", "long", "output"])]
    pub paths: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct CheckoutArgs {
    /// The spec.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The train or checkpoint step whose checkpoints to lay out.
    #[arg(value_name = "STEP")]
    pub step: String,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// The folder to write into: `DIR/<step>/<point>/step_001000.safetensors` and
    /// `DIR/index.json` (default: `checkouts/<spec name>` in the project).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// The spec.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The `llc` estimate step to calibrate.
    #[arg(value_name = "STEP")]
    pub step: String,
    /// The checkpoint (training step) to calibrate on; default: the step's last.
    #[arg(long, value_name = "N")]
    pub checkpoint: Option<i64>,
    /// The sweep point to calibrate at, one axis each (`--point seed=1`, repeatable); default:
    /// the first.
    #[arg(long = "point", value_name = "AXIS=VALUE")]
    pub point: Vec<String>,
    /// Override a value: `LET=EXPR` or `STEP.FIELD=EXPR` (the right side is a .dev expression).
    #[arg(long = "set", value_name = "NAME=EXPR")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub bind: BindArgs,
    /// Step sizes to try (default: the spec's lr times 0.1, 0.3, 1, 3 and 10).
    #[arg(long = "lr", value_name = "LR,...", value_delimiter = ',')]
    pub lrs: Vec<f64>,
    /// Values of `nbeta` to try against the step sizes.
    #[arg(
        long = "nbeta",
        value_name = "N,...",
        value_delimiter = ',',
        conflicts_with = "localizations"
    )]
    pub nbetas: Vec<f64>,
    /// Localization strengths to try against the step sizes (instead of `nbeta`).
    #[arg(long = "localization", value_name = "GAMMA,...", value_delimiter = ',')]
    pub localizations: Vec<f64>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first run: a lock file (`study.dev.lock`) or a spec (its current results).
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The second run, likewise.
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// `table` for people, `json` for programs.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DiffFormat,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The spec whose study to bundle (run it first: its lock must match its results).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The bundle to write (`study.tar.zst`).
    #[arg(long, short = 'o', value_name = "BUNDLE")]
    pub out: PathBuf,
    /// Also bundle the checkpoints (and optimizer states), which can be large; without them the
    /// importer retrains to restore them.
    #[arg(long)]
    pub with_checkpoints: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundle (`study.tar.zst`).
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Where to unpack it (default: a new folder named after the study).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Refuse bundles that unpack to more than this many bytes (suffixes K, M, G; default 50
    /// times the bundle's size plus 64M, and no more than the free disk space).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The spec whose lock (`FILE.lock`) to verify.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    // The bindings the locked run used: a bound run's lock records them, and verify needs
    // them again (and refuses a bound file whose digest changed).
    #[command(flatten)]
    pub bind: BindArgs,
    /// Verify only these steps' instances (repeatable).
    #[arg(long = "steps", value_name = "STEP", num_args = 1..)]
    pub steps: Vec<String>,
    /// Recompute a sample of K of the locked runs, checkpoints and estimates (and what they
    /// need), chosen by their keys, so the same lock gives the same sample.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub sample: Option<u32>,
    /// Worker requests at once; 0 means one per core (default: `DEVSPEC_JOBS`, `run.jobs` in
    /// devspec.toml, else one per core).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// A size in bytes: `500`, `64K`, `2M`, `16G`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        other => return Err(format!("unknown size unit `{other}` (use K, M, G or T)")),
    };
    let number: u64 =
        number.trim().parse().map_err(|_| format!("`{text}` is not a size such as 500M or 16G"))?;
    number.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// A memory size in GiB: a number above 0.
fn positive_gib(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(gib) if gib > 0.0 && gib.is_finite() => Ok(gib),
        _ => Err("expected a number of GiB above 0, such as 64 or 0.5".into()),
    }
}
