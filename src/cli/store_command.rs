//! `devspec store check [--repair] [--store DIR]`: every entry of the store checked, as `git
//! fsck` checks a repository (see `store::StoreCheck`); each damaged one named, and with
//! `--repair` set aside in `damaged/` so the next run recomputes it. Exit 1 when something was
//! damaged.

use std::path::PathBuf;

use super::args::StoreCommand;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::project_config::ProjectConfig;
use crate::store::Store;

pub fn run(command: &StoreCommand) -> Result<ExitCode, Failure> {
    let StoreCommand::Check { repair, store } = command;
    let cwd = std::env::current_dir()
        .map_err(|err| Failure::environment(format!("cannot read the current folder: {err}")))?;
    let config = ProjectConfig::discover(&cwd)?.unwrap_or_else(|| ProjectConfig::defaults(&cwd));
    let root = store
        .clone()
        .or_else(|| std::env::var_os("DEVSPEC_STORE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or(config.store);
    if !root.join("actions").is_dir() && !root.join("blobs").is_dir() {
        return Err(Failure::bad_input(format!("{} is not a devspec store", root.display()))
            .with_hint("run it in a project with results, or name the store with --store"));
    }
    let check = Store::open(&root)?.check(*repair);
    for finding in &check.findings {
        outln!("damaged  {}: {}", finding.path.display(), finding.what);
        if let Some(moved) = &finding.set_aside {
            outln!("  set aside: {}", moved.display());
        }
    }
    outln!(
        "store check of {}: {} manifests, {} blobs, {} trajectory states, {} records: {}",
        root.display(),
        check.manifests,
        check.blobs,
        check.trajectory_states,
        check.records,
        match (check.findings.len(), repair) {
            (0, _) => "all intact".to_owned(),
            (n, true) => format!("{n} damaged, set aside; the next run recomputes them"),
            (n, false) => format!("{n} damaged (`--repair` sets them aside)"),
        }
    );
    Ok(if check.findings.is_empty() { ExitCode::Success } else { ExitCode::Failed })
}
