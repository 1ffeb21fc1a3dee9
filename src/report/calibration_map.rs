//! The calibration heat map (`devspec calibrate`): the LLC estimate of each cell of the step
//! size x (`n_beta` or localization) grid, coloured by its value (a colour bar beside it says
//! which colour is which value), with its MALA acceptance; cells with diagnostics framed in red
//! dashes and named, the recommended cell framed in black and labelled.

use std::fmt::Write as _;

use super::draw_error::DrawError;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

use super::canvas::{AXIS_TEXT, FAMILY, Plot, TEXT, TITLE_TEXT, fail};
use super::figure::{Drawn, Panel, SeriesDrawn};
use super::style::{FLAGGED, number_label, tick_label};

pub struct CalibrationMap<'a> {
    pub step: &'a str,
    pub record: &'a Value,
}

/// One cell as recorded: its grid position and numbers.
struct Cell {
    column: usize,
    row: usize,
    llc: f64,
    se: f64,
    acceptance: Option<f64>,
    /// Its diagnostics, as recorded (`poor_mixing, low_acceptance`); empty: none.
    diagnostics: String,
}

impl CalibrationMap<'_> {
    fn axes(&self) -> (Vec<f64>, Vec<f64>, Option<String>) {
        let floats = |v: &Value| -> Vec<f64> {
            v.as_array().into_iter().flatten().filter_map(Value::as_f64).collect()
        };
        let axes = &self.record["axes"];
        let other = axes["other"].as_str().map(str::to_owned);
        let mut others = floats(&axes["others"]);
        if others.is_empty() {
            others.push(f64::NAN);
        }
        (floats(&axes["lr"]), others, other)
    }

    fn cells(&self, lrs: &[f64], others: &[f64]) -> Vec<Cell> {
        self.record["cells"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|cell| {
                Some(Cell {
                    column: index_of(lrs, Some(cell["lr"].as_f64()?))?,
                    row: index_of(others, cell["other"].as_f64())?,
                    llc: cell["llc_mean"].as_f64()?,
                    se: cell["llc_se"].as_f64().unwrap_or(f64::NAN),
                    acceptance: cell["acceptance"].as_f64(),
                    diagnostics: cell["diagnostics"].as_str().unwrap_or("").to_owned(),
                })
            })
            .collect()
    }

    /// The recommended cell's position, if one was.
    fn recommended(&self, lrs: &[f64], others: &[f64]) -> Option<(usize, usize)> {
        let best = &self.record["recommended"];
        Some((
            index_of(lrs, Some(best["lr"].as_f64()?))?,
            index_of(others, best["other"].as_f64())?,
        ))
    }
}

impl Plot for CalibrationMap<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError> {
        area.fill(&WHITE).map_err(fail)?;
        let width = i32::try_from(area.dim_in_pixel().0).unwrap_or(0);
        let (area, bar) = area.split_horizontally(width - 130);
        let (lrs, others, other_name) = self.axes();
        let cells = self.cells(&lrs, &others);
        let (columns, rows) = (lrs.len().max(1), others.len());
        let low = cells.iter().map(|c| c.llc).fold(f64::INFINITY, f64::min);
        let high = cells.iter().map(|c| c.llc).fold(f64::NEG_INFINITY, f64::max);
        // Where the grid ran, in full: the checkpoint, the sweep point, and any `--set` the
        // spec was planned with (a calibration of a changed spec says so).
        let mut title = format!(
            "calibration of {} at step {}",
            self.step,
            self.record["checkpoint"].as_i64().unwrap_or(0)
        );
        if let Some(point) = self.record["point"].as_str().filter(|p| !p.is_empty()) {
            let _ = write!(title, ", {point}");
        }
        let sets: Vec<&str> = self.record["sets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .collect();
        if !sets.is_empty() {
            let _ = write!(title, " (--set {})", sets.join(" "));
        }
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .caption(title, (FAMILY, TITLE_TEXT))
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..columns as f64, 0f64..rows as f64)
            .map_err(fail)?;
        // Ticks at cell centres carry the cell's value; the others none.
        let centre_label = |values: &[f64], v: f64| {
            (0..values.len())
                .find(|&i| (v - (i as f64 + 0.5)).abs() < 1e-6)
                .filter(|&i| values[i].is_finite())
                .map_or_else(String::new, |i| tick_label(values[i]))
        };
        let lr_label = |v: &f64| centre_label(&lrs, *v);
        let other_label = |v: &f64| centre_label(&others, *v);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(2 * columns + 1)
            .y_labels(2 * rows + 1)
            .x_desc("sampler lr")
            .y_desc(other_name.as_deref().unwrap_or(""))
            .label_style((FAMILY, TEXT))
            .axis_desc_style((FAMILY, AXIS_TEXT))
            .x_label_formatter(&lr_label)
            .y_label_formatter(&other_label)
            .draw()
            .map_err(fail)?;
        let recommended = self.recommended(&lrs, &others);
        draw_cells(&mut chart, &cells, (low, high), recommended)?;
        if let Some((column, row)) = recommended {
            let (x, y) = (column as f64, row as f64);
            // Black inside white: the frame shows on any colour of the scale.
            chart
                .draw_series([
                    Rectangle::new([(x, y + 1.0), (x + 1.0, y)], WHITE.stroke_width(8)),
                    Rectangle::new([(x, y + 1.0), (x + 1.0, y)], BLACK.stroke_width(4)),
                ])
                .map_err(fail)?;
        }
        if low.is_finite() {
            colour_bar(&bar, (low, high))?;
        }
        let (left, top) = chart.backend_coord(&(0.0, rows as f64));
        let (right, bottom) = chart.backend_coord(&(columns as f64, 0.0));
        let series = cells
            .iter()
            .map(|c| SeriesDrawn {
                label: format!("lr {}", number_label(lrs[c.column])),
                point: None,
                colour: String::new(),
                points: vec![(others[c.row], Some(c.llc))],
                count: 1,
                flagged: Vec::new(),
            })
            .collect();
        Ok(Drawn {
            panels: vec![Panel {
                name: "calibration".into(),
                area: [left, top, right, bottom],
                x_label: "sampler lr".into(),
                x_scale: "categorical".into(),
                x_range: [0.0, columns as f64],
                y_label: other_name.unwrap_or_default(),
                y_scale: "categorical".into(),
                y_range: [0.0, rows as f64],
                series,
                bands: Vec::new(),
                stages: Vec::new(),
            }],
            tips: Vec::new(),
        })
    }
}

