//! A Gaussian kernel smoother (Nadaraya-Watson) over a time axis, and its slope on a fine grid.
//! Hoogland et al. smooth with a Gaussian process; a kernel smoother with the same Gaussian
//! shape has one width parameter and no fitting, which is what a default needs.

/// The time axis a series is smoothed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// log(step) (step 0 is read as step 1).
    Log,
    Linear,
}

impl Axis {
    pub fn position(self, step: i64) -> f64 {
        match self {
            Axis::Log => (step.max(1) as f64).ln(),
            Axis::Linear => step as f64,
        }
    }

    pub fn step(self, position: f64) -> f64 {
        match self {
            Axis::Log => position.exp(),
            Axis::Linear => position,
        }
    }
}

/// A smoothed series on an even grid of its axis.
#[derive(Debug, Clone)]
pub struct Smoothed {
    pub grid: Vec<f64>,
    pub values: Vec<f64>,
}

/// Points of the fine grid the slope is taken on.
pub const GRID_POINTS: usize = 200;

/// Smooths `values` at `positions` with a Gaussian kernel of width `width` (in axis units),
/// evaluated at `at`.
pub fn smooth_at(positions: &[f64], values: &[f64], width: f64, at: &[f64]) -> Vec<f64> {
    at.iter()
        .map(|&u| {
            let (mut weighted, mut total) = (0.0, 0.0);
            for (&p, &v) in positions.iter().zip(values) {
                let z = (u - p) / width;
                let k = (-0.5 * z * z).exp();
                weighted += k * v;
                total += k;
            }
            if total > 0.0 { weighted / total } else { f64::NAN }
        })
        .collect()
}

/// The series smoothed on an even grid spanning its positions; the kernel's width is
/// `fraction` of the span.
pub fn smooth(positions: &[f64], values: &[f64], fraction: f64) -> Smoothed {
    let (low, high) = (positions[0], positions[positions.len() - 1]);
    let span = (high - low).max(f64::EPSILON);
    let grid: Vec<f64> =
        (0..GRID_POINTS).map(|i| low + span * i as f64 / (GRID_POINTS - 1) as f64).collect();
    let values = smooth_at(positions, values, fraction * span, &grid);
    Smoothed { grid, values }
}

impl Smoothed {
    /// The slope between neighbouring grid points, at their midpoints.
    pub fn slope(&self) -> (Vec<f64>, Vec<f64>) {
        let mids = self.grid.windows(2).map(|w| f64::midpoint(w[0], w[1])).collect();
        let slopes = self
            .grid
            .windows(2)
            .zip(self.values.windows(2))
            .map(|(u, v)| (v[1] - v[0]) / (u[1] - u[0]))
            .collect();
        (mids, slopes)
    }
}
