//! Least squares with non-negative coefficients, for the handful of measurements a cost
//! calibration makes: every subset of the features is fitted by its normal equations, and the
//! best fit whose coefficients are all non-negative wins (a cost is never negative, and noise
//! on a few points must not make one so).

/// The features of the fit: a constant (a request's own setup: building the model, drawing
/// its data, writing its blobs), steps (times layers), FLOPs, activations, fresh samples.
pub const FEATURES: usize = 5;

/// `coefficients` minimizing the squared relative error of `target ~ coefficients . features`
/// over the rows with a positive target, each coefficient at least 0. Zero when nothing fits.
pub fn nonnegative_least_squares(rows: &[([f64; FEATURES], f64)]) -> [f64; FEATURES] {
    // Each row weighted by its target's inverse: the squared error minimized is relative, so
    // the calibration's largest instances do not decide alone (in absolute seconds a 0.5 s
    // instance outweighs a 0.1 s one 25 times, and the small model's per-step cost went
    // unfitted); a forecast is judged by its relative error.
    let rows: Vec<([f64; FEATURES], f64)> = rows
        .iter()
        .filter(|(_, y)| *y > 0.0 && y.is_finite())
        .map(|(x, y)| (x.map(|v| v / y), 1.0))
        .collect();
    let rows = rows.as_slice();
    let mut best: Option<(f64, [f64; FEATURES])> = None;
    for subset in 1..(1_usize << FEATURES) {
        let chosen: Vec<usize> = (0..FEATURES).filter(|i| subset & (1 << i) != 0).collect();
        let Some(solution) = solve_subset(rows, &chosen) else { continue };
        if solution.iter().any(|&c| c < 0.0) {
            continue;
        }
        let error = squared_error(rows, &solution);
        if best.is_none_or(|(least, _)| error < least) {
            best = Some((error, solution));
        }
    }
    best.map_or([0.0; FEATURES], |(_, solution)| solution)
}

fn squared_error(rows: &[([f64; FEATURES], f64)], coefficients: &[f64; FEATURES]) -> f64 {
    rows.iter()
        .map(|(x, y)| {
            let predicted: f64 = x.iter().zip(coefficients).map(|(a, b)| a * b).sum();
            (y - predicted).powi(2)
        })
        .sum()
}

/// The least-squares coefficients of the chosen features (the others 0), by Gaussian
/// elimination of the normal equations scaled to unit diagonal; `None` when singular.
fn solve_subset(rows: &[([f64; FEATURES], f64)], chosen: &[usize]) -> Option<[f64; FEATURES]> {
    let n = chosen.len();
    let mut a = vec![vec![0.0; n + 1]; n];
    for (x, y) in rows {
        for (i, &fi) in chosen.iter().enumerate() {
            for (j, &fj) in chosen.iter().enumerate() {
                a[i][j] += x[fi] * x[fj];
            }
            a[i][n] += x[fi] * y;
        }
    }
    // Features differ by many orders of magnitude (steps against FLOPs): scale each to a unit
    // diagonal before eliminating.
    let scale: Vec<f64> = (0..n).map(|i| a[i][i].sqrt()).collect();
    if scale.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
        return None;
    }
    for i in 0..n {
        for j in 0..n {
            a[i][j] /= scale[i] * scale[j];
        }
        a[i][n] /= scale[i];
    }
    for column in 0..n {
        let pivot =
            (column..n).max_by(|&p, &q| a[p][column].abs().total_cmp(&a[q][column].abs()))?;
        if a[pivot][column].abs() < 1e-9 {
            return None;
        }
        a.swap(column, pivot);
        for row in 0..n {
            if row != column {
                let factor = a[row][column] / a[column][column];
                let pivot_row = a[column].clone();
                for (value, pivot_value) in a[row].iter_mut().zip(&pivot_row).skip(column) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    let mut solution = [0.0; FEATURES];
    for (i, &feature) in chosen.iter().enumerate() {
        solution[feature] = a[i][n] / a[i][i] / scale[i];
    }
    Some(solution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_planted_costs_and_never_goes_negative() {
        // time = 0.05 + 2e-4 per step + 3e-11 per FLOP + 0 per value, at very different
        // scales. Activations independent of both (not proportional to steps, or the fit could
        // not tell them apart), with no cost planted on them.
        let planted = |steps: f64, flops: f64, values: f64| {
            ([1.0, steps, flops, values, 0.0], 0.05 + 2e-4 * steps + 3e-11 * flops)
        };
        let rows = [
            planted(1000.0, 1e8, 5e4),
            planted(2000.0, 2e8, 3e4),
            planted(300.0, 1e10, 9e4),
            planted(600.0, 2e10, 1e4),
            planted(900.0, 1e9, 7e4),
        ];
        let [constant, a, b, c, d] = nonnegative_least_squares(&rows);
        assert!((constant - 0.05).abs() < 1e-9, "constant {constant}");
        assert!(d.abs() < 1e-12, "per fresh sample {d}");
        assert!((a - 2e-4).abs() < 1e-9, "per step {a}");
        assert!((b - 3e-11).abs() < 1e-15, "per FLOP {b}");
        assert!(c.abs() < 1e-9, "per value {c}");
        // Noise that would make the free fit's per-step cost negative: it is held at 0.
        let rows = [([0.0, 1.0, 1.0, 0.0, 0.0], 1.0), ([0.0, 2.0, 1.0, 0.0, 0.0], 0.5)];
        let fit = nonnegative_least_squares(&rows);
        assert!(fit.iter().all(|&c| c >= 0.0), "{fit:?}");
    }
}
