//! A panel of series over training steps on a log axis (the literature's LLC and loss plots):
//! lines with markers at their checkpoints (hollow and red where the estimate has diagnostics)
//! and a hover tooltip on each, each with an optional band (±2 standard errors); and the
//! stages detections found. A panel about one sweep point shades its own series' stages across
//! the plot, each from its first checkpoint to its last, coloured by kind and labelled `S1`,
//! `S2`, ... (as Hoogland et al. label LS1 to LS5), with its boundaries as thin dark bands
//! between them; every other detection (and, with several sweep points, every one) is a strip
//! under the axis, so bands of several points never stack. A key names each colour for its
//! series. A loss panel has a log y axis too.

use super::draw_error::DrawError;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{AXIS_TEXT, FAMILY, TEXT, TITLE_TEXT, fail};
use super::figure::{BandDrawn, Panel, SeriesDrawn, StageDrawn, Tip};
use super::style::{BOUNDARY, FLAGGED, hex, stage_colour, stage_name, step_label, tick_label};
use crate::detect::{Boundary, Stage};

/// At one step: the low and high of a line's band.
pub type Spread = (f64, Option<f64>, Option<f64>);

/// What a point of a line is: whether it is marked, whether its estimate has diagnostics, and
/// its tooltip.
#[derive(Clone)]
pub struct Mark {
    /// Drawn as a marker (estimates at checkpoints); a dense curve's points only get a
    /// tooltip.
    pub shown: bool,
    pub flagged: bool,
    pub tip: String,
}

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
    /// One per point, or none.
    pub marks: Vec<Mark>,
}

/// One detection's stages and boundaries at one sweep point.
#[derive(Clone)]
pub struct StageRow {
    pub point: String,
    pub detect: String,
    /// The series it searched (`llc_mean`, `train_loss`, `test_accuracy`).
    pub series: String,
    pub stages: Vec<Stage>,
    pub boundaries: Vec<Boundary>,
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
    /// The stages shaded across the plotting area (this panel's own series at its one point).
    pub shaded: Option<StageRow>,
    /// The stages drawn as strips under the axis.
    pub strips: Vec<StageRow>,
}

