//! The verbs of bids (`devspec bid export | inspect | run | results | open`, see `bid`): each a
//! function that takes paths and settings and returns a typed outcome; nothing printed.
//!
//! `run` runs the bid's spec as a child `devspec run` in the bid's own folder, with its own
//! store, and stops it when the budget runs out: the child and its workers end (a worker notices
//! its parent is gone), no new request starts, and what finished is in the store already,
//! written atomically as each result was. The results are then marked partial.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use devspec_protocol::StepKind;
use devspec_protocol::params::Observable;

use super::{Session, Settings};
use crate::bid::archive::{self, Archive};
use crate::bid::bid_bundle::{self, BID_FORMAT, BID_MANIFEST, BidForecast, BidManifest, BidParam};
use crate::bid::commitment::{Commitment, CommittedCheckpoint};
use crate::bid::opening::{self, is_checkpoint_output, is_withheld};
use crate::bid::path_rules;
use crate::bid::results_bundle::{
    LOCK_ENTRY, RESULTS_FORMAT, RESULTS_MANIFEST, ResultsManifest, Scan,
};
use crate::bid::revealing;
use crate::bid::run_record::RunRecord;
use crate::compile::value::{Value, ValueKind};
use crate::compile::{CompileError, Program};
use crate::exec::{DEVSPEC_COMMIT, Results};
use crate::failure::Failure;
use crate::plan::Plan;
use crate::report::data::ReportData;
use crate::report::{Context, write_report};
use crate::source::SourceMap;
use crate::study::Lock;
use crate::study::bundle::{Exporter, write_archive};

/// A spec checked, or its diagnostics with the sources to render them.
pub enum Checked {
    Program(Program, SourceMap),
    Diagnostics(Vec<crate::diagnostic::Diagnostic>, SourceMap),
}

/// Checks `spec` with its open parameters open.
pub fn check_open(spec: &Path) -> Result<Checked, Failure> {
    let mut sources = SourceMap::new();
    match crate::compile::check_path(spec, &[], &mut sources) {
        Ok(program) => Ok(Checked::Program(program, sources)),
        Err(CompileError::Unreadable(failure)) => Err(failure),
        Err(CompileError::Diagnostics(diagnostics)) => {
            Ok(Checked::Diagnostics(diagnostics, sources))
        }
    }
}

/// Checks `spec` with the owner's bindings and `--set`s.
pub fn check_bound(
    spec: &Path,
    sets: &[String],
    binds: &[String],
    bind_file: Option<&Path>,
) -> Result<Checked, Failure> {
    let mut sources = SourceMap::new();
    let bindings = crate::compile::Bindings::parse(binds, bind_file)?;
    match crate::compile::check_path_bound(spec, sets, &bindings, &mut sources) {
        Ok(program) => Ok(Checked::Program(program, sources)),
        Err(CompileError::Unreadable(failure)) => Err(failure),
        Err(CompileError::Diagnostics(diagnostics)) => {
            Ok(Checked::Diagnostics(diagnostics, sources))
        }
    }
}

/// A file a spec names: as written, and resolved.
struct NamedFile<'a> {
    step: &'a str,
    field: &'a str,
    written: &'a str,
    path: &'a Path,
}

fn named_files(program: &Program) -> Vec<NamedFile<'_>> {
    fn walk<'a>(step: &'a str, field: &'a str, value: &'a Value, out: &mut Vec<NamedFile<'a>>) {
        match &value.kind {
            ValueKind::File { written, path } => {
                out.push(NamedFile { step, field, written, path });
            }
            ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
                for item in items {
                    walk(step, field, item, out);
                }
            }
            ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
                for item in fields.values() {
                    walk(step, field, item, out);
                }
            }
            ValueKind::Int(_)
            | ValueKind::Float(_)
            | ValueKind::Str(_)
            | ValueKind::Bool(_)
            | ValueKind::Auto
            | ValueKind::Enum(_)
            | ValueKind::Open { .. } => {}
        }
    }
    let mut out = Vec::new();
    for step in &program.steps {
        for (field, value) in &step.fields {
            walk(&step.name, field, value, &mut out);
        }
    }
    out
}

