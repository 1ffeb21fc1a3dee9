//! `bid open`: the researcher's checks of results against the bid (`bid::opening`), the report
//! drawn from the bundle alone, and the results' lock for `devspec diff`.

use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;

use super::{Checked, draw_reports, results_lock};
use crate::bid::archive::{self, Archive};
use crate::bid::bid_bundle;
use crate::bid::opening;
use crate::bid::results_bundle::{RESULTS_FORMATS_READ, RESULTS_MANIFEST, ResultsManifest};
use crate::failure::Failure;

/// What `bid open` found and drew.
pub struct OpenedResults {
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
    if !RESULTS_FORMATS_READ.contains(&results.manifest.format) {
        return Err(archive::refuse(
            results_path,
            format!("results format {} is not this devspec's", results.manifest.format),
        ));
    }
    let lock = results_lock(&results)?;
    let (scratch, spec, program) = super::unpacked(&bid, bid_path)?;
    let steps: Vec<(String, StepKind)> =
        program.steps.iter().map(|s| (s.name.clone(), s.kind)).collect();
    let blob = |digest: &str| results.entries.get(&format!("results/blobs/{digest}")).cloned();
    let mut problems = opening::blob_problems(&results.entries);
    problems.extend(opening::problems(
        &results.manifest,
        &lock,
        &blob,
        &bid.manifest,
        &bid_digest,
        &steps,
    ));
    problems.extend(opening::redaction_problems(&results.manifest, &lock, &blob));
    // Every result's key is recomputed: results whose keys cannot be (the bindings they were
    // planned with are missing, the plan fails) are refused, never let through unchecked.
    match planned_as_run(&spec, &program, &lock, scratch.path()) {
        Ok(plan) => {
            let files = crate::store::FileDigests::new(&scratch.path().join(".devspec"));
            problems.extend(opening::key_problems(&plan, &lock, &files));
        }
        Err(why) => problems.push(format!("their keys cannot be recomputed: {why}")),
    }
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
        instances: lock.instances.len(),
        manifest: results.manifest,
        lock: lock_path,
        reports,
    })
}

/// The bid's spec planned as the owner's run was, for recomputing keys: as it is when it has no
/// open parameters; else with each `file`/`files` parameter bound to empty stand-ins named as
/// the files the results say were bound (the planner numbers checkpoints by their names), and
/// each other parameter to the value the results record. The stand-ins' checkpoint instances
/// key differently from the owner's (their files differ); [`opening::key_problems`] does not
/// check imported checkpoints' keys, and every key that reads them reads their committed
/// digests. Why not, in words, when it cannot plan.
fn planned_as_run(
    spec: &Path,
    program: &crate::compile::Program,
    lock: &crate::study::Lock,
    scratch: &Path,
) -> Result<crate::plan::Plan, String> {
    let planned = |program: &crate::compile::Program| {
        crate::plan::plan(program).map_err(|err| format!("the bid's spec does not plan: {err:?}"))
    };
    if program.params().is_empty() {
        return planned(program);
    }
    let mut binds = Vec::new();
    for param in program.params() {
        let binding = lock.bindings.iter().find(|b| b.name == param.name).ok_or_else(|| {
            format!("the results' lock has no [[binding]] for the open parameter `{}`", param.name)
        })?;
        let folder = scratch.join("bound").join(&param.name);
        std::fs::create_dir_all(&folder)
            .map_err(|err| format!("cannot make {}: {err}", folder.display()))?;
        let unplannable =
            || format!("the [[binding]] of `{}` names a file without a file name", param.name);
        for file in &binding.files {
            let name = Path::new(&file.path).file_name().ok_or_else(unplannable)?;
            std::fs::write(folder.join(name), b"")
                .map_err(|err| format!("cannot write a stand-in file: {err}"))?;
        }
        let value = match param.ty {
            crate::compile::ParamType::Files => folder.join("*").display().to_string(),
            crate::compile::ParamType::File => {
                let first = binding.files.first().ok_or_else(|| {
                    format!("the [[binding]] of the file parameter `{}` names no file", param.name)
                })?;
                let name = Path::new(&first.path).file_name().ok_or_else(unplannable)?;
                folder.join(name).display().to_string()
            }
            crate::compile::ParamType::Model
            | crate::compile::ParamType::Data
            | crate::compile::ParamType::Number
            | crate::compile::ParamType::Integer
            | crate::compile::ParamType::String
            | crate::compile::ParamType::Boolean => binding.value.clone(),
        };
        binds.push(format!("{}={value}", param.name));
    }
    let checked = super::check_bound(spec, &[], &binds, None)
        .map_err(|failure| format!("the recorded bindings do not bind: {failure}"))?;
    match checked {
        Checked::Program(bound, _) => planned(&bound),
        Checked::Diagnostics(diagnostics, _) => Err(format!(
            "the spec bound as the results record does not check: {}",
            diagnostics.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; ")
        )),
    }
}