/// A strip's height in pixels: a line of text naming it above a row of stages.
const STRIP: u32 = 40;
/// A line of the key under the strips.
const KEY: u32 = 26;
/// Where the key's lines end: the time figures' width, less a margin.
const KEY_WIDTH: i32 = 890;

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

    /// What a log step axis cannot show, said in the key: the markers at step 0 (an estimate
    /// at initialization, often flagged), so that no flagged estimate leaves the figure
    /// unseen.
    fn off_axis(&self) -> Option<(RGBColor, String)> {
        let (mut shown, mut flagged) = (0, 0);
        for line in &self.lines {
            for (&(x, y), mark) in line.points.iter().zip(&line.marks) {
                if x <= 0.0 && self.plotted(y).is_some() && mark.shown {
                    shown += 1;
                    flagged += usize::from(mark.flagged);
                }
            }
        }
        match (shown, flagged) {
            (0, _) => None,
            (_, 0) => Some((BOUNDARY, format!("{shown} point(s) at step 0, off the log axis"))),
            _ => Some((
                FLAGGED,
                format!(
                    "{shown} point(s) at step 0, off the log axis, {flagged} with diagnostics \
                     (devspec show)"
                ),
            )),
        }
    }

    /// The pixels under the axes for the strips and their key.
    pub fn below(&self) -> u32 {
        let rows = u32::try_from(self.strips.len()).unwrap_or(u32::MAX);
        let lines = u32::try_from(self.key_lines().len()).unwrap_or(u32::MAX);
        rows.saturating_mul(STRIP).saturating_add(lines.saturating_mul(KEY))
    }

    /// The key under the strips, in lines that fit the figure's width: each stage colour once,
    /// named for its series, then the boundaries', each at its left edge in pixels. None
    /// without stages.
    fn key_lines(&self) -> Vec<Vec<(i32, RGBColor, String)>> {
        let off_axis = self.off_axis();
        if self.shaded.is_none() && self.strips.is_empty() && off_axis.is_none() {
            return Vec::new();
        }
        let mut entries: Vec<(RGBColor, String)> = Vec::new();
        for row in self.shaded.iter().chain(&self.strips) {
            for stage in &row.stages {
                let entry = (stage_colour(&stage.kind), stage_name(&stage.kind, &row.series));
                if !entries.iter().any(|(_, name)| *name == entry.1) {
                    entries.push(entry);
                }
            }
        }
        if self.shaded.is_some() || !self.strips.is_empty() {
            entries.push((BOUNDARY, "boundary (between two checkpoints)".into()));
        }
        entries.extend(off_axis);
        let start = 10 + i32::try_from(LEFT).unwrap_or(0);
        let mut lines = vec![Vec::new()];
        let mut x = start;
        for (colour, name) in entries {
            // DejaVu Sans at `TEXT` is under 9 px a character on average: a width that never
            // runs short, so an entry never runs off the figure.
            let width = 16 + i32::try_from(name.chars().count()).unwrap_or(0) * 9;
            if x + width > KEY_WIDTH && x > start {
                lines.push(Vec::new());
                x = start;
            }
            lines.last_mut().expect("one line").push((x, colour, name));
            x += width + 18;
        }
        lines
    }

    /// The panel drawn, and its points' tooltips.
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(Panel, Vec<Tip>), DrawError> {
        let (y0, y1) = self.y_range();
        // Within a decade a log axis has one labelled tick or none: linear reads better there.
        if self.y_log && y1 / y0 < 10.0 {
            let linear = TimePanel { y_log: false, ..self.clone() };
            return linear.draw(area);
        }
        let height = i32::try_from(area.dim_in_pixel().1).unwrap_or(i32::MAX);
        let below = i32::try_from(self.below()).unwrap_or(0);
        let (plot, under) = area.split_vertically(height - below);
        let (mut panel, tips) = if self.y_log {
            self.draw_on(&plot, (y0..y1).log_scale(), (y0, y1))?
        } else {
            self.draw_on(&plot, y0..y1, (y0, y1))?
        };
        if below > 0 {
            self.draw_strips(&under, &mut panel)?;
        }
        Ok((panel, tips))
    }

    fn draw_on<DB, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        y_spec: Y,
        (y0, y1): (f64, f64),
    ) -> Result<(Panel, Vec<Tip>), DrawError>
    where
        DB: DrawingBackend,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let (x0, x1) = self.x_range;
        let mut builder = ChartBuilder::on(area);
        builder.margin(10).x_label_area_size(44).y_label_area_size(LEFT);
        if let Some(title) = &self.title {
            builder.caption(title, (FAMILY, TITLE_TEXT));
        }
        let mut chart = builder.build_cartesian_2d((x0..x1).log_scale(), y_spec).map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .y_desc(self.y_label.as_str())
            .x_labels(8)
            .y_labels(6)
            .label_style((FAMILY, TEXT))
            .axis_desc_style((FAMILY, AXIS_TEXT))
            .bold_line_style(RGBColor(222, 222, 222))
            .light_line_style(RGBColor(244, 244, 244))
            .x_label_formatter(&|v| step_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(fail)?;
        let (bands, stages) = self.draw_shaded(&mut chart, (x0, x1), (y0, y1))?;
        self.draw_spreads(&mut chart)?;
        let (series, tips, legend) = self.draw_lines(&mut chart)?;
        if series.iter().any(|s| !s.flagged.is_empty()) {
            // A legend entry for the hollow red markers.
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(fail)?
                .label("has diagnostics (hover)")
                .legend(|(x, y)| Circle::new((x + 9, y), 6, FLAGGED.stroke_width(2)));
        }
        if legend {
            chart
                .configure_series_labels()
                .position(self.emptiest_corner((x0, x1), (y0, y1)))
                .label_font((FAMILY, TEXT))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()
                .map_err(fail)?;
        }
        let (left, top) = chart.backend_coord(&(x0, y1));
        let (right, bottom) = chart.backend_coord(&(x1, y0));
        let panel = Panel {
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
            stages,
        };
        Ok((panel, tips))
    }

    /// Each strip under the axes: its name, its stages labelled and coloured by kind, its
    /// boundaries between them; then the key of every colour on the panel.
    fn draw_strips<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &mut Panel,
    ) -> Result<(), DrawError> {
        let (x0, x1) = self.x_range;
        let rows = self.strips.len();
        let key = i32::try_from(KEY).unwrap_or(0);
        let lines = i32::try_from(self.key_lines().len()).unwrap_or(0);
        let height = i32::try_from(area.dim_in_pixel().1).unwrap_or(0);
        let (strips, key_area) = area.split_vertically(height - key * lines);
        let rows_f = rows as f64;
        if rows > 0 {
            let mut chart = ChartBuilder::on(&strips)
                .margin_left(10)
                .margin_right(10)
                .y_label_area_size(LEFT)
                .build_cartesian_2d((x0..x1).log_scale(), 0f64..rows_f)
                .map_err(fail)?;
            for (r, row) in self.strips.iter().enumerate() {
                // Row r from the top: its name in the upper part, its stages in the lower.
                let top = rows_f - r as f64;
                let (low, high) = (top - 1.0, top - 0.45);
                let name = if row.point.is_empty() {
                    format!("{} ({})", row.detect, row.series)
                } else {
                    format!("{} at {} ({})", row.detect, row.point, row.series)
                };
                let anchor = Pos::new(HPos::Left, VPos::Top);
                let style = (FAMILY, TEXT).into_font().color(&RGBColor(60, 60, 60)).pos(anchor);
                chart
                    .draw_series(std::iter::once(Text::new(name, (x0, top - 0.02), style)))
                    .map_err(fail)?;
                let look = RowLook {
                    stage_alpha: 0.55,
                    boundary_alpha: 0.7,
                    label: (f64::midpoint(low, high), VPos::Center, BLACK),
                    strip: true,
                };
                let (bands, stages) = draw_row(&mut chart, row, (x0, x1), (low, high), &look)?;
                panel.bands.extend(bands);
                panel.stages.extend(stages);
            }
        }
        let style =
            TextStyle::from((FAMILY, TEXT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (line, entries) in self.key_lines().into_iter().enumerate() {
            let y = 13 + i32::try_from(line).unwrap_or(0) * key;
            for (x, colour, name) in entries {
                key_area
                    .draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.mix(0.7).filled()))
                    .map_err(fail)?;
                key_area.draw(&Text::new(name, (x + 16, y), style.clone())).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// This panel's own stages across the plotting area, labelled, with their boundaries.
    fn draw_shaded<DB, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
    ) -> Result<(Vec<BandDrawn>, Vec<StageDrawn>), DrawError>
    where
        DB: DrawingBackend,
        Y: Ranged<ValueType = f64>,
    {
        let Some(row) = &self.shaded else { return Ok((Vec::new(), Vec::new())) };
        let look = RowLook {
            stage_alpha: 0.18,
            boundary_alpha: 0.3,
            label: (y1, VPos::Top, RGBColor(40, 40, 40)),
            strip: false,
        };
        draw_row(chart, row, (x0, x1), (y0, y1), &look)
    }

    /// Each line with its markers; the lines as drawn, their tooltips, and whether any is in
    /// the legend.
    #[allow(clippy::type_complexity)] // A tuple read once, by `draw_on`.
    fn draw_lines<DB, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    ) -> Result<(Vec<SeriesDrawn>, Vec<Tip>, bool), DrawError>
    where
        DB: DrawingBackend,
        Y: Ranged<ValueType = f64>,
    {
        let mut series = Vec::new();
        let mut tips = Vec::new();
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
            let mut flagged = Vec::new();
            for (&(x, y), mark) in line.points.iter().zip(&line.marks) {
                // Listed even off the log axis (step 0), where the key says so.
                if mark.flagged && self.plotted(y).is_some() && x <= 0.0 {
                    flagged.push(x);
                }
                let Some(y) = self.plotted(y).filter(|_| x > 0.0) else { continue };
                if mark.shown && mark.flagged {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            (x, y),
                            6,
                            FLAGGED.stroke_width(2),
                        )))
                        .map_err(fail)?;
                } else if mark.shown {
                    chart
                        .draw_series(std::iter::once(Circle::new((x, y), 3, line.colour.filled())))
                        .map_err(fail)?;
                }
                if mark.flagged {
                    flagged.push(x);
                }
                let (px, py) = chart.backend_coord(&(x, y));
                tips.push(Tip { x: px, y: py, text: mark.tip.clone(), flagged: mark.flagged });
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
                flagged,
            });
        }
        Ok((series, tips, legend))
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

