//! What a detection finds: boundaries, each between two consecutive checkpoints, and the stages
//! between them with the series (and the LLC and loss, when known) at their ends.

use serde::{Deserialize, Serialize};

use super::series::{Meaning, Series};

/// A place where the series changes, between checkpoints `index - 1` and `index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    /// Not stored: the interval says where it is.
    #[serde(skip)]
    pub index: usize,
    /// The steps of the two checkpoints it lies between.
    pub interval: [i64; 2],
    /// `development` or `refinement` (the LLC rising or falling after it), `plateau`,
    /// `loss_drop` or `loss_rise`, `rise` or `fall` (other series), or `milestone`.
    pub kind: String,
    /// How marked the change is, on a scale the method documents (larger is stronger).
    pub strength: f64,
    /// What the method saw, in words.
    pub evidence: String,
}

/// A stretch of checkpoints between two boundaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub start: i64,
    pub end: i64,
    /// `development`, `refinement` or `plateau` for the LLC; `loss_falling`, `loss_rising` or
    /// `plateau` for a loss; `rising`, `falling` or `flat` otherwise.
    pub kind: String,
    pub value_start: f64,
    pub value_end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llc_start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llc_end: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_end: Option<f64>,
}

/// A detect step's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub schema_version: u32,
    pub series: String,
    pub method: String,
    pub steps: Vec<i64>,
    pub values: Vec<f64>,
    pub boundaries: Vec<Boundary>,
    pub stages: Vec<Stage>,
    /// What the method computed on the way (the smoothed curve, the components), for the report.
    pub details: serde_json::Value,
}

impl devspec_protocol::results::Versioned for Detection {
    const SCHEMA_VERSION: u32 = 1;

    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

/// A stage changes by more than this fraction of the series' range (of its value, for a loss)
/// to count as rising or falling.
const TREND: f64 = 0.1;

impl Detection {
    /// Its boundaries, each as `334-2519 development` (the `at` metric's and the lock's
    /// wording).
    pub fn boundary_texts(&self) -> Vec<String> {
        self.boundaries
            .iter()
            .map(|b| format!("{}-{} {}", b.interval[0], b.interval[1], b.kind))
            .collect()
    }

    /// The detect step's metrics: the series searched, how many boundaries and stages, and
    /// where (`334-2519 development, 6889-9074 plateau`), for `devspec show`.
    pub fn metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut metrics = serde_json::Map::new();
        metrics.insert("series".into(), self.series.clone().into());
        metrics.insert("boundaries".into(), self.boundaries.len().into());
        metrics.insert("stages".into(), self.stages.len().into());
        metrics.insert("at".into(), self.boundary_texts().join(", ").into());
        metrics
    }

    /// The result of `method` on `series`: its boundaries in step order (at most one per
    /// checkpoint interval, the strongest) and the stages they delimit.
    pub fn new(
        series: &Series,
        method: &str,
        boundaries: Vec<Boundary>,
        details: serde_json::Value,
    ) -> Detection {
        Detection::build(series, method, boundaries, None, details)
    }

    /// As [`Detection::new`], for a method whose boundaries lie in the middle of a change
    /// (transitions: where a rise is fastest). Half of each change then falls in the stage
    /// before the boundary and half in the one after, so a stage between two is not one
    /// regime, and no direction names it honestly: each is [`BETWEEN`], and the boundaries
    /// carry the direction. Named by their endpoints, the grokking study's test accuracy, flat
    /// at 0 from step 10 to 3,300, read "rises" up to its transition (the stage ended part way
    /// up it, at 0.15); named without the checkpoints next to a boundary, the toy model's LLC,
    /// still climbing from 1.40 to 1.91 after a broad transition, read "plateau".
    pub fn between_changes(
        series: &Series,
        method: &str,
        boundaries: Vec<Boundary>,
        details: serde_json::Value,
    ) -> Detection {
        let mut detection = Detection::build(series, method, boundaries, None, details);
        for stage in &mut detection.stages {
            BETWEEN.clone_into(&mut stage.kind);
        }
        detection
    }

    /// As [`Detection::new`], for a method whose boundary kinds name the stage after them
    /// (critical points): each stage takes its kind from the boundary before it, the first
    /// stage `first`.
    pub fn following(
        series: &Series,
        method: &str,
        boundaries: Vec<Boundary>,
        first: &str,
        details: serde_json::Value,
    ) -> Detection {
        Detection::build(series, method, boundaries, Some(first), details)
    }

