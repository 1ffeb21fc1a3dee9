//! The training loss: mean squared error (the mean over samples and outputs, as PyTorch's
//! `mse_loss`), or cross-entropy of the outputs read as logits (as PyTorch's `cross_entropy`:
//! against class labels, or against target probabilities when the targets are values). `auto`
//! picks cross-entropy for class labels and MSE otherwise. Each member's loss is its own
//! (`[members]`), so no gradient mixes members.

use tch::{Kind, Tensor};

use super::data::DataSpec;
use super::model::ModelSpec;
use super::spec::SpecError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Mse,
    CrossEntropy,
}

impl Loss {
    /// Reads the step's `loss` for its data.
    pub fn parse(value: Option<&serde_json::Value>, data: &DataSpec) -> Result<Loss, SpecError> {
        let classes = data.classes().is_some();
        match value.and_then(serde_json::Value::as_str).unwrap_or("auto") {
            "auto" if classes => Ok(Loss::CrossEntropy),
            "cross_entropy" => Ok(Loss::CrossEntropy),
            "mse" if classes => Err(SpecError(format!(
                "`loss = mse` needs target values, but the targets of {} are class labels",
                data.source().unwrap_or("the data")
            ))),
            "auto" | "mse" => Ok(Loss::Mse),
            other => Err(SpecError(format!("unknown loss `{other}`"))),
        }
    }

    /// Each member's loss `[members]` at `params` on `(x, y)` and its gradients: derived by
    /// hand where the model has them (the toy model with MSE), else by autograd (the parameters
    /// then require gradients; their `.grad` is left zeroed).
    pub fn with_gradients(
        self,
        model: &ModelSpec,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
        kind: Kind,
    ) -> (Tensor, Vec<Tensor>) {
        if self == Loss::Mse
            && let Some(by_hand) = model.loss_and_gradients(params, x, y)
        {
            return by_hand;
        }
        let losses = self.per_member(&model.forward(params, x), y, kind);
        losses.sum(kind).backward();
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad().copy()).collect();
        for param in params {
            let _ = param.grad().zero_();
        }
        (losses.detach(), grads)
    }

    /// Each member's loss, `[members]`, computed in `kind`: outputs `[members, batch, k]`
    /// against targets of the same shape, or against class labels `[members, batch, 1]`
    /// (integers).
    pub fn per_member(self, out: &Tensor, y: &Tensor, kind: Kind) -> Tensor {
        let all = [1i64, 2];
        match self {
            Loss::Mse => (out - y).square().mean_dim(all.as_slice(), false, kind),
            Loss::CrossEntropy => {
                let log_p = out.log_softmax(2, kind);
                if is_labels(y) {
                    -log_p.gather(2, y, false).mean_dim(all.as_slice(), false, kind)
                } else {
                    -(log_p * y).sum_dim_intlist([2i64].as_slice(), false, kind).mean_dim(
                        [1i64].as_slice(),
                        false,
                        kind,
                    )
                }
            }
        }
    }
}

fn is_labels(y: &Tensor) -> bool {
    matches!(y.kind(), Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_against_labels_and_against_one_hot_probabilities_agree_with_the_formula() {
        // Logits [1, 2, 3] for two samples: classes 0 and 2.
        let out = Tensor::from_slice(&[0.0f64, 1.0, 2.0, 2.0, 0.0, -1.0]).view([1, 2, 3]);
        let labels = Tensor::from_slice(&[0i64, 2]).view([1, 2, 1]);
        let one_hot = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.0, 0.0, 1.0]).view([1, 2, 3]);
        let by_labels = f64::try_from(Loss::CrossEntropy.per_member(&out, &labels, Kind::Double));
        let by_probabilities =
            f64::try_from(Loss::CrossEntropy.per_member(&out, &one_hot, Kind::Double));
        // -log softmax: sample 1, class 0 of [0, 1, 2]; sample 2, class 2 of [2, 0, -1].
        let lse = |v: [f64; 3]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
        let expected = 0.5 * ((lse([0.0, 1.0, 2.0]) - 0.0) + (lse([2.0, 0.0, -1.0]) + 1.0));
        // Both sides are a handful of f64 operations on numbers near 1: 1e-12 is generous.
        assert!((by_labels.unwrap() - expected).abs() < 1e-12);
        assert!((by_probabilities.unwrap() - expected).abs() < 1e-12);
    }
}
