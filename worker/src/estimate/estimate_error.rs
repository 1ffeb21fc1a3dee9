//! Why an estimate failed, by cause: the step's settings do not fit its model or data (the
//! spec's to change), the chains diverged (the sampler's settings), or libtorch refused an
//! operation. The worker reports each as the step's failure, in these words.

use crate::train::spec::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// The observable or its settings do not fit the model, the data or the checkpoint.
    #[error("{0}")]
    Unfit(String),
    /// A parameter could not be read as its registry declaration says.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// More chains diverged than the estimate may leave out.
    #[error(
        "{diverged} of {chains} chains diverged (NaN or infinite loss), more than the {allowed} \
         allowed; lower the sampler's lr, or raise localization"
    )]
    Diverged { diverged: usize, chains: usize, allowed: usize },
    /// libtorch refused an operation (a shape, a device, memory).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl EstimateError {
    pub fn unfit(message: impl Into<String>) -> EstimateError {
        EstimateError::Unfit(message.into())
    }
}

/// Every cause is the step's failure on the wire, in these words.
impl From<EstimateError> for devspec_protocol::WorkerError {
    fn from(error: EstimateError) -> devspec_protocol::WorkerError {
        devspec_protocol::WorkerError::step_failed(error.to_string())
    }
}
