//! One checkpoint's sampling traces: every chain's recorded loss per draw, the loss at the
//! checkpoint where they all start (dashed), and the estimate's diagnostics in red (title and
//! background; a diverged chain's line). A healthy plot shows chains that rise from the
//! dashed line and level off together.

use super::draw_error::DrawError;
use std::fmt::Write;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{FAMILY, Plot, TEXT, fail};
use super::data::TracePanel;
use super::figure::{Drawn, Panel, SeriesDrawn};
use super::style::{FLAGGED, hex, number_label, point_colour, tick_label};

pub struct TracePlot<'a> {
    pub panel: &'a TracePanel,
}

impl Plot for TracePlot<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        let panel = self.panel;
        let flagged = !panel.diagnostics.is_empty();
        area.fill(if flagged { &RGBColor(255, 238, 238) } else { &WHITE }).map_err(fail)?;
        let draws = panel.traces.iter().map(Vec::len).max().unwrap_or(0).max(2);
        let values: Vec<f64> = panel
            .traces
            .iter()
            .flatten()
            .chain(std::iter::once(&panel.init_loss))
            .filter_map(|v| v.filter(|v| v.is_finite()))
            .collect();
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (low, high) = if low.is_finite() && high > low {
            let pad = (high - low) * 0.05;
            (low - pad, high + pad)
        } else if low.is_finite() {
            (low - low.abs().max(1e-12) * 0.1, low + low.abs().max(1e-12) * 0.1)
        } else {
            (0.0, 1.0)
        };
        let mut title = format!("step {}", panel.checkpoint);
        if let Some(llc) = panel.llc_mean {
            let _ = write!(title, ": LLC {}", number_label(llc));
        }
        if flagged {
            let _ = write!(title, " ({})", panel.diagnostics.join(", "));
        }
        let colour = if flagged { FLAGGED } else { BLACK };
        let mut chart = ChartBuilder::on(area)
            .margin(6)
            .caption(title, (FAMILY, TEXT).into_font().color(&colour))
            .x_label_area_size(42)
            .y_label_area_size(74)
            .build_cartesian_2d(0f64..(draws - 1) as f64, low..high)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(4)
            .x_desc("draw")
            .y_desc("loss")
            .axis_desc_style((FAMILY, TEXT))
            .label_style((FAMILY, TEXT))
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .y_label_formatter(&|v| tick_label(*v))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(fail)?;
        if let Some(init) = panel.init_loss.filter(|v| v.is_finite()) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, init), ((draws - 1) as f64, init)],
                    4,
                    3,
                    RGBColor(120, 120, 120).stroke_width(1),
                ))
                .map_err(fail)?;
        }
        let mut series = Vec::new();
        for (chain, trace) in panel.traces.iter().enumerate() {
            let diverged = panel.llc_per_chain.get(chain).is_some_and(Option::is_none);
            let colour = if diverged { FLAGGED } else { point_colour(chain) };
            let points: Vec<(f64, f64)> = trace
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((i as f64, v.filter(|v| v.is_finite())?)))
                .collect();
            chart.draw_series(LineSeries::new(points, colour.stroke_width(1))).map_err(fail)?;
            series.push(SeriesDrawn {
                label: format!("chain {chain}{}", if diverged { " (diverged)" } else { "" }),
                point: Some(panel.point.clone()),
                colour: hex(colour),
                // The draws themselves are in the store (`devspec show`); the manifest counts them.
                points: Vec::new(),
                count: trace.len(),
                flagged: Vec::new(),
            });
        }
        let (left, top) = chart.backend_coord(&(0.0, high));
        let (right, bottom) = chart.backend_coord(&((draws - 1) as f64, low));
        Ok(Drawn {
            panels: vec![Panel {
                name: "trace".into(),
                area: [left, top, right, bottom],
                x_label: "draw".into(),
                x_scale: "linear".into(),
                x_range: [0.0, (draws - 1) as f64],
                y_label: "loss".into(),
                y_scale: "linear".into(),
                y_range: [low, high],
                series,
                bands: Vec::new(),
                stages: Vec::new(),
            }],
            tips: Vec::new(),
        })
    }
}
