//! `devspec bid export | inspect | run | results | open` (`ops::bid`): each verb calls its
//! operation and prints what it did, in words.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::{BidCommand, SettingsArgs};
use super::run_context::{ContextArgs, session};
use crate::bid::bid_bundle::BidForecast;
use crate::diagnostic::render;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::bid::{self, BidRun, Checked};
use crate::plan::cost::render::format_seconds;

pub fn run(command: &BidCommand, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    match command {
        BidCommand::Export { file, out, no_cost, settings } => {
            export(file, out, !*no_cost, settings, worker)
        }
        BidCommand::Inspect { bid: path } => inspect(path),
        BidCommand::Run {
            bid: path,
            binds,
            bind_file,
            sets,
            budget,
            dir,
            allow_revealing,
            jobs,
        } => {
            let dir =
                dir.clone().unwrap_or_else(|| PathBuf::from(format!("bid-{}", study_name(path))));
            run_bid(&BidRun {
                bid: path,
                dir: &dir,
                binds,
                bind_file: bind_file.as_deref(),
                sets,
                budget: *budget,
                allow_revealing: *allow_revealing,
                worker: worker.as_deref(),
                jobs: *jobs,
            })
        }
        BidCommand::Results { dir, out, redact } => results(dir, out, redact),
        BidCommand::Open { results, bid: path, out } => open(results, path, out.as_deref()),
    }
}

fn export(
    file: &Path,
    out: &Path,
    cost: bool,
    settings: &SettingsArgs,
    worker: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let (program, sources) = match bid::check_open(file)? {
        Checked::Program(program, sources) => (program, sources),
        Checked::Diagnostics(diagnostics, sources) => {
            for diagnostic in &diagnostics {
                eout!("{}", render::to_text(&sources, diagnostic));
            }
            return Ok(ExitCode::BadInput);
        }
    };
    let forecast_session =
        if cost { Some(session(&ContextArgs::new(file, settings, worker))?) } else { None };
    let exported = bid::export(file, &program, &sources, forecast_session.as_ref(), out)?;
    outln!(
        "bid {}: {} file(s), {} open parameter(s), {} bytes",
        out.display(),
        exported.files,
        exported.params,
        exported.bytes
    );
    for model in &exported.torchscript {
        outln!("brings its own TorchScript model: {model}");
    }
    print_forecast(&exported.forecast);
    Ok(ExitCode::Success)
}

fn run_bid(settings: &BidRun<'_>) -> Result<ExitCode, Failure> {
    let dir = settings.dir;
    let outcome = bid::run(settings)?;
    let record = &outcome.record;
    if record.stopped_at_budget {
        outln!(
            "stopped at the budget ({}): what finished is in {}",
            format_seconds(
                Duration::from_secs(record.budget_seconds.unwrap_or_default()).as_secs_f64()
            ),
            dir.join(".devspec").display()
        );
    }
    if record.missing.is_empty() {
        outln!("complete: every instance has its results in {}", dir.display());
    } else {
        outln!(
            "partial: {} instance(s) without results ({}{})",
            record.missing.len(),
            record.missing[0],
            if record.missing.len() > 1 { ", ..." } else { "" }
        );
    }
    outln!("next: devspec bid results --dir {} -o results.tar.zst", dir.display());
    Ok(match outcome.status {
        Some(0) | None => ExitCode::Success,
        Some(_) => ExitCode::Failed,
    })
}

fn results(dir: &Path, out: &Path, redact: &[String]) -> Result<ExitCode, Failure> {
    let written = bid::results(dir, out, redact)?;
    let manifest = &written.manifest;
    outln!(
        "results {}: {} instance(s), {} result blob(s), {} bytes; {}",
        out.display(),
        written.instances,
        written.blobs,
        written.bytes,
        if manifest.complete { "complete" } else { "partial" }
    );
    outln!(
        "commitment: {} checkpoint(s), root {}",
        manifest.commitment.checkpoints.len(),
        manifest.commitment.root
    );
    for missing in &manifest.missing {
        outln!("  missing: {missing}");
    }
    for step in &manifest.redacted {
        outln!("  redacted: {step}");
    }
    for (fields, instances) in left_out(manifest) {
        outln!("  sent without {fields}: {instances}");
    }
    for report in &written.reports {
        outln!("report as the researcher will see it: {}", report.display());
    }
    Ok(ExitCode::Success)
}

