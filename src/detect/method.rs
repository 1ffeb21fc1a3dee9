//! A `detect` step's method, read from its parameters (defaults as the registry states them).

use serde_json::Value;

use super::boundary::Detection;
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
    /// Reads `{"call": NAME, "args": {...}}`.
    pub fn parse(value: &Value) -> Result<Method, String> {
        let name = value.get("call").and_then(Value::as_str).ok_or("`method` is not a call")?;
        let args = value.get("args");
        let float = |key: &str, default: f64| {
            args.and_then(|a| a.get(key)).and_then(Value::as_f64).unwrap_or(default)
        };
        let count = |key: &str, default: u64| {
            let value = args.and_then(|a| a.get(key)).and_then(Value::as_u64).unwrap_or(default);
            usize::try_from(value.max(1)).unwrap_or(usize::MAX)
        };
        let text = |key: &str| args.and_then(|a| a.get(key)).and_then(Value::as_str);
        match name {
            "critical_points" => Ok(Method::CriticalPoints {
                smoothing: float("smoothing", 0.1),
                axis: if text("axis") == Some("linear") { Axis::Linear } else { Axis::Log },
                plateau: float("plateau", 0.1),
            }),
            "transitions" => Ok(Method::Transitions {
                smoothing: float("smoothing", 0.05),
                axis: if text("axis") == Some("linear") { Axis::Linear } else { Axis::Log },
                threshold: float("threshold", 0.2),
            }),
            "change_points" => Ok(Method::ChangePoints {
                binary_segmentation: text("method") == Some("binseg"),
                penalty: args.and_then(|a| a.get("penalty")).and_then(Value::as_f64),
                min_size: count("min_size", 2),
            }),
            "bocpd" => Ok(Method::Bocpd {
                hazard: float("hazard", 0.05),
                threshold: float("threshold", 0.5),
            }),
            "essential_dynamics" => Ok(Method::EssentialDynamics {
                components: count("components", 3),
                smoothing: float("smoothing", 0.1),
            }),
            other => Err(format!("`{other}` is not a detection method")),
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
    pub fn detect(&self, series: &Series) -> Result<Detection, String> {
        if series.len() < 3 {
            return Err(format!(
                "`{}` needs at least 3 checkpoints to find a change, and the series has {}",
                self.name(),
                series.len()
            ));
        }
        if let Some(bad) = series.values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "the series `{}` is not finite at step {} ({})",
                series.name, series.steps[bad], series.values[bad]
            ));
        }
        Ok(match *self {
            Method::Transitions { smoothing, axis, threshold } => {
                transitions::detect(series, smoothing, axis, threshold)
            }
            Method::CriticalPoints { smoothing, axis, plateau } => {
                critical_points::detect(series, smoothing, axis, plateau)
            }
            Method::ChangePoints { binary_segmentation, penalty, min_size } => {
                change_points::detect(series, binary_segmentation, penalty, min_size)?
            }
            Method::Bocpd { hazard, threshold } => bocpd::detect(series, hazard, threshold),
            Method::EssentialDynamics { components, smoothing } => {
                essential_dynamics::detect(series, components, smoothing)?
            }
        })
    }
}
