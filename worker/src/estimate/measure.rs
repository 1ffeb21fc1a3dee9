//! The observables measured at a checkpoint without sampling: the loss over a data set, the
//! weights' norm, the loss's gradient norm, the trace of the loss's Hessian (Hutchinson's estimator), and the model's
//! outputs on a fixed probe set (for essential dynamics).

use devspec_protocol::results::Observed;
use rand::Rng;
use tch::{Device, Kind, Tensor};

use super::EstimateError;
use super::llc::upload;
use super::spec::{EstimateSpec, NamePatterns, Observable};
use super::study_observables;
use crate::train::data::DataSpec;
use crate::train::rng::{Purpose, stream};

/// Samples a fresh-data observable evaluates on (drawn once, from its own stream).
const FRESH_SAMPLES: usize = 4096;

/// Measures `spec`'s observable at the checkpoint `anchor` (`[1, ...]` tensors in the model's
/// order).
pub fn measure(spec: &EstimateSpec, anchor: &[Tensor]) -> Result<Observed, EstimateError> {
    let params: Vec<Tensor> =
        anchor.iter().map(|p| p.to_kind(spec.kind).to_device(spec.device)).collect();
    Ok(match &spec.observable {
        Observable::Loss(own) => {
            let (x, y) = samples(spec, own.as_ref(), usize::MAX)?;
            let loss = tch::no_grad(|| {
                spec.loss.per_member(&spec.model.forward(&params, &x), &y, Kind::Double)
            });
            Observed::Loss { loss: scalar(&loss)? }
        }
        Observable::WeightNorm(restrict) => {
            Observed::WeightNorm { weight_norm: weight_norm(spec, &params, restrict)? }
        }
        Observable::GradientNorm(own) => {
            Observed::GradientNorm { gradient_norm: gradient_norm(spec, &params, own.as_ref())? }
        }
        Observable::HessianTrace { samples: probes, data } => {
            let (trace, se) = hessian_trace(spec, &params, data.as_ref(), *probes)?;
            Observed::HessianTrace { hessian_trace: trace, hessian_trace_se: se, probes: *probes }
        }
        Observable::Outputs { samples: count, probe } => {
            let (x, _) = samples(spec, probe.as_ref(), *count)?;
            let out = tch::no_grad(|| spec.model.forward(&params, &x)).squeeze_dim(0);
            let shape = out.size();
            let values = Vec::<f64>::try_from(
                out.to_kind(Kind::Double).to_device(Device::Cpu).flatten(0, -1),
            )
            .map_err(EstimateError::from)?;
            Observed::Outputs { shape, outputs: values }
        }
        Observable::Accuracy(own) => {
            Observed::Accuracy(study_observables::accuracy(spec, &params, own.as_ref())?)
        }
        Observable::InductionScore(probe) => Observed::InductionScore(
            study_observables::induction_score(spec, &params, probe.as_ref())?,
        ),
        Observable::TmsGeometry => {
            Observed::TmsGeometry(study_observables::tms_geometry(spec, &params)?)
        }
        Observable::IclBaselines => {
            Observed::IclBaselines(study_observables::icl_baselines(spec, &params)?)
        }
        Observable::Llc(_) => return Err(EstimateError::unfit("the LLC is sampled, not measured")),
    })
}

/// At most `limit` samples of an observable's data (its own, else the step's), as `[1, n, dim]`
/// tensors: the pool's first rows, or for fresh data a fixed draw.
fn samples(
    spec: &EstimateSpec,
    own: Option<&DataSpec>,
    limit: usize,
) -> Result<(Tensor, Tensor), EstimateError> {
    let (data, fraction) = spec.data_for(own)?;
    let samples = match data.pools(fraction).0 {
        Some(pool) if pool.n > limit => data.draw(limit, 0),
        Some(pool) => pool,
        None => data.draw(limit.min(FRESH_SAMPLES), u64::MAX),
    };
    Ok(upload(&samples, data, spec))
}

