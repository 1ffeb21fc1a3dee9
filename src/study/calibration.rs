//! The choice `devspec calibrate` makes among the cells of its grid: which cells may be
//! recommended, which is, and the reason in words.
//!
//! A cell may be recommended when its estimate is positive and it has no diagnostics, which
//! includes `localization_dominated`. When the grid sweeps the localization, a cell is also
//! checked against the cell at the next smaller γ with the same step size: on the plateau
//! where the estimate no longer depends on γ, the two agree within [`PLATEAU_SE`] combined
//! standard errors. Cells that the check confirmed come first; among equals, the MALA
//! acceptance nearest [`TARGET_ACCEPTANCE`], then the smallest relative standard error.

use serde::Serialize;

/// The acceptance a well-sized SGLD step has (slt.md: well below about 0.9 means too large).
pub const TARGET_ACCEPTANCE: f64 = 0.9;
/// Two estimates agree when they differ by at most this many combined standard errors.
pub const PLATEAU_SE: f64 = 3.0;

/// What the grid's second axis sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherAxis {
    Nbeta,
    Localization,
}

impl OtherAxis {
    pub fn name(self) -> &'static str {
        match self {
            OtherAxis::Nbeta => "nbeta",
            OtherAxis::Localization => "localization",
        }
    }
}

/// One computed cell of the grid.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub lr: f64,
    /// The other axis's value (`nbeta` or `localization`), if swept.
    pub other: Option<f64>,
    pub llc_mean: f64,
    pub llc_se: f64,
    pub acceptance: Option<f64>,
    /// −d ln λ̂ / d ln γ and its standard error, where the estimate has them.
    pub localization_sensitivity: Option<f64>,
    pub localization_sensitivity_se: Option<f64>,
    pub diagnostics: String,
}

impl Cell {
    fn eligible(&self) -> bool {
        self.llc_mean > 0.0 && self.diagnostics.is_empty()
    }
}

/// The recommended cell and why.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation<'c> {
    pub cell: &'c Cell,
    pub reason: String,
}

/// The cell to recommend, if any may be.
pub fn recommend(cells: &[Cell], other: Option<OtherAxis>) -> Option<Recommendation<'_>> {
    let plateau = |cell: &Cell| {
        (other == Some(OtherAxis::Localization)).then(|| next_smaller_gamma(cells, cell)).flatten()
    };
    let key = |c: &Cell| {
        let unconfirmed = plateau(c).is_none_or(|(_, agrees)| !agrees);
        let distance = c.acceptance.map_or(1.0, |a| (a - TARGET_ACCEPTANCE).abs());
        (unconfirmed, distance, c.llc_se / c.llc_mean)
    };
    let best = cells
        .iter()
        .filter(|c| c.eligible())
        .min_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal))?;
    let mut reasons =
        vec![match (best.localization_sensitivity, best.localization_sensitivity_se) {
            (Some(s), Some(se)) => format!(
                "a positive estimate without diagnostics (its localization sensitivity {s:.2} ± \
             {se:.2} does not show the localization dominating)"
            ),
            _ => "a positive estimate without diagnostics".to_owned(),
        }];
    if other == Some(OtherAxis::Localization) {
        reasons.push(match plateau(best) {
            Some((smaller, true)) => format!(
                "it agrees with localization = {} ({:.4} ± {:.4} against {:.4} ± {:.4}, within \
                 {PLATEAU_SE} standard errors), so it is past where the estimate depends on γ",
                smaller.other.unwrap_or(0.0),
                best.llc_mean,
                best.llc_se,
                smaller.llc_mean,
                smaller.llc_se
            ),
            Some((smaller, false)) => format!(
                "no cell confirmed a plateau: it differs from localization = {} by more than \
                 {PLATEAU_SE} standard errors; extend --localization downward",
                smaller.other.unwrap_or(0.0)
            ),
            None => "no smaller localization was tried to confirm it; extend --localization \
                     downward"
                .to_owned(),
        });
    }
    reasons.push(format!(
        "its MALA acceptance {} is the nearest to {TARGET_ACCEPTANCE} among such cells",
        best.acceptance.map_or("(not measured)".to_owned(), |a| format!("{a:.3}"))
    ));
    Some(Recommendation { cell: best, reason: reasons.join("; ") })
}

/// The cell at the same step size and the next smaller localization, and whether the two
/// estimates agree within [`PLATEAU_SE`] combined standard errors.
fn next_smaller_gamma<'c>(cells: &'c [Cell], cell: &Cell) -> Option<(&'c Cell, bool)> {
    let gamma = cell.other?;
    let smaller = cells
        .iter()
        // The same step size: the grid's values, compared as the same text was parsed.
        .filter(|c| c.lr.to_bits() == cell.lr.to_bits() && c.other.is_some_and(|g| g < gamma))
        .max_by(|a, b| a.other.partial_cmp(&b.other).unwrap_or(std::cmp::Ordering::Equal))?;
    let combined = (cell.llc_se.powi(2) + smaller.llc_se.powi(2)).sqrt();
    let agrees = (cell.llc_mean - smaller.llc_mean).abs() <= PLATEAU_SE * combined;
    Some((smaller, agrees))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(lr: f64, gamma: f64, llc: f64, acceptance: f64, diagnostics: &str) -> Cell {
        Cell {
            lr,
            other: Some(gamma),
            llc_mean: llc,
            llc_se: 0.1,
            acceptance: Some(acceptance),
            localization_sensitivity: Some(0.05),
            localization_sensitivity_se: Some(0.02),
            diagnostics: diagnostics.to_owned(),
        }
    }

    #[test]
    fn a_cell_confirmed_by_a_smaller_gamma_wins_over_a_better_acceptance() {
        let cells = [
            // Acceptance nearest 0.9, but the estimate still rises as γ falls.
            cell(1e-4, 10.0, 2.0, 0.9, ""),
            cell(1e-4, 1.0, 3.0, 0.95, ""),
            cell(1e-4, 0.1, 3.1, 0.97, ""),
            cell(1e-3, 1.0, 9.0, 0.9, "localization_dominated"),
        ];
        let best = recommend(&cells, Some(OtherAxis::Localization)).unwrap();
        assert_eq!(best.cell.other, Some(1.0));
        assert!(best.reason.contains("agrees with localization = 0.1"), "{}", best.reason);
    }

    #[test]
    fn without_a_plateau_the_recommendation_says_so_and_flagged_cells_are_never_chosen() {
        let cells = [cell(1e-4, 10.0, 2.0, 0.9, ""), cell(1e-4, 1.0, 8.0, 0.95, "not_stationary")];
        let best = recommend(&cells, Some(OtherAxis::Localization)).unwrap();
        assert_eq!(best.cell.other, Some(10.0));
        assert!(best.reason.contains("no cell confirmed a plateau"), "{}", best.reason);
        let all_flagged = [cell(1e-4, 10.0, 2.0, 0.9, "localization_dominated")];
        assert!(recommend(&all_flagged, Some(OtherAxis::Localization)).is_none());
        // Sweeping nbeta, the plateau is not asked for.
        let best = recommend(&cells[..1], Some(OtherAxis::Nbeta)).unwrap();
        assert!(!best.reason.contains("localization ="), "{}", best.reason);
    }
}
