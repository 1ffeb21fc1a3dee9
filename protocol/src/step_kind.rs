//! The kinds of step a spec can declare, named once for `devspec` (registry, planner,
//! scheduler, store) and its worker, so every place that treats kinds differently matches them
//! exhaustively: adding a kind fails to compile until each such place says what it does.

use serde::{Deserialize, Serialize};

/// A step kind, written on the wire and in specs as its snake-case name (`train`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Trains a model, writing its checkpoints as it goes (worker).
    Train,
    /// Imports checkpoints trained elsewhere (worker).
    Checkpoint,
    /// Measures an observable at checkpoints (worker).
    Estimate,
    /// Finds stage boundaries in a series (devspec).
    Detect,
    /// Draws a report (devspec).
    Report,
    /// The executor's own test fixture: accepted by the parser, never offered to users.
    Test,
}

impl StepKind {
    /// Every kind, in the order the docs present them.
    pub const ALL: [StepKind; 6] = [
        StepKind::Train,
        StepKind::Checkpoint,
        StepKind::Estimate,
        StepKind::Detect,
        StepKind::Report,
        StepKind::Test,
    ];

    /// The kind's name as written in specs and on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            StepKind::Train => "train",
            StepKind::Checkpoint => "checkpoint",
            StepKind::Estimate => "estimate",
            StepKind::Detect => "detect",
            StepKind::Report => "report",
            StepKind::Test => "test",
        }
    }

    /// The kind named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether a worker runs it (it needs libtorch), rather than `devspec` itself.
    pub const fn runs_in_worker(self) -> bool {
        match self {
            StepKind::Train | StepKind::Checkpoint | StepKind::Estimate | StepKind::Test => true,
            StepKind::Detect | StepKind::Report => false,
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_written_on_the_wire_as_its_name_and_read_back() {
        for kind in StepKind::ALL {
            let wire = serde_json::to_string(&kind).unwrap();
            assert_eq!(wire, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<StepKind>(&wire).unwrap(), kind);
            assert_eq!(StepKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(StepKind::from_name("trian"), None);
    }
}
