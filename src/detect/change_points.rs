//! Change points in the mean: the segmentation minimizing the squared error around each
//! segment's mean plus `penalty` per change, exactly (PELT, Killick et al. 2012: optimal
//! partitioning, pruning the last changes that can no longer be optimal) or greedily (binary segmentation: split where the cost falls most,
//! while it falls by more than the penalty). `penalty = auto` is 3 ln(n) times the noise
//! variance (estimated from the first differences), the modified BIC of Zhang and Siegmund
//! 2007 for changes in a mean: the plain BIC's 2 ln(n) finds spurious changes when the change's
//! place is searched for too. Strength: the shift of the mean
//! across the boundary in noise standard deviations.

use super::boundary::{Detection, between, direction, range};
use super::series::{Series, noise_scale};

pub fn detect(
    series: &Series,
    binary_segmentation: bool,
    penalty: Option<f64>,
    min_size: usize,
) -> Detection {
    let values = &series.values;
    let n = values.len();
    let sigma = noise_scale(values);
    // A noiseless series still needs a positive penalty: a hair above rounding.
    let floor = 1e-12 * (1.0 + range(values)).powi(2);
    let penalty = penalty.unwrap_or(3.0 * (n as f64).ln() * sigma * sigma).max(floor);
    let min_size = min_size.max(1);
    let cuts = if binary_segmentation {
        binary_segmentation_cuts(values, penalty, min_size)
    } else {
        pelt_cuts(values, penalty, min_size)
    };
    let mut bounds = vec![0];
    bounds.extend(&cuts);
    bounds.push(n);
    let mean = |a: usize, b: usize| values[a..b].iter().sum::<f64>() / (b - a) as f64;
    let boundaries = cuts
        .iter()
        .enumerate()
        .map(|(i, &cut)| {
            let (before, after) = (mean(bounds[i], cut), mean(cut, bounds[i + 2]));
            let shift = after - before;
            let strength = if sigma > 0.0 { shift.abs() / sigma } else { f64::INFINITY };
            between(
                series,
                cut,
                direction(series.meaning(), shift, 0.0),
                strength.min(1e6),
                format!("the mean of {} moves from {before:.4} to {after:.4}", series.name),
            )
        })
        .collect();
    let details = serde_json::json!({
        "algorithm": if binary_segmentation { "binseg" } else { "pelt" },
        "penalty": penalty,
        "noise_scale": sigma,
        "segment_means": bounds.windows(2).map(|w| mean(w[0], w[1])).collect::<Vec<f64>>(),
    });
    Detection::new(series, "change_points", boundaries, details)
}

/// The first index of every segment but the first, by PELT. Written here because the `pelt`
/// crate (0.3.4) fails on every series with `jump = 1`, the setting that makes it exact: its
/// first proposed segment is shorter than the minimum it then requires.
pub fn pelt_cuts(values: &[f64], penalty: f64, min_size: usize) -> Vec<usize> {
    let n = values.len();
    if n < 2 * min_size {
        return Vec::new();
    }
    let costs = PrefixCost::new(values);
    // best[t]: the least cost of values[..t] (a penalty per segment, less one), and where its
    // last segment starts.
    let mut best: Vec<(f64, usize)> = vec![(f64::INFINITY, 0); n + 1];
    best[0] = (-penalty, 0);
    // Candidate starts of the last segment, each with the time it was found unable to win.
    let mut candidates: Vec<(usize, Option<usize>)> = Vec::new();
    for t in min_size..=n {
        let newest = t - min_size;
        if newest == 0 || newest >= min_size {
            candidates.push((newest, None));
        }
        // A start found beaten at time s stays a candidate for ends before s + min_size, where
        // s itself cannot start a segment yet: pruning then is exact.
        candidates.retain(|&(_, beaten)| beaten.is_none_or(|s| t < s + min_size));
        for &(start, _) in &candidates {
            let total = best[start].0 + costs.cost(start, t) + penalty;
            if total < best[t].0 {
                best[t] = (total, start);
            }
        }
        for (start, beaten) in &mut candidates {
            if beaten.is_none() && best[*start].0 + costs.cost(*start, t) > best[t].0 {
                *beaten = Some(t);
            }
        }
    }
    backtrack(&best)
}

/// The cuts of the optimal partition recorded in `best` (per end t: its cost and where its last
/// segment starts), from the last segment back to the first.
pub fn backtrack(best: &[(f64, usize)]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut end = best.len() - 1;
    while end > 0 {
        let start = best[end].1;
        if start > 0 {
            cuts.push(start);
        }
        end = start;
    }
    cuts.reverse();
    cuts
}

/// Squared errors of any stretch from prefix sums.
struct PrefixCost {
    sums: Vec<f64>,
    squares: Vec<f64>,
}

impl PrefixCost {
    fn new(values: &[f64]) -> PrefixCost {
        let mut sums = vec![0.0];
        let mut squares = vec![0.0];
        for v in values {
            sums.push(sums[sums.len() - 1] + v);
            squares.push(squares[squares.len() - 1] + v * v);
        }
        PrefixCost { sums, squares }
    }

    fn cost(&self, a: usize, b: usize) -> f64 {
        let sum = self.sums[b] - self.sums[a];
        ((self.squares[b] - self.squares[a]) - sum * sum / (b - a) as f64).max(0.0)
    }
}

/// The squared error of `values[a..b]` around its mean.
fn cost(values: &[f64], a: usize, b: usize) -> f64 {
    let part = &values[a..b];
    let mean = part.iter().sum::<f64>() / part.len() as f64;
    part.iter().map(|v| (v - mean).powi(2)).sum()
}

/// Binary segmentation: repeatedly splits the segment whose best split lowers the cost most,
/// while that exceeds the penalty.
pub fn binary_segmentation_cuts(values: &[f64], penalty: f64, min_size: usize) -> Vec<usize> {
    let mut segments = vec![(0, values.len())];
    let mut cuts = Vec::new();
    loop {
        let best = segments
            .iter()
            .enumerate()
            .filter_map(|(i, &(a, b))| {
                let whole = cost(values, a, b);
                (a + min_size..=b.saturating_sub(min_size))
                    .map(|c| (whole - cost(values, a, c) - cost(values, c, b), c))
                    .max_by(|x, y| x.0.total_cmp(&y.0))
                    .map(|(gain, c)| (gain, c, i))
            })
            .max_by(|x, y| x.0.total_cmp(&y.0));
        match best {
            Some((gain, cut, i)) if gain > penalty => {
                let (a, b) = segments.remove(i);
                segments.push((a, cut));
                segments.push((cut, b));
                cuts.push(cut);
            }
            _ => break,
        }
    }
    cuts.sort_unstable();
    cuts
}