/// The TorchScript models a spec runs (resolved paths).
fn torchscript_models(program: &Program) -> Vec<PathBuf> {
    fn walk(value: &Value, out: &mut Vec<PathBuf>) {
        match &value.kind {
            ValueKind::Ctor { name, args, .. } => {
                if *name == "torchscript.model" {
                    out.extend(value.files().into_iter().map(Path::to_path_buf));
                }
                for v in args.values() {
                    walk(v, out);
                }
            }
            ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
                for v in items {
                    walk(v, out);
                }
            }
            ValueKind::Record(fields) => fields.values().for_each(|v| walk(v, out)),
            ValueKind::Int(_)
            | ValueKind::Float(_)
            | ValueKind::Str(_)
            | ValueKind::File { .. }
            | ValueKind::Bool(_)
            | ValueKind::Auto
            | ValueKind::Enum(_)
            | ValueKind::Open { .. } => {}
        }
    }
    let mut out = Vec::new();
    for step in &program.steps {
        step.fields.values().for_each(|v| walk(v, &mut out));
    }
    out.sort();
    out.dedup();
    out
}

/// Every path `program` names that a bid may not: the bid's own files must be written relative,
/// stay inside `root` and name no glob; a file outside `root` must be one the owner bound (its
/// written text one of `bound`).
fn path_refusals(program: &Program, root: &Path, bound: &[String]) -> Vec<String> {
    let mut refusals = Vec::new();
    for file in named_files(program) {
        if bound.iter().any(|b| b == file.written) {
            continue;
        }
        let refusal = path_rules::check_written(file.written)
            .and_then(|()| path_rules::check_resolved(file.path, root));
        if let Err(refusal) = refusal {
            refusals.push(format!(
                "step `{}`, field `{}`: `{}` {}",
                file.step,
                file.field,
                file.written,
                refusal.describe()
            ));
        }
    }
    refusals
}

fn refused(what: &str, refusals: &[String]) -> Failure {
    Failure::bad_input(format!("{what} is refused:\n  {}", refusals.join("\n  "))).with_hint(
        "a bid names its own files relative to its spec, inside its folder; the owner's files \
         come only through `param`s the owner binds",
    )
}

/// What `bid export` wrote.
pub struct BidExported {
    pub files: usize,
    pub bytes: u64,
    pub params: usize,
    pub torchscript: Vec<String>,
    pub forecast: BidForecast,
}

/// Writes the bid of `spec` (checked as `program` from `sources`) to `out`. With a session,
/// the bid carries the forecast of its cost on this machine (`plan --cost`'s).
pub fn export(
    spec: &Path,
    program: &Program,
    sources: &SourceMap,
    forecast_session: Option<&Session>,
    out: &Path,
) -> Result<BidExported, Failure> {
    let spec_abs = spec.canonicalize().unwrap_or_else(|_| spec.to_path_buf());
    let folder = spec_abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = crate::project_config::ProjectConfig::discover(&folder)?
        .map_or(folder, |config| config.root);
    let root = root.canonicalize().unwrap_or(root);
    let refusals = path_refusals(program, &root, &[]);
    if !refusals.is_empty() {
        return Err(refused(&format!("the bid of {}", spec.display()), &refusals));
    }
    let mut paths: Vec<PathBuf> = sources.files().filter_map(|s| s.path.clone()).collect();
    paths.extend(named_files(program).iter().map(|f| f.path.to_path_buf()));
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for path in &paths {
        let absolute = path.canonicalize().unwrap_or_else(|_| path.clone());
        let relative = absolute.strip_prefix(&root).map_err(|_| {
            refused(
                &format!("the bid of {}", spec.display()),
                &[format!("{} is outside the project {}", absolute.display(), root.display())],
            )
        })?;
        let bytes = std::fs::read(&absolute).map_err(|err| {
            Failure::bad_input(format!("cannot read {}: {err}", absolute.display()))
        })?;
        contents.insert(format!("spec/{}", slashed(relative)), bytes);
    }
    let spec_relative = slashed(spec_abs.strip_prefix(&root).unwrap_or(&spec_abs));
    let spec_digest =
        blake3::hash(&contents[&format!("spec/{spec_relative}")]).to_hex().to_string();
    let torchscript = torchscript_models(program)
        .iter()
        .map(|p| slashed(p.strip_prefix(&root).unwrap_or(p)))
        .collect();
    let forecast = match forecast_session {
        None => BidForecast::No { why: "not asked for (`bid export --cost` makes one)".into() },
        Some(session) => forecast(program, session)?,
    };
    let contents: Vec<(String, Vec<u8>)> = contents.into_iter().collect();
    let manifest = BidManifest {
        format: BID_FORMAT,
        study: spec.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
        spec: spec_relative,
        spec_digest,
        files: archive::listing(&contents),
        params: open_params(program),
        torchscript,
        forecast,
        exported_by: exporter(),
    };
    let bytes = write_archive(out, BID_MANIFEST, &manifest, &contents)?;
    Ok(BidExported {
        files: contents.len(),
        bytes,
        params: manifest.params.len(),
        torchscript: manifest.torchscript,
        forecast: manifest.forecast,
    })
}

