//! The settings every operation runs under, resolved by the caller (command line, then
//! environment, then `devspec.toml`), and the one place steps are executed.

use std::path::PathBuf;

use crate::exec::{Executor, InstanceStatus, RunEvent, RunOptions, RunSummary};
use crate::plan::Plan;
use crate::project_config::ProjectConfig;
use crate::store::Store;

/// A project's store, worker and run options.
pub struct Session {
    /// The project's settings as `devspec.toml` gives them; `config.root` is the project's
    /// folder (the spec's folder without a `devspec.toml`).
    pub config: ProjectConfig,
    pub store: Store,
    pub worker: PathBuf,
    pub options: RunOptions,
}

/// What an operation tells its caller while it works: the executor's events (for a progress
/// display) and notes for the user.
pub trait Observer {
    fn event(&mut self, event: &RunEvent);
    fn note(&mut self, text: &str);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _: &RunEvent) {}
    fn note(&mut self, _: &str) {}
}

impl Session {
    /// Runs `plan` into `store` (the session's, or a scratch one) with `options`: the one
    /// place an executor is built.
    pub fn execute_in(
        &self,
        plan: &Plan,
        store: &Store,
        options: &RunOptions,
        observer: &mut dyn Observer,
    ) -> RunSummary {
        let executor =
            Executor { plan, store, worker: self.worker.clone(), options: options.clone() };
        executor.run(&mut |event| observer.event(event))
    }

    /// Runs `plan` into the session's store with `options`, from a survey of it made with
    /// the same options (`ops::run` surveys first to register the run): what the survey found
    /// cached is not keyed and looked up again.
    pub fn execute_surveyed(
        &self,
        plan: &Plan,
        options: &RunOptions,
        surveyed: Vec<InstanceStatus>,
        observer: &mut dyn Observer,
    ) -> RunSummary {
        let executor = Executor {
            plan,
            store: &self.store,
            worker: self.worker.clone(),
            options: options.clone(),
        };
        executor.run_surveyed(surveyed, &mut |event| observer.event(event))
    }

    /// Runs `plan` into the session's store with its options.
    pub fn execute(&self, plan: &Plan, observer: &mut dyn Observer) -> RunSummary {
        self.execute_in(plan, &self.store, &self.options, observer)
    }
}