    fn build(
        series: &Series,
        method: &str,
        mut boundaries: Vec<Boundary>,
        first: Option<&str>,
        details: serde_json::Value,
    ) -> Detection {
        // Where the trend changes twice between two checkpoints (a peak: rising, flat, falling),
        // the stage after that interval is what the last change leads to, whichever change was
        // the strongest. The boundaries arrive in time order.
        let last_kind: std::collections::BTreeMap<usize, String> =
            boundaries.iter().map(|b| (b.index, b.kind.clone())).collect();
        boundaries.sort_by(|a, b| a.index.cmp(&b.index).then(b.strength.total_cmp(&a.strength)));
        boundaries.dedup_by_key(|b| b.index);
        if first.is_some() {
            for boundary in &mut boundaries {
                boundary.kind.clone_from(&last_kind[&boundary.index]);
            }
        }
        let mut stages = stages(series, &boundaries);
        if let Some(first) = first {
            let kinds = std::iter::once(first).chain(boundaries.iter().map(|b| b.kind.as_str()));
            for (stage, kind) in stages.iter_mut().zip(kinds) {
                stage_kind(kind).clone_into(&mut stage.kind);
            }
        }
        Detection {
            schema_version: <Detection as devspec_protocol::results::Versioned>::SCHEMA_VERSION,
            series: series.name.clone(),
            method: method.to_owned(),
            steps: series.steps.clone(),
            values: series.values.clone(),
            boundaries,
            stages,
            details,
        }
    }
}

/// The kind of a stage between two changes ([`Detection::between_changes`]).
pub const BETWEEN: &str = "between";

/// The boundary between checkpoints `index - 1` and `index`.
pub fn between(
    series: &Series,
    index: usize,
    kind: &str,
    strength: f64,
    evidence: String,
) -> Boundary {
    Boundary {
        index,
        interval: [series.steps[index - 1], series.steps[index]],
        kind: kind.to_owned(),
        strength,
        evidence,
    }
}

/// The name of a change of the series by `delta`: what a stage after it, or a shift of its
/// mean across it, is called.
pub fn direction(meaning: Meaning, delta: f64, range: f64) -> &'static str {
    let rising = delta > TREND * range;
    let falling = delta < -TREND * range;
    match (meaning, rising, falling) {
        (Meaning::Complexity, true, _) => "development",
        (Meaning::Complexity, _, true) => "refinement",
        (Meaning::Loss, true, _) => "loss_rise",
        (Meaning::Loss, _, true) => "loss_drop",
        (Meaning::Other, true, _) => "rise",
        (Meaning::Other, _, true) => "fall",
        _ => "plateau",
    }
}

fn stages(series: &Series, boundaries: &[Boundary]) -> Vec<Stage> {
    if series.is_empty() {
        return Vec::new();
    }
    let range = range(&series.values);
    let mut starts: Vec<usize> = vec![0];
    starts.extend(boundaries.iter().map(|b| b.index));
    let ends: Vec<usize> =
        starts.iter().skip(1).map(|&s| s - 1).chain([series.len() - 1]).collect();
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| {
            let (first, last) = (series.values[start], series.values[end]);
            // A loss often spans decades: its stages are judged by their relative change.
            let (delta, scale) = if series.meaning() == Meaning::Loss && first > 0.0 && last > 0.0 {
                (last.ln() - first.ln(), 1.0)
            } else {
                (last - first, range)
            };
            let kind = match (series.meaning(), direction(series.meaning(), delta, scale)) {
                (Meaning::Loss, "loss_drop") => "loss_falling",
                (Meaning::Loss, "loss_rise") => "loss_rising",
                (Meaning::Other, "rise") => "rising",
                (Meaning::Other, "fall") => "falling",
                (Meaning::Other, _) => "flat",
                (_, kind) => kind,
            };
            let at = |values: &Option<Vec<f64>>, i: usize| values.as_ref().map(|v| v[i]);
            Stage {
                start: series.steps[start],
                end: series.steps[end],
                kind: kind.to_owned(),
                value_start: series.values[start],
                value_end: series.values[end],
                llc_start: at(&series.llc, start),
                llc_end: at(&series.llc, end),
                loss_start: at(&series.loss, start),
                loss_end: at(&series.loss, end),
            }
        })
        .collect()
}

/// A stage's name for the change that begins it.
fn stage_kind(boundary_kind: &str) -> &str {
    match boundary_kind {
        "loss_drop" => "loss_falling",
        "loss_rise" => "loss_rising",
        "rise" => "rising",
        "fall" => "falling",
        other => other,
    }
}

/// The spread of the finite values (0 for fewer than two).
pub fn range(values: &[f64]) -> f64 {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (low, high) =
        finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if high > low { high - low } else { 0.0 }
}

/// The index of the checkpoint interval holding the step `at`: the first checkpoint at or
/// after it (at least 1, at most the last).
pub fn interval_index(steps: &[i64], at: f64) -> usize {
    let index = steps.iter().position(|&s| s as f64 >= at).unwrap_or(steps.len() - 1);
    index.clamp(1, steps.len() - 1)
}