/// The spec's open parameters.
fn open_params(program: &Program) -> Vec<BidParam> {
    program
        .params()
        .iter()
        .map(|param| BidParam {
            name: param.name.clone(),
            ty: param.ty.to_string(),
            doc: param.doc.clone(),
        })
        .collect()
}

fn exporter() -> Exporter {
    Exporter { devspec: env!("CARGO_PKG_VERSION").to_owned(), commit: DEVSPEC_COMMIT.to_owned() }
}

/// The forecast of `plan --cost`, per instance; what cannot be priced (an instance reading
/// checkpoints that are bound later, a TorchScript model) says why.
fn forecast(program: &Program, session: &Session) -> Result<BidForecast, Failure> {
    let Ok(plan) = crate::plan::plan(program) else {
        return Ok(BidForecast::No {
            why: "the spec cannot be planned before its parameters are bound".into(),
        });
    };
    let calibrated = super::cost_calibration::rates(session, false, &mut super::Quiet)?;
    let cached = vec![false; plan.graph.node_count()];
    let made = crate::plan::cost::forecast(
        &plan,
        &calibrated.rates,
        &cached,
        session.options.jobs,
        session.options.max_batch,
    );
    let instances = plan
        .order
        .iter()
        .map(|&node| {
            let seconds = match &made.instances[node.index()] {
                crate::plan::cost::InstanceForecast::Seconds { alone, .. } => Ok(*alone),
                crate::plan::cost::InstanceForecast::Unknown(why) => Err((*why).to_owned()),
                crate::plan::cost::InstanceForecast::Cached => Ok(0.0),
            };
            crate::bid::bid_bundle::ForecastLine {
                instance: plan.graph[node].display_name(),
                seconds,
            }
        })
        .collect();
    Ok(BidForecast::Yes { jobs: made.jobs, total_seconds: made.total, instances })
}

/// One step of a bid, in words.
pub struct StepView {
    pub name: String,
    pub kind: StepKind,
    pub reads: Vec<String>,
    pub writes: String,
    pub leaves: String,
    /// Why its numbers can reveal weights.
    pub revealing: Option<&'static str>,
}

/// What `bid inspect` found.
pub struct Inspection {
    pub manifest: BidManifest,
    pub steps: Vec<StepView>,
}

/// Reads, unpacks (into a scratch folder) and checks a bid, refusing what it may not name.
pub fn inspect(bid_path: &Path) -> Result<Inspection, Failure> {
    let bid = bid_bundle::read(bid_path)?;
    let scratch = tempfile::tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch folder: {err}")))?;
    let spec = bid_bundle::unpack(&bid, scratch.path())?;
    let program = match check_open(&spec)? {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(bid_path, &diagnostics, &sources));
        }
    };
    let refusals = path_refusals(&program, &scratch.path().join("spec"), &[]);
    if !refusals.is_empty() {
        return Err(refused(&bid_path.display().to_string(), &refusals));
    }
    let steps = step_views(&program, &scratch.path().join("spec"));
    Ok(Inspection { manifest: bid.manifest, steps })
}

fn diagnostics_failure(
    bid: &Path,
    diagnostics: &[crate::diagnostic::Diagnostic],
    sources: &SourceMap,
) -> Failure {
    let text: String =
        diagnostics.iter().map(|d| crate::diagnostic::render::to_text(sources, d)).collect();
    Failure::bad_input(format!("the spec of {} does not check:\n{text}", bid.display()))
}

