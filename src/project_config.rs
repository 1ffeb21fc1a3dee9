//! `devspec.toml`: a project's settings (store path, parallel jobs, threads per step, device,
//! worker path). Found by walking up from a folder; its folder is the project root, which also
//! bounds the paths a spec may import.
//!
//! Command-line flags and environment variables win over this file; a step's explicit setting
//! in the spec wins over all of them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exec::ThreadsPerStep;
use crate::failure::Failure;

pub const FILE_NAME: &str = "devspec.toml";

/// A loaded `devspec.toml`, with paths made absolute against its folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// The folder holding `devspec.toml`.
    pub root: PathBuf,
    /// Where results, checkpoints and caches are kept.
    pub store: PathBuf,
    /// Steps run in parallel; `None` means one per core.
    pub jobs: Option<usize>,
    /// Threads per step, or `auto` (part of every numerical cache key).
    pub threads_per_step: ThreadsPerStep,
    /// Device for steps whose spec says `auto` or nothing: `auto`, `cpu`, `cuda`, `cuda:N`.
    pub device: String,
    /// The `devspec-worker` executable, if the project pins one.
    pub worker: Option<PathBuf>,
    /// Most sibling instances one request computes together, if set.
    pub batch: Option<u32>,
    /// `run.executor`: `local` (a pool of workers here) or `slurm`, if set.
    pub executor: Option<String>,
    /// `run.heartbeat_seconds`: how often a busy worker says it is alive, if set.
    pub heartbeat_seconds: Option<f64>,
    /// `run.max_memory_gb`: most memory one instance may need, in GiB, if set.
    pub max_memory_gb: Option<f64>,
    /// `[slurm]`: how `--executor slurm` submits.
    pub slurm: SlurmConfig,
}

/// The `[slurm]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// The partition jobs go to (default: the cluster's).
    pub partition: Option<String>,
    /// Most jobs in Slurm's queue at once (default 64).
    pub max_jobs: Option<usize>,
    /// How many times a job that died without finishing is submitted again (default 2).
    pub retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    run: RawRun,
    #[serde(default)]
    worker: RawWorker,
    #[serde(default)]
    slurm: SlurmConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    jobs: Option<usize>,
    threads_per_step: Option<ThreadsPerStep>,
    device: Option<String>,
    batch: Option<u32>,
    executor: Option<String>,
    heartbeat_seconds: Option<f64>,
    max_memory_gb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    path: Option<PathBuf>,
}

impl ProjectConfig {
    /// The settings of a folder with no `devspec.toml`: everything at its default.
    pub fn defaults(root: &Path) -> Self {
        ProjectConfig::from_raw(root, RawConfig::default())
    }

    /// Finds the nearest `devspec.toml` at or above `start` and loads it.
    pub fn discover(start: &Path) -> Result<Option<Self>, Failure> {
        match start.ancestors().map(|dir| dir.join(FILE_NAME)).find(|file| file.is_file()) {
            Some(file) => ProjectConfig::load(&file).map(Some),
            None => Ok(None),
        }
    }

    pub fn load(file: &Path) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(file).map_err(|err| {
            Failure::environment(format!("cannot read {}: {err}", file.display()))
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|err| {
            let at = err.span().map_or_else(String::new, |span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(":{line}")
            });
            Failure::bad_input(format!("{}{at}: {}", file.display(), err.message().trim()))
                .with_hint("the settings are documented in the README, under `devspec.toml`")
        })?;
        let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        if let Some(seconds) = raw.run.heartbeat_seconds
            && crate::exec::WorkerDeadlines::every(seconds).is_none()
        {
            return Err(Failure::bad_input(format!(
                "{}: `run.heartbeat_seconds = {seconds}` must be a positive number of seconds",
                file.display()
            ))
            .with_hint("the default is 5; a test may use 0.25"));
        }
        Ok(ProjectConfig::from_raw(&root, raw))
    }

    fn from_raw(root: &Path, raw: RawConfig) -> Self {
        ProjectConfig {
            root: root.to_path_buf(),
            store: root.join(raw.store.path.unwrap_or_else(|| PathBuf::from(".devspec"))),
            jobs: raw.run.jobs.filter(|&jobs| jobs > 0),
            threads_per_step: raw.run.threads_per_step.unwrap_or(ThreadsPerStep::ONE),
            device: raw.run.device.unwrap_or_else(|| "auto".to_owned()),
            worker: raw.worker.path.map(|path| root.join(path)),
            batch: raw.run.batch.filter(|&batch| batch > 0),
            executor: raw.run.executor,
            heartbeat_seconds: raw.run.heartbeat_seconds,
            max_memory_gb: raw.run.max_memory_gb.filter(|&gib| gib > 0.0),
            slurm: raw.slurm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "[store]\npath = \"cache\"\n[run]\njobs = 3\n[worker]\npath = \"bin/w\"\n",
        )
        .unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let config = ProjectConfig::discover(&nested).unwrap().unwrap();
        assert_eq!(config.store, dir.path().join("cache"));
        assert_eq!(config.worker, Some(dir.path().join("bin/w")));
        assert_eq!(config.jobs, Some(3));
        assert_eq!(config.threads_per_step, ThreadsPerStep::ONE);
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        std::fs::write(&file, "[run]\njobs = 2\nthreds_per_step = 2\n").unwrap();
        let failure = ProjectConfig::load(&file).unwrap_err();
        assert!(failure.message.contains("devspec.toml:3"), "{failure}");
        assert!(failure.message.contains("threds_per_step"), "{failure}");
        assert_eq!(failure.exit_code(), crate::exit_code::ExitCode::BadInput);
    }

    #[test]
    fn a_heartbeat_must_be_a_positive_number_of_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        std::fs::write(&file, "[run]\nheartbeat_seconds = 0.5\n").unwrap();
        assert_eq!(ProjectConfig::load(&file).unwrap().heartbeat_seconds, Some(0.5));
        std::fs::write(&file, "[run]\nheartbeat_seconds = 0\n").unwrap();
        let failure = ProjectConfig::load(&file).unwrap_err();
        assert!(failure.message.contains("`run.heartbeat_seconds = 0` must be"), "{failure}");
    }
}
