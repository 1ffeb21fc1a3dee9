//! Checkpoints by name: [`stored_checkpoints`] finds, for a `train` or `checkpoint` step of a
//! planned spec, the checkpoints the store holds and serves, each as a [`StoredCheckpoint`]
//! (which instance, at which sweep point and training step, which blob). `devspec checkout`
//! lays them out as a folder (`checkout_folder`); the Python module loads one
//! (`s.checkpoint("run", seed=0, step=1000)`), selecting it with a [`Selection`].
//!
//! What is handed out is checked as `show` checks what it shows: the instance's entry must be
//! served (`Store::served`), and each selected checkpoint's blob must hash to its digest
//! (`Store::verify_blob`). A damaged entry or blob is set aside and named in the outcome, never
//! handed out; an instance not run yet is named as missing, so a caller can say "run first".
//!
//! ```no_run
//! # fn f(plan: &devspec::plan::Plan, session: &devspec::ops::Session) {
//! use devspec::ops::checkout::{Selection, stored_checkpoints};
//! let one = Selection { point: vec![("seed".into(), "0".into())], training_step: Some(1000) };
//! let found = stored_checkpoints(plan, session, "run", &one).unwrap();
//! for checkpoint in &found.checkpoints {
//!     println!("{} {}", checkpoint.instance, checkpoint.store_path.display());
//! }
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use devspec_protocol::{StepKind, store_layout};

use super::{DamagedEntry, RowState, Session, step_results};
use crate::failure::Failure;
use crate::plan::{Instance, Plan};
use crate::store::Damage;

/// One checkpoint the store holds and serves, checked against its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The step's name (`run`).
    pub step: String,
    /// The instance's display name (`run[seed=0]`; an imported file's `ckpt@1000`).
    pub instance: String,
    /// The instance's sweep point: each axis with its value's canonical text (`("lr",
    /// "0.001")`), in the instance's order; empty without sweeps.
    pub coords: Vec<(String, String)>,
    /// The training step at which it was taken.
    pub training_step: u64,
    /// The step key of the instance whose output it is.
    pub key: String,
    /// The BLAKE3 digest of its bytes (the blob's name).
    pub digest: String,
    /// The blob file in the store (read-only by intent: never edit it).
    pub store_path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

impl StoredCheckpoint {
    /// Its output's name in the instance's manifest: `checkpoint@1000`.
    pub fn output_name(&self) -> String {
        format!("checkpoint@{}", self.training_step)
    }
}

/// Which checkpoints a caller wants: the instances whose coordinates include every pair of
/// `point` (axis, canonical value text; empty: every instance), and of those the checkpoint at
/// `training_step` (`None`: every checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub point: Vec<(String, String)>,
    pub training_step: Option<u64>,
}

impl Selection {
    /// Every checkpoint of every instance.
    pub fn all() -> Selection {
        Selection::default()
    }

    fn selects(&self, coords: &[(String, String)]) -> bool {
        self.point.iter().all(|wanted| coords.contains(wanted))
    }
}

/// What the store holds of a step's selected checkpoints.
pub struct Checkpoints {
    pub step: String,
    /// `Train` or `Checkpoint`.
    pub kind: StepKind,
    /// Served and checked, in plan order and, within an instance, by training step.
    pub checkpoints: Vec<StoredCheckpoint>,
    /// Selected instances with no stored result yet (display names): run them first.
    pub missing: Vec<String>,
    /// Entries of the step (its records and results, `ops::step_results`) and selected
    /// checkpoints that failed their check: set aside in the store's `damaged/` (the next run
    /// recomputes them), never handed out.
    pub damaged: Vec<DamagedEntry>,
}

