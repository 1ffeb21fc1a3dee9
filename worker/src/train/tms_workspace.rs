//! The toy model of superposition's loss and gradients for a group of members that share one
//! minibatch (the sampler's chains, by default), into buffers allocated once. This is the
//! sampler's hot loop: with hundreds of chains every intermediate is a few megabytes, and a
//! fresh tensor per operation costs page faults that outweigh the arithmetic, so every
//! batch-sized tensor here is written in place.
//!
//! The layout is chosen for the few BLAS calls that carry the work. The batch is transposed
//! (`[features, batch]`, batch contiguous) and lifted with a row of ones, so that the bias joins
//! the decoder's matrix: with `W` the `[hidden, features]` weights,
//!
//! - `h = [W 0; 0 1] [x; 1]` for all members in one matrix product (`[M (hidden + 1), batch]`);
//! - `pre = [W^T b] h` per member (a batched product), `out = ReLU(pre)`;
//! - the gradient of the decoder `[W^T b]` is `g h^T`, which gives the bias's gradient as its
//!   last column, and the encoder's is `(W g) x^T`; `W` gets both.

use tch::{Device, IndexOp, Kind, Tensor};

/// The batch-sized buffers of one chunk of members (three of them take the most) are kept
/// within about this many bytes, half of a core's L2 cache here, so that each elementwise pass
/// reads what the previous one wrote from the cache rather than from memory.
const CHUNK_BYTES: i64 = 1 << 20;

pub struct TmsWorkspace {
    members: i64,
    /// Members computed at once through the batch-sized buffers.
    chunk: i64,
    batch: i64,
    features: i64,
    hidden: i64,
    /// 1 with a bias (the lifted row and column), else 0.
    lift: i64,
    /// `[features + lift, batch]`: the inputs transposed, then a row of ones.
    inputs: Tensor,
    /// `[features, batch]`: the targets transposed.
    targets: Tensor,
    /// `[M, hidden + lift, features + lift]`: `W` with a 1 in the lifted corner.
    encoder: Tensor,
    /// `[M, features, hidden + lift]`: `W^T`, then `b` as the last column.
    decoder: Tensor,
    /// `[M (hidden + lift), batch]`.
    hidden_out: Tensor,
    /// `[M, features, batch]`: the pre-activation, then (in place) the output.
    out: Tensor,
    /// `[M, features, batch]`: the output minus the target.
    residual: Tensor,
    /// `[M, features, batch]`: the loss's gradient at the pre-activation (unscaled).
    grad_pre: Tensor,
    /// `[M, features, hidden + lift]`.
    grad_decoder: Tensor,
    /// `[M, hidden, batch]`.
    grad_hidden: Tensor,
    /// `[M hidden, features]`.
    grad_encoder: Tensor,
}

impl TmsWorkspace {
    pub fn new(
        members: i64,
        batch: i64,
        (features, hidden, bias): (i64, i64, bool),
        kind: Kind,
        device: Device,
    ) -> TmsWorkspace {
        let element = if kind == Kind::Double { 8 } else { 4 };
        // Measured on the benchmark (240 members of 6 x 1,024 floats): 16 at a time took 12%
        // less time than all at once.
        let chunk = (CHUNK_BYTES / (3 * features * batch * element)).clamp(1, members);
        TmsWorkspace::chunked(members, batch, (features, hidden, bias), kind, device, chunk)
    }

    /// A workspace that computes `chunk` members at a time.
    fn chunked(
        members: i64,
        batch: i64,
        (features, hidden, bias): (i64, i64, bool),
        kind: Kind,
        device: Device,
        chunk: i64,
    ) -> TmsWorkspace {
        let lift = i64::from(bias);
        let options = (kind, device);
        let inputs = Tensor::ones([features + lift, batch], options);
        let encoder = Tensor::zeros([members, hidden + lift, features + lift], options);
        if bias {
            let _ = encoder.i((.., hidden, features)).fill_(1.0);
        }
        let big = || Tensor::empty([chunk, features, batch], options);
        TmsWorkspace {
            members,
            chunk,
            batch,
            features,
            hidden,
            lift,
            inputs,
            targets: Tensor::empty([features, batch], options),
            encoder,
            decoder: Tensor::empty([members, features, hidden + lift], options),
            hidden_out: Tensor::empty([chunk * (hidden + lift), batch], options),
            out: big(),
            residual: big(),
            grad_pre: big(),
            grad_decoder: Tensor::empty([members, features, hidden + lift], options),
            grad_hidden: Tensor::empty([chunk, hidden, batch], options),
            grad_encoder: Tensor::empty([members * hidden, features], options),
        }
    }

