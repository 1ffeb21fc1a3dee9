//! The observables of the literature's studies, measured at a checkpoint without sampling:
//! accuracy (grokking is defined by it), the induction score of each attention head, the
//! geometry of a toy model of superposition, and the baselines of in-context regression.

use tch::{Device, Kind, Tensor};

use super::EstimateError;
use super::llc::upload;
use super::spec::EstimateSpec;
use crate::train::data::{DataSpec, Samples, Size};
use crate::train::model::Arch;
use devspec_protocol::results::estimate::{
    Accuracy, IclBaselines, InductionScore, PerPosition, TmsGeometry,
};

/// Scored positions the observables on fresh data evaluate (drawn once, from a fixed stream).
const FRESH_PREDICTIONS: usize = 8192;

/// A norm above which a toy model's feature counts as represented: a represented feature's
/// column has norm near 1 (it is reconstructed), an ignored one near 0.
const REPRESENTED_NORM: f64 = 0.5;

/// The training samples and the held-out ones of `data` (a fixed draw for fresh data).
fn train_and_test(data: &DataSpec, fraction: f64) -> (Samples, Option<Samples>) {
    match data.size {
        Size::Pool(_) => {
            let (train, test) = data.pools(fraction);
            (train.expect("a pool"), test)
        }
        Size::Fresh => (data.draw(data.rows_for_predictions(FRESH_PREDICTIONS), u64::MAX), None),
    }
}

/// The fraction of scored predictions whose largest output is the target class, on the
/// training data and on the held-out data when there is some.
pub fn accuracy(
    spec: &EstimateSpec,
    params: &[Tensor],
    own: Option<&DataSpec>,
) -> Result<Accuracy, EstimateError> {
    let (data, fraction) = spec.data_for(own)?;
    if data.classes().is_none() {
        return Err(EstimateError::unfit(
            "`accuracy` needs data with class labels (it compares the most likely class \
                    with the target); use `loss` for target values",
        ));
    }
    let of = |samples: &Samples| -> Result<f64, EstimateError> {
        let (x, y) = upload(samples, data, spec);
        let out = tch::no_grad(|| spec.model.forward(params, &x));
        let (out, y) = spec.loss.aligned(&out, &y);
        let right = out.argmax(2, true).eq_tensor(&y).to_kind(Kind::Double).mean(Kind::Double);
        f64::try_from(right.to_device(Device::Cpu)).map_err(EstimateError::from)
    };
    let (train, test) = train_and_test(data, fraction);
    let mut result = Accuracy {
        accuracy: of(&train)?,
        samples: train.n,
        test_accuracy: None,
        test_samples: None,
    };
    if let Some(test) = test.filter(|t| t.n > 0) {
        result.test_accuracy = Some(of(&test)?);
        result.test_samples = Some(test.n);
    }
    Ok(result)
}

/// Per attention head, the mean attention from each position whose token occurred before to
/// the position just after that token's previous occurrence (where an induction head looks),
/// over the probe's sequences. The headline is the largest head's score.
pub fn induction_score(
    spec: &EstimateSpec,
    params: &[Tensor],
    probe: Option<&DataSpec>,
) -> Result<InductionScore, EstimateError> {
    let (data, _) = spec.data_for(probe)?;
    let Some(transformer) = spec.model.transformer() else {
        return Err(EstimateError::unfit(
            "`induction_score` reads attention patterns: the model must be a \
                    `transformer.model`",
        ));
    };
    if data.classes().is_none() || data.sequence().is_none() {
        return Err(EstimateError::unfit(
            "`induction_score` needs token sequences as its probe (`induction.data`)",
        ));
    }
    let rows = data.rows_for_predictions(FRESH_PREDICTIONS);
    let samples = data.draw(rows, u64::MAX);
    let positions = samples.inputs.len() / samples.n;
    // target[s][i][j] = 1 where j is just after the previous occurrence of sequence s's token i.
    let mut target = vec![0.0f64; samples.n * positions * positions];
    let mut counted = 0usize;
    for (s, row) in samples.inputs.chunks(positions).enumerate() {
        // Token ids are whole numbers stored as f64: exact as integers.
        let row: Vec<i64> = row.iter().map(|&token| token as i64).collect();
        for i in 1..positions {
            if let Some(j) = (0..i).rev().find(|&j| row[j] == row[i]) {
                target[(s * positions + i) * positions + j + 1] = 1.0;
                counted += 1;
            }
        }
    }
    if counted == 0 {
        return Err(EstimateError::unfit("no token of the probe's sequences occurs twice"));
    }
    let (x, _) = upload(&samples, data, spec);
    let (_, patterns) = tch::no_grad(|| transformer.forward_with_patterns(params, &x));
    let p = positions as i64;
    let target =
        Tensor::from_slice(&target).view([1, samples.n as i64, 1, p, p]).to_device(spec.device);
    let mut heads: Vec<Vec<f64>> = Vec::new();
    for pattern in &patterns {
        let per_head = (pattern.to_kind(Kind::Double) * &target).sum_dim_intlist(
            [0i64, 1, 3, 4].as_slice(),
            false,
            Kind::Double,
        ) / counted as f64;
        heads.push(
            Vec::<f64>::try_from(per_head.to_device(Device::Cpu)).map_err(EstimateError::from)?,
        );
    }
    let (mut best, mut at) = (f64::NEG_INFINITY, (0, 0));
    for (layer, scores) in heads.iter().enumerate() {
        for (head, &score) in scores.iter().enumerate() {
            if score > best {
                (best, at) = (score, (layer, head));
            }
        }
    }
    Ok(InductionScore {
        induction_score: best,
        best_head: [at.0, at.1],
        heads,
        positions_scored: counted,
    })
}