fn step_views(program: &Program, root: &Path) -> Vec<StepView> {
    let files = named_files(program);
    program
        .steps
        .iter()
        .map(|step| {
            let mut reads: Vec<String> = step
                .inputs
                .iter()
                .map(|&i| format!("the results of step `{}`", program.steps[i].name))
                .collect();
            for file in files.iter().filter(|f| f.step == step.name) {
                let shown = file.path.strip_prefix(root).unwrap_or(file.path);
                reads.push(format!("the bid's own file `{}` ({})", shown.display(), file.field));
            }
            for (field, value) in &step.fields {
                for (name, ty) in open_uses(value) {
                    reads.push(format!("what the owner binds to `{name}` ({ty}) ({field})"));
                }
            }
            let observable = step.fields.get("observable").and_then(Value::typed::<Observable>);
            StepView {
                name: step.name.clone(),
                kind: step.kind,
                reads,
                writes: writes(step.kind).to_owned(),
                leaves: leaves(step.kind, observable.as_ref()),
                revealing: observable.as_ref().and_then(revealing::reveals),
            }
        })
        .collect()
}

/// The open parameters `value` uses, by name and type.
fn open_uses(value: &Value) -> Vec<(&str, crate::compile::ParamType)> {
    match &value.kind {
        ValueKind::Open { name, ty } => vec![(name.as_str(), *ty)],
        ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
            items.iter().flat_map(open_uses).collect()
        }
        ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
            fields.values().flat_map(open_uses).collect()
        }
        ValueKind::Int(_)
        | ValueKind::Float(_)
        | ValueKind::Str(_)
        | ValueKind::File { .. }
        | ValueKind::Bool(_)
        | ValueKind::Auto
        | ValueKind::Enum(_) => Vec::new(),
    }
}

/// What a step of `kind` writes on the owner's machine.
fn writes(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Train => "checkpoints and optimizer states, into the bid's own store",
        StepKind::Checkpoint => "the bound checkpoints, copied into the bid's own store",
        StepKind::Estimate => "its measurement, into the bid's own store",
        StepKind::Detect => "the boundaries it finds, into the bid's own store",
        StepKind::Report => "the report's data into the store, and its page under the bid's folder",
        StepKind::Test => "the test fixture's outputs, into the bid's own store",
    }
}

/// What of a step of `kind` leaves the machine in the results.
fn leaves(kind: StepKind, observable: Option<&Observable>) -> String {
    match kind {
        StepKind::Train => "its loss series (train and test loss at each logged step); its \
                            checkpoints never leave, only their BLAKE3 digests (the commitment)"
            .into(),
        StepKind::Checkpoint => {
            "only each checkpoint's BLAKE3 digest (the commitment), never its bytes".into()
        }
        StepKind::Estimate => match observable {
            Some(Observable::Llc(_)) => "the LLC estimate and its standard error, every \
                                         chain's loss trace, the sampler's diagnostics"
                .into(),
            Some(observable) => {
                format!("the numbers of `{}` at each checkpoint", observable_name(observable))
            }
            None => "the observable's numbers at each checkpoint".into(),
        },
        StepKind::Detect => "the stage boundaries found, with their checkpoint intervals".into(),
        StepKind::Report => "the report's data: every series it draws, the estimates and \
                             detections, the keys of its inputs"
            .into(),
        StepKind::Test => "the test fixture's numbers".into(),
    }
}

fn observable_name(observable: &Observable) -> &'static str {
    match observable {
        Observable::Llc(_) => "llc",
        Observable::Loss(_) => "loss",
        Observable::WeightNorm(_) => "weight_norm",
        Observable::GradientNorm(_) => "gradient_norm",
        Observable::HessianTrace(_) => "hessian_trace",
        Observable::Outputs(_) => "outputs",
        Observable::Accuracy(_) => "accuracy",
        Observable::InductionScore(_) => "induction_score",
        Observable::TmsGeometry(_) => "tms.geometry",
        Observable::IclBaselines(_) => "icl.baselines",
    }
}

/// How the owner runs a bid.
pub struct BidRun<'a> {
    pub bid: &'a Path,
    pub dir: &'a Path,
    pub binds: &'a [String],
    pub bind_file: Option<&'a Path>,
    pub sets: &'a [String],
    pub budget: Option<Duration>,
    pub allow_revealing: bool,
    /// The worker `devspec` would use (`--worker`).
    pub worker: Option<&'a Path>,
    pub jobs: Option<usize>,
}

/// What `bid run` did.
pub struct BidRunOutcome {
    pub record: RunRecord,
    /// The child run's exit status (`None`: stopped at the budget).
    pub status: Option<i32>,
}

