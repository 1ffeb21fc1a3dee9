//! The essential-dynamics trajectory: the checkpoints' outputs projected on their top two
//! principal components (grey dots), the smoothed trajectory through them, and its milestones
//! (where a component turns) marked and labelled with their checkpoint interval.

use super::draw_error::DrawError;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use super::canvas::{FAMILY, Plot, TEXT, TITLE_TEXT, draw_axes, fail};
use super::data::DetectionOf;
use super::figure::{Drawn, Panel, SeriesDrawn};
use super::style::{MILESTONE, hex, point_colour};

pub struct DynamicsPlot<'a> {
    pub of: &'a DetectionOf,
    pub colour_index: usize,
}

fn rows(value: &Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| row.as_array().into_iter().flatten().filter_map(Value::as_f64).collect())
        .collect()
}

impl Plot for DynamicsPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        area.fill(&WHITE).map_err(fail)?;
        let detection = &self.of.detection;
        let details = &detection.details;
        let scores = rows(&details["trajectory"]);
        let smoothed = rows(&details["smoothed_trajectory"]);
        let explained = floats(&details["explained_variance"]);
        // With one component, its score against the checkpoint's position.
        let (xs, ys, sx, sy) = match (scores.as_slice(), smoothed.as_slice()) {
            ([a, b, ..], [sa, sb, ..]) => (a.clone(), b.clone(), sa.clone(), sb.clone()),
            ([a], [sa]) => (
                (0..a.len()).map(|i| i as f64).collect(),
                a.clone(),
                (0..sa.len())
                    .map(|i| i as f64 * (a.len() as f64 - 1.0) / (sa.len() as f64 - 1.0).max(1.0))
                    .collect(),
                sa.clone(),
            ),
            _ => return Err(no_trajectory()),
        };
        let bounds = |v: &[f64], w: &[f64]| {
            let low = v.iter().chain(w).copied().fold(f64::INFINITY, f64::min);
            let high = v.iter().chain(w).copied().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((high - low) * 0.08).max(1e-9);
            (low - pad, high + pad)
        };
        let (x0, x1) = bounds(&xs, &sx);
        let (y0, y1) = bounds(&ys, &sy);
        let label = |c: usize| match explained.get(c) {
            Some(e) => format!("PC{} ({:.0}% of variance)", c + 1, e * 100.0),
            None => format!("PC{}", c + 1),
        };
        let x_desc = if scores.len() >= 2 { label(0) } else { "checkpoint".into() };
        let y_desc = if scores.len() >= 2 { label(1) } else { label(0) };
        let title = format!("essential dynamics: {} {}", self.of.step, self.of.point);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .caption(title.trim_end(), (FAMILY, TITLE_TEXT))
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(fail)?;
        draw_axes(&mut chart, &x_desc, &y_desc)?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(xs.iter().zip(&ys).map(|(&x, &y)| Circle::new((x, y), 3, grey.filled())))
            .map_err(fail)?;
        let colour = point_colour(self.colour_index);
        let path: Vec<(f64, f64)> = sx.iter().copied().zip(sy.iter().copied()).collect();
        chart.draw_series(LineSeries::new(path.clone(), colour.stroke_width(2))).map_err(fail)?;
        let mut milestones = Vec::new();
        for boundary in &detection.boundaries {
            // The checkpoint after the boundary (a stored boundary keeps its interval, not its
            // index).
            let index = detection.steps.iter().position(|&s| s == boundary.interval[1]);
            let Some((&x, &y)) = index.and_then(|i| xs.get(i).zip(ys.get(i))) else {
                continue;
            };
            let mark = MILESTONE;
            let text = format!("{}-{}", boundary.interval[0], boundary.interval[1]);
            chart
                .draw_series([EmptyElement::at((x, y))
                    + Circle::new((0, 0), 6, mark.stroke_width(2))
                    + Text::new(text, (9, -5), (FAMILY, TEXT))])
                .map_err(fail)?;
            milestones.push((x, Some(y)));
        }
        let (left, top) = chart.backend_coord(&(x0, y1));
        let (right, bottom) = chart.backend_coord(&(x1, y0));
        Ok(Drawn {
            panels: vec![Panel {
                name: "dynamics".into(),
                area: [left, top, right, bottom],
                x_label: x_desc,
                x_scale: "linear".into(),
                x_range: [x0, x1],
                y_label: y_desc,
                y_scale: "linear".into(),
                y_range: [y0, y1],
                series: vec![
                    SeriesDrawn {
                        label: "smoothed trajectory".into(),
                        point: Some(self.of.point.clone()),
                        colour: hex(colour),
                        count: path.len(),
                        points: path.into_iter().map(|(x, y)| (x, Some(y))).collect(),
                        flagged: Vec::new(),
                    },
                    // Where each milestone is circled: the outputs at the checkpoint after it.
                    SeriesDrawn {
                        label: "milestones".into(),
                        point: Some(self.of.point.clone()),
                        colour: String::new(),
                        count: milestones.len(),
                        points: milestones,
                        flagged: Vec::new(),
                    },
                ],
                bands: Vec::new(),
                stages: Vec::new(),
            }],
            tips: Vec::new(),
        })
    }
}

/// The numbers of a JSON array (none where it is not one).
fn floats(value: &Value) -> Vec<f64> {
    value.as_array().into_iter().flatten().filter_map(Value::as_f64).collect()
}

fn no_trajectory() -> DrawError {
    DrawError::Data("the essential dynamics recorded no trajectory".into())
}
