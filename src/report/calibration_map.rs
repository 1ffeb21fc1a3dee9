//! The calibration heat map (`devspec calibrate`): the LLC estimate of each cell of the step
//! size x (`n_beta` or localization) grid, coloured by its value, with its MALA acceptance; cells
//! with diagnostics crossed out in red, the recommended cell framed.

use super::draw_error::DrawError;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

use super::canvas::{FAMILY, Plot, fail};
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
    flagged: bool,
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
                    flagged: cell["diagnostics"].as_str().is_some_and(|d| !d.is_empty()),
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
        let (lrs, others, other_name) = self.axes();
        let cells = self.cells(&lrs, &others);
        let (columns, rows) = (lrs.len().max(1), others.len());
        let low = cells.iter().map(|c| c.llc).fold(f64::INFINITY, f64::min);
        let high = cells.iter().map(|c| c.llc).fold(f64::NEG_INFINITY, f64::max);
        let title = format!(
            "calibration of {} at step {}",
            self.step,
            self.record["checkpoint"].as_i64().unwrap_or(0)
        );
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .caption(title, (FAMILY, 16))
            .x_label_area_size(40)
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
            .label_style((FAMILY, 12))
            .x_label_formatter(&lr_label)
            .y_label_formatter(&other_label)
            .draw()
            .map_err(fail)?;
        draw_cells(&mut chart, &cells, (low, high))?;
        if let Some((column, row)) = self.recommended(&lrs, &others) {
            let (x, y) = (column as f64, row as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.02, y + 0.98), (x + 0.98, y + 0.02)],
                    BLACK.stroke_width(4),
                )))
                .map_err(fail)?;
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
            }],
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

/// Each cell coloured by its estimate (viridis over the grid's range), labelled, and crossed
/// out when it has diagnostics.
fn draw_cells<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    cells: &[Cell],
    (low, high): (f64, f64),
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
        let ink = if t > 0.6 { BLACK } else { WHITE };
        let acceptance = cell.acceptance.map_or(String::new(), |a| format!("  acc {a:.2}"));
        let text = format!("{} ± {}{acceptance}", number_label(cell.llc), number_label(cell.se));
        let style = (FAMILY, 12).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(text, (x + 0.5, y + 0.5), style)))
            .map_err(fail)?;
        if cell.flagged {
            let cross = FLAGGED.stroke_width(2);
            chart
                .draw_series([
                    PathElement::new(vec![(x + 0.05, y + 0.05), (x + 0.95, y + 0.95)], cross),
                    PathElement::new(vec![(x + 0.05, y + 0.95), (x + 0.95, y + 0.05)], cross),
                ])
                .map_err(fail)?;
        }
    }
    Ok(())
}
