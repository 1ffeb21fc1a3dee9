//! [`MemoryBudget`]: the memory an instance may use where it will run, and the instances of a
//! plan whose estimate ([`super::memory_estimate`]) exceeds it, found before `run` starts any.
//! The limit is, in order: the `--max-memory` setting (`run.max_memory_gb` in `devspec.toml`),
//! which overrides everything; under Slurm, the step's `resources.mem_gb`; on the CPU, this
//! machine's memory (`MemTotal` in `/proc/meminfo`). On CUDA the GPU's memory is not known to
//! `devspec` (the worker owns the device), so only the setting applies there.

use crate::compile::value::{Value, ValueKind};
use crate::failure::Failure;

use super::Plan;
use super::memory_estimate::{self, MemoryEstimate, format_bytes};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Where the limit on one instance comes from, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryBudget {
    /// The setting, in GiB: wins over everything.
    pub setting_gib: Option<f64>,
    /// Steps run as Slurm jobs: each gets its `resources.mem_gb`.
    pub slurm: bool,
    /// This machine's memory, in bytes, if known.
    pub machine_bytes: Option<f64>,
    /// The device of steps whose spec says `auto` or nothing.
    pub default_device: String,
}

/// An instance over its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    pub instance: String,
    pub estimate: MemoryEstimate,
    pub limit_bytes: f64,
    /// Whose limit: "this machine's memory", "its `resources.mem_gb`" or "the `--max-memory`
    /// setting".
    pub limit_of: &'static str,
}

impl OverBudget {
    /// "big needs about 41.0 GiB of memory (...); this machine has 23.6 GiB".
    pub fn message(&self) -> String {
        let limit = format_bytes(self.limit_bytes);
        let limit = match self.limit_of {
            "this machine's memory" => format!("this machine has {limit}"),
            "its `resources.mem_gb`" => format!("its `resources.mem_gb` reserves {limit}"),
            _ => format!("`--max-memory` allows {limit}"),
        };
        format!("{} needs {}; {limit}", self.instance, self.estimate.describe())
    }
}

impl MemoryBudget {
    /// The budget here: the machine's memory read from `/proc/meminfo`.
    pub fn here(setting_gib: Option<f64>, slurm: bool, default_device: &str) -> Self {
        MemoryBudget {
            setting_gib,
            slurm,
            machine_bytes: machine_memory(),
            default_device: default_device.to_owned(),
        }
    }

    /// The limit on an instance with these parameters, and whose it is; `None`: no limit known.
    fn limit(
        &self,
        params: &std::collections::BTreeMap<String, Value>,
    ) -> Option<(f64, &'static str)> {
        if let Some(gib) = self.setting_gib {
            return Some((gib * GIB, "the `--max-memory` setting"));
        }
        if self.slurm {
            let Some(ValueKind::Record(resources)) = params.get("resources").map(|v| &v.kind)
            else {
                return None;
            };
            let mem_gb = resources.get("mem_gb").and_then(Value::as_f64)?;
            return Some((mem_gb * GIB, "its `resources.mem_gb`"));
        }
        let device = match params.get("device").map(|v| &v.kind) {
            Some(ValueKind::Enum(device)) => device.as_str(),
            _ => self.default_device.as_str(),
        };
        if device.starts_with("cuda") {
            return None;
        }
        self.machine_bytes.map(|bytes| (bytes, "this machine's memory"))
    }

    /// The instances of `plan` whose estimate exceeds their limit, largest first, among those
    /// `will_run` keeps (a cached instance needs no memory).
    pub fn over_budget(
        &self,
        plan: &Plan,
        will_run: impl Fn(petgraph::graph::NodeIndex) -> bool,
    ) -> Vec<OverBudget> {
        let mut over: Vec<OverBudget> = plan
            .order
            .iter()
            .filter(|&&node| will_run(node))
            .map(|&node| &plan.graph[node])
            .filter_map(|instance| {
                let estimate = memory_estimate::of_instance(instance.kind, &instance.params)?;
                let (limit_bytes, limit_of) = self.limit(&instance.params)?;
                (estimate.bytes() > limit_bytes).then(|| OverBudget {
                    instance: instance.display_name(),
                    estimate,
                    limit_bytes,
                    limit_of,
                })
            })
            .collect();
        over.sort_by(|a, b| b.estimate.bytes().total_cmp(&a.estimate.bytes()));
        over
    }
}

