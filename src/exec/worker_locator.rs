//! Finds the `devspec-worker` executable, in this order: `--worker PATH`, the `DEVSPEC_WORKER`
//! environment variable, `worker.path` in `devspec.toml`, the folder of the running `devspec`
//! executable (where `make install` and `cargo build` put both), and `PATH`.
//!
//! An explicit choice that points nowhere is an error, not a reason to fall through to the
//! next place: a user who named a worker must not silently get another one.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::failure::Failure;

pub const WORKER_EXE: &str = "devspec-worker";
pub const WORKER_ENV: &str = "DEVSPEC_WORKER";

/// Where a worker was found, for messages (`devspec --version` says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocatedBy {
    Flag,
    Environment,
    ProjectConfig,
    BesideDevspec,
    SearchPath,
}

impl fmt::Display for LocatedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocatedBy::Flag => "from --worker",
            LocatedBy::Environment => "from DEVSPEC_WORKER",
            LocatedBy::ProjectConfig => "from devspec.toml",
            LocatedBy::BesideDevspec => "beside devspec",
            LocatedBy::SearchPath => "on PATH",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerLocation {
    pub path: PathBuf,
    pub located_by: LocatedBy,
}

/// The inputs of the search; each is optional so tests can build any situation.
#[derive(Debug, Clone, Default)]
pub struct WorkerLocator {
    pub flag: Option<PathBuf>,
    pub environment: Option<PathBuf>,
    pub project_config: Option<PathBuf>,
    pub devspec_exe: Option<PathBuf>,
    pub search_path: Option<std::ffi::OsString>,
}

impl WorkerLocator {
    /// The locator for this process: its environment and executable, plus the given flag and
    /// project setting.
    pub fn from_env(flag: Option<PathBuf>, project_config: Option<PathBuf>) -> Self {
        WorkerLocator {
            flag,
            environment: std::env::var_os(WORKER_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
            project_config,
            devspec_exe: std::env::current_exe().ok(),
            search_path: std::env::var_os("PATH"),
        }
    }

    pub fn locate(&self) -> Result<WorkerLocation, Failure> {
        let explicit = [
            (&self.flag, LocatedBy::Flag),
            (&self.environment, LocatedBy::Environment),
            (&self.project_config, LocatedBy::ProjectConfig),
        ];
        for (choice, located_by) in explicit {
            if let Some(path) = choice {
                return if is_executable(path) {
                    Ok(WorkerLocation { path: path.clone(), located_by })
                } else {
                    Err(Failure::environment(format!(
                        "the worker {located_by} ({}) is not an executable file",
                        path.display()
                    ))
                    .with_hint("build it with `make install`, or point to an existing one"))
                };
            }
        }
        let beside = self
            .devspec_exe
            .as_deref()
            .and_then(Path::parent)
            .map(|dir| dir.join(WORKER_EXE))
            .filter(|path| is_executable(path));
        if let Some(path) = beside {
            return Ok(WorkerLocation { path, located_by: LocatedBy::BesideDevspec });
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        if let Ok(path) = which::which_in(WORKER_EXE, self.search_path.as_ref(), cwd) {
            return Ok(WorkerLocation { path, located_by: LocatedBy::SearchPath });
        }
        Err(Failure::environment(format!(
            "cannot find `{WORKER_EXE}`, devspec's libtorch worker: not given by --worker, \
             {WORKER_ENV} or devspec.toml, not beside devspec, not on PATH"
        ))
        .with_hint("`make install` installs both programs; or pass --worker PATH"))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_worker(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn order_is_flag_env_config_beside_path() {
        let dir = tempfile::tempdir().unwrap();
        let [flag, env, config] = ["f", "e", "c"].map(|name| fake_worker(dir.path(), name));
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let beside = fake_worker(&bin, WORKER_EXE);
        let on_path = dir.path().join("path");
        std::fs::create_dir(&on_path).unwrap();
        let searched = fake_worker(&on_path, WORKER_EXE);

        let mut locator = WorkerLocator {
            flag: Some(flag.clone()),
            environment: Some(env.clone()),
            project_config: Some(config.clone()),
            devspec_exe: Some(bin.join("devspec")),
            search_path: Some(on_path.clone().into_os_string()),
        };
        let mut seen = vec![];
        for _ in 0..5 {
            let found = locator.locate().unwrap();
            seen.push((found.path.clone(), found.located_by));
            match found.located_by {
                LocatedBy::Flag => locator.flag = None,
                LocatedBy::Environment => locator.environment = None,
                LocatedBy::ProjectConfig => locator.project_config = None,
                LocatedBy::BesideDevspec => locator.devspec_exe = None,
                LocatedBy::SearchPath => locator.search_path = None,
            }
        }
        assert_eq!(
            seen,
            vec![
                (flag, LocatedBy::Flag),
                (env, LocatedBy::Environment),
                (config, LocatedBy::ProjectConfig),
                (beside, LocatedBy::BesideDevspec),
                (searched, LocatedBy::SearchPath),
            ]
        );
        assert!(locator.locate().unwrap_err().message.contains("cannot find"));
    }

    #[test]
    fn explicit_choice_that_points_nowhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let locator = WorkerLocator {
            environment: Some(dir.path().join("missing")),
            devspec_exe: Some(fake_worker(dir.path(), WORKER_EXE)),
            ..WorkerLocator::default()
        };
        let failure = locator.locate().unwrap_err();
        assert!(failure.message.contains("DEVSPEC_WORKER"), "{failure}");
    }
}
