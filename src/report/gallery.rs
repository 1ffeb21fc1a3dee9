//! Which figures a report has, in the order the page shows them: the LLC over training (all
//! sweep points, their mean, the chains' spread), the loss on the same time axis, one
//! development figure per sweep point (LLC above loss, that point's boundaries shaded), the
//! essential-dynamics trajectories, the calibration heat maps, then one trace plot per
//! estimated checkpoint.

use super::draw_error::DrawError;
use serde_json::Value;

use super::calibration_map::CalibrationMap;
use super::canvas::{Plot, Rendered, render};
use super::data::{LlcSeries, ObservableSeries, ReportData};
use super::dynamics_plot::DynamicsPlot;
use super::figure::{Drawn, Figure};
use super::style::{MEAN, lighter, point_colour};
use super::theory_plot::TheoryPlot;
use super::time_panel::{Band, Line, TimePanel};
use super::trace_plot::TracePlot;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A figure and what it looks like.
pub struct Made {
    pub figure: Figure,
    pub rendered: Rendered,
}

const WIDE: (u32, u32) = (900, 420);
const TALL: (u32, u32) = (900, 640);
const SMALL: (u32, u32) = (330, 210);
const SQUARE: (u32, u32) = (640, 600);

/// Panels stacked top to bottom, sharing the figure's width.
struct Stacked(Vec<TimePanel>);

impl Plot for Stacked {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        area.fill(&WHITE).map_err(super::canvas::fail)?;
        let areas = area.split_evenly((self.0.len(), 1));
        let panels = self.0.iter().zip(&areas).map(|(p, a)| p.draw(a)).collect::<Result<_, _>>()?;
        Ok(Drawn { panels })
    }
}

/// The report's sweep points, in the order they first appear: each one's colour.
pub fn points(data: &ReportData) -> Vec<String> {
    let mut points: Vec<String> = Vec::new();
    let all = data
        .llc
        .iter()
        .map(|s| &s.point)
        .chain(data.losses.iter().map(|s| &s.point))
        .chain(data.observables.iter().map(|s| &s.point))
        .chain(data.detections.iter().map(|d| &d.point));
    for point in all {
        if !points.contains(point) {
            points.push(point.clone());
        }
    }
    points
}

pub fn figures(
    data: &ReportData,
    calibrations: &[(String, Value)],
) -> Result<Vec<Made>, DrawError> {
    let mut gallery =
        Gallery { data, points: points(data), x_range: x_range(data), made: Vec::new() };
    gallery.time_figures()?;
    gallery.other_figures(calibrations)?;
    Ok(gallery.made)
}

/// The figures made so far, and what every figure shares.
struct Gallery<'a> {
    data: &'a ReportData,
    points: Vec<String>,
    x_range: (f64, f64),
    made: Vec<Made>,
}

