//! The checkpoint schedules the language evaluates itself: `logspace`, `linspace` and
//! `every`, turned into the sorted, distinct training steps they name.

/// `logspace(start, stop, count)`: `count` steps evenly spaced in log(step) from `start` to
/// `stop` (both included), rounded to whole steps; duplicates that rounding creates at the low
/// end are merged, so fewer than `count` steps can result.
pub fn logspace(start: i64, stop: i64, count: i64) -> Vec<i64> {
    if count <= 1 || start >= stop {
        return vec![stop.max(start)];
    }
    let (low, high) = ((start.max(1)) as f64, stop as f64);
    let (ln_low, ln_high) = (low.ln(), high.ln());
    let last = (count - 1) as f64;
    let mut points: Vec<i64> = (0..count)
        .map(|i| {
            #[allow(clippy::cast_possible_truncation)] // rounded, and within start..=stop
            let rounded = (ln_low + (ln_high - ln_low) * (i as f64) / last).exp().round() as i64;
            rounded.clamp(start, stop)
        })
        .collect();
    points.dedup();
    points
}

/// `linspace(start, stop, count)`: `count` evenly spaced steps from `start` to `stop`, rounded.
pub fn linspace(start: i64, stop: i64, count: i64) -> Vec<i64> {
    if count <= 1 || start >= stop {
        return vec![stop.max(start)];
    }
    let last = (count - 1) as f64;
    let mut points: Vec<i64> = (0..count)
        .map(|i| {
            #[allow(clippy::cast_possible_truncation)] // rounded, and within start..=stop
            let rounded = (start as f64 + (stop - start) as f64 * (i as f64) / last).round() as i64;
            rounded
        })
        .collect();
    points.dedup();
    points
}

/// `every(k)` over a run of `total` steps: k, 2k, ... up to `total`.
pub fn every(k: i64, total: i64) -> Vec<i64> {
    if k <= 0 {
        return Vec::new();
    }
    (1..=total / k).map(|i| i * k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logspace_spans_both_ends_and_is_strictly_increasing() {
        let steps = logspace(1, 20_000, 60);
        assert_eq!(steps.first(), Some(&1));
        assert_eq!(steps.last(), Some(&20_000));
        assert!(steps.windows(2).all(|w| w[0] < w[1]));
        // Rounding merges a few of the 60 points near step 1 (1, 1.18, 1.4, ... -> 1, 1, 1).
        assert!(steps.len() > 45 && steps.len() <= 60, "{}", steps.len());
        // Evenly spaced in log: the ratio between the last two points is (20000)^(1/59).
        let ratio = 20_000f64.powf(1.0 / 59.0);
        let last_ratio = steps[steps.len() - 1] as f64 / steps[steps.len() - 2] as f64;
        assert!((last_ratio - ratio).abs() < 0.01, "{last_ratio} vs {ratio}");
    }

    #[test]
    fn linspace_and_every() {
        assert_eq!(linspace(0, 100, 5), vec![0, 25, 50, 75, 100]);
        assert_eq!(every(300, 1000), vec![300, 600, 900]);
        assert_eq!(logspace(10, 10, 5), vec![10]);
    }
}
