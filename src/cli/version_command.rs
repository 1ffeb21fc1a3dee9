//! `devspec --version`: devspec's own version, then what its worker reports (which libtorch it
//! loaded, CUDA, ATen's CPU kernels). The only verb that starts a worker without running steps;
//! it is checked at the handshake, under the heartbeat setting's deadlines, like any worker.

use std::path::PathBuf;

use crate::exec::{WorkerLocator, WorkerProcess};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::project_config::ProjectConfig;

pub fn run(flag: Option<PathBuf>, config: &ProjectConfig) -> Result<ExitCode, Failure> {
    outln!("devspec {}", env!("CARGO_PKG_VERSION"));
    let location = WorkerLocator::from_env(flag, config.worker.clone()).locate()?;
    let deadlines = crate::ops::worker_deadlines(config)?;
    let report = WorkerProcess::spawn_with(&location.path, &[], deadlines)?.version()?;
    outln!(
        "worker   {} {} ({})",
        report.worker_version,
        location.path.display(),
        location.located_by
    );
    let cuda = if report.cuda_available {
        format!("available, {} device(s)", report.cuda_devices)
    } else {
        "not available".to_owned()
    };
    outln!("libtorch {} ({})", report.libtorch, report.libtorch_path);
    outln!("cuda     {cuda}");
    outln!("cpu      {} kernels", report.cpu_capability);
    Ok(ExitCode::Success)
}