/// Refuses, before anything starts, a plan with instances estimated beyond the memory where
/// they would run: an environment failure (exit 3), since the spec runs on a larger machine.
pub fn refuse(over: &[OverBudget]) -> Result<(), Failure> {
    let Some(largest) = over.first() else { return Ok(()) };
    let message = match over.len() {
        1 => largest.message(),
        n => format!(
            "{n} instances need more memory than they have; the largest: {}",
            largest.message()
        ),
    };
    Err(Failure::environment(message).with_hint(
        "make the model or its data smaller, run it where there is more memory, or set \
         `--max-memory GIB` (`run.max_memory_gb` in devspec.toml) to run it anyway",
    ))
}

/// This machine's memory in bytes: `MemTotal` of `/proc/meminfo`, if it can be read.
pub fn machine_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

fn parse_mem_total(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // whole numbers of bytes
mod tests {
    use super::*;

    fn plan_of(spec: &str) -> Plan {
        super::super::plan(&super::super::checked(spec)).unwrap()
    }

    const SPEC: &str = "train t { model = tms.model(features = 5, hidden = 2), \
        data = tms.data(features = 5, sparsity = 0.9, samples = 100), \
        optimizer = sgd(lr = 0.1), batch_size = 10, steps = 10 }\n";

    fn budget(setting_gib: Option<f64>, slurm: bool, machine_bytes: Option<f64>) -> MemoryBudget {
        MemoryBudget { setting_gib, slurm, machine_bytes, default_device: "cpu".into() }
    }

    #[test]
    fn the_setting_wins_then_slurm_then_the_machine() {
        let plan = plan_of(SPEC);
        // 15 parameters and gradients of 4 bytes, 100 samples of 10 numbers, and the loss over
        // them in one pass, 12 numbers each: 8,920 bytes.
        assert!(budget(None, false, Some(8_920.0)).over_budget(&plan, |_| true).is_empty());
        let over = budget(None, false, Some(8_919.0)).over_budget(&plan, |_| true);
        assert_eq!(over.len(), 1);
        assert_eq!(over[0].limit_of, "this machine's memory");
        assert_eq!(over[0].estimate.bytes(), 8_920.0);
        assert!(
            over[0].message().starts_with("t needs about 8.7 KiB of memory"),
            "{}",
            over[0].message()
        );
        // The setting overrides the machine, either way.
        assert!(budget(Some(1.0), false, Some(1.0)).over_budget(&plan, |_| true).is_empty());
        assert_eq!(budget(Some(1e-9), false, None).over_budget(&plan, |_| true).len(), 1);
        // Under Slurm a step without `resources.mem_gb` has no limit; with it, that one.
        assert!(budget(None, true, Some(1.0)).over_budget(&plan, |_| true).is_empty());
        let spec = SPEC.replace("steps = 10", "steps = 10, resources = { mem_gb = 0.000000001 }");
        let over = budget(None, true, None).over_budget(&plan_of(&spec), |_| true);
        assert_eq!(over[0].limit_of, "its `resources.mem_gb`");
        // On CUDA only the setting applies: the GPU's memory is the worker's to know.
        let spec = SPEC.replace("steps = 10", "steps = 10, device = cuda");
        assert!(budget(None, false, Some(1.0)).over_budget(&plan_of(&spec), |_| true).is_empty());
    }

    #[test]
    fn meminfo_is_read_in_kib() {
        let text = "MemTotal:       24576000 kB\nMemFree:  100 kB\n";
        assert_eq!(parse_mem_total(text), Some(24_576_000.0 * 1024.0));
        assert!(machine_memory().is_some_and(|bytes| bytes > 0.0));
    }
}
