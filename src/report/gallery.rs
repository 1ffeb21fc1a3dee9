//! Which figures a report has, in the order the page shows them: the LLC over training (every
//! sweep point with ±2 standard errors, and the mean over seeds only: points that differ in
//! anything else are never averaged), the other observables and the loss on the same time
//! axis, one development figure per sweep point (LLC above loss, that point's stages shaded),
//! the essential-dynamics trajectories, the calibration heat maps, then one trace plot per
//! estimated checkpoint.

use super::draw_error::DrawError;
use serde_json::Value;

use super::calibration_map::CalibrationMap;
use super::canvas::{Plot, Rendered, render};
use super::data::{LlcSeries, ObservableSeries, ReportData};
use super::dynamics_plot::DynamicsPlot;
use super::figure::{Drawn, Figure};
use super::style::{MEAN, darker, lighter, number_label, point_colour};
use super::theory_plot::TheoryPlot;
use super::time_panel::{Line, Mark, StageRow, TimePanel};
use super::tooltip;
use super::trace_plot::TracePlot;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A figure and what it looks like.
pub struct Made {
    pub figure: Figure,
    pub rendered: Rendered,
}

const WIDE: (u32, u32) = (900, 420);
/// The height of each of a development figure's panels, before its strips.
const TALL_PANEL: u32 = 320;
const SMALL: (u32, u32) = (375, 260);
const SQUARE: (u32, u32) = (640, 600);

/// Panels stacked top to bottom, sharing the figure's width: each its plot's height and the
/// strips under it.
struct Stacked(Vec<(TimePanel, u32)>);

impl Stacked {
    fn size(&self) -> (u32, u32) {
        (WIDE.0, self.0.iter().map(|(panel, plot)| plot + panel.below()).sum())
    }
}

impl Plot for Stacked {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        area.fill(&WHITE).map_err(super::canvas::fail)?;
        let mut drawn = Drawn::default();
        let mut rest = area.clone();
        for (panel, plot) in &self.0 {
            let height = i32::try_from(plot + panel.below()).unwrap_or(i32::MAX);
            let (this, below) = rest.split_vertically(height);
            let (drawn_panel, tips) = panel.draw(&this)?;
            drawn.panels.push(drawn_panel);
            drawn.tips.extend(tips);
            rest = below;
        }
        Ok(drawn)
    }
}

/// Which panels a detection's stages belong with: the LLC's, a loss's, or another series' own.
fn family(series: &str) -> &str {
    if series.starts_with("llc") {
        "llc"
    } else if series.contains("loss") {
        "loss"
    } else {
        series
    }
}

/// A panel's stages: at one sweep point, the first detection of its own series shaded and the
/// others as strips; over several points, every one a strip (bands of several points stacked
/// in one plot read as one dark block).
fn shade_or_strip(rows: Vec<StageRow>, one_point: bool) -> (Option<StageRow>, Vec<StageRow>) {
    let mut rows = rows.into_iter();
    if one_point { (rows.next(), rows.collect()) } else { (None, rows.collect()) }
}

/// A sweep point without its seed: the points a mean over seeds may join (`lr=0.1`), or
/// `None` when the point has no seed coordinate.
fn without_seed(point: &str) -> Option<String> {
    let coordinates: Vec<&str> = point.split(',').filter(|c| !c.is_empty()).collect();
    let others: Vec<&str> =
        coordinates.iter().copied().filter(|c| !c.starts_with("seed=")).collect();
    (others.len() < coordinates.len()).then(|| others.join(","))
}

