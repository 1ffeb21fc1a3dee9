//! Closed-form learning coefficients: the ground truth an LLC estimate is judged against (the
//! formulas of ../shared/reference/slt.md). The report draws estimates at a known teacher
//! against these; the estimator's tests check against them.

// The formulas keep the papers' one-letter names (M, H, N, r, l, s), so they read against them.
#![allow(clippy::many_single_char_names, clippy::manual_midpoint)]

use serde_json::Value;

/// Reduced-rank regression y = B A x, A of shape H x M, B of shape N x H, with a teacher of
/// rank r (Aoyagi & Watanabe 2005).
pub fn reduced_rank_regression(m: i64, h: i64, n: i64, r: i64) -> f64 {
    if m + h < n + r {
        (h * m - h * r + n * r) as f64 / 2.0
    } else if n + h < m + r {
        (h * n - h * r + m * r) as f64 / 2.0
    } else if m + n < h + r {
        (m * n) as f64 / 2.0
    } else {
        let d = i64::from((m + h + n + r) % 2 == 1);
        (2 * (h + r) * (m + n) - (m - n).pow(2) - (h + r).pow(2) + d) as f64 / 8.0
    }
}

/// A deep linear network with widths `H_0` (input) .. `H_L` (output) and a teacher of rank r
/// (Aoyagi 2024): with `M_i = H_i - r`, the first subset S (smallest size l + 1 first, then in
/// index order) with max(S) < min(rest), sum(S) >= l max(S) and sum(S) < l min(rest) gives the
/// coefficient. `None` when no subset fits (the rank exceeds a width).
pub fn deep_linear_network(widths: &[i64], r: i64) -> Option<f64> {
    let m: Vec<i64> = widths.iter().map(|w| w - r).collect();
    let count = m.len();
    // Subsets are enumerated: beyond 20 layers (a million of them) the formula is not tried.
    if !(2..=20).contains(&count) || m.iter().any(|&w| w < 0) {
        return None;
    }
    for l in 1..count {
        for subset in combinations(count, l + 1) {
            let chosen: Vec<i64> = subset.iter().map(|&i| m[i]).collect();
            let rest: Vec<i64> = (0..count).filter(|i| !subset.contains(i)).map(|i| m[i]).collect();
            let (max, sum) = (*chosen.iter().max()?, chosen.iter().sum::<i64>());
            let l = i64::try_from(l).ok()?;
            let fits = match rest.iter().min() {
                Some(&min_rest) => max < min_rest && sum >= l * max && sum < l * min_rest,
                None => sum >= l * max,
            };
            if !fits {
                continue;
            }
            let (s, lf) = (sum as f64, l as f64);
            let m_bar = (sum + l - 1) / l;
            let a = (sum - (m_bar - 1) * l) as f64;
            let pairs: i64 = (0..chosen.len())
                .flat_map(|i| (i + 1..chosen.len()).map(move |j| (i, j)))
                .map(|(i, j)| chosen[i] * chosen[j])
                .sum();
            let (h0, hl) = (widths[0] as f64, widths[count - 1] as f64);
            let rf = r as f64;
            return Some(
                (-rf * rf + rf * (h0 + hl)) / 2.0 + a * (lf - a) / (4.0 * lf)
                    - lf * (lf - 1.0) / 4.0 * (s / lf).powi(2)
                    + pairs as f64 / 2.0,
            );
        }
    }
    None
}

/// Index subsets of `0..n` of size `k`, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut all = Vec::new();
    let mut current: Vec<usize> = (0..k).collect();
    loop {
        all.push(current.clone());
        let Some(i) = (0..k).rev().find(|&i| current[i] < n - k + i) else { return all };
        current[i] += 1;
        for j in i + 1..k {
            current[j] = current[j - 1] + 1;
        }
    }
}

