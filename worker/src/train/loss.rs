//! The training loss: mean squared error (the mean over samples and outputs, as PyTorch's
//! `mse_loss`), or cross-entropy of the outputs read as logits (as PyTorch's `cross_entropy`:
//! against class labels, or against target probabilities when the targets are values). `auto`
//! picks cross-entropy for class labels and MSE otherwise. Each member's loss is its own
//! (`[members]`), so no gradient mixes members.

use devspec_protocol::params;
use tch::{Kind, Tensor};

use super::data::DataSpec;
use super::member_threads;
use super::model::ModelSpec;
use super::sequence_data::Readout;
use super::spec::SpecError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    pub function: Function,
    pub readout: Readout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Mse,
    CrossEntropy,
}

impl Loss {
    /// Mean squared error at every output.
    pub const MSE: Loss = Loss { function: Function::Mse, readout: Readout::EVERY };

    /// Reads the step's `loss` for its data.
    pub fn new(loss: params::Loss, data: &DataSpec) -> Result<Loss, SpecError> {
        let classes = data.classes().is_some();
        let function = match loss {
            params::Loss::Auto if classes => Function::CrossEntropy,
            params::Loss::CrossEntropy => Function::CrossEntropy,
            params::Loss::Mse if classes => {
                return Err(SpecError(format!(
                    "`loss = mse` needs target values, but the targets of {} are class labels",
                    data.source().unwrap_or("the data")
                )));
            }
            params::Loss::Auto | params::Loss::Mse => Function::Mse,
        };
        Ok(Loss { function, readout: data.readout() })
    }

    /// The outputs and targets lined up, both `[members, n, k]`: a model's per-position outputs
    /// `[members, batch * positions, k]` are cut to the positions with targets, and the targets
    /// `[members, batch, targets * j]` laid out one row per scored position.
    pub fn aligned(self, out: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let (members, batch) = (y.size()[0], y.size()[1]);
        let out_size = out.size();
        let out = if out_size[1] == batch {
            out.shallow_clone()
        } else {
            let positions = out_size[1] / batch;
            let Readout { offset, stride } = self.readout;
            out.view([members, batch, positions, out_size[2]])
                .slice(2, offset, positions, stride)
                .reshape([members, -1, out_size[2]])
        };
        let rows = out.size()[1];
        (out, y.reshape([members, rows, -1]))
    }

    /// Each member's loss `[members]` at `params` on `(x, y)` and its gradients: derived by
    /// hand where the model has them (the toy model with MSE), else by autograd (the parameters
    /// then require gradients; their `.grad` is left untouched).
    pub fn with_gradients(
        self,
        model: &ModelSpec,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
        kind: Kind,
    ) -> (Tensor, Vec<Tensor>) {
        if self == Loss::MSE
            && let Some(by_hand) = model.loss_and_gradients(params, x, y)
        {
            return by_hand;
        }
        if let Some(script) = model.torchscript() {
            return script.loss_and_gradients(self, params, x, y, kind);
        }
        // A transformer's members each run the solo pass anyway (see `transformer.rs`): run as
        // separate passes, they need no stacking of outputs and gradients, and can take threads.
        if model.transformer().is_some() && x.size()[0] > 1 {
            return member_threads::each_member(params, x, y, &|own, x, y| {
                self.autograd(model, own, x, y, kind)
            });
        }
        self.autograd(model, params, x, y, kind)
    }

    /// [`Loss::with_gradients`] by autograd, for every member at once.
    fn autograd(
        self,
        model: &ModelSpec,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
        kind: Kind,
    ) -> (Tensor, Vec<Tensor>) {
        let losses = self.per_member(&model.forward(params, x), y, kind);
        // The gradients as new tensors (autograd's `grad`), not accumulated into each
        // parameter's `.grad`: no copy out and no zeroing after, 2 operations per parameter
        // fewer every step. A parameter the loss does not reach gets zeros.
        let grads = Tensor::run_backward(&[losses.sum(kind)], params, false, false)
            .into_iter()
            .zip(params)
            .map(|(grad, param)| if grad.defined() { grad } else { param.zeros_like() })
            .collect();
        (losses.detach(), grads)
    }

    /// Each member's loss, `[members]`, computed in `kind`: outputs `[members, batch, k]`
    /// against targets of the same shape, or against class labels `[members, batch, 1]`
    /// (integers).
    pub fn per_member(self, out: &Tensor, y: &Tensor, kind: Kind) -> Tensor {
        let all = [1i64, 2];
        let (out, y) = self.aligned(out, y);
        let (out, y) = (&out, &y);
        match self.function {
            Function::Mse => (out - y).square().mean_dim(all.as_slice(), false, kind),
            Function::CrossEntropy => {
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
        let loss = Loss { function: Function::CrossEntropy, readout: Readout::EVERY };
        let by_labels = f64::try_from(loss.per_member(&out, &labels, Kind::Double));
        let by_probabilities = f64::try_from(loss.per_member(&out, &one_hot, Kind::Double));
        // -log softmax: sample 1, class 0 of [0, 1, 2]; sample 2, class 2 of [2, 0, -1].
        let lse = |v: [f64; 3]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
        let expected = 0.5 * ((lse([0.0, 1.0, 2.0]) - 0.0) + (lse([2.0, 0.0, -1.0]) + 1.0));
        // Both sides are a handful of f64 operations on numbers near 1: 1e-12 is generous.
        assert!((by_labels.unwrap() - expected).abs() < 1e-12);
        assert!((by_probabilities.unwrap() - expected).abs() < 1e-12);
    }
}