impl Gallery<'_> {
    fn colour_of(&self, point: &str) -> RGBColor {
        point_colour(self.points.iter().position(|p| p == point).unwrap_or(0))
    }

    /// The boundaries found at one sweep point, or at all of them.
    fn bands_of(&self, point: Option<&str>) -> Vec<Band> {
        self.data
            .detections
            .iter()
            .filter(|d| point.is_none_or(|p| d.point == p))
            .flat_map(|d| {
                d.detection.boundaries.iter().map(|b| Band {
                    point: d.point.clone(),
                    detect: d.step.clone(),
                    kind: b.kind.clone(),
                    interval: b.interval,
                })
            })
            .collect()
    }

    fn add(&mut self, figure: Figure, rendered: Rendered) {
        self.made
            .push(Made { figure: Figure { drawn: rendered.drawn.clone(), ..figure }, rendered });
    }

    /// The LLC of each estimate step, the loss, and each sweep point's development.
    fn time_figures(&mut self) -> Result<(), DrawError> {
        let data = self.data;
        let colour_of = |point: &str| self.colour_of(point);
        let mut made = Vec::new();
        let mut estimate_steps: Vec<&str> = data.llc.iter().map(|s| s.step.as_str()).collect();
        estimate_steps.dedup();
        for step in &estimate_steps {
            let series: Vec<&LlcSeries> = data.llc.iter().filter(|s| s.step == *step).collect();
            if series.iter().all(|s| s.checkpoints.len() < 2) {
                continue;
            }
            let panel =
                llc_panel(step, &series, &colour_of, self.x_range, self.bands_of(None), true);
            let title = format!("{step}: LLC over training");
            made.push((
                blank(&format!("llc-{step}"), "llc", &title, WIDE, None),
                Stacked(vec![panel]),
                WIDE,
            ));
        }
        // The other observables: one figure per estimate step, a line per number and point.
        let mut observable_steps: Vec<&str> =
            data.observables.iter().map(|s| s.step.as_str()).collect();
        observable_steps.dedup();
        for step in observable_steps {
            let series: Vec<&ObservableSeries> =
                data.observables.iter().filter(|s| s.step == step).collect();
            if series.iter().all(|s| s.checkpoints.len() < 2) {
                continue;
            }
            let panel =
                observable_panel(step, &series, &self.points, self.x_range, self.bands_of(None));
            let title = format!("{step}: {} over training", series[0].observable);
            made.push((
                blank(&format!("observable-{step}"), "observable", &title, WIDE, None),
                Stacked(vec![panel]),
                WIDE,
            ));
        }
        // A curve needs two points: estimates at a single checkpoint each have no loss curve.
        let curves = data.losses.iter().any(|s| s.steps.len() > 1)
            || data.llc.iter().any(|s| s.checkpoints.len() > 1);
        if curves {
            let panel = loss_panel(data, None, &colour_of, self.x_range, self.bands_of(None));
            made.push((
                blank("loss", "loss", "loss over training", WIDE, None),
                Stacked(vec![panel]),
                WIDE,
            ));
        }
        if self.points.len() > 1 || !data.detections.is_empty() {
            for (i, point) in self.points.iter().enumerate() {
                let series: Vec<&LlcSeries> =
                    data.llc.iter().filter(|s| &s.point == point).collect();
                let bands = self.bands_of(Some(point));
                let mut panels = Vec::new();
                if series.iter().any(|s| s.checkpoints.len() > 1) {
                    let step = series.first().map_or("llc", |s| s.step.as_str());
                    panels.push(llc_panel(
                        step,
                        &series,
                        &colour_of,
                        self.x_range,
                        bands.clone(),
                        false,
                    ));
                }
                panels.push(loss_panel(data, Some(point), &colour_of, self.x_range, bands));
                let title = if point.is_empty() {
                    "development".to_owned()
                } else {
                    format!("development at {point}")
                };
                let figure =
                    blank(&format!("development-{i}"), "development", &title, TALL, Some(point));
                made.push((figure, Stacked(panels), TALL));
            }
        }
        for (figure, plot, size) in made {
            let rendered = render(&plot, size)?;
            self.add(figure, rendered);
        }
        Ok(())
    }

    /// Estimates against theory, essential dynamics, calibrations and trace plots.
    fn other_figures(&mut self, calibrations: &[(String, Value)]) -> Result<(), DrawError> {
        let data = self.data;
        if !data.theory.is_empty() {
            let figure = blank("theory", "theory", "LLC estimates against theory", SQUARE, None);
            self.add(figure, render(&TheoryPlot { points: &data.theory }, SQUARE)?);
        }
        for (i, of) in data.detections.iter().enumerate() {
            if of.detection.method != "essential_dynamics" {
                continue;
            }
            let colour_index = self.points.iter().position(|p| *p == of.point).unwrap_or(0);
            let title = format!("essential dynamics of {}", of.instance);
            let figure = blank(&format!("dynamics-{i}"), "dynamics", &title, WIDE, Some(&of.point));
            self.add(figure, render(&DynamicsPlot { of, colour_index }, WIDE)?);
        }
        for (step, record) in calibrations {
            let title = format!("calibration of {step}");
            let figure = blank(&format!("calibration-{step}"), "calibration", &title, WIDE, None);
            self.add(figure, render(&CalibrationMap { step, record }, WIDE)?);
        }
        for (i, panel) in data.traces.iter().enumerate() {
            let title = format!("{} traces", panel.instance);
            let mut figure =
                blank(&format!("trace-{i:04}"), "trace", &title, SMALL, Some(&panel.point));
            figure.checkpoint = Some(panel.checkpoint);
            figure.diagnostics.clone_from(&panel.diagnostics);
            self.add(figure, render(&TracePlot { panel }, SMALL)?);
        }
        Ok(())
    }
}

