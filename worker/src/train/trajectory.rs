//! The states a training trajectory has reached, kept in the store under its trajectory key
//! (`trajectories/TRAJECTORY/STEP.json`, one record per state): the digests of the parameters
//! (the checkpoint file) and of the optimizer state, and the loss series up to that step.
//!
//! Every draw at step t comes from (seed, t), so a state is all a run needs to go on from it
//! with the same bytes as a run that never stopped. Two kinds of states are kept: checkpoints
//! (a plan's outputs, kept while their results are) and resume points (written every few
//! minutes and on a signal, so a killed run loses little; dropped once a run completes past
//! them). A run starts from the furthest state it can use ([`Continuation::find`]): a killed run
//! resumes, and a longer run (more `steps`, a grid reaching further) continues a shorter one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use devspec_protocol::results::TrainSeries;
use devspec_protocol::store_layout;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::checkpoint_file;
use super::trainer::Named;

/// One state of a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub step: u64,
    /// A checkpoint of the run that stored it (else a resume point).
    pub checkpoint: bool,
    /// The parameters' blob: a checkpoint file, whichever kind the point is.
    pub params: String,
    pub optimizer: String,
    /// The loss series up to this step, this step included.
    pub series: TrainSeries,
}

/// Stores a point (its blobs are already in the store). A failure costs only the ability to
/// start from this state later.
pub fn save(store: &Path, trajectory: &str, point: &Point) {
    let text = serde_json::to_vec(point).expect("points serialize");
    let path = store_layout::trajectory_point_path(store, trajectory, point.step);
    let _ = store_layout::write_atomically(store, &path, &text);
}

/// Every readable point of a trajectory whose blobs are in the store, by step.
fn points(store: &Path, trajectory: &str) -> BTreeMap<u64, Point> {
    let mut points = BTreeMap::new();
    for step in store_layout::trajectory_steps(store, trajectory) {
        let path = store_layout::trajectory_point_path(store, trajectory, step);
        let Ok(bytes) = std::fs::read(path) else { continue };
        let Ok(point) = serde_json::from_slice::<Point>(&bytes) else { continue };
        let present = |digest: &str| store_layout::blob_path(store, digest).is_file();
        if present(&point.params) && present(&point.optimizer) {
            points.insert(point.step, point);
        }
    }
    points
}

/// Removes the resume points at or before `step`: a run that completed to `step` has stored
/// a checkpoint there, which serves every later run better.
pub fn drop_resume_points(store: &Path, trajectory: &str, step: u64) {
    for point in points(store, trajectory).into_values() {
        if !point.checkpoint && point.step <= step {
            let _ = std::fs::remove_file(store_layout::trajectory_point_path(
                store, trajectory, point.step,
            ));
        }
    }
}

/// Reads a checkpoint file from the store, its digest verified.
fn tensors(store: &Path, digest: &str) -> Option<Named> {
    let bytes = std::fs::read(store_layout::blob_path(store, digest)).ok()?;
    (store_layout::digest(&bytes) == digest).then_some(())?;
    checkpoint_file::decode(&bytes).ok()
}

/// Where a run starts, given what its trajectory has reached.
pub struct Continuation {
    /// The step it starts after (0: a fresh start, from the initialization).
    pub step: u64,
    /// The state at `step`, one member's tensors (`None` for a fresh start).
    pub state: Option<(Named, Named)>,
    /// Its checkpoints up to `step`, reached before: (step, parameters' digest, optimizer
    /// state's digest).
    pub reached: Vec<(u64, String, String)>,
    /// The loss series up to `step`, at every step the run records that far.
    pub series: Option<TrainSeries>,
}

impl Continuation {
    /// A fresh start.
    pub fn fresh() -> Continuation {
        Continuation { step: 0, state: None, reached: Vec::new(), series: None }
    }

    /// The furthest state of `trajectory` a run to `total` with `checkpoints` (which include
    /// `total`) can start from ([`store_layout::continuation_step`]: the latest point before its
    /// first checkpoint not yet reached, so that every checkpoint before it exists). Its series is put together from
    /// every point up to there (each holds the losses up to its own step; which run stored
    /// which point does not matter, since all runs of a trajectory pass through the same
    /// states), restricted to `records`, the steps this run records. Anything unreadable
    /// falls back to an earlier point, and at worst to a fresh start.
    pub fn find(
        store: &Path,
        trajectory: &str,
        checkpoints: &BTreeSet<u64>,
        total: u64,
        records: &BTreeSet<u64>,
    ) -> Continuation {
        let mut points = points(store, trajectory);
        points.retain(|&step, _| step <= total);
        loop {
            let stored = points.keys().copied().collect();
            let step = store_layout::continuation_step(&stored, checkpoints, total);
            if step == 0 {
                return Continuation::fresh();
            }
            let point = &points[&step];
            let (Some(params), Some(optimizer)) =
                (tensors(store, &point.params), tensors(store, &point.optimizer))
            else {
                points.remove(&step);
                continue;
            };
            let Some(series) = series_until(&points, step, records) else {
                return Continuation::fresh();
            };
            let series = Some(series);
            let reached = checkpoints
                .range(..=step)
                .map(|c| (*c, points[c].params.clone(), points[c].optimizer.clone()))
                .collect();
            return Continuation { step, state: Some((params, optimizer)), reached, series };
        }
    }
}

/// The series up to `step` at the steps in `records`, from the entries of every point up to
/// there; `None` when one is missing.
fn series_until(
    points: &BTreeMap<u64, Point>,
    step: u64,
    records: &BTreeSet<u64>,
) -> Option<TrainSeries> {
    let mut entries: BTreeMap<u64, (f64, Option<f64>)> = BTreeMap::new();
    for point in points.range(..=step).map(|(_, point)| &point.series) {
        for (index, &at) in point.steps.iter().enumerate() {
            if at <= step && records.contains(&at) {
                let test = point.test_loss.get(index).copied();
                entries.entry(at).or_insert((point.train_loss[index], test));
            }
        }
    }
    if records.range(..=step).any(|at| !entries.contains_key(at)) {
        return None;
    }
    let mut series = TrainSeries::default();
    for (at, (train, test)) in entries {
        series.steps.push(at);
        series.train_loss.push(train);
        series.test_loss.extend(test);
    }
    Some(series)
}

/// One member's `[1, ...]` tensors in `names`' order, from a point's named tensors.
pub fn ordered(tensors: &Named, names: &[String]) -> Result<Vec<Tensor>, String> {
    names
        .iter()
        .map(|name| {
            tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.unsqueeze(0))
                .ok_or_else(|| format!("the stored state lacks `{name}`"))
        })
        .collect()
}