fn open(results: &Path, path: &Path, out: Option<&Path>) -> Result<ExitCode, Failure> {
    let out = out
        .map_or_else(|| PathBuf::from(format!("opened-{}", study_name(path))), Path::to_path_buf);
    let opened = bid::open(results, path, &out)?;
    let manifest = &opened.manifest;
    outln!(
        "{} answers {}: {} instance(s), {}; commitment root {} over {} checkpoint(s)",
        results.display(),
        path.display(),
        opened.instances,
        if manifest.complete { "complete" } else { "partial" },
        manifest.commitment.root,
        manifest.commitment.checkpoints.len()
    );
    outln!("keys: each result's key is the one the bid's spec gives on the inputs named");
    if manifest.stopped_at_budget {
        outln!("the owner's budget stopped the run");
    }
    for missing in &manifest.missing {
        outln!("  missing: {missing}");
    }
    for step in &manifest.redacted {
        outln!("  redacted by the owner: {step}");
    }
    let left = left_out(manifest);
    if !left.is_empty() {
        outln!(
            "sent with fields left out by the owner (checked: each field named is empty and \
             the copy's numbers are the lock's; not checkable: that the copy is the original \
             less those fields, whose bytes the keys name and which never left):"
        );
    }
    for (fields, instances) in left {
        outln!("  without {fields}: {instances}");
    }
    for report in &opened.reports {
        outln!("report: {}", report.display());
    }
    outln!("lock: {} (`devspec diff` compares it with another run)", opened.lock.display());
    Ok(ExitCode::Success)
}

/// The outputs sent with fields left out, grouped by those fields: (`traces, distances`,
/// `llc@10, llc@100`).
fn left_out(manifest: &crate::bid::results_bundle::ResultsManifest) -> Vec<(String, String)> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for redacted in &manifest.redacted_outputs {
        let fields = redacted.fields.join(", ");
        match groups.iter_mut().find(|(f, _)| *f == fields) {
            Some((_, instances)) => instances.push(&redacted.instance),
            None => groups.push((fields, vec![&redacted.instance])),
        }
    }
    groups.into_iter().map(|(fields, instances)| (fields, instances.join(", "))).collect()
}

fn study_name(bid: &Path) -> String {
    let name = bid.file_name().unwrap_or_default().to_string_lossy().into_owned();
    name.split('.').next().unwrap_or("bid").to_owned()
}

fn inspect(path: &Path) -> Result<ExitCode, Failure> {
    let inspection = bid::inspect(path)?;
    let manifest = &inspection.manifest;
    outln!("bid {} (spec {}, digest {})", path.display(), manifest.spec, manifest.spec_digest);
    for model in &manifest.torchscript {
        outln!(
            "WARNING: it brings its own TorchScript model, {model}: code that runs on your \
             machine; review it before running the bid"
        );
    }
    if manifest.params.is_empty() {
        outln!("open parameters: none");
    } else {
        outln!("open parameters (you bind them with --bind NAME=VALUE):");
        for param in &manifest.params {
            let doc = param.doc.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
            outln!("  {}: {}{doc}", param.name, param.ty);
        }
    }
    outln!("files it brings:");
    for file in &manifest.files {
        outln!("  {} ({} bytes)", file.path, file.size);
    }
    for step in &inspection.steps {
        outln!("step `{}` ({}):", step.name, step.kind);
        if step.reads.is_empty() {
            outln!("  reads: nothing but its own fields");
        }
        for read in &step.reads {
            outln!("  reads: {read}");
        }
        outln!("  writes: {}", step.writes);
        outln!("  leaves the machine: {}", step.leaves);
        if !step.fields.is_empty() {
            outln!("  of which you may leave out, each with `--redact {}.FIELD`:", step.name);
        }
        for field in step.fields {
            outln!("    `{}`: {}", field.name, field.what);
        }
        if let Some(why) = step.revealing {
            outln!("  REVEALING: {why}; it runs only with `bid run --allow-revealing`");
        }
    }
    outln!(
        "also leaves the machine: each result's key, the devspec version and commit, libtorch, \
         the device kind, the CPU kernel level, MKL's path and threads per step; no host name, \
         no path, no time"
    );
    print_forecast(&manifest.forecast);
    Ok(ExitCode::Success)
}

fn print_forecast(forecast: &BidForecast) {
    match forecast {
        BidForecast::No { why } => outln!("cost forecast: none ({why})"),
        BidForecast::Yes { jobs, total_seconds, instances, per_checkpoint } => {
            let total = total_seconds.map_or_else(|| "unknown".to_owned(), format_seconds);
            if *per_checkpoint {
                outln!(
                    "cost forecast (the researcher's machine, {jobs} job(s)), for ONE bound \
                     checkpoint (instances @1): {total}; the instances at a checkpoint repeat \
                     for each one bound"
                );
            } else {
                outln!("cost forecast (the researcher's machine, {jobs} job(s)): {total} in all");
            }
            for line in instances {
                match &line.seconds {
                    Ok(seconds) => outln!("  {}: {}", line.instance, format_seconds(*seconds)),
                    Err(why) => outln!("  {}: unknown ({why})", line.instance),
                }
            }
        }
    }
}
