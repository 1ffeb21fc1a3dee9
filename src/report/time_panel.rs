//! A panel of series over training steps on a log axis (the literature's LLC and loss plots):
//! lines, each with an optional band (the chains' spread), and boundary bands shaded between
//! the checkpoints a boundary lies between. A loss panel has a log y axis too.

use super::draw_error::DrawError;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::canvas::{FAMILY, fail};
use super::figure::{BandDrawn, Panel, SeriesDrawn};
use super::style::{hex, kind_colour, step_label, tick_label};

/// At one step: the low and high of a line's band.
pub type Spread = (f64, Option<f64>, Option<f64>);

#[derive(Clone)]
pub struct Line {
    pub label: String,
    pub point: Option<String>,
    pub colour: RGBColor,
    pub width: u32,
    pub points: Vec<(f64, Option<f64>)>,
    /// Low and high at each step: shaded around the line.
    pub spread: Option<Vec<Spread>>,
    pub in_legend: bool,
}

#[derive(Clone)]
pub struct Band {
    pub point: String,
    pub detect: String,
    pub kind: String,
    pub interval: [i64; 2],
}

#[derive(Clone)]
pub struct TimePanel {
    pub name: String,
    pub title: Option<String>,
    pub y_label: String,
    /// Plot the values on a log scale (losses).
    pub y_log: bool,
    /// The steps the x axis spans (positive).
    pub x_range: (f64, f64),
    pub lines: Vec<Line>,
    pub bands: Vec<Band>,
}

impl TimePanel {
    /// A value as plotted: finite, and positive on a log scale.
    fn plotted(&self, value: Option<f64>) -> Option<f64> {
        value.filter(|v| v.is_finite() && (!self.y_log || *v > 0.0))
    }

    fn y_range(&self) -> (f64, f64) {
        let mut values = Vec::new();
        for line in &self.lines {
            values.extend(line.points.iter().filter_map(|&(_, y)| self.plotted(y)));
            for &(_, low, high) in line.spread.iter().flatten() {
                values.extend([self.plotted(low), self.plotted(high)].into_iter().flatten());
            }
        }
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match (low.is_finite(), self.y_log) {
            (false, false) => (0.0, 1.0),
            (false, true) => (0.1, 1.0),
            // A log axis is padded by a factor, a linear one by a fraction of the range.
            (true, true) => {
                let pad = if high > low { (high / low).powf(0.06) } else { 1.5 };
                (low / pad, high * pad)
            }
            (true, false) => {
                let pad = if high > low { (high - low) * 0.06 } else { low.abs().max(1.0) * 0.1 };
                (low - pad, high + pad)
            }
        }
    }

    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<Panel, DrawError> {
        let (y0, y1) = self.y_range();
        // Within a decade a log axis has one labelled tick or none: linear reads better there.
        if self.y_log && y1 / y0 < 10.0 {
            let linear = TimePanel { y_log: false, ..self.clone() };
            return linear.draw(area);
        }
        if self.y_log {
            self.draw_on(area, (y0..y1).log_scale(), (y0, y1))
        } else {
            self.draw_on(area, y0..y1, (y0, y1))
        }
    }

