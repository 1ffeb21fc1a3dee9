//! Estimates against theory: each LLC estimate at a checkpoint whose learning coefficient is
//! known (a deep linear network at its teacher), its mean with two standard errors, against the
//! closed-form value, around the line y = x where a perfect estimator would put it; one with
//! diagnostics hollow and red, and each with its tooltip.

use super::draw_error::DrawError;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{FAMILY, Plot, TEXT, TITLE_TEXT, draw_axes, fail};
use super::data::TheoryPoint;
use super::figure::{Drawn, Panel, SeriesDrawn, Tip};
use super::style::{FLAGGED, hex, number_label, point_colour, tick_label};
use super::tooltip;

pub struct TheoryPlot<'a> {
    pub points: &'a [TheoryPoint],
    /// Each point's diagnostics, read from its estimate's LLC series (the same instance).
    pub diagnostics: Vec<Vec<String>>,
}

const X_LABEL: &str = "true learning coefficient (closed form)";
const Y_LABEL: &str = "LLC estimate (mean ± 2 s.e.)";

impl Plot for TheoryPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        area.fill(&WHITE).map_err(fail)?;
        let values = self.points.iter().flat_map(|p| {
            let se = p.llc_se.unwrap_or(0.0);
            [Some(p.theory), p.llc_mean.map(|m| m - 2.0 * se), p.llc_mean.map(|m| m + 2.0 * se)]
        });
        let values: Vec<f64> = values.flatten().filter(|v| v.is_finite()).collect();
        let high = values.iter().copied().fold(0.0, f64::max) * 1.1;
        let high = if high > 0.0 { high } else { 1.0 };
        // A negative estimate (a sampler gone wrong) stays on the plot, below the axis's zero.
        let low = values.iter().copied().fold(0.0, f64::min) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .caption("LLC estimates against theory", (FAMILY, TITLE_TEXT))
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(low.min(0.0)..high, low.min(0.0)..high)
            .map_err(fail)?;
        draw_axes(&mut chart, X_LABEL, Y_LABEL)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(low, low), (high, high)],
                6,
                4,
                RGBColor(120, 120, 120).stroke_width(1),
            ))
            .map_err(fail)?;
        let mut series = Vec::new();
        let mut tips = Vec::new();
        for (i, p) in self.points.iter().enumerate() {
            let Some(mean) = p.llc_mean else { continue };
            let colour = point_colour(i);
            let se = p.llc_se.unwrap_or(0.0);
            chart
                .draw_series([PathElement::new(
                    vec![(p.theory, mean - 2.0 * se), (p.theory, mean + 2.0 * se)],
                    colour.stroke_width(2),
                )])
                .map_err(fail)?;
            let diagnostics = self.diagnostics.get(i).map_or(&[][..], Vec::as_slice);
            let flagged = !diagnostics.is_empty();
            // An estimate with diagnostics: hollow and red, as on every figure.
            let marker = if flagged { FLAGGED.stroke_width(2) } else { colour.filled() };
            chart
                .draw_series([Circle::new((p.theory, mean), if flagged { 7 } else { 5 }, marker)])
                .map_err(fail)?
                .label(format!(
                    "{}: {} vs {}",
                    p.instance,
                    number_label(mean),
                    tick_label(p.theory)
                ))
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, marker));
            let (x, y) = chart.backend_coord(&(p.theory, mean));
            let at =
                format!("{} (true learning coefficient {})", p.checkpoint, tick_label(p.theory));
            let text = tooltip::estimate(&p.instance, &at, Some(mean), p.llc_se, diagnostics);
            tips.push(Tip { x, y, text, flagged });
            series.push(SeriesDrawn {
                label: p.instance.clone(),
                point: None,
                colour: hex(colour),
                points: vec![(p.theory, Some(mean))],
                count: 1,
                flagged: if flagged { vec![p.theory] } else { Vec::new() },
            });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FAMILY, TEXT))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(fail)?;
        let (left, top) = chart.backend_coord(&(low, high));
        let (right, bottom) = chart.backend_coord(&(high, low));
        Ok(Drawn {
            panels: vec![Panel {
                name: "theory".into(),
                area: [left, top, right, bottom],
                x_label: X_LABEL.into(),
                x_scale: "linear".into(),
                x_range: [low, high],
                y_label: Y_LABEL.into(),
                y_scale: "linear".into(),
                y_range: [low, high],
                series,
                bands: Vec::new(),
                stages: Vec::new(),
            }],
            tips,
        })
    }
}
