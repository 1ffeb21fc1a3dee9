//! A `detect` step's method, read from its parameters: the typed constructor of
//! `devspec_protocol::params` (every argument present, as the planner fills in the registry's
//! defaults), turned into what the detection code takes.

use devspec_protocol::params;
use serde_json::Value;

use super::boundary::Detection;
use super::detect_error::DetectError;
use super::series::Series;
use super::smoothing::Axis;
use super::{bocpd, change_points, critical_points, essential_dynamics, transitions};

#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    CriticalPoints { smoothing: f64, axis: Axis, plateau: f64 },
    Transitions { smoothing: f64, axis: Axis, threshold: f64 },
    ChangePoints { binary_segmentation: bool, penalty: Option<f64>, min_size: usize },
    Bocpd { hazard: f64, threshold: f64 },
    EssentialDynamics { components: usize, smoothing: f64 },
}

impl Method {
    /// Reads `{"call": NAME, "args": {...}}` as the planner resolved it.
    pub fn parse(value: &Value) -> Result<Method, DetectError> {
        let method: params::Method = serde_json::from_value(value.clone())
            .map_err(|err| DetectError::Unreadable(err.to_string()))?;
        Ok(Method::new(&method))
    }

    pub fn new(method: &params::Method) -> Method {
        let axis = |axis: params::Axis| match axis {
            params::Axis::Log => Axis::Log,
            params::Axis::Linear => Axis::Linear,
        };
        // A count below 1 is refused by the checker; clamped all the same, as sizes.
        let count = |value: i64| usize::try_from(value.max(1)).unwrap_or(usize::MAX);
        match method {
            params::Method::CriticalPoints(args) => Method::CriticalPoints {
                smoothing: args.smoothing,
                axis: axis(args.axis),
                plateau: args.plateau,
            },
            params::Method::Transitions(args) => Method::Transitions {
                smoothing: args.smoothing,
                axis: axis(args.axis),
                threshold: args.threshold,
            },
            params::Method::ChangePoints(args) => Method::ChangePoints {
                binary_segmentation: match args.method {
                    params::Segmentation::Pelt => false,
                    params::Segmentation::Binseg => true,
                },
                penalty: match args.penalty {
                    params::Penalty::Value(penalty) => Some(penalty),
                    params::Penalty::Auto => None,
                },
                min_size: count(args.min_size),
            },
            params::Method::Bocpd(args) => {
                Method::Bocpd { hazard: args.hazard, threshold: args.threshold }
            }
            params::Method::EssentialDynamics(args) => Method::EssentialDynamics {
                components: count(args.components),
                smoothing: args.smoothing,
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Method::CriticalPoints { .. } => "critical_points",
            Method::Transitions { .. } => "transitions",
            Method::ChangePoints { .. } => "change_points",
            Method::Bocpd { .. } => "bocpd",
            Method::EssentialDynamics { .. } => "essential_dynamics",
        }
    }

    /// Runs the method on a series of at least three checkpoints.
    pub fn detect(&self, series: &Series) -> Result<Detection, DetectError> {
        if series.len() < 3 {
            return Err(DetectError::TooShort { method: self.name(), len: series.len() });
        }
        if let Some(bad) = series.values.iter().position(|v| !v.is_finite()) {
            return Err(DetectError::NotFinite {
                series: series.name.clone(),
                step: series.steps[bad],
                value: series.values[bad],
            });
        }
        Ok(match *self {
            Method::Transitions { smoothing, axis, threshold } => {
                transitions::detect(series, smoothing, axis, threshold)
            }
            Method::CriticalPoints { smoothing, axis, plateau } => {
                critical_points::detect(series, smoothing, axis, plateau)
            }
            Method::ChangePoints { binary_segmentation, penalty, min_size } => {
                change_points::detect(series, binary_segmentation, penalty, min_size)
            }
            Method::Bocpd { hazard, threshold } => bocpd::detect(series, hazard, threshold),
            Method::EssentialDynamics { components, smoothing } => {
                essential_dynamics::detect(series, components, smoothing)?
            }
        })
    }
}