    fn draw_on<DB, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        y_spec: Y,
        (y0, y1): (f64, f64),
    ) -> Result<Panel, DrawError>
    where
        DB: DrawingBackend,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let (x0, x1) = self.x_range;
        let mut builder = ChartBuilder::on(area);
        builder.margin(10).x_label_area_size(40).y_label_area_size(70);
        if let Some(title) = &self.title {
            builder.caption(title, (FAMILY, 17));
        }
        let mut chart = builder.build_cartesian_2d((x0..x1).log_scale(), y_spec).map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .y_desc(self.y_label.as_str())
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .bold_line_style(RGBColor(222, 222, 222))
            .light_line_style(RGBColor(244, 244, 244))
            .x_label_formatter(&|v| step_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(fail)?;
        let mut bands = Vec::new();
        for band in &self.bands {
            let a = (band.interval[0] as f64).clamp(x0, x1);
            let b = (band.interval[1] as f64).clamp(x0, x1);
            let style = kind_colour(&band.kind).mix(0.16).filled();
            chart
                .draw_series(std::iter::once(Rectangle::new([(a, y1), (b, y0)], style)))
                .map_err(fail)?;
            bands.push(BandDrawn {
                point: band.point.clone(),
                detect: band.detect.clone(),
                kind: band.kind.clone(),
                interval: band.interval,
                pixels: [chart.backend_coord(&(a, y1)).0, chart.backend_coord(&(b, y0)).0],
            });
        }
        self.draw_spreads(&mut chart)?;
        let mut series = Vec::new();
        let mut legend = false;
        for line in &self.lines {
            let style = line.colour.stroke_width(line.width);
            // A missing value breaks the line rather than joining across it.
            let mut first = true;
            for segment in self.segments(&line.points) {
                let drawn = chart.draw_series(LineSeries::new(segment, style)).map_err(fail)?;
                if first && line.in_legend {
                    legend = true;
                    let colour = line.colour;
                    drawn.label(line.label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
                    });
                }
                first = false;
            }
            series.push(SeriesDrawn {
                label: line.label.clone(),
                point: line.point.clone(),
                colour: hex(line.colour),
                // What the axes can show: a step 0 has no place on a log axis.
                points: line.points.iter().copied().filter(|&(x, _)| x > 0.0).collect(),
                count: line
                    .points
                    .iter()
                    .filter(|&&(x, y)| x > 0.0 && self.plotted(y).is_some())
                    .count(),
            });
        }
        if legend {
            chart
                .configure_series_labels()
                .position(self.emptiest_corner((x0, x1), (y0, y1)))
                .label_font((FAMILY, 12))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()
                .map_err(fail)?;
        }
        let (left, top) = chart.backend_coord(&(x0, y1));
        let (right, bottom) = chart.backend_coord(&(x1, y0));
        Ok(Panel {
            name: self.name.clone(),
            area: [left, top, right, bottom],
            x_label: "training step".into(),
            x_scale: "log".into(),
            x_range: [x0, x1],
            y_label: self.y_label.clone(),
            y_scale: if self.y_log { "log" } else { "linear" }.into(),
            y_range: [y0, y1],
            series,
            bands,
        })
    }

    /// Each line's band, behind the lines.
    fn draw_spreads<DB, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    ) -> Result<(), DrawError>
    where
        DB: DrawingBackend,
        Y: Ranged<ValueType = f64>,
    {
        for line in &self.lines {
            let Some(spread) = &line.spread else { continue };
            let known: Vec<(f64, f64, f64)> = spread
                .iter()
                .filter_map(|&(x, low, high)| Some((x, self.plotted(low)?, self.plotted(high)?)))
                .collect();
            let outline: Vec<(f64, f64)> = known
                .iter()
                .map(|&(x, _, high)| (x, high))
                .chain(known.iter().rev().map(|&(x, low, _)| (x, low)))
                .collect();
            if outline.len() >= 3 {
                let style = line.colour.mix(0.14).filled();
                chart.draw_series(std::iter::once(Polygon::new(outline, style))).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Where the legend hides the fewest points: the corner (a third of the width, a third of
    /// the height) with the fewest of them, upper right on a tie.
    fn emptiest_corner(&self, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
        let (lx0, lx1) = (x0.ln(), x1.ln());
        let fraction = |v: f64, low: f64, high: f64| (v - low) / (high - low);
        let (ly0, ly1) = if self.y_log { (y0.ln(), y1.ln()) } else { (y0, y1) };
        let mut counts = [0usize; 4];
        for line in &self.lines {
            for &(x, y) in &line.points {
                let Some(y) = self.plotted(y).filter(|_| x > 0.0) else { continue };
                let fx = fraction(x.ln(), lx0, lx1);
                let fy = fraction(if self.y_log { y.ln() } else { y }, ly0, ly1);
                let (left, right, low, high) = (fx < 0.34, fx > 0.66, fy < 0.34, fy > 0.66);
                for (count, inside) in
                    counts.iter_mut().zip([right && high, left && high, left && low, right && low])
                {
                    *count += usize::from(inside);
                }
            }
        }
        let corners = [
            SeriesLabelPosition::UpperRight,
            SeriesLabelPosition::UpperLeft,
            SeriesLabelPosition::LowerLeft,
            SeriesLabelPosition::LowerRight,
        ];
        let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
        corners[best].clone()
    }

    /// The runs of consecutive plottable points.
    fn segments(&self, points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
        let mut segments = vec![Vec::new()];
        for &(x, y) in points {
            match self.plotted(y) {
                Some(y) if x > 0.0 => segments.last_mut().expect("one").push((x, y)),
                _ => segments.push(Vec::new()),
            }
        }
        segments.retain(|s| !s.is_empty());
        segments
    }
}