    /// Each member's mean squared error into `losses` (`[M]`) and its gradients into `grads`
    /// (`W`'s `[M, hidden, features]`, then `b`'s `[M, features]`), at `params` on the shared
    /// batch `(x, y)` (`[batch, features]` each, or `[1, batch, features]`).
    pub fn loss_and_gradients(
        &mut self,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
        losses: &mut Tensor,
        grads: &mut [Tensor],
    ) {
        let (members, features, hidden_dim, lift) =
            (self.members, self.features, self.hidden, self.lift);
        let weights = &params[0];
        let inputs = x.view([self.batch, features]);
        self.inputs.i(0..features).copy_(&inputs.tr());
        self.targets.copy_(&y.view([self.batch, features]).tr());
        self.encoder.i((.., 0..hidden_dim, 0..features)).copy_(weights);
        self.decoder.i((.., .., 0..hidden_dim)).copy_(&weights.transpose(1, 2));
        if lift == 1 {
            self.decoder.i((.., .., hidden_dim)).copy_(&params[1]);
        }
        let scale = 2.0 / (features * self.batch) as f64;
        let mut start = 0;
        while start < members {
            let n = self.chunk.min(members - start);
            let rows = |t: &Tensor| t.narrow(0, start, n);
            let hidden_out = self.hidden_out.narrow(0, 0, n * (hidden_dim + lift));
            let (out, residual, grad_pre) = (
                self.out.narrow(0, 0, n),
                self.residual.narrow(0, 0, n),
                self.grad_pre.narrow(0, 0, n),
            );
            // Per member (a batched product, not one product over the stacked members): a
            // member's bytes must not depend on how many share its chunk, and a matrix
            // product's kernel may change with the number of rows.
            let hidden = hidden_out.view([n, hidden_dim + lift, self.batch]);
            let _ = rows(&self.encoder)
                .bmm_out(&hidden, &self.inputs.expand([n, features + lift, self.batch], false));
            let mut out = rows(&self.decoder).bmm_out(&out, &hidden);
            let _ = out.relu_();
            let _ = out.sub_out(&residual, &self.targets);
            // ReLU's gradient as PyTorch takes it (zero at 0); `out` is already ReLU(pre),
            // which is positive exactly where pre is.
            let _ = out.threshold_backward_grad_input(&grad_pre, &residual, 0.0);
            // The mean square from the norm: one pass over the residual instead of two.
            let _ = residual.view([n, features * self.batch]).norm_out(
                &rows(losses),
                2,
                [1i64].as_slice(),
                false,
            );
            // d loss / d pre = 2 (out - y) / (batch * features) where pre > 0; the factor is
            // applied to the small gradients, not to the batch-sized tensor.
            let grad_decoder = rows(&self.grad_decoder);
            let _ = grad_pre.bmm_out(&grad_decoder, &hidden.transpose(1, 2));
            let grad_hidden = self.grad_hidden.narrow(0, 0, n);
            let _ = rows(weights).bmm_out(&grad_hidden, &grad_pre);
            let _ = grad_hidden.bmm_out(
                &self
                    .grad_encoder
                    .narrow(0, start * hidden_dim, n * hidden_dim)
                    .view([n, hidden_dim, features]),
                &inputs.expand([n, self.batch, features], false),
            );
            start += n;
        }
        let _ = losses.square_();
        let _ = losses.g_mul_scalar_(1.0 / (features * self.batch) as f64);
        let _ = self
            .grad_encoder
            .view([members, hidden_dim, features])
            .add_out(&grads[0], &self.grad_decoder.i((.., .., 0..hidden_dim)).transpose(1, 2));
        let _ = grads[0].g_mul_scalar_(scale);
        if lift == 1 {
            grads[1].copy_(&self.grad_decoder.i((.., .., hidden_dim)));
            let _ = grads[1].g_mul_scalar_(scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::TmsWorkspace;
    use crate::train::model::toy_model_at_a_test_point;

    #[test]
    fn the_workspace_gives_the_toy_models_loss_and_gradients() {
        for bias in [true, false] {
            let (model, params) = toy_model_at_a_test_point(bias);
            let x = Tensor::rand([1, 64, 6], (Kind::Double, Device::Cpu));
            let y = Tensor::rand([1, 64, 6], (Kind::Double, Device::Cpu));
            let expand = |t: &Tensor| t.expand([3, 64, 6], false);
            let (reference, reference_grads) =
                model.loss_and_gradients(&params, &expand(&x), &expand(&y)).unwrap();
            // All members at once, and two at a time (a full chunk and a partial one).
            for chunk in [3, 2] {
                let shape = (6, 2, bias);
                let mut workspace =
                    TmsWorkspace::chunked(3, 64, shape, Kind::Double, Device::Cpu, chunk);
                let mut losses = Tensor::zeros([3], (Kind::Double, Device::Cpu));
                let mut grads: Vec<Tensor> = params.iter().map(Tensor::zeros_like).collect();
                // Twice, so stale buffers from the first call would show.
                for _ in 0..2 {
                    workspace.loss_and_gradients(&params, &x, &y, &mut losses, &mut grads);
                }
                // In f64 the two differ only by the order of a few additions: far below 1e-12.
                let error = f64::try_from((&losses - &reference).abs().max()).unwrap();
                assert!(error < 1e-12, "bias {bias}, chunk {chunk}: loss off by {error}");
                for (grad, reference) in grads.iter().zip(&reference_grads) {
                    let error = f64::try_from((grad - reference).abs().max()).unwrap();
                    assert!(error < 1e-12, "bias {bias}, chunk {chunk}: gradient off by {error}");
                }
            }
        }
    }
}
