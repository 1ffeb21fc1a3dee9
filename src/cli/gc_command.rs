//! `devspec gc [--dry-run] [--keep SPEC...]`: removes store entries that no root spec reaches.
//! The roots are every `*.dev` file of the project (or the `--keep` specs); each must check
//! and plan, or nothing is removed: a spec with an error would otherwise lose its results.
//! What a live run registered (`ops::run` registers it) is kept too, with
//! everything written since it started, whatever `--min-age`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::args::SettingsArgs;
use super::run_context::{ContextArgs, planned, session};
use crate::exec::{InstanceStatus, survey};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::project_config::ProjectConfig;

pub fn run(
    keep: &[PathBuf],
    dry_run: bool,
    min_age: u64,
    worker: Option<&Path>,
) -> Result<ExitCode, Failure> {
    let cwd = std::env::current_dir().map_err(|err| Failure::environment(err.to_string()))?;
    let config = ProjectConfig::discover(&cwd)?.unwrap_or_else(|| ProjectConfig::defaults(&cwd));
    let roots =
        if keep.is_empty() { project_specs(&config.root, &config.store) } else { keep.to_vec() };
    if roots.is_empty() {
        return Err(Failure::bad_input("no spec to keep results for: nothing would be reachable")
            .with_hint("run gc in a project with `.dev` files, or name specs with --keep"));
    }
    let mut live: HashSet<String> = HashSet::new();
    let mut continuing: HashSet<String> = HashSet::new();
    let mut store = None;
    for spec in &roots {
        let Ok(plan) = planned(spec, &[], &super::args::BindArgs::default())? else {
            return Err(Failure::bad_input(format!(
                "{} does not check, so its results cannot be told apart: nothing was removed",
                spec.display()
            ))
            .with_hint("fix it, or name the specs to keep with --keep"));
        };
        let context = session(&ContextArgs::new(
            spec,
            &SettingsArgs::default(),
            worker.map(Path::to_path_buf),
        ))?;
        for status in survey(&plan, &context.store, &context.options) {
            match status {
                InstanceStatus::Cached(manifest) => {
                    live.insert(manifest.key);
                }
                // What will run may go on from a state its trajectory reached (a killed run's
                // resume point, a shorter run's last checkpoint): those stay too.
                InstanceStatus::WillRun(key) => {
                    continuing.extend(key.trajectory());
                }
                InstanceStatus::WaitsForInputs => {}
            }
        }
        store.get_or_insert(context.store);
    }
    let store = store.expect("at least one root");
    let cannot_clean = |err: std::io::Error| {
        Failure::store_unwritable(store.root(), &err)
            .unwrap_or_else(|| Failure::environment(format!("cannot clean the store: {err}")))
    };
    let live_runs = store.live_runs(dry_run).map_err(cannot_clean)?;
    let min_age_duration = std::time::Duration::from_secs(min_age);
    let report = store
        .collect_garbage(&live, &continuing, &live_runs, min_age_duration, dry_run)
        .map_err(cannot_clean)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    outln!(
        "{verb} {} results, {} blobs and {} logs, {:.1} MB; kept {} results reachable from {} \
         spec(s) (entries younger than {min_age} s are kept)",
        report.manifests,
        report.blobs,
        report.logs,
        report.bytes as f64 / 1e6,
        live.len(),
        roots.len(),
    );
    if report.temp_files > 0 {
        outln!("removed {} partial write(s) that killed processes left in tmp/", report.temp_files);
    }
    if live_runs.count > 0 {
        outln!(
            "{} run(s) in progress: what they reach and everything written since they started \
             was kept",
            live_runs.count
        );
    }
    Ok(ExitCode::Success)
}

/// Every `.dev` file under the project root, outside the store and hidden or build folders.
fn project_specs(root: &Path, store: &Path) -> Vec<PathBuf> {
    let mut specs = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let hidden = name.to_string_lossy().starts_with('.');
            if path.is_dir() && !hidden && path != store && name != "target" {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "dev") {
                specs.push(path);
            }
        }
    }
    specs.sort();
    specs
}
