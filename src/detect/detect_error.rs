//! Why a detection method could not search a series: the series it was given (too short, not
//! finite, outputs of different probes), so a detect step fails with it rather than report
//! boundaries it cannot stand behind; or a method the planner resolved that its registry
//! declaration does not read (devspec's bug).

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectError {
    /// The planner resolved `method` to something its registry declaration does not read.
    #[error("`method` does not fit its registry declaration: {0}")]
    Unreadable(String),
    #[error("`{method}` needs at least 3 checkpoints to find a change, and the series has {len}")]
    TooShort { method: &'static str, len: usize },
    #[error("the series `{series}` is not finite at step {step} ({value})")]
    NotFinite { series: String, step: i64, value: f64 },
    #[error("`essential_dynamics` reads an `outputs(probe)` estimate's outputs")]
    NoOutputs,
    #[error("the checkpoints' outputs differ in size: one probe set for all")]
    UnequalOutputs,
    #[error("the outputs' SVD failed")]
    Decomposition,
}