/// The learning coefficient at a checkpoint whose settings make it known: a deep linear network
/// without biases whose weights are its teacher's (`model = dln.model(widths)`, `weights =
/// dln.teacher(widths, rank)`), for an estimate over all its weights. Settings as a worker gets
/// them (`{"call": ..., "args": ...}`).
pub fn at_checkpoint(
    checkpoint: &serde_json::Map<String, Value>,
    estimate: &serde_json::Map<String, Value>,
) -> Option<f64> {
    let model = checkpoint.get("model")?;
    let weights = checkpoint.get("weights")?;
    if model["call"] != "dln.model" || weights["call"] != "dln.teacher" {
        return None;
    }
    if model["args"]["bias"].as_bool() == Some(true) {
        return None;
    }
    let widths = |value: &Value| -> Option<Vec<i64>> {
        value.as_array()?.iter().map(Value::as_i64).collect()
    };
    let model_widths = widths(&model["args"]["widths"])?;
    if widths(&weights["args"]["widths"])? != model_widths {
        return None;
    }
    // Data from another teacher: the checkpoint is not at the data's truth.
    let data_teacher = checkpoint.get("data").map(|d| &d["args"]["teacher"]);
    if data_teacher.is_some_and(|t| !t.is_null() && t != weights) {
        return None;
    }
    // A restricted estimate measures a part of the weights: another coefficient.
    let restricted = estimate
        .get("observable")
        .and_then(|o| o["args"]["restrict"].as_array())
        .is_some_and(|r| !r.is_empty());
    if restricted {
        return None;
    }
    deep_linear_network(&model_widths, weights["args"]["rank"].as_i64()?)
}

#[cfg(test)]
// The worked examples are multiples of 1/8: exact in binary, so compared exactly.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn the_formulas_give_the_worked_examples() {
        // slt.md's examples; exact in binary (multiples of 1/8).
        assert_eq!(reduced_rank_regression(5, 3, 5, 0), 6.5);
        assert_eq!(deep_linear_network(&[10, 5, 5, 10], 2), Some(22.5));
        assert_eq!(deep_linear_network(&[4, 4, 4, 4], 0), Some(5.5));
        // Two layers are reduced-rank regression, in each of its branches.
        for (m, h, n, r) in [(2, 2, 6, 1), (6, 2, 2, 1), (2, 6, 2, 1), (5, 3, 5, 1), (5, 3, 5, 0)] {
            assert_eq!(
                deep_linear_network(&[m, h, n], r),
                Some(reduced_rank_regression(m, h, n, r))
            );
        }
        assert_eq!(deep_linear_network(&[4, 3], 3), Some(6.0));
        assert_eq!(deep_linear_network(&[4, 3], 5), None);
    }

    #[test]
    fn a_checkpoint_at_its_teacher_has_a_known_coefficient_and_others_none() {
        let ctor = |call: &str, args: Value| serde_json::json!({ "call": call, "args": args });
        let checkpoint = |model_args: Value, rank: i64| -> serde_json::Map<String, Value> {
            let mut map = serde_json::Map::new();
            map.insert("model".into(), ctor("dln.model", model_args));
            let teacher = serde_json::json!({ "widths": [10, 5, 5, 10], "rank": rank });
            map.insert("weights".into(), ctor("dln.teacher", teacher));
            map
        };
        let plain = serde_json::Map::new();
        let widths = serde_json::json!({ "widths": [10, 5, 5, 10] });
        assert_eq!(at_checkpoint(&checkpoint(widths.clone(), 2), &plain), Some(22.5));
        let biased = serde_json::json!({ "widths": [10, 5, 5, 10], "bias": true });
        assert_eq!(at_checkpoint(&checkpoint(biased, 2), &plain), None);
        let other = serde_json::json!({ "widths": [10, 4, 4, 10] });
        assert_eq!(at_checkpoint(&checkpoint(other, 2), &plain), None);
        let mut restricted = serde_json::Map::new();
        restricted.insert(
            "observable".into(),
            ctor("llc", serde_json::json!({ "restrict": ["layers.0.*"] })),
        );
        assert_eq!(at_checkpoint(&checkpoint(widths, 2), &restricted), None);
    }
}
