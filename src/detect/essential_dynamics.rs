//! Essential dynamics (Hoogland et al.): the model's outputs on a fixed probe set at every
//! checkpoint, centred across checkpoints and reduced to their top principal components; the
//! trajectory in those components is smoothed over log(step), and its turning points (where a
//! component's slope changes sign) are milestones. Strength: the component's share of the
//! variance.

use nalgebra::DMatrix;

use super::boundary::{Boundary, Detection, between, interval_index};
use super::detect_error::DetectError;
use super::series::Series;
use super::smoothing::{Axis, smooth};

pub fn detect(
    series: &Series,
    components: usize,
    smoothing: f64,
) -> Result<Detection, DetectError> {
    let outputs = series.outputs.as_ref().ok_or(DetectError::NoOutputs)?;
    let width = outputs[0].len();
    if width == 0 || outputs.iter().any(|o| o.len() != width) {
        return Err(DetectError::UnequalOutputs);
    }
    let n = outputs.len();
    let mut matrix = DMatrix::from_fn(n, width, |i, j| outputs[i][j]);
    for j in 0..width {
        let mean = matrix.column(j).mean();
        matrix.column_mut(j).add_scalar_mut(-mean);
    }
    let svd = matrix.svd(true, false);
    let u = svd.u.ok_or(DetectError::Decomposition)?;
    let total: f64 = svd.singular_values.iter().map(|s| s * s).sum();
    // nalgebra sorts singular values in decreasing order.
    let kept = components.min(n - 1).min(width).max(1);
    let explained: Vec<f64> = (0..kept)
        .map(|c| if total > 0.0 { svd.singular_values[c].powi(2) / total } else { 0.0 })
        .collect();
    let positions: Vec<f64> = series.steps.iter().map(|&s| Axis::Log.position(s)).collect();
    let mut trajectory = Vec::with_capacity(kept);
    let mut smoothed_trajectory = Vec::with_capacity(kept);
    let mut boundaries: Vec<Boundary> = Vec::new();
    let mut grid_steps = Vec::new();
    for c in 0..kept {
        let scores: Vec<f64> = (0..n).map(|i| u[(i, c)] * svd.singular_values[c]).collect();
        let smoothed = smooth(&positions, &scores, smoothing);
        let (mids, slopes) = smoothed.slope();
        for g in 1..slopes.len() {
            if slopes[g - 1].signum() != slopes[g].signum() && slopes[g] != 0.0 {
                let at = Axis::Log.step(f64::midpoint(mids[g - 1], mids[g]));
                boundaries.push(between(
                    series,
                    interval_index(&series.steps, at),
                    "milestone",
                    explained[c],
                    format!("principal component {} turns near step {at:.0}", c + 1),
                ));
            }
        }
        grid_steps = smoothed.grid.iter().map(|&g| Axis::Log.step(g)).collect();
        trajectory.push(scores);
        smoothed_trajectory.push(smoothed.values);
    }
    let details = serde_json::json!({
        "explained_variance": explained,
        "trajectory": trajectory,
        "grid_steps": grid_steps,
        "smoothed_trajectory": smoothed_trajectory,
    });
    Ok(Detection::new(series, "essential_dynamics", boundaries, details))
}
