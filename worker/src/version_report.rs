//! What this worker is: its version, the libtorch it actually loaded, CUDA, and ATen's CPU
//! kernel level. `devspec --version` shows it and the cache key's environment part uses it.

use std::path::{Path, PathBuf};

use devspec_protocol::{PROTOCOL_VERSION, VersionReport};

pub fn current() -> VersionReport {
    let loaded = loaded_libtorch_root();
    let libtorch = loaded
        .as_deref()
        .and_then(|root| std::fs::read_to_string(root.join("build-version")).ok())
        .map_or_else(
            || {
                format!(
                    "{} (built against; no version file beside the loaded library)",
                    built_against()
                )
            },
            |text| text.trim().to_owned(),
        );
    let cuda_devices = if tch::Cuda::is_available() { tch::Cuda::device_count() } else { 0 };
    VersionReport {
        protocol: PROTOCOL_VERSION,
        worker_version: env!("CARGO_PKG_VERSION").to_owned(),
        libtorch,
        libtorch_path: loaded.map_or_else(String::new, |p| p.display().to_string()),
        cuda_available: cuda_devices > 0,
        cuda_devices: u32::try_from(cuda_devices).unwrap_or(0),
        cpu_capability: cpu_capability(),
    }
}

fn built_against() -> &'static str {
    env!("DEVSPEC_LIBTORCH_BUILT_AGAINST")
}

/// The install folder of the `libtorch_cpu.so` mapped into this process, read from the memory
/// map: the version that counts is the one loaded now, which may differ from the one linked at
/// build time if the library path changed since.
fn loaded_libtorch_root() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let lib = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| Path::new(path).file_name().is_some_and(|name| name == "libtorch_cpu.so"))?;
    Path::new(lib).parent()?.parent().map(Path::to_path_buf)
}

/// ATen's choice of CPU kernels, which changes the last bits of reductions. ATen honours
/// `ATEN_CPU_CAPABILITY` when the CPU supports the level asked for, and otherwise picks the
/// highest level the CPU supports; this mirrors that rule (ATen does not export its choice
/// through the C API that tch wraps).
fn cpu_capability() -> String {
    let requested = std::env::var("ATEN_CPU_CAPABILITY").ok();
    choose_capability(requested.as_deref(), &supported_capabilities()).to_owned()
}

fn choose_capability<'a>(requested: Option<&str>, supported: &[&'a str]) -> &'a str {
    let requested = requested.map(str::to_ascii_uppercase);
    supported
        .iter()
        .find(|level| requested.as_deref() == Some(**level))
        .or(supported.last())
        .copied()
        .unwrap_or("DEFAULT")
}

#[cfg(target_arch = "x86_64")]
fn supported_capabilities() -> Vec<&'static str> {
    let mut levels = vec!["DEFAULT"];
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        levels.push("AVX2");
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
        {
            levels.push("AVX512");
        }
    }
    levels
}

#[cfg(not(target_arch = "x86_64"))]
fn supported_capabilities() -> Vec<&'static str> {
    vec!["DEFAULT"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_loaded_libtorch() {
        let report = current();
        assert_eq!(report.libtorch, "2.13.0", "{report:?}");
        let lib = Path::new(&report.libtorch_path).join("lib/libtorch_cpu.so");
        assert!(lib.exists(), "{report:?}");
    }

    #[test]
    fn requested_capability_wins_only_when_supported() {
        let supported = ["DEFAULT", "AVX2"];
        assert_eq!(choose_capability(Some("default"), &supported), "DEFAULT");
        assert_eq!(choose_capability(Some("AVX512"), &supported), "AVX2");
        assert_eq!(choose_capability(None, &supported), "AVX2");
        assert_eq!(choose_capability(None, &["DEFAULT"]), "DEFAULT");
    }
}
