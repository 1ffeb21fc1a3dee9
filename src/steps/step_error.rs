//! Why a step `devspec` computes itself failed, by cause, so the run can tell a step whose
//! inputs do not fit it (the step's failure) from a store it cannot read (the machine's).

use crate::failure::FailureClass;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The step's inputs or parameters do not fit it (no inputs, a series no input records).
    #[error("{0}")]
    Inputs(String),
    /// The detection method failed on the series.
    #[error(transparent)]
    Method(#[from] crate::detect::DetectError),
    /// An input's result is not what its kind records.
    #[error("the result of {instance} is not readable: {detail}")]
    Unreadable { instance: String, detail: String },
    /// An input's result could not be read from the store.
    #[error("cannot read the result of {instance} from the store: {source}")]
    Store { instance: String, source: crate::store::BlobError },
    #[error("cannot encode the result: {0}")]
    Encode(#[from] serde_json::Error),
}

impl StepError {
    /// Whose fault it is: the machine's when the store cannot be read, else the step's.
    pub fn class(&self) -> FailureClass {
        match self {
            StepError::Store { source: crate::store::BlobError::Io { .. }, .. } => {
                FailureClass::Environment
            }
            // The planner resolved a method its own registry declaration does not read.
            StepError::Method(crate::detect::DetectError::Unreadable(_)) => FailureClass::Internal,
            // A missing or damaged input blob is the store's damage, recomputed by a rerun.
            StepError::Store { .. }
            | StepError::Inputs(_)
            | StepError::Method(_)
            | StepError::Unreadable { .. }
            | StepError::Encode(_) => FailureClass::StepFailed,
        }
    }
}
