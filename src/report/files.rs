//! Writing a report into its folder: `report.html` (self-contained: every figure inline as SVG,
//! no script or style from elsewhere), `figures/<id>.svg` and `.png`, and `manifest.json`
//! describing every figure. A folder whose manifest already says the same (the manifest carries
//! a digest of every file) is left as it is, so rerunning a cached study rewrites nothing.

use super::draw_error::DrawError;
use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;
use serde::Serialize;
use serde_json::Value;

use super::data::ReportData;
use super::figure::Figure;
use super::{gallery, html};
use crate::detect::recurrence::{Recurring, recurring};

/// What drawing needs besides the data: the report's name, the spec it belongs to, the spec's
/// steps as resolved, the calibrations recorded for its estimate steps, and the provenance of its
/// inputs.
pub struct Context {
    pub name: String,
    pub spec_path: String,
    pub spec_source: String,
    pub resolved: Vec<ResolvedStep>,
    /// Each estimate step's last `devspec calibrate` record.
    pub calibrations: Vec<(String, Value)>,
    /// The provenance the store records for each input's key (absent: no record).
    pub provenance: std::collections::BTreeMap<String, crate::store::Provenance>,
}

/// One step of the spec with its fields evaluated, as `.dev` text, and its sweep points.
pub struct ResolvedStep {
    pub name: String,
    pub kind: StepKind,
    pub fields: Vec<(String, String)>,
    pub points: Vec<String>,
}

/// Where the report went.
pub struct Written {
    pub html: PathBuf,
    pub figures: usize,
    /// The folder already held this report: nothing was written.
    pub unchanged: bool,
}

/// `manifest.json`.
#[derive(Serialize)]
struct Manifest<'a> {
    schema_version: u32,
    report: &'a str,
    title: &'a str,
    spec: &'a str,
    devspec_version: &'static str,
    html: &'static str,
    /// A digest of the page and every figure file: a report drawn differently (by another
    /// version of devspec) differs here even when its data do not.
    content: String,
    points: Vec<String>,
    figures: Vec<&'a Figure>,
    detections: Vec<DetectionEntry<'a>>,
    recurring: Vec<RecurringEntry>,
}

#[derive(Serialize)]
struct DetectionEntry<'a> {
    step: &'a str,
    point: &'a str,
    instance: &'a str,
    series: &'a str,
    method: &'a str,
    boundaries: &'a [crate::detect::Boundary],
    stages: &'a [crate::detect::Stage],
}

/// A boundary found at several sweep points of one detect step.
#[derive(Serialize)]
pub struct RecurringEntry {
    pub step: String,
    pub kind: String,
    pub interval: [i64; 2],
    pub points: Vec<String>,
    /// How many sweep points the step has.
    pub of: usize,
}

/// The boundaries of each detect step that recur across its sweep points.
pub fn recurring_boundaries(data: &ReportData) -> Vec<RecurringEntry> {
    let mut steps: Vec<&str> = data.detections.iter().map(|d| d.step.as_str()).collect();
    steps.dedup();
    let mut out = Vec::new();
    for step in steps {
        let of: Vec<_> = data.detections.iter().filter(|d| d.step == step).collect();
        if of.len() < 2 {
            continue;
        }
        let boundaries: Vec<_> = of.iter().map(|d| d.detection.boundaries.clone()).collect();
        for Recurring { kind, interval, points, .. } in recurring(&boundaries) {
            out.push(RecurringEntry {
                step: step.to_owned(),
                kind,
                interval,
                points: points.iter().map(|&p| of[p].point.clone()).collect(),
                of: of.len(),
            });
        }
    }
    out
}

pub fn write_report(
    dir: &Path,
    data: &ReportData,
    context: &Context,
) -> Result<Written, DrawError> {
    let made = gallery::figures(data, &context.calibrations)?;
    let recurring = recurring_boundaries(data);
    let page = html::page(data, context, &made, &recurring);
    let mut digest = blake3::Hasher::new();
    digest.update(page.as_bytes());
    for m in &made {
        digest.update(m.rendered.svg.as_bytes());
        digest.update(&m.rendered.png);
    }
    let manifest = Manifest {
        schema_version: 2,
        report: &context.name,
        title: data.title_or(&context.name),
        spec: &context.spec_path,
        devspec_version: env!("CARGO_PKG_VERSION"),
        html: "report.html",
        content: digest.finalize().to_hex().to_string(),
        points: gallery::points(data),
        figures: made.iter().map(|m| &m.figure).collect(),
        detections: data
            .detections
            .iter()
            .map(|d| DetectionEntry {
                step: &d.step,
                point: &d.point,
                instance: &d.instance,
                series: &d.detection.series,
                method: &d.detection.method,
                boundaries: &d.detection.boundaries,
                stages: &d.detection.stages,
            })
            .collect(),
        recurring,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let html_path = dir.join("report.html");
    let manifest_path = dir.join("manifest.json");
    let written = Written { html: html_path.clone(), figures: made.len(), unchanged: true };
    if html_path.exists() && std::fs::read(&manifest_path).is_ok_and(|old| old == manifest_bytes) {
        return Ok(written);
    }
    let io = |what: &Path| {
        let path = what.to_path_buf();
        move |source: std::io::Error| DrawError::Write { path, source }
    };
    // The old manifest goes first: a write cut short then leaves no manifest, never one that
    // names figures that were replaced or removed.
    match std::fs::remove_file(&manifest_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&manifest_path)(e)),
        _ => {}
    }
    let figures = dir.join("figures");
    // Figures of an earlier version of the report (a checkpoint since removed) go.
    if figures.is_dir() {
        for entry in std::fs::read_dir(&figures).map_err(io(&figures))?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "svg" || e == "png") {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
    }
    std::fs::create_dir_all(&figures).map_err(io(&figures))?;
    for m in &made {
        let svg = dir.join(&m.figure.svg);
        std::fs::write(&svg, &m.rendered.svg).map_err(io(&svg))?;
        let png = dir.join(&m.figure.png);
        std::fs::write(&png, &m.rendered.png).map_err(io(&png))?;
    }
    replace(&html_path, page.as_bytes()).map_err(io(&html_path))?;
    // The manifest last: a write cut short leaves a stale or missing manifest, never one that
    // claims figures which are not there.
    replace(&manifest_path, &manifest_bytes).map_err(io(&manifest_path))?;
    Ok(Written { unchanged: false, ..written })
}

/// Writes through a temporary file beside the target, so readers see the old or the new file.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