/// The space left of every time panel's plotting area, the same for strips as for the plot
/// above them so their steps line up.
const LEFT: u32 = 76;

/// How a row of stages is drawn: shaded across the plotting area, or as a strip under the axis.
struct RowLook {
    stage_alpha: f64,
    boundary_alpha: f64,
    /// Where each stage's label sits: its height, its vertical anchor and its colour.
    label: (f64, VPos, RGBColor),
    strip: bool,
}

/// A row's stages between heights `low` and `high`, each labelled S1, S2, ..., and its
/// boundaries over them: what was drawn, in pixels, for the manifest.
fn draw_row<DB, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<LogCoord<f64>, Y>>,
    row: &StageRow,
    (x0, x1): (f64, f64),
    (low, high): (f64, f64),
    look: &RowLook,
) -> Result<(Vec<BandDrawn>, Vec<StageDrawn>), DrawError>
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64>,
{
    let mut bands = Vec::new();
    let mut stages = Vec::new();
    let (label_y, anchor, label_colour) = look.label;
    for (i, stage) in row.stages.iter().enumerate() {
        let (a, b) = widened([stage.start, stage.end], (x0, x1));
        let colour = stage_colour(&stage.kind);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, high), (b, low)],
                colour.mix(look.stage_alpha).filled(),
            )))
            .map_err(fail)?;
        let label = format!("S{}", i + 1);
        let style =
            (FAMILY, TEXT).into_font().color(&label_colour).pos(Pos::new(HPos::Center, anchor));
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                ((a * b).sqrt(), label_y),
                style,
            )))
            .map_err(fail)?;
        let pixels = [chart.backend_coord(&(a, high)).0, chart.backend_coord(&(b, low)).0];
        stages.push(stage_drawn(row, stage, label, pixels, look.strip));
    }
    for boundary in &row.boundaries {
        let (a, b) = widened(boundary.interval, (x0, x1));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, high), (b, low)],
                BOUNDARY.mix(look.boundary_alpha).filled(),
            )))
            .map_err(fail)?;
        let pixels = [chart.backend_coord(&(a, high)).0, chart.backend_coord(&(b, low)).0];
        bands.push(band_drawn(row, boundary, pixels));
    }
    Ok((bands, stages))
}

/// An interval's ends on the axis; a stage of one checkpoint is widened a little in log step,
/// so it shows.
fn widened([start, end]: [i64; 2], (x0, x1): (f64, f64)) -> (f64, f64) {
    let (a, b) = (start as f64, end as f64);
    let (a, b) = if b > a { (a, b) } else { (a / 1.04, b * 1.04) };
    (a.clamp(x0, x1), b.clamp(x0, x1))
}

fn stage_drawn(
    row: &StageRow,
    stage: &Stage,
    label: String,
    pixels: [i32; 2],
    strip: bool,
) -> StageDrawn {
    StageDrawn {
        point: row.point.clone(),
        detect: row.detect.clone(),
        label,
        kind: stage.kind.clone(),
        meaning: stage_name(&stage.kind, &row.series),
        colour: hex(stage_colour(&stage.kind)),
        interval: [stage.start, stage.end],
        pixels,
        strip,
    }
}

fn band_drawn(row: &StageRow, boundary: &Boundary, pixels: [i32; 2]) -> BandDrawn {
    BandDrawn {
        point: row.point.clone(),
        detect: row.detect.clone(),
        kind: boundary.kind.clone(),
        interval: boundary.interval,
        pixels,
    }
}
