//! Transitions: where a series changes fastest. Smoothed over log(step) as for critical points
//! (a loss as log(loss)), its slope's magnitude peaks in the middle of each rise or drop: for a
//! sigmoid-shaped change, at its midpoint, where a phase transition is placed. Critical points
//! mark where stages begin and end; transitions mark the changes themselves, and so line up
//! with the loss drops of a model that jumps from one solution to the next.
//!
//! A peak counts when its magnitude reaches `threshold` times the largest; of two peaks of one
//! sign with no dip between them (below 80% of the smaller), the larger stands for both, so a
//! ripple of the smoothing is not a second transition. Strength: the peak over the largest.

use super::boundary::{Boundary, Detection, between, interval_index};
use super::critical_points::{Slope, kind_after};
use super::series::Series;
use super::smoothing::Axis;

/// A peak must dip to this fraction of the smaller one before the next counts apart.
const DIP: f64 = 0.8;

pub fn detect(series: &Series, smoothing: f64, axis: Axis, threshold: f64) -> Detection {
    let slope = Slope::of(series, smoothing, axis);
    let (mids, slopes, largest) = (&slope.mids, &slope.slopes, slope.largest);
    // Local maxima of the slope's magnitude that reach the threshold: (grid index, slope).
    let mut peaks: Vec<(usize, f64)> = Vec::new();
    for g in 0..slopes.len() {
        let magnitude = slopes[g].abs();
        let before = if g > 0 { slopes[g - 1].abs() } else { 0.0 };
        let after = slopes.get(g + 1).map_or(0.0, |s| s.abs());
        if largest == 0.0
            || magnitude < threshold * largest
            || magnitude < before
            || magnitude <= after
        {
            continue;
        }
        if let Some(&(last, slope)) = peaks.last() {
            let same_sign = slope.signum() == slopes[g].signum();
            let dip = slopes[last..=g].iter().fold(f64::INFINITY, |m, s| m.min(s.abs()));
            if same_sign && dip > DIP * magnitude.min(slope.abs()) {
                if magnitude > slope.abs() {
                    *peaks.last_mut().expect("one") = (g, slopes[g]);
                }
                continue;
            }
        }
        peaks.push((g, slopes[g]));
    }
    let boundaries: Vec<Boundary> = peaks
        .iter()
        .map(|&(g, slope)| {
            let at = axis.step(mids[g]);
            between(
                series,
                interval_index(&series.steps, at),
                kind_after(series.meaning(), if slope > 0.0 { 1 } else { -1 }),
                slope.abs() / largest,
                format!(
                    "the smoothed {} {} fastest near step {at:.0}",
                    series.name,
                    if slope > 0.0 { "rises" } else { "falls" }
                ),
            )
        })
        .collect();
    Detection::between_changes(series, "transitions", boundaries, slope.details(smoothing, axis))
}