/// The text each binding gives (`--bind NAME=VALUE`, and the bind file's strings): the only
/// paths outside the bid's folder a bid may read.
fn bound_values(binds: &[String], bind_file: Option<&Path>) -> Vec<String> {
    let mut values: Vec<String> =
        binds.iter().filter_map(|b| b.split_once('=')).map(|(_, v)| v.to_owned()).collect();
    if let Some(table) = bind_file
        .and_then(|file| std::fs::read_to_string(file).ok())
        .and_then(|text| text.parse::<toml::Table>().ok())
    {
        values.extend(table.values().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    values
}

/// The `--bind`s with every relative path of a `file` or `files` parameter made absolute
/// against the owner's working folder, where they were typed: the run, and `bid results`
/// later from anywhere, read the same files.
fn absolute_binds(program: &Program, binds: &[String]) -> Result<Vec<String>, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|err| Failure::environment(format!("cannot read the current folder: {err}")))?;
    Ok(binds
        .iter()
        .map(|bind| {
            let Some((name, text)) = bind.split_once('=') else { return bind.clone() };
            let is_path = program.params().iter().any(|p| {
                p.name == name.trim()
                    && matches!(
                        p.ty,
                        crate::compile::ParamType::Files | crate::compile::ParamType::File
                    )
            });
            if is_path && !Path::new(text).is_absolute() {
                format!("{name}={}", cwd.join(text).display())
            } else {
                bind.clone()
            }
        })
        .collect())
}

/// Runs a bid in `dir` (its own folder and store), within the budget.
pub fn run(settings: &BidRun<'_>) -> Result<BidRunOutcome, Failure> {
    let bid = bid_bundle::read(settings.bid)?;
    let bid_digest = bid_bundle::digest_of(settings.bid)?;
    std::fs::create_dir_all(settings.dir).map_err(|err| {
        Failure::environment(format!("cannot make {}: {err}", settings.dir.display()))
    })?;
    // Absolute, since the run works in the bid's folder.
    let dir = &settings.dir.canonicalize().map_err(|err| {
        Failure::environment(format!("cannot read {}: {err}", settings.dir.display()))
    })?;
    if let Ok(record) = RunRecord::read(dir)
        && record.bid_digest != bid_digest
    {
        return Err(Failure::bad_input(format!("{} holds the run of another bid", dir.display()))
            .with_hint("run each bid in its own folder (--dir)"));
    }
    let spec = bid_bundle::unpack(&bid, dir)?;
    // The bid's project: its own folder, so no `devspec.toml` of the owner's above it applies.
    let config = dir.join("spec").join(crate::project_config::FILE_NAME);
    if !config.exists() {
        std::fs::write(&config, "# Written by `devspec bid run`: the bid's own project.\n")
            .map_err(|err| {
                Failure::environment(format!("cannot write {}: {err}", config.display()))
            })?;
    }
    let open = match check_open(&spec)? {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(settings.bid, &diagnostics, &sources));
        }
    };
    let binds = absolute_binds(&open, settings.binds)?;
    let bind_file =
        match settings.bind_file {
            Some(file) => Some(file.canonicalize().map_err(|err| {
                Failure::bad_input(format!("cannot read {}: {err}", file.display()))
            })?),
            None => None,
        };
    let program = match check_bound(&spec, settings.sets, &binds, bind_file.as_deref())? {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(settings.bid, &diagnostics, &sources));
        }
    };
    let bound = bound_values(&binds, bind_file.as_deref());
    let refusals = path_refusals(&program, &dir.join("spec"), &bound);
    if !refusals.is_empty() {
        return Err(refused(&settings.bid.display().to_string(), &refusals));
    }
    let revealing: Vec<String> = step_views(&program, &dir.join("spec"))
        .into_iter()
        .filter_map(|s| s.revealing.map(|why| format!("step `{}`: {why}", s.name)))
        .collect();
    if !revealing.is_empty() && !settings.allow_revealing {
        return Err(Failure::bad_input(format!(
            "{} measures what can reveal the checkpoints' weights:\n  {}",
            settings.bid.display(),
            revealing.join("\n  ")
        ))
        .with_hint("run it only if you accept that: `devspec bid run ... --allow-revealing`"));
    }
    let store = dir.join(".devspec");
    let mut command = std::process::Command::new(
        std::env::current_exe()
            .map_err(|err| Failure::environment(format!("cannot find devspec itself: {err}")))?,
    );
    if let Some(worker) = settings.worker {
        command.arg("--worker").arg(worker);
    }
    command.arg("run").arg(&spec).arg("--store").arg(&store).arg("--quiet");
    for set in settings.sets {
        command.arg("--set").arg(set);
    }
    for bind in &binds {
        command.arg("--bind").arg(bind);
    }
    if let Some(file) = &bind_file {
        command.arg("--bind-file").arg(file);
    }
    if let Some(jobs) = settings.jobs {
        command.arg("--jobs").arg(jobs.to_string());
    }
    let status = run_within(command, settings.budget)?;
    let mut record = RunRecord {
        bid_digest,
        spec_digest: bid.manifest.spec_digest.clone(),
        spec: format!("spec/{}", bid.manifest.spec),
        binds,
        bind_file,
        sets: settings.sets.to_vec(),
        allow_revealing: settings.allow_revealing,
        budget_seconds: settings.budget.map(|b| b.as_secs()),
        stopped_at_budget: status.is_none(),
        missing: Vec::new(),
    };
    let (plan, session) = planned_in(dir, &spec, &record)?;
    record.missing = Results::in_store(&plan, &session.store, &session.options).missing(&plan);
    record.write(dir)?;
    Ok(BidRunOutcome { record, status })
}