fn blank(id: &str, kind: &str, title: &str, size: (u32, u32), point: Option<&str>) -> Figure {
    Figure {
        id: id.to_owned(),
        kind: kind.to_owned(),
        title: title.to_owned(),
        svg: format!("figures/{id}.svg"),
        png: format!("figures/{id}.png"),
        width: size.0,
        height: size.1,
        point: point.map(str::to_owned),
        checkpoint: None,
        diagnostics: Vec::new(),
        drawn: Drawn::default(),
    }
}

/// The steps every time axis spans: the first to the last step any series has (positive).
fn x_range(data: &ReportData) -> (f64, f64) {
    let steps = data
        .llc
        .iter()
        .flat_map(|s| s.checkpoints.iter())
        .chain(data.losses.iter().flat_map(|s| s.steps.iter()))
        .chain(data.observables.iter().flat_map(|s| s.checkpoints.iter()))
        .filter(|&&s| s > 0)
        .map(|&s| s as f64);
    let (low, high) =
        steps.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), s| (l.min(s), h.max(s)));
    if low.is_finite() && high > low { (low, high) } else { (1.0, 10.0) }
}

fn llc_panel(
    step: &str,
    series: &[&LlcSeries],
    colour_of: &dyn Fn(&str) -> RGBColor,
    x_range: (f64, f64),
    bands: Vec<Band>,
    with_mean: bool,
) -> TimePanel {
    let mut lines: Vec<Line> = series
        .iter()
        .map(|s| {
            let xs = s.checkpoints.iter().map(|&c| c as f64);
            Line {
                label: if s.point.is_empty() { s.step.clone() } else { s.point.clone() },
                point: Some(s.point.clone()),
                colour: colour_of(&s.point),
                width: 2,
                points: xs.clone().zip(s.mean.iter().copied()).collect(),
                spread: Some(
                    xs.zip(s.chain_low.iter().zip(&s.chain_high))
                        .map(|(x, (&low, &high))| (x, low, high))
                        .collect(),
                ),
                in_legend: true,
            }
        })
        .collect();
    // The mean across sweep points, where they measured the same checkpoints.
    if with_mean
        && series.len() > 1
        && series.iter().all(|s| s.checkpoints == series[0].checkpoints)
    {
        let points = series[0]
            .checkpoints
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let values: Vec<f64> = series.iter().filter_map(|s| s.mean[i]).collect();
                let mean = (values.len() == series.len())
                    .then(|| values.iter().sum::<f64>() / values.len() as f64);
                (c as f64, mean)
            })
            .collect();
        lines.push(Line {
            label: format!("mean of {}", series.len()),
            point: None,
            colour: MEAN,
            width: 3,
            points,
            spread: None,
            in_legend: true,
        });
    }
    TimePanel {
        name: format!("llc:{step}"),
        title: None,
        y_label: "LLC".into(),
        y_log: false,
        x_range,
        lines,
        bands,
    }
}