/// For a toy model of superposition: each feature's column norm in `W`, how many features are
/// represented (norm above [`REPRESENTED_NORM`]), and with two hidden dimensions the angles
/// between neighbouring represented directions (a k-gon has k angles of 360/k degrees).
pub fn tms_geometry(spec: &EstimateSpec, params: &[Tensor]) -> Result<TmsGeometry, EstimateError> {
    let Arch::Tms { features, hidden, .. } = spec.model.arch else {
        return Err(EstimateError::unfit(
            "`tms.geometry` measures a toy model of superposition (`tms.model`)",
        ));
    };
    let w =
        Vec::<f64>::try_from(params[0].to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1]))
            .map_err(EstimateError::from)?;
    let (c, m) = (features as usize, hidden as usize);
    let column = |i: usize| -> Vec<f64> { (0..m).map(|r| w[r * c + i]).collect() };
    let norms: Vec<f64> =
        (0..c).map(|i| column(i).iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    let represented: Vec<usize> = (0..c).filter(|&i| norms[i] > REPRESENTED_NORM).collect();
    let mut result = TmsGeometry {
        headline: "features".into(),
        features: represented.len(),
        norms,
        represented,
        directions: None,
        angles: None,
    };
    let represented = &result.represented;
    if m == 2 && represented.len() > 1 {
        let mut directions: Vec<f64> = represented
            .iter()
            .map(|&i| {
                let v = column(i);
                v[1].atan2(v[0]).to_degrees().rem_euclid(360.0)
            })
            .collect();
        directions.sort_by(f64::total_cmp);
        let angles: Vec<f64> = directions
            .iter()
            .enumerate()
            .map(|(k, &a)| (directions[(k + 1) % directions.len()] - a).rem_euclid(360.0))
            .collect();
        result.directions = Some(directions);
        result.angles = Some(angles);
    }
    Ok(result)
}