/// Why a step's checkpoints cannot be looked up; said before the store is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("the spec has no step `{step}`")]
    UnknownStep { step: String },
    /// An estimate, detect or report step: it stores results, not checkpoints.
    #[error("`{step}` is {article} {kind} step: it stores results, not checkpoints", article = article(kind.name()), kind = kind.name())]
    NotCheckpoints {
        step: String,
        kind: StepKind,
        /// The train and checkpoint steps it reads, directly or not, in spec order.
        sources: Vec<String>,
    },
    #[error("step `{step}` has no axis `{axis}`")]
    UnknownAxis { step: String, axis: String, axes: Vec<String> },
    #[error("step `{step}` has no instance at {point}")]
    NoInstanceAt { step: String, point: String, points: Vec<String> },
    #[error("`{step}`{at} keeps no checkpoint at training step {training_step}", at = if point.is_empty() { String::new() } else { format!(" at {point}") })]
    NoCheckpointAt { step: String, point: String, training_step: u64, available: Vec<u64> },
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

impl CheckoutError {
    /// What to do about it, in the user's words.
    pub fn hint(&self) -> String {
        match self {
            CheckoutError::UnknownStep { .. } => {
                "name a train or checkpoint step of the spec, as written after its kind".to_owned()
            }
            CheckoutError::NotCheckpoints { sources, .. } => match sources.first() {
                Some(first) => format!(
                    "checkpoints belong to train and checkpoint steps: it reads {}; try `devspec \
                     checkout FILE {first}`",
                    quoted(sources)
                ),
                None => "checkpoints belong to train and checkpoint steps; this spec has none"
                    .to_owned(),
            },
            CheckoutError::UnknownAxis { axes, .. } if axes.is_empty() => {
                "the step has no sweep: select no coordinates".to_owned()
            }
            CheckoutError::UnknownAxis { axes, .. } => format!("its axes are {}", quoted(axes)),
            CheckoutError::NoInstanceAt { points, .. } => {
                format!("its points are {}", points.join("; "))
            }
            CheckoutError::NoCheckpointAt { available, .. } => format!(
                "its checkpoints are at training steps {}",
                available.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

impl From<CheckoutError> for Failure {
    fn from(error: CheckoutError) -> Failure {
        let hint = error.hint();
        Failure::bad_input(error.to_string()).with_hint(hint)
    }
}

/// The checkpoints of `step` that `selection` picks and the store serves, checked against
/// their digests; the selected instances not run yet, and the damaged entries found (set aside).
/// Refused before the store is read: a step the spec lacks, a step of another kind than train
/// or checkpoint (the error names the ones it reads), a selection no planned instance or
/// checkpoint matches.
pub fn stored_checkpoints(
    plan: &Plan,
    session: &Session,
    step: &str,
    selection: &Selection,
) -> Result<Checkpoints, CheckoutError> {
    let kind = checkpoint_kind(plan, step)?;
    let plan = plan.restricted_to(&[step.to_owned()]).expect("the step is the plan's");
    check_selection(&plan, step, selection)?;
    let Ok(results) = step_results(&plan, session, step) else {
        return Err(CheckoutError::UnknownStep { step: step.to_owned() });
    };
    let store = &session.store;
    let mut found = Checkpoints {
        step: step.to_owned(),
        kind,
        checkpoints: vec![],
        missing: vec![],
        damaged: results.damaged,
    };
    // `step_results` gives the step's instances in the plan's order, as this does.
    let instances = plan.instances().filter(|instance| instance.step_name == step);
    for (instance, row) in instances.zip(&results.rows) {
        if !selection.selects(&row.coords) {
            continue;
        }
        let wanted: Vec<u64> = instance
            .checkpoint_steps()
            .into_iter()
            .filter(|at| selection.training_step.is_none_or(|wanted| wanted == *at))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let manifest = match &row.state {
            RowState::Done(served) => &served.manifest,
            // Set aside and named by `step_results`.
            RowState::Damaged => continue,
            RowState::NotRun(_) => {
                found.missing.push(row.instance.clone());
                continue;
            }
        };
        // This instance's checkpoints join the outcome only if its record holds them all: a
        // record set aside serves none of them.
        let mut these = Vec::with_capacity(wanted.len());
        let mut record_damaged = false;
        for training_step in wanted {
            let output = format!("checkpoint@{training_step}");
            let Some(digest) = manifest.outputs.get(&output) else {
                let damage = Damage::record(&manifest.key, format!("it records no {output}"));
                found.damaged.push(set_aside(session, &damage, &row.instance));
                record_damaged = true;
                break;
            };
            if let Err(err) = store.verify_blob(digest) {
                let damage = Damage::output(&manifest.key, &output, digest, err.detail());
                found.damaged.push(set_aside(session, &damage, &row.instance));
                continue;
            }
            these.push(StoredCheckpoint {
                step: step.to_owned(),
                instance: row.instance.clone(),
                coords: row.coords.clone(),
                training_step,
                key: manifest.key.clone(),
                digest: digest.clone(),
                store_path: store_layout::blob_path(store.root(), digest),
                bytes: manifest.sizes.get(digest).copied().unwrap_or_default(),
            });
        }
        if !record_damaged {
            found.checkpoints.extend(these);
        }
    }
    Ok(found)
}

/// The step's kind when it keeps checkpoints; else why not.
fn checkpoint_kind(plan: &Plan, step: &str) -> Result<StepKind, CheckoutError> {
    let Some(instance) = plan.instances().find(|instance| instance.step_name == step) else {
        return Err(CheckoutError::UnknownStep { step: step.to_owned() });
    };
    match instance.kind {
        StepKind::Train | StepKind::Checkpoint => Ok(instance.kind),
        StepKind::Estimate | StepKind::Detect | StepKind::Report | StepKind::Test => {
            Err(CheckoutError::NotCheckpoints {
                step: step.to_owned(),
                kind: instance.kind,
                sources: checkpoint_sources(plan, instance.step),
            })
        }
    }
}

/// The train and checkpoint steps that step `index` reads, directly or through others, in
/// the spec's order.
fn checkpoint_sources(plan: &Plan, index: usize) -> Vec<String> {
    let steps: BTreeMap<usize, (&str, StepKind)> = plan
        .instances()
        .map(|instance| (instance.step, (instance.step_name.as_str(), instance.kind)))
        .collect();
    let mut read = BTreeSet::new();
    let mut pending = plan.step_inputs.get(index).cloned().unwrap_or_default();
    while let Some(input) = pending.pop() {
        if read.insert(input) {
            pending.extend(plan.step_inputs.get(input).into_iter().flatten());
        }
    }
    read.into_iter()
        .filter_map(|input| {
            let (name, kind) = steps.get(&input)?;
            match kind {
                StepKind::Train | StepKind::Checkpoint => Some((*name).to_owned()),
                StepKind::Estimate | StepKind::Detect | StepKind::Report | StepKind::Test => None,
            }
        })
        .collect()
}

/// Refuses a selection that names an axis the step lacks, a point no instance has, or a
/// training step no selected instance keeps a checkpoint at.
fn check_selection(plan: &Plan, step: &str, selection: &Selection) -> Result<(), CheckoutError> {
    let instances: Vec<&Instance> =
        plan.instances().filter(|instance| instance.step_name == step).collect();
    let axes: Vec<String> = instances
        .first()
        .map(|instance| instance.coords.iter().map(|c| c.axis.clone()).collect())
        .unwrap_or_default();
    if let Some((axis, _)) = selection.point.iter().find(|(axis, _)| !axes.contains(axis)) {
        return Err(CheckoutError::UnknownAxis { step: step.to_owned(), axis: axis.clone(), axes });
    }
    let label = |pairs: &[(String, String)]| {
        pairs.iter().map(|(axis, value)| format!("{axis}={value}")).collect::<Vec<_>>().join(",")
    };
    let selected: Vec<&Instance> = instances
        .iter()
        .copied()
        .filter(|instance| selection.selects(&coordinates(instance)))
        .collect();
    if selected.is_empty() {
        let points: BTreeSet<String> = instances.iter().map(|i| i.point_label()).collect();
        return Err(CheckoutError::NoInstanceAt {
            step: step.to_owned(),
            point: label(&selection.point),
            points: points.into_iter().collect(),
        });
    }
    if let Some(wanted) = selection.training_step {
        let available: BTreeSet<u64> = selected.iter().flat_map(|i| i.checkpoint_steps()).collect();
        if !available.contains(&wanted) {
            return Err(CheckoutError::NoCheckpointAt {
                step: step.to_owned(),
                point: label(&selection.point),
                training_step: wanted,
                available: available.into_iter().collect(),
            });
        }
    }
    Ok(())
}

/// An instance's coordinates as (axis, canonical value text).
fn coordinates(instance: &Instance) -> Vec<(String, String)> {
    instance.coords.iter().map(|c| (c.axis.clone(), c.value.to_string())).collect()
}

/// Sets a damaged part aside, as `step_results` does (a failure to move it changes nothing:
/// it is not served either way).
fn set_aside(session: &Session, damage: &Damage, instance: &str) -> DamagedEntry {
    let _ = session.store.set_aside(damage);
    DamagedEntry { what: damage.what(instance), detail: damage.detail.clone() }
}

#[cfg(test)]
mod tests {
    use devspec_protocol::StepKind;

    use super::{CheckoutError, Selection, check_selection, checkpoint_kind};
    use crate::plan::Plan;

    const SPEC: &str = "import std.tms\n\
        train run {\n  model = tms.model(features = 5, hidden = 2)\n  \
        data = tms.data(features = 5, sparsity = 0.9, samples = 64)\n  optimizer = sgd(lr = 0.1)\n  \
        batch_size = 16\n  steps = 100\n  seed = sweep([0, 1])\n  checkpoints = [10, 100]\n}\n\
        estimate llc on run {\n  observable = llc(sampler = sgld(lr = 1e-3, localization = 100))\n}\n\
        detect stages on llc { method = critical_points(smoothing = 0.1) }\n";

    fn plan() -> Plan {
        let mut sources = crate::source::SourceMap::new();
        let program = crate::compile::check_bytes(
            "t.dev",
            None,
            SPEC.as_bytes(),
            &std::env::temp_dir(),
            &[],
            &mut sources,
        )
        .unwrap_or_else(|errors| panic!("{errors:?}"));
        crate::plan::plan(&program).unwrap()
    }

    fn select(point: &[(&str, &str)], training_step: Option<u64>) -> Selection {
        let point = point.iter().map(|(a, v)| ((*a).to_owned(), (*v).to_owned())).collect();
        Selection { point, training_step }
    }

    #[test]
    fn steps_without_checkpoints_are_refused_naming_the_steps_they_read() {
        let plan = plan();
        assert_eq!(checkpoint_kind(&plan, "run"), Ok(StepKind::Train));
        let refused = checkpoint_kind(&plan, "stages").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "`stages` is a detect step: it stores results, not checkpoints"
        );
        assert!(
            refused.hint().contains("it reads `run`; try `devspec checkout FILE run`"),
            "{}",
            refused.hint()
        );
        let estimate = checkpoint_kind(&plan, "llc").unwrap_err();
        assert!(estimate.to_string().starts_with("`llc` is an estimate step"), "{estimate}");
        assert_eq!(
            checkpoint_kind(&plan, "nope"),
            Err(CheckoutError::UnknownStep { step: "nope".into() })
        );
    }

    #[test]
    fn a_selection_must_name_a_planned_point_and_checkpoint() {
        let plan = plan();
        assert_eq!(check_selection(&plan, "run", &Selection::all()), Ok(()));
        assert_eq!(check_selection(&plan, "run", &select(&[("seed", "1")], Some(100))), Ok(()));
        let axis = check_selection(&plan, "run", &select(&[("lr", "0.1")], None)).unwrap_err();
        assert_eq!(axis.to_string(), "step `run` has no axis `lr`");
        assert_eq!(axis.hint(), "its axes are `seed`");
        let point = check_selection(&plan, "run", &select(&[("seed", "7")], None)).unwrap_err();
        assert_eq!(point.to_string(), "step `run` has no instance at seed=7");
        assert_eq!(point.hint(), "its points are seed=0; seed=1");
        let step = check_selection(&plan, "run", &select(&[("seed", "0")], Some(50))).unwrap_err();
        assert_eq!(step.to_string(), "`run` at seed=0 keeps no checkpoint at training step 50");
        assert_eq!(step.hint(), "its checkpoints are at training steps 10, 100");
    }
}
