//! Bayesian online change-point detection (Adams and `MacKay` 2007), through the `changepoint`
//! crate: the posterior over the run length (checkpoints since the last change) with a constant
//! hazard and a Normal-Gamma model of each run's values. The series is standardized first (its
//! first value and its noise scale from first differences), so the prior (mean 0 with the
//! weight of 0.01 observations, precision Gamma(1/2, 1/2)) suits any series.
//!
//! A change at checkpoint t shows in the posterior a few checkpoints later: its strength is the
//! probability, two checkpoints on (or at the end), that the current run began at t. Local
//! maxima above `threshold` are reported.

use changepoint::{Bocpd, BocpdLike};
use rv::prelude::{Gaussian, NormalGamma};

use super::boundary::{Detection, between, direction};
use super::series::{Series, noise_scale};

/// Checkpoints the posterior is read after a candidate change.
const LAG: usize = 2;

/// The run-length posteriors after each checkpoint: `posteriors[t][k]` is the probability that
/// the current run holds the last k values up to checkpoint t (Adams and `MacKay`'s convention:
/// 0 is a change right after it).
pub fn run_lengths(values: &[f64], hazard: f64) -> Vec<Vec<f64>> {
    let mut detector: Bocpd<f64, Gaussian, NormalGamma> =
        Bocpd::new(1.0 / hazard, NormalGamma::new_unchecked(0.0, 0.01, 1.0, 1.0));
    values.iter().map(|v| detector.step(v).to_vec()).collect()
}

/// The values standardized: minus the first, over the noise scale.
pub fn standardized(values: &[f64]) -> Vec<f64> {
    let scale = noise_scale(values);
    let range = super::boundary::range(values);
    // A noiseless series: its range sets the scale instead (its steps are then huge).
    let scale = if scale > 0.0 { scale } else { (range * 1e-3).max(f64::MIN_POSITIVE) };
    values.iter().map(|v| (v - values[0]) / scale).collect()
}

pub fn detect(series: &Series, hazard: f64, threshold: f64) -> Detection {
    let values = &series.values;
    let n = values.len();
    let posteriors = run_lengths(&standardized(values), hazard);
    // Per checkpoint t >= 1: the probability that the run read LAG checkpoints later began at t.
    let began: Vec<f64> = (0..n)
        .map(|t| {
            if t == 0 {
                return 0.0;
            }
            // The run at `later` began at t: it holds the later - t + 1 values from t on.
            let later = (t + LAG).min(n - 1);
            posteriors[later].get(later - t + 1).copied().unwrap_or(0.0)
        })
        .collect();
    // A run before the change holds at least two checkpoints: one value cannot show a level.
    let boundaries = (2..n)
        .filter(|&t| {
            began[t] > threshold
                && began[t] >= began[t - 1]
                && began.get(t + 1).is_none_or(|&next| began[t] > next)
        })
        .map(|t| {
            let mean = |part: &[f64]| part.iter().sum::<f64>() / part.len() as f64;
            let before = mean(&values[t.saturating_sub(LAG + 1)..t]);
            let after = mean(&values[t..(t + LAG + 1).min(n)]);
            between(
                series,
                t,
                direction(series.meaning(), after - before, 0.0),
                began[t],
                format!(
                    "a new run of {} begins here with posterior probability {:.2}",
                    series.name, began[t]
                ),
            )
        })
        .collect();
    let details = serde_json::json!({ "hazard": hazard, "threshold": threshold, "change_probability": began });
    Detection::new(series, "bocpd", boundaries, details)
}
