//! `devspec report FILE [-o DIR] [--open]`: draws the spec's reports from the store. The report
//! steps themselves are computed if they are not cached (milliseconds: they only gather); what
//! they are on must already have results, or the command says which run to do first. `devspec
//! run` draws them too, through [`write_reports`], into `reports/<spec>/<report>/` in the
//! project.

use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, RunContext, planned};
use crate::exec::{Executor, InstanceStatus, RunOptions, survey};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::plan::Plan;
use crate::report::data::ReportData;
use crate::report::{Context, ResolvedStep, write_report};
use crate::store::Store;

pub struct ReportArgs<'a> {
    pub file: &'a Path,
    pub sets: &'a [String],
    pub out: Option<&'a Path>,
    pub open: bool,
    pub settings: &'a SettingsArgs,
    pub worker: Option<PathBuf>,
}

pub fn run(args: &ReportArgs<'_>) -> Result<ExitCode, Failure> {
    let plan = match planned(args.file, args.sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let reports: Vec<String> = report_steps(&plan);
    if reports.is_empty() {
        return Err(Failure::bad_input(format!("{} has no report step", args.file.display()))
            .with_hint("add one: `report summary on llc, stages { title = \"...\" }`"));
    }
    let plan = plan.restricted_to(&reports).expect("the report steps are the plan's");
    let context =
        RunContext::new(&ContextArgs::new(args.file, args.settings, args.worker.clone()))?;
    let statuses = survey(&plan, &context.store, &context.options);
    let missing: Vec<String> = plan
        .order
        .iter()
        .filter(|&&node| !matches!(plan.graph[node].kind, StepKind::Report))
        .filter(|&&node| !matches!(statuses[node.index()], InstanceStatus::Cached(_)))
        .map(|&node| plan.graph[node].display_name())
        .collect();
    if let Some(first) = missing.first() {
        // Results imported from a bundle without checkpoints, or computed where the key's
        // machine parts differ from here: the lock names the sender's report results.
        let out = args
            .out
            .map_or_else(|| default_folder(&context.config.root, args.file), Path::to_path_buf);
        if let Some(written) = write_locked_reports(&plan, &context, args.file, &out) {
            for path in &written {
                outln!("report: {}", path.display());
            }
            return Ok(ExitCode::Success);
        }
        return Err(Failure::bad_input(format!(
            "{} instance(s) the reports draw on have no results yet ({first}{})",
            missing.len(),
            if missing.len() > 1 { ", ..." } else { "" }
        ))
        .with_hint(format!("run `devspec run {}` first", args.file.display())));
    }
    let RunContext { store, worker, options, config } = context;
    let executor = Executor { plan: &plan, store: &store, worker, options: options.clone() };
    let summary = executor.run(&mut |_| {});
    for failed in &summary.failed {
        eoutln!("error: {} failed: {}", failed.instance, failed.error);
    }
    let out = args.out.map_or_else(|| default_folder(&config.root, args.file), Path::to_path_buf);
    let written = write_reports(&plan, &store, &options, args.file, &out);
    for path in &written {
        outln!("report: {}", path.display());
    }
    if args.open {
        for path in &written {
            open(path);
        }
    }
    Ok(if summary.failed.is_empty() && !written.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failed
    })
}

fn report_steps(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = plan
        .instances()
        .filter(|i| matches!(i.kind, StepKind::Report))
        .map(|i| i.step_name.clone())
        .collect();
    names.dedup();
    names
}

/// `reports/<spec name>` in the project.
pub fn default_folder(project_root: &Path, spec: &Path) -> PathBuf {
    let stem = spec.file_stem().map_or_else(|| "spec".into(), |s| s.to_string_lossy().into_owned());
    project_root.join("reports").join(stem)
}

/// Draws every report instance of the plan that has a result into `out/<report name>/`; the
/// HTML files written (or already up to date). A report that cannot be drawn is said on stderr
/// and costs nothing else.
pub fn write_reports(
    plan: &Plan,
    store: &Store,
    options: &RunOptions,
    spec: &Path,
    out: &Path,
) -> Vec<PathBuf> {
    let statuses = survey(plan, store, options);
    let reports = plan.order.iter().filter_map(|&node| match &statuses[node.index()] {
        InstanceStatus::Cached(manifest) => Some((&plan.graph[node], manifest.as_ref().clone())),
        _ => None,
    });
    draw(plan, store, options, spec, out, reports)
}

