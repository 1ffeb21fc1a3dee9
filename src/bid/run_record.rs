//! What `bid run` leaves in its folder beside the results (`bid-run.json`): which bid it ran,
//! with which bindings and settings (for `bid results` to plan the same study again; these
//! name the owner's paths and never leave the machine), and how it ended: complete, or stopped
//! at the budget or by failures with the instances that have no results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::failure::Failure;

pub const RECORD_NAME: &str = "bid-run.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The BLAKE3 of the bid archive.
    pub bid_digest: String,
    pub spec_digest: String,
    /// The spec's path in the folder.
    pub spec: String,
    /// The bindings the run used, read once at run time (the bind file's too, each path made
    /// absolute): `bid results` binds these, never the bind file again.
    pub binds: Vec<String>,
    /// The bind file given, for the owner's information only.
    pub bind_file: Option<PathBuf>,
    pub sets: Vec<String>,
    pub allow_revealing: bool,
    pub budget_seconds: Option<u64>,
    /// The budget ran out: the run was stopped.
    pub stopped_at_budget: bool,
    /// Instances without results, in plan order (empty: complete).
    pub missing: Vec<String>,
}

impl RunRecord {
    pub fn read(dir: &Path) -> Result<RunRecord, Failure> {
        let path = dir.join(RECORD_NAME);
        let text = std::fs::read_to_string(&path).map_err(|err| {
            Failure::bad_input(format!("cannot read {}: {err}", path.display()))
                .with_hint("`devspec bid run BID --dir DIR` writes it; give that DIR")
        })?;
        serde_json::from_str(&text)
            .map_err(|err| Failure::bad_input(format!("{} is unreadable: {err}", path.display())))
    }

    pub fn write(&self, dir: &Path) -> Result<(), Failure> {
        let path = dir.join(RECORD_NAME);
        let text = serde_json::to_vec_pretty(self).expect("run records serialize");
        std::fs::write(&path, text)
            .map_err(|err| Failure::environment(format!("cannot write {}: {err}", path.display())))
    }
}
