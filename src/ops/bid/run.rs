//! `bid run`: the bid's spec run as a child `devspec run` in the bid's own folder, with its own
//! store, stopped when the budget runs out: the child and its workers end (a worker notices its
//! parent is gone), no new request starts, and what finished is in the store already, written
//! atomically as each result was. The run's record (`bid::run_record`) says what is missing.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{
    Checked, check_bound, check_open, diagnostics_failure, path_refusals, planned_in, refused,
};
use devspec_protocol::StepKind;

use crate::bid::bid_bundle;
use crate::bid::run_record::RunRecord;
use crate::compile::Program;
use crate::exec::Results;
use crate::failure::Failure;

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
    let open = match check_open(&spec)? {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(settings.bid, &diagnostics, &sources));
        }
    };
    if let Some(why) = super::manifest_disagreement(&open, &dir.join("spec"), &bid.manifest) {
        return Err(super::manifest_refused(settings.bid, &why));
    }
    // The bindings read once, here: the child run, the record and `bid results` all bind
    // these texts (a path made absolute against where it was given), never the bind file
    // again, which may have changed since.
    let is_path = |name: &str| open.params().iter().any(|p| p.name == name && p.ty.names_files());
    let binds =
        crate::compile::Bindings::parse(settings.binds, settings.bind_file)?.as_binds(&is_path);
    let program = match check_bound(&spec, settings.sets, &binds, None)? {
        Checked::Program(program, _) => program,
        Checked::Diagnostics(diagnostics, sources) => {
            return Err(diagnostics_failure(settings.bid, &diagnostics, &sources));
        }
    };
    let bound: Vec<String> = program.bound.iter().map(|b| b.text.clone()).collect();
    let refusals = path_refusals(&program, &dir.join("spec"), &bound);
    if !refusals.is_empty() {
        return Err(refused(&settings.bid.display().to_string(), &refusals));
    }
    let revealing = revealing_instances(&program, settings.bid)?;
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
    // The child ends if `bid run` is killed: the budget is kept by `bid run`.
    command.env(crate::bid::parent_watch::ENV, "1");
    command.arg("run").arg(&spec).arg("--store").arg(&store).arg("--quiet");
    for set in settings.sets {
        command.arg("--set").arg(set);
    }
    for bind in &binds {
        command.arg("--bind").arg(bind);
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
        bind_file: settings.bind_file.map(Path::to_path_buf),
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

/// Each step with a planned instance whose numbers can reveal weights, and why: decided per
/// instance of the bound, planned program (a swept observable, or one swept inside its
/// arguments, is decided value by value), failing closed on an observable devspec cannot read;
/// every instance but a detection's or a report's counts when the bid brings a TorchScript model.
fn revealing_instances(program: &Program, bid: &Path) -> Result<Vec<String>, Failure> {
    let plan = crate::plan::plan(program).map_err(|_| {
        Failure::bad_input(format!("the spec of {} cannot be planned", bid.display()))
            .with_hint("`devspec bid inspect` shows the bid; its sender can check it")
    })?;
    let torchscript = !super::torchscript_models(program).is_empty();
    let mut revealing: Vec<String> = Vec::new();
    for instance in plan.instances() {
        let why = if torchscript && !matches!(instance.kind, StepKind::Detect | StepKind::Report) {
            Some(crate::bid::revealing::TORCHSCRIPT_REVEALS)
        } else {
            instance.params.get("observable").and_then(crate::bid::revealing::observable_reveals)
        };
        if let Some(why) = why.map(|why| format!("step `{}`: {why}", instance.step_name))
            && !revealing.contains(&why)
        {
            revealing.push(why);
        }
    }
    Ok(revealing)
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