fn scalar(value: &Tensor) -> Result<f64, EstimateError> {
    f64::try_from(value.to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1]).get(0))
        .map_err(EstimateError::from)
}

fn weight_norm(
    spec: &EstimateSpec,
    params: &[Tensor],
    restrict: &NamePatterns,
) -> Result<f64, EstimateError> {
    let names: Vec<String> = spec.model.params().into_iter().map(|p| p.name).collect();
    let mut sum = 0.0;
    for (name, param) in names.iter().zip(params) {
        if restrict.matches(name) {
            sum += scalar(&param.to_kind(Kind::Double).square().sum(Kind::Double))?;
        }
    }
    Ok(sum.sqrt())
}

/// The Euclidean norm of the gradient of the loss over the data at the checkpoint, over every
/// parameter, accumulated in f64.
fn gradient_norm(
    spec: &EstimateSpec,
    params: &[Tensor],
    own: Option<&DataSpec>,
) -> Result<f64, EstimateError> {
    let (x, y) = samples(spec, own, usize::MAX)?;
    let ws: Vec<Tensor> = params.iter().map(|p| p.detach().set_requires_grad(true)).collect();
    let loss = spec.loss.per_member(&spec.model.forward(&ws, &x), &y, spec.kind);
    let grads = Tensor::run_backward(&[loss.sum(spec.kind)], &ws, false, false);
    let mut sum = 0.0;
    for g in &grads {
        sum += scalar(&g.to_kind(Kind::Double).square().sum(Kind::Double))?;
    }
    Ok(sum.sqrt())
}

/// Hutchinson's estimate of tr(H), H the Hessian of the loss over the data at the checkpoint:
/// the mean of vᵀ H v over random sign vectors v. All probes are one batched computation: the
/// checkpoint repeated once per probe as members, each member's Hessian-vector product by a
/// second backward pass. Returns the mean and its standard error.
fn hessian_trace(
    spec: &EstimateSpec,
    params: &[Tensor],
    own: Option<&DataSpec>,
    probes: usize,
) -> Result<(f64, f64), EstimateError> {
    let (x, y) = samples(spec, own, usize::MAX)?;
    let members = probes as i64;
    let ws: Vec<Tensor> = params
        .iter()
        .map(|p| p.repeat_interleave_self_int(members, 0, None).detach().set_requires_grad(true))
        .collect();
    let mut rng = stream(spec.seed, Purpose::Probes, 0);
    let vs: Vec<Tensor> = ws
        .iter()
        .map(|w| {
            let signs: Vec<f64> =
                (0..w.numel()).map(|_| if rng.r#gen::<bool>() { 1.0 } else { -1.0 }).collect();
            Tensor::from_slice(&signs).reshape(w.size()).to_kind(spec.kind).to_device(spec.device)
        })
        .collect();
    let expand = |t: &Tensor| t.expand([members, -1, -1], false);
    let losses =
        spec.loss.per_member(&spec.model.forward(&ws, &expand(&x)), &expand(&y), spec.kind);
    let grads = Tensor::run_backward(&[losses.sum(spec.kind)], &ws, true, true);
    let mut dot = Tensor::zeros([], (spec.kind, spec.device));
    for (g, v) in grads.iter().zip(&vs) {
        dot += (g * v).sum(spec.kind);
    }
    let hvs = Tensor::run_backward(&[dot], &ws, false, false);
    let mut quadratic = Tensor::zeros([members], (Kind::Double, spec.device));
    for (hv, v) in hvs.iter().zip(&vs) {
        quadratic += (hv * v).to_kind(Kind::Double).reshape([members, -1]).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Double,
        );
    }
    let values =
        Vec::<f64>::try_from(quadratic.to_device(Device::Cpu)).map_err(EstimateError::from)?;
    let mean = super::diagnostics::mean(&values);
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
    } else {
        0.0
    };
    Ok((mean, sd / (values.len() as f64).sqrt()))
}