/// Runs `command` to its end, or stops it when `budget` runs out: its exit code, or `None`
/// when the budget stopped it.
fn run_within(
    mut command: std::process::Command,
    budget: Option<Duration>,
) -> Result<Option<i32>, Failure> {
    let mut child = command
        .spawn()
        .map_err(|err| Failure::environment(format!("cannot start devspec run: {err}")))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|err| Failure::environment(format!("cannot wait for devspec run: {err}")))?
        {
            return Ok(Some(status.code().unwrap_or(1)));
        }
        if budget.is_some_and(|budget| started.elapsed() >= budget) {
            // The run ends at once; its workers notice their parent is gone and end too, and
            // every result that finished was stored atomically before.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The bid's spec in `dir`, planned with the run's settings, and a session reading its store.
fn planned_in(dir: &Path, spec: &Path, record: &RunRecord) -> Result<(Plan, Session), Failure> {
    let program = match check_bound(spec, &record.sets, &record.binds, record.bind_file.as_deref())?
    {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(spec, &diagnostics, &sources));
        }
    };
    let plan = crate::plan::plan(&program).map_err(|_| {
        Failure::bad_input(format!("{} cannot be planned", spec.display()))
            .with_hint(format!("`devspec check {}` says why", spec.display()))
    })?;
    let session = Session::for_reading(
        spec,
        &Settings {
            store: Some(dir.join(".devspec")),
            threads: None,
            device: None,
            jobs: None,
            batch: None,
            worker: None,
        },
    )?;
    Ok((plan, session))
}

/// What `bid results` wrote.
pub struct ResultsExported {
    pub instances: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub manifest: ResultsManifest,
    /// Where the report drawn from the written bundle went (the page the researcher will see).
    pub reports: Vec<PathBuf>,
}

