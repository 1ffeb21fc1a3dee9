//! The provenance a run records with each result: devspec's version and the commit it was built
//! from, the spec's digest, libtorch, the device with its name, the CPU kernels, the host,
//! threads and wall time. Read once per process where it costs a file read.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::executor::RunOptions;
use crate::store::Provenance;

/// The git commit this devspec was built from (set by `build.rs`; empty outside a checkout).
pub const DEVSPEC_COMMIT: &str = env!("DEVSPEC_COMMIT");

/// The provenance of a step that ran on `device` with `threads` threads from `started` to
/// `ended`; `uses_libtorch` is false for the steps devspec computes itself.
pub fn provenance(
    options: &RunOptions,
    device: &str,
    threads: u32,
    uses_libtorch: bool,
    started: f64,
) -> Provenance {
    let environment = |name: &str| {
        if uses_libtorch {
            options.environment.get(name).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    Provenance {
        devspec_version: env!("CARGO_PKG_VERSION").to_owned(),
        devspec_commit: DEVSPEC_COMMIT.to_owned(),
        spec_digest: options.spec_digest.clone(),
        libtorch: environment("libtorch"),
        threads,
        device: device.to_owned(),
        device_name: device_name(device),
        cpu_capability: environment("cpu_capability"),
        host: hostname(),
        started,
        ended: now(),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's name.
pub fn hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "unknown".into(), |h| h.trim().to_owned())
    })
    .clone()
}

/// The name of the device a step ran on: the GPU's model as the NVIDIA driver reports it
/// (`cuda:N` is the Nth GPU the driver lists), or the CPU's model; empty when neither says.
pub fn device_name(device: &str) -> String {
    static CPU: OnceLock<String> = OnceLock::new();
    if let Some(rest) = device.strip_prefix("cuda") {
        let index = rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
        return gpu_names().get(index).cloned().unwrap_or_default();
    }
    CPU.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        info.lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    })
    .clone()
}

/// The GPUs' models, in the driver's order (its folders are named by PCI address, the order
/// CUDA enumerates them in by default).
fn gpu_names() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc/driver/nvidia/gpus") else { return Vec::new() };
    let mut folders: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    folders.sort();
    folders
        .iter()
        .filter_map(|folder| {
            let info = std::fs::read_to_string(folder.join("information")).ok()?;
            info.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == "Model").then(|| value.trim().to_owned())
            })
        })
        .collect()
}