/// What hovering an LLC estimate says: the instance, the step, the value ± its standard error,
/// and its diagnostics with the action to try first.
fn estimate_tip(s: &LlcSeries, i: usize) -> Mark {
    let diagnostics = s.diagnostics.get(i).cloned().unwrap_or_default();
    let tip = tooltip::estimate(
        s.instances.get(i).map_or(s.step.as_str(), String::as_str),
        &format!("step {}", s.checkpoints[i]),
        s.mean[i],
        s.se.get(i).copied().flatten(),
        &diagnostics,
    );
    Mark { shown: true, flagged: !diagnostics.is_empty(), tip }
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

    /// The stages each detection found at one sweep point (or at all), whose series belongs
    /// with panels of `family` (`None`: those of no LLC or loss panel).
    /// The stages of the detections at `point` (all points: `None`) of series of `families`,
    /// searched on step `on` (any: `None`; data from before detections named their step count
    /// as any).
    fn rows_of(&self, point: Option<&str>, families: &[&str], on: Option<&str>) -> Vec<StageRow> {
        self.data
            .detections
            .iter()
            .filter(|d| point.is_none_or(|p| d.point == p))
            .filter(|d| on.is_none_or(|want| d.on.as_deref().is_none_or(|o| o == want)))
            .filter(|d| families.contains(&family(&d.detection.series)))
            .map(|d| StageRow {
                point: d.point.clone(),
                detect: d.step.clone(),
                series: d.detection.series.clone(),
                stages: d.detection.stages.clone(),
                boundaries: d.detection.boundaries.clone(),
            })
            .collect()
    }

    /// The series of detections whose stages no LLC, loss or observable figure shows.
    fn other_families(&self) -> Vec<&str> {
        let observables: Vec<&str> =
            self.data.observables.iter().map(|s| s.name.as_str()).collect();
        let mut others: Vec<&str> = self
            .data
            .detections
            .iter()
            .map(|d| family(&d.detection.series))
            .filter(|f| *f != "llc" && *f != "loss" && !observables.contains(f))
            .collect();
        others.dedup();
        others
    }

    fn add(&mut self, figure: Figure, rendered: Rendered) {
        self.made
            .push(Made { figure: Figure { drawn: rendered.drawn.clone(), ..figure }, rendered });
    }

    /// The LLC of each estimate step, the other observables, the loss, and each sweep point's
    /// development.
    fn time_figures(&mut self) -> Result<(), DrawError> {
        let data = self.data;
        let colour_of = |point: &str| self.colour_of(point);
        let one_point = self.points.len() <= 1;
        let mut made: Vec<(Figure, Stacked)> = Vec::new();
        let mut estimate_steps: Vec<&str> = data.llc.iter().map(|s| s.step.as_str()).collect();
        estimate_steps.dedup();
        for step in &estimate_steps {
            let series: Vec<&LlcSeries> = data.llc.iter().filter(|s| s.step == *step).collect();
            if series.iter().all(|s| s.checkpoints.len() < 2) {
                continue;
            }
            let (shaded, strips) =
                shade_or_strip(self.rows_of(None, &["llc"], Some(step)), one_point);
            let panel = llc_panel(step, &series, &colour_of, self.x_range, true);
            let title = format!("{step}: LLC over training");
            made.push((
                blank(&format!("llc-{step}"), "llc", &title, WIDE, None),
                Stacked(vec![(TimePanel { shaded, strips, ..panel }, WIDE.1)]),
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
            let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
            let (shaded, strips) =
                shade_or_strip(self.rows_of(None, &names, Some(step)), one_point);
            let panel = observable_panel(step, &series, &self.points, self.x_range);
            let title = format!("{step}: {} over training", series[0].observable);
            made.push((
                blank(&format!("observable-{step}"), "observable", &title, WIDE, None),
                Stacked(vec![(TimePanel { shaded, strips, ..panel }, WIDE.1)]),
            ));
        }
        // A curve needs two points: estimates at a single checkpoint each have no loss curve.
        let curves = data.losses.iter().any(|s| s.steps.len() > 1)
            || data.llc.iter().any(|s| s.checkpoints.len() > 1);
        if curves {
            let (shaded, strips) = shade_or_strip(self.rows_of(None, &["loss"], None), one_point);
            let panel = loss_panel(data, None, &colour_of, self.x_range);
            made.push((
                blank("loss", "loss", "loss over training", WIDE, None),
                Stacked(vec![(TimePanel { shaded, strips, ..panel }, WIDE.1)]),
            ));
        }
        if self.points.len() > 1 || !data.detections.is_empty() {
            let others = self.other_families();
            for (i, point) in self.points.iter().enumerate() {
                let series: Vec<&LlcSeries> =
                    data.llc.iter().filter(|s| &s.point == point).collect();
                let mut panels = Vec::new();
                if series.iter().any(|s| s.checkpoints.len() > 1) {
                    let step = series.first().map_or("llc", |s| s.step.as_str());
                    let (shaded, strips) =
                        shade_or_strip(self.rows_of(Some(point), &["llc"], None), true);
                    let panel = llc_panel(step, &series, &colour_of, self.x_range, false);
                    panels.push((TimePanel { shaded, strips, ..panel }, TALL_PANEL));
                }
                let (shaded, mut strips) =
                    shade_or_strip(self.rows_of(Some(point), &["loss"], None), true);
                // Detections of no panel's series (essential dynamics, accuracy) as strips under
                // the last panel.
                strips.extend(self.rows_of(Some(point), &others, None));
                let panel = loss_panel(data, Some(point), &colour_of, self.x_range);
                panels.push((TimePanel { shaded, strips, ..panel }, TALL_PANEL));
                let title = if point.is_empty() {
                    "development".to_owned()
                } else {
                    format!("development at {point}")
                };
                let plot = Stacked(panels);
                let figure = blank(
                    &format!("development-{i}"),
                    "development",
                    &title,
                    plot.size(),
                    Some(point),
                );
                made.push((figure, plot));
            }
        }
        for (figure, plot) in made {
            let size = plot.size();
            let rendered = render(&plot, size)?;
            self.add(Figure { width: size.0, height: size.1, ..figure }, rendered);
        }
        Ok(())
    }

    /// Estimates against theory, essential dynamics, calibrations and trace plots.
    fn other_figures(&mut self, calibrations: &[(String, Value)]) -> Result<(), DrawError> {
        let data = self.data;
        if !data.theory.is_empty() {
            let figure = blank("theory", "theory", "LLC estimates against theory", SQUARE, None);
            // Each estimate's diagnostics, from its LLC series: the same instance.
            let diagnostics = data
                .theory
                .iter()
                .map(|p| {
                    data.llc
                        .iter()
                        .find_map(|s| {
                            let i = s.instances.iter().position(|i| *i == p.instance)?;
                            s.diagnostics.get(i).cloned()
                        })
                        .unwrap_or_default()
                })
                .collect();
            let plot = TheoryPlot { points: &data.theory, diagnostics };
            self.add(figure, render(&plot, SQUARE)?);
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

/// Each sweep point's LLC with ±2 standard errors and a marker per checkpoint (hollow and red
/// where the estimate has diagnostics); with `with_mean`, the mean over seeds of the points that
/// differ in their seed alone, one line per such group.
pub(super) fn llc_panel(
    step: &str,
    series: &[&LlcSeries],
    colour_of: &dyn Fn(&str) -> RGBColor,
    x_range: (f64, f64),
    with_mean: bool,
) -> TimePanel {
    // Several estimate steps in one panel (a sweep point's development): each line says its
    // step, and a later step's line is drawn darker, so two steps at one point are never one
    // colour under one name.
    let mut steps: Vec<&str> = series.iter().map(|s| s.step.as_str()).collect();
    steps.dedup();
    let several = steps.len() > 1;
    let mut lines: Vec<Line> = series
        .iter()
        .map(|s| {
            let xs = s.checkpoints.iter().map(|&c| c as f64);
            let later = steps.iter().position(|step| *step == s.step).unwrap_or(0) > 0;
            let label = match (several, s.point.is_empty()) {
                (true | false, true) => s.step.clone(),
                (true, false) => format!("{} at {}", s.step, s.point),
                (false, false) => s.point.clone(),
            };
            let two_se = |i: usize, sign: f64| {
                s.mean[i].zip(s.se.get(i).copied().flatten()).map(|(m, se)| m + sign * 2.0 * se)
            };
            Line {
                label,
                point: Some(s.point.clone()),
                colour: if later { darker(colour_of(&s.point)) } else { colour_of(&s.point) },
                width: 2,
                points: xs.clone().zip(s.mean.iter().copied()).collect(),
                spread: Some(
                    xs.enumerate().map(|(i, x)| (x, two_se(i, -1.0), two_se(i, 1.0))).collect(),
                ),
                in_legend: true,
                marks: (0..s.checkpoints.len()).map(|i| estimate_tip(s, i)).collect(),
            }
        })
        .collect();
    if with_mean {
        lines.extend(seed_means(series, colour_of));
    }
    TimePanel {
        name: format!("llc:{step}"),
        title: None,
        y_label: "LLC".into(),
        y_log: false,
        x_range,
        lines,
        shaded: None,
        strips: Vec::new(),
    }
}

/// The mean over seeds of each group of sweep points that differ only in their seed and
/// measured the same checkpoints, with ±2 standard errors of that mean (the seeds' spread over
/// the square root of their number). Points that differ in anything else are never averaged.
fn seed_means(series: &[&LlcSeries], colour_of: &dyn Fn(&str) -> RGBColor) -> Vec<Line> {
    let mut groups: Vec<(String, Vec<&LlcSeries>)> = Vec::new();
    for s in series {
        let Some(rest) = without_seed(&s.point) else { continue };
        match groups.iter_mut().find(|(r, _)| *r == rest) {
            Some((_, members)) => members.push(s),
            None => groups.push((rest, vec![s])),
        }
    }
    let several = groups.len() > 1;
    groups
        .into_iter()
        .filter(|(_, members)| {
            members.len() > 1 && members.iter().all(|s| s.checkpoints == members[0].checkpoints)
        })
        .map(|(rest, members)| {
            let n = members.len() as f64;
            let stats: Vec<(f64, Option<(f64, f64)>)> = members[0]
                .checkpoints
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    let values: Vec<f64> = members.iter().filter_map(|s| s.mean[i]).collect();
                    let complete = values.len() == members.len();
                    let mean = values.iter().sum::<f64>() / n;
                    let variance =
                        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
                    (c as f64, complete.then_some((mean, (variance / n).sqrt())))
                })
                .collect();
            let at = if rest.is_empty() { String::new() } else { format!(" at {rest}") };
            let label = format!("mean over {} seeds{at}", members.len());
            let marks = stats
                .iter()
                .map(|&(x, stat)| Mark {
                    shown: true,
                    flagged: false,
                    tip: stat.map_or_else(
                        || format!("{label}\nstep {x}: a seed has no estimate"),
                        |(m, se)| {
                            format!(
                                "{label}\nstep {x}: LLC {} ± {} (standard error over seeds)",
                                number_label(m),
                                number_label(se)
                            )
                        },
                    ),
                })
                .collect();
            Line {
                colour: if several { darker(colour_of(&members[0].point)) } else { MEAN },
                width: 3,
                points: stats.iter().map(|&(x, stat)| (x, stat.map(|(m, _)| m))).collect(),
                spread: Some(
                    stats
                        .iter()
                        .map(|&(x, stat)| {
                            (x, stat.map(|(m, se)| m - 2.0 * se), stat.map(|(m, se)| m + 2.0 * se))
                        })
                        .collect(),
                ),
                in_legend: true,
                marks,
                label,
                point: None,
            }
        })
        .collect()
}

/// An observable's numbers over checkpoints: one colour per number at a single sweep point,
/// else one per point with the step's further numbers lighter.
fn observable_panel(
    step: &str,
    series: &[&ObservableSeries],
    points: &[String],
    x_range: (f64, f64),
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
            let label =
                if s.point.is_empty() { s.name.clone() } else { format!("{} {}", s.name, s.point) };
            let marks = s
                .checkpoints
                .iter()
                .zip(&s.values)
                .map(|(c, v)| Mark {
                    shown: true,
                    flagged: false,
                    tip: format!(
                        "{label}\nstep {c}: {}",
                        v.map_or_else(|| "none".to_owned(), number_label)
                    ),
                })
                .collect();
            Line {
                label,
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
                marks,
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
        shaded: None,
        strips: Vec::new(),
    }
}

/// Tooltips for a curve's points, without markers (a loss is recorded densely).
fn curve_tips(label: &str, points: &[(f64, Option<f64>)]) -> Vec<Mark> {
    points
        .iter()
        .map(|&(x, y)| Mark {
            shown: false,
            flagged: false,
            tip: format!(
                "{label}\nstep {x}: {}",
                y.map_or_else(|| "none".to_owned(), number_label)
            ),
        })
        .collect()
}

fn loss_panel(
    data: &ReportData,
    point: Option<&str>,
    colour_of: &dyn Fn(&str) -> RGBColor,
    x_range: (f64, f64),
) -> TimePanel {
    let mut lines = Vec::new();
    for s in data.losses.iter().filter(|s| point.is_none_or(|p| s.point == p)) {
        let xs = s.steps.iter().map(|&x| x as f64);
        let name = if s.point.is_empty() { String::new() } else { format!(" {}", s.point) };
        // A series with no number (left out of a bid's answer by the owner) draws no line: an
        // empty axis would read as a run that logged nothing.
        if s.train_loss.iter().any(Option::is_some) {
            let train = thinned(xs.clone().zip(s.train_loss.iter().copied()).collect(), x_range);
            let label = format!("train{name}");
            lines.push(Line {
                marks: curve_tips(&format!("{} {label} loss", s.instance), &train),
                label,
                point: Some(s.point.clone()),
                colour: colour_of(&s.point),
                width: 2,
                points: train,
                spread: None,
                in_legend: true,
            });
        }
        if let Some(test) = &s.test_loss {
            let test = thinned(xs.zip(test.iter().copied()).collect(), x_range);
            let label = format!("test{name}");
            lines.push(Line {
                marks: curve_tips(&format!("{} {label} loss", s.instance), &test),
                label,
                point: Some(s.point.clone()),
                colour: lighter(colour_of(&s.point)),
                width: 1,
                points: test,
                spread: None,
                in_legend: true,
            });
        }
    }
    // Without a training run in the report (or with its losses left out), the loss at each
    // estimated checkpoint.
    if lines.is_empty() {
        for s in data.llc.iter().filter(|s| point.is_none_or(|p| s.point == p)) {
            let points: Vec<(f64, Option<f64>)> =
                s.checkpoints.iter().map(|&c| c as f64).zip(s.init_loss.iter().copied()).collect();
            let label = format!("loss at checkpoint {}", s.point);
            lines.push(Line {
                marks: curve_tips(&label, &points)
                    .into_iter()
                    .map(|m| Mark { shown: true, ..m })
                    .collect(),
                label,
                point: Some(s.point.clone()),
                colour: colour_of(&s.point),
                width: 2,
                points,
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
        shaded: None,
        strips: Vec::new(),
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
