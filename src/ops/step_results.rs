//! One step's results as the store serves them, an instance each: what `show`, the Arrow and
//! Parquet tables and the Python module read. What is served is checked first
//! (`Store::served`: its result against its digest, its numbers against its result); a damaged
//! entry is set aside and named, never served.

use devspec_protocol::StepKind;

use super::Session;
use crate::exec::{InstanceStatus, survey};
use crate::failure::Failure;
use crate::plan::{Plan, UnknownStep};
use crate::store::Served;

/// One instance of the step.
pub struct StepRow {
    /// Its display name: `llc[seed=0]@1200`.
    pub instance: String,
    pub kind: StepKind,
    /// Its sweep point: (axis, the value's canonical text), inherited axes first.
    pub coords: Vec<(String, String)>,
    /// The training step an estimate measures.
    pub checkpoint: Option<i64>,
    pub state: RowState,
}

/// Where an instance stands.
pub enum RowState {
    /// Stored and checked: its record and result bytes.
    Done(Box<Served>),
    /// Its stored entry failed its check and was set aside: the next run recomputes it.
    Damaged,
    /// Not stored: `will run` or `waits for inputs` (the survey's label).
    NotRun(&'static str),
}

impl StepRow {
    /// `done`, `damaged`, `will run` or `waits for inputs`.
    pub fn status(&self) -> &'static str {
        match &self.state {
            RowState::Done(_) => "done",
            RowState::Damaged => "damaged",
            RowState::NotRun(label) => label,
        }
    }

    pub fn served(&self) -> Option<&Served> {
        match &self.state {
            RowState::Done(served) => Some(served),
            RowState::Damaged | RowState::NotRun(_) => None,
        }
    }

    /// The bytes of its checked `result` blob, when it is done and has one.
    pub fn result(&self) -> Option<&[u8]> {
        self.served().and_then(|served| served.result.as_deref())
    }
}

/// A stored entry found damaged while reading (and set aside).
pub struct DamagedEntry {
    /// `the result of llc[seed=0]@1200`.
    pub what: String,
    pub detail: String,
}

impl std::fmt::Display for DamagedEntry {
    /// What a reader is told: `store: the result of llc[seed=0]@1200 is damaged (...): set
    /// aside; `devspec run` recomputes it`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "store: {} is damaged ({}): set aside; `devspec run` recomputes it",
            self.what, self.detail
        )
    }
}

pub struct StepResults {
    pub step: String,
    pub kind: StepKind,
    /// In the plan's order.
    pub rows: Vec<StepRow>,
    pub damaged: Vec<DamagedEntry>,
}

/// The kind of the plan's step `step`, or the refusal of a step the spec does not have, with
/// the steps it has (checked before anything reads the store; `show`, the tables, Python).
pub fn step_kind(plan: &Plan, step: &str) -> Result<StepKind, Failure> {
    plan.instances().find(|i| i.step_name == step).map(|i| i.kind).ok_or_else(|| {
        let mut steps: Vec<&str> = Vec::new();
        for instance in plan.instances() {
            if !steps.contains(&instance.step_name.as_str()) {
                steps.push(&instance.step_name);
            }
        }
        Failure::bad_input(UnknownStep(step.to_owned()).to_string())
            .with_hint(format!("the spec's steps: {}", steps.join(", ")))
    })
}

/// The results of `step`, an instance a row, in the plan's order.
pub fn step_results(plan: &Plan, session: &Session, step: &str) -> Result<StepResults, Failure> {
    let kind = step_kind(plan, step)?;
    let statuses = survey(plan, &session.store, &session.options);
    let mut damaged = Vec::new();
    let rows = plan
        .order
        .iter()
        .filter(|&&node| plan.graph[node].step_name == step)
        .map(|&node| {
            let instance = &plan.graph[node];
            let name = instance.display_name();
            let state = match &statuses[node.index()] {
                InstanceStatus::Cached(manifest) => match session.store.served(&manifest.key) {
                    Ok(Some(served)) => RowState::Done(Box::new(served)),
                    // Gone between the survey and the read (a concurrent gc): not stored.
                    Ok(None) => RowState::NotRun("will run"),
                    Err(damage) => {
                        let _ = session.store.set_aside(&damage);
                        damaged.push(DamagedEntry {
                            what: damage.what(&name),
                            detail: damage.detail.clone(),
                        });
                        RowState::Damaged
                    }
                },
                other => RowState::NotRun(other.label()),
            };
            StepRow {
                instance: name,
                kind: instance.kind,
                coords: instance
                    .coords
                    .iter()
                    .map(|c| (c.axis.clone(), c.value.to_string()))
                    .collect(),
                checkpoint: instance.checkpoint,
                state,
            }
        })
        .collect();
    Ok(StepResults { step: step.to_owned(), kind, rows, damaged })
}
