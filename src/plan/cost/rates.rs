//! [`Rates`]: what a unit of work costs on one machine and device, as measured by a short
//! calibration (`ops::cost_calibration`), and the seconds they give an instance's [`Work`].
//!
//! An instance of a phase and model family takes `fixed + steps x layers x per_step + flops x
//! per_flop + values x per_value` seconds: a fixed part (the request, reading and writing its blobs), a
//! part per step (the loop's own overhead, which dominates small models on small batches), a
//! part per FLOP (which dominates large models) and a part per activation (elementwise work,
//! which dominates small models on large batches), and a part per sample drawn fresh. A group of siblings the executor sends as one request pays the fixed part once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::work::{Family, Phase, Work};

/// One phase and family's measured costs, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub fixed: f64,
    /// Per step and layer.
    pub per_step: f64,
    pub per_flop: f64,
    /// Per number a forward pass produces (elementwise, memory-bound work).
    pub per_value: f64,
    /// Per sample drawn fresh (generated in the worker).
    pub per_fresh: f64,
    /// What each member beyond the first adds to a request of siblings, as a fraction of its
    /// own variable part: 1 where members run one after another, less where they share the
    /// work (an ensemble trained as one computation, chains sampled as one batch).
    pub marginal: f64,
}

impl Cost {
    /// Seconds of `work` beyond the fixed part.
    pub fn variable(&self, work: &Work) -> f64 {
        work.steps * work.depth * self.per_step
            + work.flops * self.per_flop
            + work.values * self.per_value
            + work.fresh * self.per_fresh
    }
}

/// Everything a forecast needs to price a plan's work on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// The format of this record, bumped when its meaning changes.
    pub version: u32,
    /// Where they were measured: the device (`cpu`, `cuda:0`) and its name.
    pub device: String,
    pub device_name: String,
    /// The setting measured with: a number, or `auto`.
    pub threads_per_step: String,
    /// The workers of the forecast (`--jobs`); the calibration measures each instance alone,
    /// and then `jobs` requests side by side.
    pub jobs: usize,
    /// How many times slower each of `jobs` requests side by side goes than alone (1 or
    /// more): the cores share caches and memory bandwidth (on a virtual machine, often one
    /// physical core), so two requests at once are not two requests' speed.
    pub contention: f64,
    /// Per phase (train, sample, measure) and model family.
    pub models: BTreeMap<String, Cost>,
    /// devspec's own steps: one detection, one report.
    pub detect: f64,
    pub report: f64,
    /// Seconds a run spends outside its instances: planning, a worker's start, drawing the
    /// reports, writing the lock.
    pub overhead: f64,
    /// Seconds a fixed piece of arithmetic took on one thread around the calibration
    /// (`ops::cost_calibration::load_probe`): a forecast scales by the same probe's time now.
    pub probe: f64,
    /// Seconds the calibration took, and when it ran (seconds since the Unix epoch).
    pub measured_in: f64,
    pub measured_at: f64,
}

/// The format of [`Rates`] this devspec writes and reads, and of the work they were fitted to
/// (3: a training's recorded losses priced at each recorded step, not each checkpoint).
pub const RATES_VERSION: u32 = 3;

/// The name a phase and family's costs are filed under: `train/tms`.
pub fn cost_name(phase: Phase, family: Family) -> String {
    let phase = match phase {
        Phase::Train => "train",
        Phase::Sample => "sample",
        Phase::Measure => "measure",
        Phase::Detect => "detect",
        Phase::Report => "report",
    };
    format!("{phase}/{}", family.name())
}

/// An instance's price: the fixed part once per request, the variable part per member.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub fixed: f64,
    pub variable: f64,
    /// [`Cost::marginal`].
    pub marginal: f64,
}

impl Price {
    pub fn seconds(&self) -> f64 {
        self.fixed + self.variable
    }
}

impl Rates {
    /// These rates with every time multiplied by `factor` (the machine `factor` times slower
    /// than at calibration).
    #[must_use]
    pub fn scaled(&self, factor: f64) -> Rates {
        let mut rates = self.clone();
        for cost in rates.models.values_mut() {
            cost.fixed *= factor;
            cost.per_step *= factor;
            cost.per_flop *= factor;
            cost.per_value *= factor;
            cost.per_fresh *= factor;
        }
        // The contention is a ratio of two times: the load scales both.
        rates.detect *= factor;
        rates.report *= factor;
        rates.overhead *= factor;
        rates
    }

    /// The price of `work`, or `None` when this phase and family were not measured.
    pub fn price(&self, work: &Work) -> Option<Price> {
        match (work.phase, work.family) {
            (Phase::Detect, _) => Some(Price { fixed: self.detect, variable: 0.0, marginal: 1.0 }),
            (Phase::Report, _) => Some(Price { fixed: self.report, variable: 0.0, marginal: 1.0 }),
            (phase @ (Phase::Train | Phase::Sample | Phase::Measure), Some(family)) => {
                let cost = self.models.get(&cost_name(phase, family))?;
                Some(Price {
                    fixed: cost.fixed,
                    variable: cost.variable(work),
                    marginal: cost.marginal,
                })
            }
            (Phase::Train | Phase::Sample | Phase::Measure, None) => None,
        }
    }
}
