//! A series over checkpoints, as a detection method reads it.

/// One value per checkpoint, in step order, with what the report and the stage table show
/// beside it when the inputs have it (an LLC estimate's `llc_mean` and `init_loss`).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// What the values are: `llc_mean`, `train_loss`, `weight_norm`, ...
    pub name: String,
    pub steps: Vec<i64>,
    pub values: Vec<f64>,
    pub llc: Option<Vec<f64>>,
    pub loss: Option<Vec<f64>>,
    /// Per checkpoint, the model's outputs on a probe set (essential dynamics).
    pub outputs: Option<Vec<Vec<f64>>>,
}

impl Series {
    pub fn new(name: &str, steps: Vec<i64>, values: Vec<f64>) -> Series {
        Series { name: name.to_owned(), steps, values, llc: None, loss: None, outputs: None }
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// What a rise of the series means: for the LLC, development; for a loss, that it got
    /// worse; otherwise just a rise.
    pub fn meaning(&self) -> Meaning {
        if self.name.starts_with("llc") {
            Meaning::Complexity
        } else if self.name.contains("loss") {
            Meaning::Loss
        } else {
            Meaning::Other
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Complexity,
    Loss,
    Other,
}

/// The noise scale of a series from its first differences, robust to its jumps: the median
/// absolute difference over 0.6745 (a normal's MAD), over sqrt 2 (a difference of two draws).
pub fn noise_scale(values: &[f64]) -> f64 {
    let mut diffs: Vec<f64> = values.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if diffs.is_empty() {
        return 0.0;
    }
    diffs.sort_by(f64::total_cmp);
    let median = if diffs.len() % 2 == 1 {
        diffs[diffs.len() / 2]
    } else {
        f64::midpoint(diffs[diffs.len() / 2 - 1], diffs[diffs.len() / 2])
    };
    median / 0.6745 / std::f64::consts::SQRT_2
}