/// Writes the results of the bid run in `dir` to `out`: only results, provenance without hosts
/// or paths, and the commitment; scanned so that no checkpoint's bytes go in.
pub fn results(dir: &Path, out: &Path, redact: &[String]) -> Result<ResultsExported, Failure> {
    let record = RunRecord::read(dir)?;
    let spec = dir.join(&record.spec);
    let (plan, session) = planned_in(dir, &spec, &record)?;
    if let Some(unknown) =
        redact.iter().find(|name| !plan.instances().any(|i| i.step_name == **name))
    {
        return Err(Failure::bad_input(format!("--redact {unknown}: the bid has no such step"))
            .with_hint("--redact names a step whose results stay here"));
    }
    let present = Results::in_store(&plan, &session.store, &session.options);
    let (mut lock, missing) =
        Lock::of_results(&plan, &present, &session.store, &session.options, &spec);
    lock.instances.retain(|i| !redact.contains(&i.step));
    let scrub = scrubbed_texts(dir, &record);
    for instance in &mut lock.instances {
        for text in instance.params.values_mut() {
            for (from, to) in &scrub {
                *text = text.replace(from.as_str(), to);
            }
        }
    }
    let mut scan = Scan::new();
    let mut committed = Vec::new();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs = std::collections::BTreeSet::new();
    for instance in &lock.instances {
        for (output, digest) in &instance.outputs {
            if is_checkpoint_output(instance.kind, output) || is_withheld(instance.kind, output) {
                if is_withheld(instance.kind, output) && !output.starts_with("optimizer@") {
                    scan.forbid_digest(digest);
                    continue;
                }
                let bytes = session.store.read_blob(digest).map_err(|err| {
                    Failure::environment(format!("cannot read {}'s {output}: {err}", instance.name))
                })?;
                scan.forbid(&instance.name, digest, &bytes);
                if is_checkpoint_output(instance.kind, output) {
                    committed.push(CommittedCheckpoint {
                        instance: instance.name.clone(),
                        output: output.clone(),
                        digest: digest.clone(),
                    });
                }
            } else {
                blobs.insert(digest.clone());
            }
        }
    }
    let lock_text = lock.to_text();
    contents.push((LOCK_ENTRY.to_owned(), lock_text.into_bytes()));
    for digest in &blobs {
        let bytes = session.store.read_blob(digest).map_err(|err| {
            Failure::environment(format!("cannot read the result {digest}: {err}"))
        })?;
        contents.push((format!("results/blobs/{digest}"), bytes));
    }
    // The owner's paths: the run's folder, and every absolute path bound.
    let mut owners: Vec<String> =
        vec![dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string()];
    owners.extend(
        bound_values(&record.binds, record.bind_file.as_deref())
            .into_iter()
            .filter(|v| v.starts_with('/')),
    );
    for (path, bytes) in &contents {
        let refusal = scan.refusal(path, bytes).or_else(|| {
            owners.iter().find_map(|needle| {
                bytes
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
                    .then(|| format!("`{path}` names the owner's path {needle}"))
            })
        });
        if let Some(why) = refusal {
            return Err(Failure::bad_input(format!(
                "the results of {} would carry what must not leave: {why}; nothing was written",
                dir.display()
            ))
            .with_hint("results never carry weights; check the store with `devspec store check`"));
        }
    }
    let complete = missing.is_empty();
    let manifest = ResultsManifest {
        format: RESULTS_FORMAT,
        study: Path::new(&record.spec).file_stem().unwrap_or_default().to_string_lossy().into(),
        spec_digest: record.spec_digest.clone(),
        bid_digest: record.bid_digest.clone(),
        files: archive::listing(&contents),
        complete,
        stopped_at_budget: record.stopped_at_budget,
        missing,
        redacted: redact.to_vec(),
        commitment: Commitment::new(committed),
        exported_by: exporter(),
    };
    let bytes = write_archive(out, RESULTS_MANIFEST, &manifest, &contents)?;
    // The page the researcher will draw, drawn here from the bundle as written.
    let sent: Archive<ResultsManifest> = archive::read(out, RESULTS_MANIFEST)?;
    let spec_source = std::fs::read_to_string(&spec).unwrap_or_default();
    let spec_name = record.spec.trim_start_matches("spec/").to_owned();
    let reports = draw_reports(&sent, &spec_name, &spec_source, &dir.join("report-sent"))?;
    Ok(ResultsExported {
        instances: lock.instances.len(),
        blobs: blobs.len(),
        bytes,
        manifest,
        reports,
    })
}

/// The owner's paths a result's parameters may name (the bound values, the run's folder), and
/// what each is replaced with.
fn scrubbed_texts(dir: &Path, record: &RunRecord) -> Vec<(String, String)> {
    let mut scrub: Vec<(String, String)> = record
        .binds
        .iter()
        .filter_map(|b| b.split_once('='))
        .map(|(name, value)| (value.trim().to_owned(), format!("<bound {}>", name.trim())))
        .filter(|(value, _)| !value.is_empty())
        .collect();
    // A glob's matches name files in its folder: that folder goes too, the file names stay.
    let folders: Vec<(String, String)> = scrub
        .iter()
        .filter(|(value, _)| value.starts_with('/'))
        .filter_map(|(value, label)| {
            let fixed = &value[..value.find(['*', '?', '[']).unwrap_or(value.len())];
            let folder = &fixed[..=fixed.rfind('/')?];
            Some((folder.to_owned(), format!("{label}/")))
        })
        .collect();
    scrub.extend(folders);
    let absolute = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    scrub.push((absolute.to_string_lossy().into_owned(), "<bid>".into()));
    scrub
}