/// The position of `value` among `values` (equal up to rounding); a missing value is the only
/// row of an unswept axis (callers pass the step size as always present).
fn index_of(values: &[f64], value: Option<f64>) -> Option<usize> {
    match value {
        Some(v) => {
            values.iter().position(|&x| (x - v).abs() <= 1e-12 * v.abs().max(f64::MIN_POSITIVE))
        }
        None => Some(0),
    }
}

/// Each cell coloured by its estimate (viridis over the grid's range) and labelled with it, its
/// standard error and acceptance; a cell with diagnostics is framed in red dashes and names
/// them, the recommended one says so.
fn draw_cells<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    cells: &[Cell],
    (low, high): (f64, f64),
    recommended: Option<(usize, usize)>,
) -> Result<(), DrawError> {
    for cell in cells {
        let t = if high > low { (cell.llc - low) / (high - low) } else { 0.5 };
        let colour = ViridisRGB::get_color(t);
        let (x, y) = (cell.column as f64, cell.row as f64);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x, y + 1.0), (x + 1.0, y)],
                colour.filled(),
            )))
            .map_err(fail)?;
        let ink = if t > 0.55 { BLACK } else { WHITE };
        let mut lines = vec![format!("LLC {} ± {}", number_label(cell.llc), number_label(cell.se))];
        if let Some(a) = cell.acceptance {
            lines.push(format!("acceptance {a:.2}"));
        }
        if !cell.diagnostics.is_empty() {
            lines.push(format!("⚠ {}", cell.diagnostics));
        }
        if recommended == Some((cell.column, cell.row)) {
            lines.push("recommended".into());
        }
        let step = 0.8 / (lines.len() as f64 + 1.0);
        for (i, line) in lines.into_iter().enumerate() {
            let style = (FAMILY, AXIS_TEXT)
                .into_font()
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let at = (x + 0.5, y + 0.9 - step * (i as f64 + 1.0));
            chart.draw_series(std::iter::once(Text::new(line, at, style))).map_err(fail)?;
        }
        if !cell.diagnostics.is_empty() {
            let corners = [
                (x + 0.04, y + 0.04),
                (x + 0.04, y + 0.96),
                (x + 0.96, y + 0.96),
                (x + 0.96, y + 0.04),
                (x + 0.04, y + 0.04),
            ];
            chart
                .draw_series(DashedLineSeries::new(corners, 8, 5, FLAGGED.stroke_width(3)))
                .map_err(fail)?;
        }
    }
    Ok(())
}

/// The scale: viridis from the grid's lowest estimate to its highest, with five values.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (low, high): (f64, f64),
) -> Result<(), DrawError> {
    let (low, high) = if high > low { (low, high) } else { (low - 0.5, low + 0.5) };
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(56)
        .margin_right(60)
        .margin_left(10)
        .build_cartesian_2d(0f64..1.0, low..high)
        .map_err(fail)?;
    let steps = 100;
    chart
        .draw_series((0..steps).map(|i| {
            let (a, b) = (f64::from(i) / f64::from(steps), f64::from(i + 1) / f64::from(steps));
            let (y0, y1) = (low + a * (high - low), low + b * (high - low));
            Rectangle::new([(0.0, y1), (1.0, y0)], ViridisRGB::get_color(a).filled())
        }))
        .map_err(fail)?;
    for i in 0..5 {
        let v = low + f64::from(i) / 4.0 * (high - low);
        let style =
            TextStyle::from((FAMILY, TEXT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(1.0, v), (1.25, v)],
                BLACK.stroke_width(1),
            )))
            .map_err(fail)?;
        let (px, py) = chart.backend_coord(&(1.0, v));
        area.draw(&Text::new(
            tick_label(v),
            (px - area.get_base_pixel().0 + 8, py - area.get_base_pixel().1),
            style,
        ))
        .map_err(fail)?;
    }
    let (px, py) = chart.backend_coord(&(0.0, high));
    let style = TextStyle::from((FAMILY, TEXT).into_font()).pos(Pos::new(HPos::Left, VPos::Bottom));
    area.draw(&Text::new(
        "LLC",
        (px - area.get_base_pixel().0, py - area.get_base_pixel().1 - 8),
        style,
    ))
    .map_err(fail)?;
    Ok(())
}
