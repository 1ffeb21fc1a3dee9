//! Drawing a spec's reports from the store: [`report`] (`devspec report`) computes the report
//! steps if they are not cached (milliseconds: they only gather) and draws them; what they are
//! on must already have results. [`draw_reports`] draws a finished run's reports from its
//! records, into `reports/<spec>/<report>/` in the project by default.

use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;

use super::{Observer, Session};
use crate::exec::{FailedInstance, Results, RunOptions};
use crate::failure::Failure;
use crate::plan::Plan;
use crate::report::data::ReportData;
use crate::report::{Context, ResolvedStep, write_report};
use crate::store::{Manifest, Store};

/// One report drawn, or why it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Drawn {
    /// The report's HTML page, written or already up to date.
    Page(PathBuf),
    /// The report `report` could not be drawn (damaged, unreadable): said, and costs nothing
    /// else.
    Failed { report: String, error: String },
}

/// What `devspec report` did.
pub struct ReportOutcome {
    /// The report instances that failed to compute.
    pub failed: Vec<FailedInstance>,
    pub drawn: Vec<Drawn>,
}

/// Draws every report of `plan` into `out`: computed first where not cached, when what they
/// are on has results here; otherwise from the results the spec's lock records, when this
/// store has them (results imported from a bundle without checkpoints, or computed where the
/// key's machine parts differ from here).
pub fn report(
    plan: &Plan,
    session: &Session,
    spec: &Path,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<ReportOutcome, Failure> {
    let reports = report_steps(plan);
    if reports.is_empty() {
        return Err(Failure::bad_input(format!("{} has no report step", spec.display()))
            .with_hint("add one: `report summary on llc, stages { title = \"...\" }`"));
    }
    let plan = plan.restricted_to(&reports).expect("the report steps are the plan's");
    let present = Results::in_store(&plan, &session.store, &session.options);
    let missing: Vec<String> = plan
        .order
        .iter()
        .filter(|&&node| !is_report(plan.graph[node].kind) && present.get(node).is_none())
        .map(|&node| plan.graph[node].display_name())
        .collect();
    if let Some(first) = missing.first() {
        if let Some(drawn) = draw_locked_reports(&plan, session, spec, out, observer) {
            return Ok(ReportOutcome { failed: Vec::new(), drawn });
        }
        return Err(Failure::bad_input(format!(
            "{} instance(s) the reports draw on have no results yet ({first}{})",
            missing.len(),
            if missing.len() > 1 { ", ..." } else { "" }
        ))
        .with_hint(format!("run `devspec run {}` first", spec.display())));
    }
    let summary = session.execute(&plan, &mut super::Quiet);
    let drawn = draw_reports(&plan, &session.store, &session.options, spec, out, &summary.results);
    Ok(ReportOutcome { failed: summary.failed, drawn })
}

fn is_report(kind: StepKind) -> bool {
    matches!(kind, StepKind::Report)
}

fn report_steps(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> =
        plan.instances().filter(|i| is_report(i.kind)).map(|i| i.step_name.clone()).collect();
    names.dedup();
    names
}

/// `reports/<spec name>` in the project.
pub fn default_folder(project_root: &Path, spec: &Path) -> PathBuf {
    let stem = spec.file_stem().map_or_else(|| "spec".into(), |s| s.to_string_lossy().into_owned());
    project_root.join("reports").join(stem)
}

/// Draws every report instance of the plan that has a record in `results` into
/// `out/<report name>/`.
pub fn draw_reports(
    plan: &Plan,
    store: &Store,
    options: &RunOptions,
    spec: &Path,
    out: &Path,
    results: &Results,
) -> Vec<Drawn> {
    let reports =
        plan.order.iter().filter_map(|&node| Some((&plan.graph[node], results.get(node)?.clone())));
    draw(plan, store, options, spec, out, reports)
}

/// Draws the report results the spec's lock file records, when every report instance of the
/// plan has one in the store; `None` otherwise. Noted to the observer, since these are not
/// results of this machine's keys.
fn draw_locked_reports(
    plan: &Plan,
    session: &Session,
    spec: &Path,
    out: &Path,
    observer: &mut dyn Observer,
) -> Option<Vec<Drawn>> {
    let lock_file = crate::study::lock_path(spec);
    let lock = crate::study::Lock::read(&lock_file).ok()?;
    let mut reports = Vec::new();
    for instance in plan.instances().filter(|i| is_report(i.kind)) {
        let locked = lock.instance(&instance.display_name())?;
        reports.push((instance, session.store.cached(&locked.key)?));
    }
    observer.note(&format!(
        "note: drawn from the results {} records: this machine's keys differ from them, or \
         their inputs' results are not here (a bundle without checkpoints); `devspec run` \
         computes them here",
        lock_file.display()
    ));
    Some(draw(plan, &session.store, &session.options, spec, out, reports.into_iter()))
}

fn draw<'p>(
    plan: &Plan,
    store: &Store,
    options: &RunOptions,
    spec: &Path,
    out: &Path,
    reports: impl Iterator<Item = (&'p crate::plan::Instance, Manifest)>,
) -> Vec<Drawn> {
    let mut drawn = Vec::new();
    for (instance, manifest) in reports {
        if !is_report(instance.kind) {
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
        let written = data.and_then(|data| {
            let context = context(plan, store, options, spec, &instance.step_name, &data);
            write_report(&out.join(&instance.step_name), &data, &context)
                .map_err(|error| error.to_string())
        });
        drawn.push(match written {
            Ok(report) => Drawn::Page(report.html),
            Err(error) => Drawn::Failed { report: instance.step_name.clone(), error },
        });
    }
    drawn
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