/// Draws every report whose data the results hold, from the bundle alone (nothing of the
/// machine it is drawn on goes in), into `out/<step>/`.
fn draw_reports(
    results: &Archive<ResultsManifest>,
    spec_name: &str,
    spec_source: &str,
    out: &Path,
) -> Result<Vec<PathBuf>, Failure> {
    let lock = results_lock(results)?;
    let mut drawn = Vec::new();
    for instance in lock.instances.iter().filter(|i| matches!(i.kind, StepKind::Report)) {
        let Some(bytes) = instance
            .outputs
            .get("result")
            .and_then(|digest| results.entries.get(&format!("results/blobs/{digest}")))
        else {
            continue;
        };
        let data: ReportData = serde_json::from_slice(bytes).map_err(|err| {
            Failure::bad_input(format!(
                "the report data of `{}` is unreadable: {err}",
                instance.name
            ))
        })?;
        let context = Context {
            name: instance.step.clone(),
            spec_path: spec_name.to_owned(),
            spec_source: spec_source.to_owned(),
            resolved: Vec::new(),
            calibrations: Vec::new(),
            provenance: BTreeMap::new(),
        };
        let written = write_report(&out.join(&instance.step), &data, &context).map_err(|err| {
            Failure::environment(format!("cannot draw the report `{}`: {err}", instance.name))
        })?;
        drawn.push(written.html);
    }
    Ok(drawn)
}

fn results_lock(results: &Archive<ResultsManifest>) -> Result<Lock, Failure> {
    let text = results
        .entries
        .get(LOCK_ENTRY)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| Failure::bad_input(format!("the results have no {LOCK_ENTRY}")))?;
    toml::from_str(&text)
        .map_err(|err| Failure::bad_input(format!("the results' lock is unreadable: {err}")))
}

/// What `bid open` found and drew.
pub struct OpenedResults {
    /// Whether every result's key was recomputed from the bid's spec (not when the spec plans
    /// only with the owner's files).
    pub keys_checked: bool,
    pub manifest: ResultsManifest,
    pub instances: usize,
    /// The results as a lock, for `devspec diff`.
    pub lock: PathBuf,
    pub reports: Vec<PathBuf>,
}

/// Checks `results` against `bid` and draws its reports into `out`, with its lock
/// (`out/results.lock`) for `devspec diff`.
pub fn open(results_path: &Path, bid_path: &Path, out: &Path) -> Result<OpenedResults, Failure> {
    let bid = bid_bundle::read(bid_path)?;
    let bid_digest = bid_bundle::digest_of(bid_path)?;
    let results: Archive<ResultsManifest> = archive::read(results_path, RESULTS_MANIFEST)?;
    if results.manifest.format != RESULTS_FORMAT {
        return Err(archive::refuse(
            results_path,
            format!("results format {} is not this devspec's", results.manifest.format),
        ));
    }
    let lock = results_lock(&results)?;
    let scratch = tempfile::tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch folder: {err}")))?;
    let spec = bid_bundle::unpack(&bid, scratch.path())?;
    let program = match check_open(&spec)? {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(bid_path, &diagnostics, &sources));
        }
    };
    let steps: Vec<(String, StepKind)> =
        program.steps.iter().map(|s| (s.name.clone(), s.kind)).collect();
    let blob = |digest: &str| results.entries.get(&format!("results/blobs/{digest}")).cloned();
    let mut problems =
        opening::problems(&results.manifest, &lock, &blob, &bid.manifest, &bid_digest, &steps);
    // The keys, where the spec plans without the owner's files (a spec whose checkpoints are
    // bound plans only on the owner's side).
    let keys_checked = match crate::plan::plan(&program) {
        Ok(plan) => {
            let files = crate::store::FileDigests::new(&scratch.path().join(".devspec"));
            problems.extend(opening::key_problems(&plan, &lock, &files));
            true
        }
        Err(_) => false,
    };
    if !problems.is_empty() {
        return Err(Failure::bad_input(format!(
            "{} does not answer {}:\n  {}",
            results_path.display(),
            bid_path.display(),
            problems.join("\n  ")
        ))
        .with_hint("ask the owner for the results bundle as `devspec bid results` wrote it"));
    }
    std::fs::create_dir_all(out)
        .map_err(|err| Failure::environment(format!("cannot make {}: {err}", out.display())))?;
    let lock_path = out.join("results.lock");
    lock.write(&lock_path)?;
    let spec_source =
        String::from_utf8_lossy(&bid.entries[&format!("spec/{}", bid.manifest.spec)]).into_owned();
    let reports = draw_reports(&results, &bid.manifest.spec, &spec_source, &out.join("reports"))?;
    Ok(OpenedResults {
        keys_checked,
        instances: lock.instances.len(),
        manifest: results.manifest,
        lock: lock_path,
        reports,
    })
}

/// A relative path with `/` between its parts.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
