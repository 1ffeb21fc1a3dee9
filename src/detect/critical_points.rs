//! Hoogland et al.'s stage boundaries: smooth the series over log(step), take its slope, and
//! mark where the slope changes sign or enters or leaves a plateau (a slope below `plateau`
//! times its largest magnitude); a loss (all positive) is smoothed as log(loss). Strength: the change in slope across the boundary over the
//! largest slope magnitude (0 to 2).

use super::boundary::{Boundary, Detection, between, interval_index};
use super::series::{Meaning, Series};
use super::smoothing::{Axis, Smoothed, smooth};

/// The slope's sign with a dead band: 1 rising, -1 falling, 0 a plateau.
fn trend(slope: f64, band: f64) -> i8 {
    if slope > band {
        1
    } else if slope < -band {
        -1
    } else {
        0
    }
}

/// The kind of a boundary after which the series goes `trend` (1 up, -1 down, 0 flat).
pub(super) fn kind_after(meaning: Meaning, trend: i8) -> &'static str {
    match (meaning, trend) {
        (_, 0) => "plateau",
        (Meaning::Complexity, 1) => "development",
        (Meaning::Complexity, _) => "refinement",
        (Meaning::Loss, 1) => "loss_rise",
        (Meaning::Loss, _) => "loss_drop",
        (Meaning::Other, 1) => "rise",
        (Meaning::Other, _) => "fall",
    }
}

fn word(trend: i8) -> &'static str {
    match trend {
        1 => "rising",
        -1 => "falling",
        _ => "flat",
    }
}

/// A series smoothed over an axis, with its slope on the grid: what critical points and
/// transitions both read.
pub(super) struct Slope {
    pub smoothed: Smoothed,
    /// The grid midpoints the slopes are at, and the slopes.
    pub mids: Vec<f64>,
    pub slopes: Vec<f64>,
    /// The largest slope magnitude.
    pub largest: f64,
    /// Whether the series was smoothed as log(values).
    pub logarithmic: bool,
}

impl Slope {
    pub fn of(series: &Series, smoothing: f64, axis: Axis) -> Slope {
        let positions: Vec<f64> = series.steps.iter().map(|&s| axis.position(s)).collect();
        // A loss is smoothed as log(loss): its plateaus and drops are relative, and a plateau
        // late in training is as flat as one early on.
        let logarithmic =
            series.meaning() == Meaning::Loss && series.values.iter().all(|&v| v > 0.0);
        let values: Vec<f64> = if logarithmic {
            series.values.iter().map(|v| v.ln()).collect()
        } else {
            series.values.clone()
        };
        let smoothed = smooth(&positions, &values, smoothing);
        let (mids, slopes) = smoothed.slope();
        let largest = slopes.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        Slope { smoothed, mids, slopes, largest, logarithmic }
    }

    /// The detection's `details`: the smoothed curve on its grid, for the report.
    pub fn details(&self, smoothing: f64, axis: Axis) -> serde_json::Value {
        serde_json::json!({
            "axis": if axis == Axis::Log { "log" } else { "linear" },
            "smoothing": smoothing,
            "log_values": self.logarithmic,
            "grid_steps": self.smoothed.grid.iter().map(|&u| axis.step(u)).collect::<Vec<f64>>(),
            "smoothed": self.smoothed.values,
        })
    }
}

pub fn detect(series: &Series, smoothing: f64, axis: Axis, plateau: f64) -> Detection {
    let slope = Slope::of(series, smoothing, axis);
    let (mids, slopes, largest) = (&slope.mids, &slope.slopes, slope.largest);
    let band = plateau * largest;
    let mut boundaries: Vec<Boundary> = Vec::new();
    let mut previous = trend(slopes[0], band);
    let first = kind_after(series.meaning(), previous);
    for (g, (&at_g, &mid)) in slopes.iter().zip(mids).enumerate().skip(1) {
        let now = trend(at_g, band);
        if now == previous {
            continue;
        }
        // Between the two grid midpoints where the label changed.
        let at = axis.step(f64::midpoint(mids[g - 1], mid));
        let index = interval_index(&series.steps, at);
        let strength = if largest > 0.0 { (at_g - slopes[g - 1]).abs() / largest } else { 0.0 };
        // The change in slope across a few grid points, so a slow turn is not rated weak.
        let reach = 5.min(g).min(slopes.len() - 1 - g);
        let turn = (slopes[g + reach] - slopes[g - 1 - reach.min(g - 1)]).abs();
        let strength = strength.max(if largest > 0.0 { turn / largest } else { 0.0 });
        boundaries.push(between(
            series,
            index,
            kind_after(series.meaning(), now),
            strength,
            format!(
                "the smoothed {} turns from {} to {} near step {at:.0}",
                series.name,
                word(previous),
                word(now)
            ),
        ));
        previous = now;
    }
    let details = slope.details(smoothing, axis);
    Detection::following(series, "critical_points", boundaries, first, details)
}
