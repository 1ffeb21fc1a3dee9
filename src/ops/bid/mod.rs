//! The verbs of bids (`devspec bid export | inspect | run | results | open`, see `bid`), one
//! file each; each takes paths and settings and returns a typed outcome, nothing printed. Here:
//! what they share, the spec checked with its parameters open or bound, and the paths it names
//! held to `bid::path_rules`.

mod export;
mod inspect;
mod open;
mod results;
mod run;

pub use export::{BidExported, export};
pub use inspect::{Inspection, StepView, inspect};
pub use open::{OpenedResults, open};
pub use results::{ResultsExported, results};
pub use run::{BidRun, BidRunOutcome, run};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;

use crate::bid::archive::Archive;
use crate::bid::path_rules;
use crate::bid::results_bundle::{LOCK_ENTRY, ResultsManifest};
use crate::bid::run_record::RunRecord;
use crate::compile::value::{Value, ValueKind};
use crate::compile::{CompileError, Program};
use crate::exec::DEVSPEC_COMMIT;
use crate::failure::Failure;
use crate::ops::{Session, Settings};
use crate::plan::Plan;
use crate::report::data::ReportData;
use crate::report::{Context, write_report};
use crate::source::SourceMap;
use crate::study::Lock;
use crate::study::bundle::Exporter;

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
    let mut out = Vec::new();
    for step in &program.steps {
        for (field, value) in &step.fields {
            for inner in value.descendants() {
                if let ValueKind::File { written, path } = &inner.kind {
                    out.push(NamedFile { step: &step.name, field, written, path });
                }
            }
        }
    }
    out
}

/// Where a bid's manifest disagrees with its checked program (unpacked under `root`): the
/// TorchScript models it runs and the parameters it leaves open are the program's, and a
/// manifest that hides one (`"torchscript": []`) is refused rather than believed.
fn manifest_disagreement(
    program: &Program,
    root: &Path,
    manifest: &crate::bid::bid_bundle::BidManifest,
) -> Option<String> {
    let torchscript: Vec<String> = torchscript_models(program)
        .iter()
        .map(|p| slashed(p.strip_prefix(root).unwrap_or(p)))
        .collect();
    if torchscript != manifest.torchscript {
        return Some(format!(
            "its manifest lists the TorchScript models [{}], its spec runs [{}]",
            manifest.torchscript.join(", "),
            torchscript.join(", ")
        ));
    }
    let params = export::open_params(program);
    (params != manifest.params).then(|| {
        let names = |params: &[crate::bid::bid_bundle::BidParam]| {
            params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect::<Vec<_>>().join(", ")
        };
        format!(
            "its manifest lists the open parameters [{}], its spec declares [{}]",
            names(&manifest.params),
            names(&params)
        )
    })
}

/// The refusal of a bid whose manifest disagrees with its spec.
fn manifest_refused(bid: &Path, why: &str) -> Failure {
    Failure::bad_input(format!("{} is refused: {why}", bid.display()))
        .with_hint("ask the researcher for the bid as `devspec bid export` wrote it")
}

/// The TorchScript models a spec runs (resolved paths).
fn torchscript_models(program: &Program) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = program
        .steps
        .iter()
        .flat_map(|step| step.fields.values())
        .flat_map(Value::descendants)
        .filter(|value| matches!(&value.kind, ValueKind::Ctor { name, .. } if *name == "torchscript.model"))
        .flat_map(Value::files)
        .map(Path::to_path_buf)
        .collect();
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

/// A relative path with `/` between its parts.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `bid` (read from `bid_path`) unpacked into a scratch folder and checked with its parameters
/// open: the folder (removed when dropped), the spec's path in it, and the program.
fn unpacked(
    bid: &crate::bid::archive::Archive<crate::bid::bid_bundle::BidManifest>,
    bid_path: &Path,
) -> Result<(tempfile::TempDir, PathBuf, Program), Failure> {
    let scratch = tempfile::tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch folder: {err}")))?;
    let spec = crate::bid::bid_bundle::unpack(bid, scratch.path())?;
    match check_open(&spec)? {
        Checked::Program(program, _) => Ok((scratch, spec, program)),
        Checked::Diagnostics(diagnostics, sources) => {
            Err(diagnostics_failure(bid_path, &diagnostics, &sources))
        }
    }
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

fn exporter() -> Exporter {
    Exporter { devspec: env!("CARGO_PKG_VERSION").to_owned(), commit: DEVSPEC_COMMIT.to_owned() }
}

/// The bid's spec in `dir`, planned with the run's settings, and a session reading its store.
fn planned_in(dir: &Path, spec: &Path, record: &RunRecord) -> Result<(Plan, Session), Failure> {
    let program = match check_bound(spec, &record.sets, &record.binds, None)? {
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

fn results_lock(results: &Archive<ResultsManifest>) -> Result<Lock, Failure> {
    let text = results
        .entries
        .get(LOCK_ENTRY)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| Failure::bad_input(format!("the results have no {LOCK_ENTRY}")))?;
    toml::from_str(&text)
        .map_err(|err| Failure::bad_input(format!("the results' lock is unreadable: {err}")))
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
        // Its data as sent (with fields left out, where the owner left some out).
        let Some(bytes) = instance
            .outputs
            .get("result")
            .map(|digest| results.manifest.sent_digest(&instance.name, "result", digest))
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
            resolved: resolved_from(&lock),
            calibrations: Vec::new(),
            provenance: provenance_from(&lock),
        };
        let written = write_report(&out.join(&instance.step), &data, &context).map_err(|err| {
            Failure::environment(format!("cannot draw the report `{}`: {err}", instance.name))
        })?;
        drawn.push(written.html);
    }
    Ok(drawn)
}

/// The steps as resolved, from the results' lock (its parameters as sent: the owner's paths
/// already scrubbed), so the page drawn from a bundle shows them as a run's page does: each
/// step's first instance's fields, and the sweep points of its instances.
fn resolved_from(lock: &Lock) -> Vec<crate::report::ResolvedStep> {
    let mut steps: Vec<crate::report::ResolvedStep> = Vec::new();
    for instance in &lock.instances {
        // `run[seed=0]@1200`: the part in brackets is the sweep point.
        let point = instance
            .name
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(point, _)| point.to_owned());
        match steps.iter_mut().find(|s| s.name == instance.step) {
            Some(step) => {
                if let Some(point) = point.filter(|p| !step.points.contains(p)) {
                    step.points.push(point);
                }
            }
            None => steps.push(crate::report::ResolvedStep {
                name: instance.step.clone(),
                kind: instance.kind,
                fields: instance.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                points: point.into_iter().collect(),
            }),
        }
    }
    steps
}

/// Each result's provenance as the results' lock sends it: the devspec that computed it and
/// the machine part of its key; no host and no times (they stay with the owner), which the page
/// says.
fn provenance_from(lock: &Lock) -> BTreeMap<String, crate::store::Provenance> {
    lock.instances
        .iter()
        .map(|instance| {
            let part = |name: &str| instance.environment.get(name).cloned().unwrap_or_default();
            let provenance = crate::store::Provenance {
                devspec_version: instance.produced_by.devspec.clone(),
                devspec_commit: instance.produced_by.commit.clone(),
                spec_digest: String::new(),
                libtorch: part("libtorch"),
                threads: part("threads_per_step").parse().unwrap_or(0),
                device: part("device"),
                device_name: String::new(),
                cpu_capability: part("cpu_capability"),
                host: String::new(),
                started: 0.0,
                ended: 0.0,
            };
            (instance.key.clone(), provenance)
        })
        .collect()
}
