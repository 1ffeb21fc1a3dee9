//! What the worker makes of a step's typed parameters (`devspec_protocol::params`) beyond
//! reading them: the error a parameter the worker cannot use is reported with, and the tch
//! forms of `device` and `dtype`.

use devspec_protocol::params::{Device, Dtype};

/// A parameter the worker cannot use (a teacher whose rank its widths cannot hold, a model
/// that does not fit its data): which one, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// A step's `device`, as the executor resolved it.
pub fn device(device: Device) -> tch::Device {
    match device {
        Device::Cpu => tch::Device::Cpu,
        Device::Cuda => tch::Device::Cuda(0),
        Device::CudaIndex(index) => tch::Device::Cuda(index),
    }
}

/// A step's `dtype`; an estimate's is absent when the step it is on has none (a `checkpoint`
/// step), and is then the dtype of the checkpoints such a step writes, single precision.
pub fn dtype(dtype: Option<Dtype>) -> tch::Kind {
    match dtype {
        Some(Dtype::F32) | None => tch::Kind::Float,
        Some(Dtype::F64) => tch::Kind::Double,
    }
}