/// An observable's numbers over checkpoints: one colour per number at a single sweep point,
/// else one per point with the step's further numbers lighter.
fn observable_panel(
    step: &str,
    series: &[&ObservableSeries],
    points: &[String],
    x_range: (f64, f64),
    bands: Vec<Band>,
) -> TimePanel {
    let mut names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let lines = series
        .iter()
        .map(|s| {
            let name_index = names.iter().position(|n| *n == s.name).unwrap_or(0);
            let point_index = points.iter().position(|p| *p == s.point).unwrap_or(0);
            let colour = if points.len() > 1 {
                let colour = point_colour(point_index);
                if name_index == 0 { colour } else { lighter(colour) }
            } else {
                point_colour(name_index)
            };
            Line {
                label: if s.point.is_empty() {
                    s.name.clone()
                } else {
                    format!("{} {}", s.name, s.point)
                },
                point: Some(s.point.clone()),
                colour,
                width: 2,
                points: s
                    .checkpoints
                    .iter()
                    .map(|&c| c as f64)
                    .zip(s.values.iter().copied())
                    .collect(),
                spread: None,
                in_legend: true,
            }
        })
        .collect();
    TimePanel {
        name: format!("observable:{step}"),
        title: None,
        y_label: series[0].observable.clone(),
        y_log: false,
        x_range,
        lines,
        bands,
    }
}

fn loss_panel(
    data: &ReportData,
    point: Option<&str>,
    colour_of: &dyn Fn(&str) -> RGBColor,
    x_range: (f64, f64),
    bands: Vec<Band>,
) -> TimePanel {
    let mut lines = Vec::new();
    for s in data.losses.iter().filter(|s| point.is_none_or(|p| s.point == p)) {
        let xs = s.steps.iter().map(|&x| x as f64);
        let name = if s.point.is_empty() { String::new() } else { format!(" {}", s.point) };
        lines.push(Line {
            label: format!("train{name}"),
            point: Some(s.point.clone()),
            colour: colour_of(&s.point),
            width: 2,
            points: thinned(xs.clone().zip(s.train_loss.iter().copied()).collect(), x_range),
            spread: None,
            in_legend: true,
        });
        if let Some(test) = &s.test_loss {
            lines.push(Line {
                label: format!("test{name}"),
                point: Some(s.point.clone()),
                colour: lighter(colour_of(&s.point)),
                width: 1,
                points: thinned(xs.zip(test.iter().copied()).collect(), x_range),
                spread: None,
                in_legend: true,
            });
        }
    }
    // Without a training run in the report, the loss at each estimated checkpoint.
    if lines.is_empty() {
        for s in data.llc.iter().filter(|s| point.is_none_or(|p| s.point == p)) {
            lines.push(Line {
                label: format!("loss at checkpoint {}", s.point),
                point: Some(s.point.clone()),
                colour: colour_of(&s.point),
                width: 2,
                points: s
                    .checkpoints
                    .iter()
                    .map(|&c| c as f64)
                    .zip(s.init_loss.iter().copied())
                    .collect(),
                spread: None,
                in_legend: true,
            });
        }
    }
    TimePanel {
        name: "loss".into(),
        title: None,
        y_label: "loss".into(),
        y_log: true,
        x_range,
        lines,
        bands,
    }
}

/// A loss curve with at most about [`CURVE_POINTS`] points, evenly spread in log step: plotters
/// draws on whole pixels, and points a pixel apart turn a smooth curve into a staircase.
const CURVE_POINTS: f64 = 120.0;

fn thinned(points: Vec<(f64, Option<f64>)>, (low, high): (f64, f64)) -> Vec<(f64, Option<f64>)> {
    let spacing = (high.ln() - low.ln()) / CURVE_POINTS;
    let mut kept: Vec<(f64, Option<f64>)> = Vec::with_capacity(points.len().min(300));
    let last = points.len().saturating_sub(1);
    for (i, point) in points.into_iter().enumerate() {
        let far = kept
            .last()
            .is_none_or(|&(x, _)| point.0.max(1e-300).ln() - x.max(1e-300).ln() >= spacing);
        if far || i == last {
            kept.push(point);
        }
    }
    kept
}
