//! The series each step produces for a `detect` step to search (`series = ...`): a training
//! run's loss series, and per observable the numbers its result holds. Declared here once, read
//! by the checker (which refuses any other name, with the nearest one) and by the docs.

use devspec_protocol::StepKind;

/// What a training run records at its checkpoints.
pub const TRAIN: &[&str] = &["train_loss", "test_loss"];

/// The series a step kind produces itself (an `estimate`'s are its observable's).
pub fn of_step_kind(kind: StepKind) -> Option<&'static [&'static str]> {
    match kind {
        StepKind::Train => Some(TRAIN),
        StepKind::Checkpoint
        | StepKind::Estimate
        | StepKind::Detect
        | StepKind::Report
        | StepKind::Test => None,
    }
}

/// Per observable (by constructor name), the numbers of its result that a detection can read,
/// its default first. A test checks that every observable of the registry has an entry.
pub const OBSERVABLES: &[(&str, &[&str])] = &[
    (
        "llc",
        &["llc_mean", "llc_std", "llc_se", "init_loss", "nbeta", "acceptance_mean", "r_hat", "ess"],
    ),
    ("loss", &["loss"]),
    ("weight_norm", &["weight_norm"]),
    ("gradient_norm", &["gradient_norm"]),
    ("hessian_trace", &["hessian_trace", "hessian_trace_se"]),
    // Essential dynamics reads the outputs themselves, not a number.
    ("outputs", &["outputs"]),
    ("accuracy", &["accuracy", "test_accuracy"]),
    ("induction_score", &["induction_score"]),
    ("tms.geometry", &["features"]),
    ("icl.baselines", &["model_loss", "ridge_loss", "dmmse_loss", "noise_var"]),
];

/// The series an observable's results hold, if it is one.
pub fn of_observable(name: &str) -> Option<&'static [&'static str]> {
    OBSERVABLES.iter().find(|(observable, _)| *observable == name).map(|(_, series)| *series)
}
