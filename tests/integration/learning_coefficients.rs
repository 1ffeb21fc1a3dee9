//! Closed-form learning coefficients, the ground truth the estimator is tested against: the
//! library's `theory` module (whose unit tests check slt.md's worked examples), named as the
//! tests use them.

pub use devspec::theory::reduced_rank_regression;

/// Aoyagi's coefficient, for widths and ranks that have one.
pub fn deep_linear_network(widths: &[i64], r: i64) -> f64 {
    devspec::theory::deep_linear_network(widths, r).expect("the case has a coefficient")
}