/// For in-context regression: on one fixed set of sequences, the mean squared error at each
/// position of the model, of ridge regression on the pairs before it (lambda = sigma^2, the
/// posterior mean under the Gaussian task prior) and, for a finite task set, of the posterior
/// mean over that set (dMMSE). Each is a mean over positions; the per-position curves are kept.
pub fn icl_baselines(
    spec: &EstimateSpec,
    params: &[Tensor],
) -> Result<IclBaselines, EstimateError> {
    let (data, _) = spec.data_for(None)?;
    let Some(icl) = data.icl() else {
        return Err(EstimateError::unfit(
            "`icl.baselines` compares against in-context regression: the step's data \
                    must be `icl.regression`",
        ));
    };
    let samples = data.draw(data.rows_for_predictions(FRESH_PREDICTIONS), u64::MAX);
    let (sequences, pairs, dims) = (samples.n as i64, icl.context as i64, icl.dims as i64);
    let mut xs = Vec::with_capacity(icl.input_dim() * samples.n);
    let mut ys = Vec::with_capacity(icl.context * samples.n);
    for row in samples.inputs.chunks(icl.input_dim()) {
        let (inputs, labels) = icl.pairs(row);
        xs.extend(inputs);
        ys.extend(labels);
    }
    let x = Tensor::from_slice(&xs).view([sequences, pairs, dims]);
    let y = Tensor::from_slice(&ys).view([sequences, pairs]);
    let noise = icl.noise_var.max(1e-8);
    let per_position = |predictions: &Tensor| -> Result<Vec<f64>, EstimateError> {
        let errors = (predictions - &y).square().mean_dim([0i64].as_slice(), false, Kind::Double);
        Vec::<f64>::try_from(errors).map_err(EstimateError::from)
    };
    // Ridge: the prediction at position j uses the pairs before it (none at j = 0: predicts 0).
    let eye = Tensor::eye(dims, (Kind::Double, Device::Cpu));
    let mut ridge = Vec::with_capacity(icl.context);
    for j in 0..pairs {
        let (seen_x, seen_y) = (x.narrow(1, 0, j), y.narrow(1, 0, j));
        let gram = seen_x.transpose(1, 2).matmul(&seen_x) + &eye * noise;
        let moment = seen_x.transpose(1, 2).matmul(&seen_y.unsqueeze(2));
        let weights = Tensor::linalg_solve(&gram, &moment, true);
        ridge.push(x.narrow(1, j, 1).matmul(&weights).view([sequences, 1]));
    }
    let ridge = per_position(&Tensor::cat(&ridge, 1))?;
    let dmmse = match icl.task_set() {
        Some(tasks) => {
            let count = tasks.len() as i64 / dims;
            let t = Tensor::from_slice(tasks).view([count, dims]);
            // Each task's prediction at every position, [n, k, tasks], and its squared residual.
            let fits = x.matmul(&t.transpose(0, 1));
            let residuals = (&fits - y.unsqueeze(2)).square();
            // Evidence from the pairs before each position: a cumulative sum shifted by one.
            let before = residuals.cumsum(1, Kind::Double) - &residuals;
            let weights = (-before / (2.0 * noise)).softmax(2, Kind::Double);
            Some(per_position(&(weights * fits).sum_dim_intlist(
                [2i64].as_slice(),
                false,
                Kind::Double,
            ))?)
        }
        None => None,
    };
    let (xt, yt) = upload(&samples, data, spec);
    let out = tch::no_grad(|| spec.model.forward(params, &xt));
    let (out, yt) = spec.loss.aligned(&out, &yt);
    let model = Vec::<f64>::try_from(
        (out - yt)
            .square()
            .to_kind(Kind::Double)
            .view([sequences, pairs])
            .mean_dim([0i64].as_slice(), false, Kind::Double)
            .to_device(Device::Cpu),
    )
    .map_err(EstimateError::from)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(IclBaselines {
        headline: "model_loss".into(),
        model_loss: mean(&model),
        ridge_loss: mean(&ridge),
        dmmse_loss: dmmse.as_deref().map(mean),
        noise_var: icl.noise_var,
        per_position: PerPosition { model, ridge, dmmse },
        sequences: samples.n,
    })
}

#[cfg(test)]
mod tests {
    use tch::Tensor;

    use super::tms_geometry;
    use crate::estimate::spec::EstimateSpec;

    #[test]
    fn a_pentagon_of_five_features_with_one_left_out_is_read_as_a_5_gon() {
        let params = serde_json::json!({
            "model": {"call": "tms.model", "args": {"features": 6, "hidden": 2, "bias": true, "init_scale": 0.1}},
            "observable": {"call": "tms.geometry", "args": {}},
            "seed": 0, "at": "all", "device": "cpu",
        });
        let spec = EstimateSpec::new(&serde_json::from_value(params).unwrap()).unwrap();
        // W is 2 x 6: features 0..5 at 72-degree steps with norm 1, feature 5 near zero.
        let mut w = vec![0.0f32; 12];
        for i in 0..5 {
            let angle = (72.0 * i as f64 + 10.0).to_radians();
            w[i] = angle.cos() as f32;
            w[6 + i] = angle.sin() as f32;
        }
        w[5] = 0.05;
        let params = vec![
            Tensor::from_slice(&w).view([1, 2, 6]),
            Tensor::zeros([1, 6], tch::kind::FLOAT_CPU),
        ];
        let result = tms_geometry(&spec, &params).unwrap();
        assert_eq!(result.features, 5);
        assert_eq!(result.headline, "features", "the headline is the count");
        assert_eq!(result.represented, [0, 1, 2, 3, 4]);
        for angle in result.angles.unwrap() {
            // f32 columns: angles are exact to about 1e-5 degrees.
            assert!((angle - 72.0).abs() < 1e-3, "{angle}");
        }
    }
}
