//! Closed-form learning coefficients, the ground truth the estimator is tested against
//! (formulas from ../shared/reference/slt.md), each checked on the worked examples there.

// The formulas keep the papers' one-letter names (M, H, N, r, l, s), so they read against them.
#![allow(clippy::many_single_char_names, clippy::manual_midpoint)]

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
/// coefficient.
pub fn deep_linear_network(widths: &[i64], r: i64) -> f64 {
    let m: Vec<i64> = widths.iter().map(|w| w - r).collect();
    let count = m.len();
    for l in 1..count {
        for subset in combinations(count, l + 1) {
            let chosen: Vec<i64> = subset.iter().map(|&i| m[i]).collect();
            let rest: Vec<i64> = (0..count).filter(|i| !subset.contains(i)).map(|i| m[i]).collect();
            let (max, sum) =
                (*chosen.iter().max().expect("l + 1 >= 2"), chosen.iter().sum::<i64>());
            let l = i64::try_from(l).expect("a few layers");
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
            return (-rf * rf + rf * (h0 + hl)) / 2.0 + a * (lf - a) / (4.0 * lf)
                - lf * (lf - 1.0) / 4.0 * (s / lf).powi(2)
                + pairs as f64 / 2.0;
        }
    }
    panic!("no subset fits widths {widths:?} with rank {r}")
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

#[test]
fn the_formulas_give_the_worked_examples() {
    // slt.md's examples; exact in binary (multiples of 1/8).
    assert_eq!(reduced_rank_regression(5, 3, 5, 0), 6.5);
    assert_eq!(deep_linear_network(&[10, 5, 5, 10], 2), 22.5);
    assert_eq!(deep_linear_network(&[4, 4, 4, 4], 0), 5.5);
    // Two layers are reduced-rank regression, in each of its branches.
    for (m, h, n, r) in [(2, 2, 6, 1), (6, 2, 2, 1), (2, 6, 2, 1), (5, 3, 5, 1), (5, 3, 5, 0)] {
        assert_eq!(deep_linear_network(&[m, h, n], r), reduced_rank_regression(m, h, n, r));
    }
    // One layer of full rank is a regular model: d / 2.
    assert_eq!(deep_linear_network(&[4, 3], 3), 6.0);
}