/// Draws the report results the spec's lock file records, when every report instance of the
/// plan has one in the store; `None` otherwise. Said on stderr, since these are not results of
/// this machine's keys.
fn write_locked_reports(
    plan: &Plan,
    context: &RunContext,
    spec: &Path,
    out: &Path,
) -> Option<Vec<PathBuf>> {
    let lock_file = crate::study::lock_path(spec);
    let lock = crate::study::Lock::read(&lock_file).ok()?;
    let mut reports = Vec::new();
    for instance in plan.instances().filter(|i| matches!(i.kind, StepKind::Report)) {
        let locked = lock.instance(&instance.display_name())?;
        reports.push((instance, context.store.cached(&locked.key)?));
    }
    eoutln!(
        "note: drawn from the results {} records: this machine's keys differ from them, or \
         their inputs' results are not here (a bundle without checkpoints); `devspec run` \
         computes them here",
        lock_file.display()
    );
    Some(draw(plan, &context.store, &context.options, spec, out, reports.into_iter()))
}

fn draw<'p>(
    plan: &Plan,
    store: &Store,
    options: &RunOptions,
    spec: &Path,
    out: &Path,
    reports: impl Iterator<Item = (&'p crate::plan::Instance, crate::store::Manifest)>,
) -> Vec<PathBuf> {
    let mut written = Vec::new();
    for (instance, manifest) in reports {
        if !matches!(instance.kind, StepKind::Report) {
            continue;
        }
        // Checked as it is served: its bytes against their digest, its numbers against them.
        let data = match store.served(&manifest.key) {
            Ok(served) => served
                .and_then(|served| served.result)
                .ok_or_else(|| "it has no result".to_owned())
                .and_then(|bytes| {
                    serde_json::from_slice::<ReportData>(&bytes).map_err(|e| e.to_string())
                }),
            Err(damage) => {
                let _ = store.set_aside(&damage);
                Err(format!(
                    "{} is damaged ({}): set aside; `devspec run` recomputes it",
                    damage.what(&instance.display_name()),
                    damage.detail
                ))
            }
        };
        let drawn = data.and_then(|data| {
            let context = context(plan, store, options, spec, &instance.step_name, &data);
            write_report(&out.join(&instance.step_name), &data, &context)
        });
        match drawn {
            Ok(report) => written.push(report.html),
            Err(error) => eoutln!("error: cannot draw report `{}`: {error}", instance.step_name),
        }
    }
    written
}

/// The spec as written and resolved, the calibrations of the report's estimate steps, and the
/// provenance of the report's inputs.
fn context(
    plan: &Plan,
    store: &Store,
    options: &RunOptions,
    spec: &Path,
    name: &str,
    data: &ReportData,
) -> Context {
    let mut resolved: Vec<ResolvedStep> = Vec::new();
    let mut estimate_steps: Vec<String> = Vec::new();
    for instance in plan.instances() {
        if matches!(instance.kind, StepKind::Estimate)
            && !estimate_steps.contains(&instance.step_name)
        {
            estimate_steps.push(instance.step_name.clone());
        }
        let point = instance.point_label();
        if let Some(step) = resolved.iter_mut().find(|s| s.name == instance.step_name) {
            if !point.is_empty() && !step.points.contains(&point) {
                step.points.push(point);
            }
            continue;
        }
        resolved.push(ResolvedStep {
            name: instance.step_name.clone(),
            kind: instance.kind,
            // The swept fields differ per point: the points list them.
            fields: instance
                .params
                .iter()
                .filter(|(name, _)| !instance.coords.iter().any(|c| &c.axis == *name))
                .map(|(name, value)| (name.clone(), value.to_string()))
                .collect(),
            points: if point.is_empty() { Vec::new() } else { vec![point] },
        });
    }
    let calibrations = estimate_steps
        .into_iter()
        .filter_map(|step| Some((step.clone(), store.calibration(&options.spec_id, &step)?)))
        .collect();
    // The provenance of what the report's data came from, read now: the data name their keys.
    let provenance = data
        .provenance
        .iter()
        .filter_map(|source| Some((source.key.clone(), store.manifest(&source.key)?.provenance)))
        .collect();
    Context {
        name: name.to_owned(),
        // The spec's path in the project, so the page is the same wherever it is run from.
        spec_path: options.spec_id.clone(),
        spec_source: std::fs::read_to_string(spec).unwrap_or_default(),
        resolved,
        calibrations,
        provenance,
    }
}

/// Opens a report with the desktop's handler; failing to is said, not fatal.
fn open(path: &Path) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if let Err(error) = std::process::Command::new(opener).arg(path).spawn() {
        eoutln!("cannot open {} with {opener}: {error}", path.display());
    }
}
