//! The cost forecast (`devspec plan --cost`): each instance's [`Work`] counted from the plan,
//! priced by [`Rates`] measured on this machine (`ops::cost_calibration` measures and caches
//! them), and the study's wall time as the executor's schedule replayed over the plan with
//! `--jobs` workers ([`schedule::replay`]). Pure: nothing here runs or reads anything.

pub mod fit;
pub mod rates;
pub mod render;
pub mod schedule;
pub mod work;

use petgraph::graph::NodeIndex;

pub use rates::{Cost, Price, RATES_VERSION, Rates, cost_name};
pub use schedule::{Job, Schedule, Slot};
pub use work::{Family, Phase, Uncounted, Work};

use crate::plan::Plan;

/// One instance's forecast.
#[derive(Debug, Clone, PartialEq)]
pub enum InstanceForecast {
    Cached,
    /// Seconds of its own (its share of a group's fixed part not counted twice: that is in
    /// the schedule), and its slot in the schedule.
    Seconds {
        alone: f64,
        slot: Slot,
    },
    /// Why it cannot be predicted.
    Unknown(&'static str),
}

/// A plan's forecast: per instance (by node) and the whole study.
#[derive(Debug, Clone)]
pub struct Forecast {
    pub instances: Vec<InstanceForecast>,
    /// The study's wall time with `jobs` workers; `None` when an instance is unknown.
    pub total: Option<f64>,
    pub jobs: usize,
}

/// Forecasts `plan` with `rates`, `cached[node]` saying what the store holds already.
pub fn forecast(
    plan: &Plan,
    rates: &Rates,
    cached: &[bool],
    jobs: usize,
    max_batch: usize,
) -> Forecast {
    let mut unknown: Vec<Option<&'static str>> = vec![None; plan.graph.node_count()];
    let priced: Vec<Job> = plan
        .graph
        .node_indices()
        .map(|node| {
            if cached[node.index()] {
                return Job::Cached;
            }
            match work::of_instance(&plan.graph[node]) {
                Ok(work) => {
                    if let Some(price) = rates.price(&work) {
                        Job::Priced(work, price)
                    } else {
                        unknown[node.index()] = Some("no rates measured for it");
                        Job::Unknown
                    }
                }
                Err(Uncounted::TorchScript) => {
                    unknown[node.index()] = Some("a TorchScript model: its cost is its own");
                    Job::Unknown
                }
                Err(Uncounted::NotAModelStep) => {
                    unknown[node.index()] = Some("not a step the cost model knows");
                    Job::Unknown
                }
            }
        })
        .collect();
    let schedule = schedule::replay(plan, &priced, jobs, max_batch, rates.contention);
    let instances = plan
        .graph
        .node_indices()
        .map(|node: NodeIndex| match (&priced[node.index()], schedule.slots[node.index()]) {
            (Job::Cached, _) => InstanceForecast::Cached,
            (Job::Priced(_, price), Some(slot)) => {
                InstanceForecast::Seconds { alone: price.seconds(), slot }
            }
            (Job::Priced(..) | Job::Unknown, _) => {
                InstanceForecast::Unknown(unknown[node.index()].unwrap_or("never scheduled"))
            }
        })
        .collect();
    Forecast { instances, total: schedule.total, jobs }
}

#[cfg(test)]
mod tests;
