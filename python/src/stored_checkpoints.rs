//! TEMPORARY, to be replaced by `devspec::ops::checkout` when it lands on main: a step's stored
//! checkpoints (instance, coordinates, training step, key, digest, blob path), from the plan's
//! checkpoint outputs and the store's records of the instances that made them.

use std::path::PathBuf;

use devspec::exec::{InstanceStatus, survey};
use devspec::ops::Session;
use devspec::plan::{Output, Plan};
use devspec_protocol::store_layout;

/// One stored checkpoint.
pub struct StoredCheckpoint {
    pub instance: String,
    /// `(axis, value)` as names and tables write them.
    pub coords: Vec<(String, String)>,
    pub step: i64,
    pub key: String,
    pub digest: String,
    pub path: PathBuf,
}

/// What a step's instances hold: the stored checkpoints, and the instances whose checkpoints are
/// not stored yet.
pub struct Checkpoints {
    pub stored: Vec<StoredCheckpoint>,
    pub missing: Vec<String>,
}

/// The checkpoints of every instance of `step` that has any (a train step, a checkpoint step).
pub fn checkpoints(plan: &Plan, session: &Session, step: &str) -> Checkpoints {
    let statuses = survey(plan, &session.store, &session.options);
    let mut found = Checkpoints { stored: Vec::new(), missing: Vec::new() };
    for &node in &plan.order {
        let instance = &plan.graph[node];
        if instance.step_name != step {
            continue;
        }
        let steps: Vec<i64> = instance
            .outputs
            .iter()
            .filter_map(|output| match output {
                Output::Checkpoint(step) => Some(*step),
                Output::Result => None,
            })
            .collect();
        if steps.is_empty() {
            continue;
        }
        let InstanceStatus::Cached(manifest) = &statuses[node.index()] else {
            found.missing.push(instance.display_name());
            continue;
        };
        for training_step in steps {
            let Some(digest) = manifest.outputs.get(&format!("checkpoint@{training_step}")) else {
                continue;
            };
            found.stored.push(StoredCheckpoint {
                instance: instance.display_name(),
                coords: instance
                    .coords
                    .iter()
                    .map(|c| (c.axis.clone(), c.value.to_string()))
                    .collect(),
                step: training_step,
                key: manifest.key.clone(),
                digest: digest.clone(),
                path: store_layout::blob_path(session.store.root(), digest),
            });
        }
    }
    found
}
