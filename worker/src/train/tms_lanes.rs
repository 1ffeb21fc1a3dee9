//! The toy model of superposition's loss and gradients in plain Rust, eight members at a time,
//! one member per lane: for members that share one minibatch (the sampler's chains, where the
//! shared sparsity is used), and for members that each read their own (a training ensemble's
//! seeds, `per_member_rows`: every entry read, the dense sums, which have the same bytes).
//!
//! Why not libtorch: the model is tiny (`W` is `[hidden, features]`, 2 x 6 in the literature),
//! so each of libtorch's operations over a batch of 1,024 costs more in dispatch and memory
//! passes than in arithmetic; here the whole step is one pass over the batch with every
//! intermediate in registers or the L1 cache.
//!
//! Why lanes are members: every member does the same operations on the same samples, so eight
//! members side by side vectorize without a reduction across lanes. Each member's arithmetic is
//! written out in one fixed order (below), the same whatever the machine's vector width, the
//! number of members or the member's place among them: a member's bytes are those it has alone,
//! on every CPU (Rust neither reorders float operations nor fuses a multiply and an add).
//!
//! Per member, with `x` a sample, `y` its target and `nz` its nonzero entries in feature order
//! (the toy data are sparse: at sparsity 0.95 three quarters of the samples are all zero), per
//! sample in batch order:
//!
//! - `h_k = 0 + W_kj x_j + ...` over `j` in `nz`;
//! - `pre_j = b_j + W_0j h_0 + W_1j h_1 + ...` (with no bias, `0 + ...`; a sample with no
//!   nonzero entry has `h = 0` and `pre_j = b_j`), `out_j = ReLU(pre_j)` (NaN stays NaN, so a
//!   diverged chain shows), `r_j = out_j - y_j`, `g_j = r_j` where `pre_j > 0`, else 0;
//! - the sample's loss `r_0^2 + r_1^2 + ...` is added to the member's;
//! - `grad_b_j += g_j`; `grad_W_kj += g_j h_k` (the decoder's use of `W`, skipped when `h = 0`),
//!   then, with `e_k = W_k0 g_0 + W_k1 g_1 + ...`, `grad_W_kj += e_k x_j` over `j` in `nz` (the
//!   encoder's).
//!
//! Skipping a zero entry adds nothing but a zero to a sum that starts at +0, and the `ReLU` writes
//! its own zero, so the result has the bytes of the dense sums but where a weight met only by
//! zero inputs is infinite or NaN (a diverged chain: its loss is not finite on the first sample
//! with a nonzero entry). At the end the loss is divided by `batch x features` and the gradients
//! multiplied by
//! `2 / (batch x features)`.

use tch::Tensor;

use super::host_pool::host_copy;

/// Samples of a group's own minibatches laid out lane by lane at a time (`64 x features` of
/// eight-lane vectors: 12 KiB for the toy model's six features, within the L1 cache).
const CHUNK: usize = 64;

/// Members computed side by side: two SSE or one AVX vector of `f32`.
const LANES: usize = 8;

type Lanes = [f32; LANES];

/// Each member's loss `[M]`, `W`'s gradient `[M, hidden, features]` and `b`'s `[M, features]`
/// (empty without a bias).
pub struct Out<'a> {
    pub losses: &'a mut [f32],
    pub grad_weights: &'a mut [f32],
    pub grad_biases: &'a mut [f32],
}

pub struct TmsLanes {
    features: usize,
    hidden: usize,
    bias: bool,
    /// A shared minibatch's nonzero inputs, sample by sample: `starts[s]..starts[s + 1]` index
    /// `entries` (feature, value).
    starts: Vec<usize>,
    entries: Vec<(usize, f32)>,
    /// One group of members' parameters and sums, lane by lane: `W` and its gradient
    /// `[hidden, features]`, `b` and its gradient `[features]`.
    weights: Vec<Lanes>,
    biases: Vec<Lanes>,
    grad_weights: Vec<Lanes>,
    grad_biases: Vec<Lanes>,
    /// Per sample: `h`, `g` and `e`.
    hidden_out: Vec<Lanes>,
    grad_pre: Vec<Lanes>,
    grad_hidden: Vec<Lanes>,
    /// A group's own minibatches lane by lane ([`TmsLanes::per_member_batches`]).
    inputs_lanes: Vec<Lanes>,
    targets_lanes: Vec<Lanes>,
    /// Host copies for [`TmsLanes::tensors`] (the batch, the parameters, the results) and for
    /// [`TmsLanes::per_member_batches`] (the batch).
    host: Host,
}

#[derive(Default)]
struct Host {
    inputs: Vec<f32>,
    targets: Vec<f32>,
    weights: Vec<f32>,
    biases: Vec<f32>,
    losses: Vec<f32>,
    grad_weights: Vec<f32>,
    grad_biases: Vec<f32>,
}

impl TmsLanes {
    pub fn new(features: usize, hidden: usize, bias: bool) -> TmsLanes {
        let zeros = |n: usize| vec![[0.0; LANES]; n];
        TmsLanes {
            features,
            hidden,
            bias,
            starts: Vec::new(),
            entries: Vec::new(),
            weights: zeros(hidden * features),
            biases: zeros(features),
            grad_weights: zeros(hidden * features),
            grad_biases: zeros(features),
            hidden_out: zeros(hidden),
            grad_pre: zeros(features),
            grad_hidden: zeros(hidden),
            inputs_lanes: Vec::new(),
            targets_lanes: Vec::new(),
            host: Host::default(),
        }
    }

    /// [`TmsLanes::loss_and_gradients`] on `f32` tensors on the CPU: `params` (`W` `[M, hidden,
    /// features]`, then `b` `[M, features]` with a bias) on the shared batch `(x, y)` (`[1,
    /// batch, features]`), into `losses` (`[M]`) and `grads` (like `params`).
    pub fn tensors(
        &mut self,
        params: &[Tensor],
        (x, y): (&Tensor, &Tensor),
        losses: &mut Tensor,
        grads: &mut [Tensor],
    ) {
        let mut host = std::mem::take(&mut self.host);
        let fill = |buffer: &mut Vec<f32>, t: &Tensor| {
            let numel = t.numel();
            buffer.resize(numel, 0.0);
            t.copy_data(buffer, numel);
        };
        fill(&mut host.inputs, x);
        fill(&mut host.targets, y);
        fill(&mut host.weights, &params[0]);
        if self.bias {
            fill(&mut host.biases, &params[1]);
        }
        let members = params[0].size()[0] as usize;
        host.losses.resize(members, 0.0);
        host.grad_weights.resize(host.weights.len(), 0.0);
        host.grad_biases.resize(host.biases.len(), 0.0);
        self.loss_and_gradients(
            (&host.weights, &host.biases),
            (&host.inputs, &host.targets),
            &mut Out {
                losses: &mut host.losses,
                grad_weights: &mut host.grad_weights,
                grad_biases: &mut host.grad_biases,
            },
        );
        losses.copy_(&Tensor::from_slice(&host.losses));
        grads[0].copy_(&Tensor::from_slice(&host.grad_weights).view_(grads[0].size().as_slice()));
        if self.bias {
            grads[1]
                .copy_(&Tensor::from_slice(&host.grad_biases).view_(grads[1].size().as_slice()));
        }
        self.host = host;
    }

    /// The parameters (`W`, then `b`; empty without a bias) and losses of the last
    /// [`TmsLanes::tensors`], as it read and wrote them.
    pub fn last(&self) -> ([&[f32]; 2], &[f32]) {
        ([&self.host.weights, &self.host.biases], &self.host.losses)
    }

    /// Each member's mean squared error and its gradients (into `out`), at `weights` and
    /// `biases` (`[M, hidden, features]`, `[M, features]`; empty without a bias) on the shared
    /// batch `inputs`, `targets` (`[batch, features]` each).
    pub fn loss_and_gradients(
        &mut self,
        (weights, biases): (&[f32], &[f32]),
        (inputs, targets): (&[f32], &[f32]),
        out: &mut Out,
    ) {
        self.index_nonzero(inputs);
        let batch = targets.len() / self.features;
        let elements = (batch * self.features) as f32;
        self.by_groups((weights, biases), elements, out, |lanes, _| lanes.group_shared(targets));
    }

    /// For each group of up to eight members: their parameters into the lanes, `sums` (the
    /// group's squared errors, returned, and its gradient sums, left in the lanes; it gets
    /// each lane's member), and each member's mean loss and scaled gradients into `out`.
    fn by_groups(
        &mut self,
        (weights, biases): (&[f32], &[f32]),
        elements: f32,
        out: &mut Out,
        mut sums: impl FnMut(&mut TmsLanes, [usize; LANES]) -> Lanes,
    ) {
        let n = self.features;
        let per_w = n * self.hidden;
        let scale = 2.0 / elements;
        let members = out.losses.len();
        self.each_group((weights, biases), members, |lanes, group, lane_members| {
            let loss = sums(lanes, lane_members);
            for (lane, m) in group.enumerate() {
                out.losses[m] = loss[lane] / elements;
                for (i, g) in lanes.grad_weights.iter().enumerate() {
                    out.grad_weights[m * per_w + i] = g[lane] * scale;
                }
                if lanes.bias {
                    for (j, g) in lanes.grad_biases.iter().enumerate() {
                        out.grad_biases[m * n + j] = g[lane] * scale;
                    }
                }
            }
        });
    }

    /// For each group of up to eight of `members` members: their parameters into the lanes,
    /// then `work`, told the group's members (lane by lane, from its first) and each lane's
    /// member. A partial group's idle lanes repeat its first member (its parameters, and its
    /// samples where each member has its own: work never read back).
    fn each_group(
        &mut self,
        params: (&[f32], &[f32]),
        members: usize,
        mut work: impl FnMut(&mut TmsLanes, std::ops::Range<usize>, [usize; LANES]),
    ) {
        for first in (0..members).step_by(LANES) {
            let count = LANES.min(members - first);
            let lane_member = |lane: usize| first + if lane < count { lane } else { 0 };
            self.load_group(params, lane_member);
            work(self, first..first + count, std::array::from_fn(lane_member));
        }
    }

    /// The parameters of lane `l`'s member, `lane_member(l)`, into the lanes.
    fn load_group(
        &mut self,
        (weights, biases): (&[f32], &[f32]),
        lane_member: impl Fn(usize) -> usize,
    ) {
        let n = self.features;
        let per_w = n * self.hidden;
        for (i, w) in self.weights.iter_mut().enumerate() {
            *w = std::array::from_fn(|lane| weights[lane_member(lane) * per_w + i]);
        }
        for (j, b) in self.biases.iter_mut().enumerate() {
            *b = if self.bias {
                std::array::from_fn(|lane| biases[lane_member(lane) * n + j])
            } else {
                [0.0; LANES]
            };
        }
    }

    /// Each member's loss `[M]` and gradients (like `params`: `W` `[M, hidden, features]`, then
    /// `b` `[M, features]` with a bias) on its own minibatch `(x, y)` (`[M, batch, features]`
    /// each, or `[1, batch, features]` shared, `f32` on the CPU), as new tensors.
    pub fn per_member_batches(
        &mut self,
        params: &[Tensor],
        x: &Tensor,
        y: &Tensor,
    ) -> (Tensor, Vec<Tensor>) {
        let members = params[0].size()[0];
        let (batch, n) = (x.size()[1] as usize, self.features);
        let mut host = std::mem::take(&mut self.host);
        let fill = |buffer: &mut Vec<f32>, t: &Tensor| {
            let t = t.expand([members, -1, -1], false).contiguous();
            let numel = t.numel();
            buffer.resize(numel, 0.0);
            t.copy_data(buffer, numel);
        };
        fill(&mut host.inputs, x);
        // The same tensor as targets (the toy data's): read once.
        let targets_are_inputs =
            x.data_ptr() == y.data_ptr() && x.size() == y.size() && x.stride() == y.stride();
        if !targets_are_inputs {
            fill(&mut host.targets, y);
        }
        let rows: Vec<Vec<usize>> = (0..members as usize)
            .map(|m| (0..batch).map(|s| (m * batch + s) * n).collect())
            .collect();
        let targets = if targets_are_inputs { &host.inputs } else { &host.targets };
        let result = self.per_member_rows(params, (&host.inputs, targets), &rows);
        self.host = host;
        result
    }

    /// Each member's loss `[M]` and gradients (like `params`, as in
    /// [`TmsLanes::per_member_batches`]) on its own samples: member `m`'s sample `s` starts at
    /// `rows[m][s]` of `inputs` and of `targets` (its `features` numbers there; `targets` may be
    /// `inputs` itself). A training ensemble's members each read their own stream of a pool
    /// kept in host memory, with no copy of the minibatch.
    pub fn per_member_rows(
        &mut self,
        params: &[Tensor],
        (inputs, targets): (&[f32], &[f32]),
        rows: &[Vec<usize>],
    ) -> (Tensor, Vec<Tensor>) {
        let members = rows.len();
        let batch = rows.first().map_or(0, Vec::len);
        let (weights, biases) = self.host_params(params);
        let mut losses = vec![0.0f32; members];
        let mut grad_weights = vec![0.0f32; weights.len()];
        let mut grad_biases = vec![0.0f32; biases.len()];
        let elements = (batch * self.features) as f32;
        let mut out = Out {
            losses: &mut losses,
            grad_weights: &mut grad_weights,
            grad_biases: &mut grad_biases,
        };
        self.by_groups((&weights, &biases), elements, &mut out, |lanes, lane_members| {
            lanes.group_each((inputs, targets), lane_members.map(|m| &rows[m][..]))
        });
        let mut grads = vec![Tensor::from_slice(&grad_weights).view_(params[0].size().as_slice())];
        if self.bias {
            grads.push(Tensor::from_slice(&grad_biases).view_(params[1].size().as_slice()));
        }
        (Tensor::from_slice(&losses), grads)
    }

    /// The sums of the group of members in `weights` and `biases`, each lane over its own
    /// samples (lane `l`'s sample `s` at `rows[l][s]` of `inputs` and `targets`): the squared
    /// errors (returned) and the gradients (in `grad_weights`, `grad_biases`), unscaled. Every
    /// input entry is read: the dense sums, which have the sparse sums' bytes (the module's
    /// note), so a member's numbers do not depend on its neighbours' samples.
    fn group_each(&mut self, samples: (&[f32], &[f32]), rows: [&[usize]; LANES]) -> Lanes {
        let mut loss = [0.0f32; LANES];
        self.grad_weights.fill([0.0; LANES]);
        self.grad_biases.fill([0.0; LANES]);
        self.each_sample(samples, rows, |lanes, x, y| lanes.sample_each(x, y, &mut loss));
        loss
    }

    /// Hands `each` the group's samples in order, each lane its own (lane `l`'s sample `s` at
    /// `rows[l][s]` of `inputs` and `targets`), as lanes: the sample's inputs and its targets,
    /// `features` lanes each.
    fn each_sample(
        &mut self,
        (inputs, targets): (&[f32], &[f32]),
        rows: [&[usize]; LANES],
        mut each: impl FnMut(&mut TmsLanes, &[Lanes], &[Lanes]),
    ) {
        let n = self.features;
        let batch = rows[0].len();
        // The group's samples lane by lane (`[CHUNK x features]` of lanes), a chunk at a time
        // (a whole batch of them would outgrow the L1 cache: every lane's pass over it would
        // miss); the targets apart only when they are not the inputs.
        let targets_are_inputs = std::ptr::eq(inputs, targets);
        let mut own_inputs = std::mem::take(&mut self.inputs_lanes);
        let mut own_targets = std::mem::take(&mut self.targets_lanes);
        let copies = if targets_are_inputs { 1 } else { 2 };
        for chunk in (0..batch).step_by(CHUNK) {
            let samples = chunk..batch.min(chunk + CHUNK);
            for (lanes, source) in
                [(&mut own_inputs, inputs), (&mut own_targets, targets)].into_iter().take(copies)
            {
                lanes.resize(samples.len() * n, [0.0; LANES]);
                for (lane, starts) in rows.iter().enumerate() {
                    for (sample, &start) in lanes.chunks_exact_mut(n).zip(&starts[samples.clone()])
                    {
                        for (entry, value) in sample.iter_mut().zip(&source[start..start + n]) {
                            entry[lane] = *value;
                        }
                    }
                }
            }
            let target_lanes: &[Lanes] =
                if targets_are_inputs { &own_inputs } else { &own_targets };
            for (x, y) in own_inputs.chunks_exact(n).zip(target_lanes.chunks_exact(n)) {
                each(self, x, y);
            }
        }
        self.inputs_lanes = own_inputs;
        self.targets_lanes = own_targets;
    }

    /// Each member's mean squared error on its own samples (`rows` as in
    /// [`TmsLanes::per_member_rows`]), the forward pass alone: the recorded losses. Each
    /// squared error is training's (`f32`), their sum is in `f64`, sample by sample in order,
    /// each sample's in feature order (as libtorch's mean in `f64` of the `f32` squares, but
    /// for the order).
    pub fn mean_losses_each(
        &mut self,
        params: &[Tensor],
        samples: (&[f32], &[f32]),
        rows: &[Vec<usize>],
    ) -> Vec<f64> {
        let (weights, biases) = self.host_params(params);
        let elements = (rows.first().map_or(0, Vec::len) * self.features) as f64;
        let mut means = vec![0.0f64; rows.len()];
        self.each_group((&weights, &biases), rows.len(), |lanes, group, lane_members| {
            let mut totals = [0.0f64; LANES];
            let lane_rows = lane_members.map(|m| &rows[m][..]);
            lanes.each_sample(samples, lane_rows, |lanes, x, y| {
                lanes.add_squared_errors(x, y, &mut totals);
            });
            for (lane, m) in group.enumerate() {
                means[m] = totals[lane] / elements;
            }
        });
        means
    }

    /// `params` (`W`, then `b` with a bias) as host copies.
    fn host_params(&self, params: &[Tensor]) -> (Vec<f32>, Vec<f32>) {
        (host_copy(&params[0]), if self.bias { host_copy(&params[1]) } else { Vec::new() })
    }

    /// Adds one sample's squared errors (each as [`TmsLanes::sample_each`] has it, in `f32`)
    /// to `totals`, in `f64`: the forward pass alone.
    fn add_squared_errors(&mut self, inputs: &[Lanes], targets: &[Lanes], totals: &mut [f64]) {
        let (n, k) = (self.features, self.hidden);
        self.encode(inputs);
        for (j, target) in targets.iter().enumerate() {
            let mut pre = self.biases[j];
            for kk in 0..k {
                multiply_add_lanes(&mut pre, &self.weights[kk * n + j], &self.hidden_out[kk]);
            }
            // `0 + r * r` is `r * r` exactly.
            let mut square = [0.0f32; LANES];
            residual(&pre, target, &mut square);
            for (total, square) in totals.iter_mut().zip(square) {
                *total += f64::from(square);
            }
        }
    }

    /// `h` (into `hidden_out`) from a sample's inputs, every entry read.
    fn encode(&mut self, inputs: &[Lanes]) {
        let (n, k) = (self.features, self.hidden);
        for kk in 0..k {
            let mut h = [0.0f32; LANES];
            for (w, x) in self.weights[kk * n..(kk + 1) * n].iter().zip(inputs) {
                multiply_add_lanes(&mut h, w, x);
            }
            self.hidden_out[kk] = h;
        }
    }

    /// One sample of [`TmsLanes::group_each`], each lane its own (`inputs` and `targets`,
    /// `features` lanes each): its squared error added to `loss`, its gradients to the
    /// sums, every entry read.
    fn sample_each(&mut self, inputs: &[Lanes], targets: &[Lanes], loss: &mut Lanes) {
        let (n, k) = (self.features, self.hidden);
        self.encode(inputs);
        let mut sample_loss = [0.0f32; LANES];
        self.decode(|j| targets[j], &mut sample_loss);
        for (j, x) in inputs.iter().enumerate() {
            for kk in 0..k {
                multiply_add_lanes(&mut self.grad_weights[kk * n + j], &self.grad_hidden[kk], x);
            }
        }
        add(loss, &sample_loss);
    }

    /// The shared minibatch's nonzero inputs (`[batch, features]`), sample by sample.
    fn index_nonzero(&mut self, inputs: &[f32]) {
        self.starts.clear();
        self.entries.clear();
        self.starts.push(0);
        for row in inputs.chunks_exact(self.features) {
            let nonzero = row.iter().enumerate().filter(|(_, v)| **v != 0.0);
            self.entries.extend(nonzero.map(|(j, v)| (j, *v)));
            self.starts.push(self.entries.len());
        }
    }

    /// The sums of the group of members in `weights` and `biases` over the shared batch (its
    /// nonzero inputs indexed, its `targets` `[batch, features]`): the squared errors
    /// (returned) and the gradients (in `grad_weights`, `grad_biases`), unscaled.
    fn group_shared(&mut self, targets: &[f32]) -> Lanes {
        let (n, k) = (self.features, self.hidden);
        let mut loss = [0.0f32; LANES];
        self.grad_weights.fill([0.0; LANES]);
        self.grad_biases.fill([0.0; LANES]);
        // Out of `self` while the samples are read, as `decode` writes the rest of it.
        let entries = std::mem::take(&mut self.entries);
        // A blank sample (most of the toy data) adds the same numbers every time.
        let (blank_loss, blank_grads) = self.blank();
        for (s, targets) in targets.chunks_exact(n).enumerate() {
            let nonzero = &entries[self.starts[s]..self.starts[s + 1]];
            if nonzero.is_empty() && targets.iter().all(|t| *t == 0.0) {
                for (j, g) in &blank_grads {
                    add(&mut self.grad_biases[*j], g);
                }
                add(&mut loss, &blank_loss);
                continue;
            }
            let mut sample_loss = [0.0f32; LANES];
            if nonzero.is_empty() {
                for (j, target) in targets.iter().enumerate() {
                    let g = residual(&self.biases[j], &[*target; LANES], &mut sample_loss);
                    add(&mut self.grad_biases[j], &g);
                }
            } else {
                for kk in 0..k {
                    let mut h = [0.0f32; LANES];
                    for &(j, v) in nonzero {
                        multiply_add(&mut h, &self.weights[kk * n + j], v);
                    }
                    self.hidden_out[kk] = h;
                }
                self.decode(|j| [targets[j]; LANES], &mut sample_loss);
                for &(j, v) in nonzero {
                    for kk in 0..k {
                        multiply_add(&mut self.grad_weights[kk * n + j], &self.grad_hidden[kk], v);
                    }
                }
            }
            add(&mut loss, &sample_loss);
        }
        self.entries = entries;
        loss
    }

    /// What a blank sample (inputs and targets all zero) adds, the same every time: its loss,
    /// and its bias gradient for the features where it is nonzero in some lane. (Adding a zero
    /// changes no sum here, none ever being -0, so the others are left out.)
    fn blank(&self) -> (Lanes, Vec<(usize, Lanes)>) {
        let mut blank_loss = [0.0f32; LANES];
        let mut blank_grads = Vec::with_capacity(self.features);
        for j in 0..self.features {
            let g = residual(&self.biases[j], &[0.0; LANES], &mut blank_loss);
            if g.iter().any(|v| *v != 0.0) {
                blank_grads.push((j, g));
            }
        }
        (blank_loss, blank_grads)
    }

    /// One sample's decoder from `h` (in `hidden_out`), its targets by feature: adds its
    /// squared errors to `sample_loss`, its gradients to the bias's and (through the decoder's
    /// use of `W`) to `W`'s sums, and leaves `e` in `grad_hidden`.
    #[inline]
    fn decode(&mut self, target: impl Fn(usize) -> Lanes, sample_loss: &mut Lanes) {
        let (n, k) = (self.features, self.hidden);
        for j in 0..n {
            let mut pre = self.biases[j];
            for kk in 0..k {
                multiply_add_lanes(&mut pre, &self.weights[kk * n + j], &self.hidden_out[kk]);
            }
            let g = residual(&pre, &target(j), sample_loss);
            add(&mut self.grad_biases[j], &g);
            for kk in 0..k {
                multiply_add_lanes(&mut self.grad_weights[kk * n + j], &g, &self.hidden_out[kk]);
            }
            self.grad_pre[j] = g;
        }
        for kk in 0..k {
            let mut e = [0.0f32; LANES];
            for j in 0..n {
                multiply_add_lanes(&mut e, &self.weights[kk * n + j], &self.grad_pre[j]);
            }
            self.grad_hidden[kk] = e;
        }
    }
}

/// The `ReLU`'s output at `pre`, its error against `target` (its square added to `loss`), and
/// the loss's gradient at `pre` (the error where `pre > 0`, else 0, as `PyTorch` takes the
/// `ReLU`'s).
#[inline]
fn residual(pre: &Lanes, target: &Lanes, loss: &mut Lanes) -> Lanes {
    let (pre, target, mut sum) = (*pre, *target, *loss);
    let mut g = [0.0f32; LANES];
    for lane in 0..LANES {
        let p = pre[lane];
        // Written so that NaN passes through as NaN (every comparison with NaN is false).
        let out = if p <= 0.0 { 0.0 } else { p };
        let r = out - target[lane];
        sum[lane] += r * r;
        g[lane] = if p > 0.0 { r } else { 0.0 };
    }
    *loss = sum;
    g
}

// The helpers below work on copies (`Lanes` by value) and store once: through references into
// the same struct, the compiler could not tell the lanes apart from what they read, and kept
// every lane scalar.

#[inline]
fn add(sum: &mut Lanes, x: &Lanes) {
    let (mut s, x) = (*sum, *x);
    for lane in 0..LANES {
        s[lane] += x[lane];
    }
    *sum = s;
}

/// `sum += a * v`, a product then a sum (never fused: a fused multiply-add rounds once, and not
/// every CPU has one).
#[inline]
fn multiply_add(sum: &mut Lanes, a: &Lanes, v: f32) {
    let (mut s, a) = (*sum, *a);
    for lane in 0..LANES {
        s[lane] += a[lane] * v;
    }
    *sum = s;
}

#[inline]
fn multiply_add_lanes(sum: &mut Lanes, a: &Lanes, b: &Lanes) {
    let (mut s, a, b) = (*sum, *a, *b);
    for lane in 0..LANES {
        s[lane] += a[lane] * b[lane];
    }
    *sum = s;
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::TmsLanes;
    use crate::train::loss::Loss;
    use crate::train::model::ModelSpec;

    /// Eleven members (a full group of eight and a partial one) of the toy model 6 -> 2 at
    /// their initializations (and a bias away from zero, so the `ReLU`'s mask matters), and a batch
    /// of 1,024 as sparse as the literature's (each entry nonzero with probability 0.1, so both
    /// the all-zero and the general sample are met).
    fn setting(bias: bool) -> (ModelSpec, Vec<Tensor>, Tensor) {
        tch::manual_seed(11);
        let call = serde_json::json!({"call": "tms.model", "args": {"features": 6, "hidden": 2, "bias": bias, "init_scale": 0.5}});
        let model =
            ModelSpec::new(&serde_json::from_value(call).expect("a model")).expect("a model");
        let seeds: Vec<i64> = (0..11).collect();
        let mut params = model.init(&seeds, Kind::Float);
        if bias {
            params[1] = Tensor::randn([11, 6], (Kind::Float, Device::Cpu)) * 0.2;
        }
        let options = (Kind::Float, Device::Cpu);
        let x = Tensor::rand([1, 1024, 6], options)
            * Tensor::rand([1, 1024, 6], options).lt(0.1).to_kind(Kind::Float);
        (model, params, x)
    }

    /// The lanes' losses and gradients of the members in `params` on the shared batch `x` (also
    /// the targets).
    fn lanes(bias: bool, params: &[Tensor], x: &Tensor) -> (Tensor, Vec<Tensor>) {
        let mut lanes = TmsLanes::new(6, 2, bias);
        let members = params[0].size()[0];
        let mut losses = Tensor::zeros([members], (Kind::Float, Device::Cpu));
        let mut grads: Vec<Tensor> = params.iter().map(Tensor::zeros_like).collect();
        // Twice, so stale sums from the first call would show.
        for _ in 0..2 {
            lanes.tensors(params, (x, x), &mut losses, &mut grads);
        }
        (losses, grads)
    }

    #[test]
    fn the_lanes_agree_with_the_hand_derived_libtorch_gradients() {
        for bias in [true, false] {
            let (model, params, x) = setting(bias);
            let (losses, grads) = lanes(bias, &params, &x);
            // The reference in f64 from the same f32 numbers, so what differs is the lanes' f32
            // rounding alone.
            agree_with_libtorch(
                &model,
                (&params, &x.expand([11, 1024, 6], false)),
                (&losses, &grads),
            );
        }
    }

    /// The lanes' `losses` and `grads` of the members in `params` on `x` (also the targets)
    /// against libtorch's hand-derived gradients in f64 from the same f32 numbers, so what
    /// differs is the lanes' f32 rounding alone.
    fn agree_with_libtorch(
        model: &ModelSpec,
        (params, x): (&[Tensor], &Tensor),
        (losses, grads): (&Tensor, &[Tensor]),
    ) {
        let double: Vec<Tensor> = params.iter().map(|p| p.to_kind(Kind::Double)).collect();
        let x64 = x.to_kind(Kind::Double);
        let (reference, reference_grads) =
            model.loss_and_gradients(&double, &x64, &x64).expect("the toy model's");
        // Each number is a sum of 1,024 terms (a sample's few) accumulated in f32 in batch
        // order: its rounding error is at most 1,023 x 2^-24 = 6.1e-5 of the sum of the terms'
        // magnitudes, which is the sum itself for the loss and nearly so for the bias's gradient
        // (terms of one sign, the blank samples' `ReLU(b)`). Measured, against the largest value
        // of each tensor: loss 4.1e-6, `W`'s gradient 3.8e-7, `b`'s 6.0e-6. The bound is the
        // worst case, 6.1e-5 of it.
        let check = |what: &str, ours: &Tensor, reference: &Tensor| {
            let scale = f64::try_from(reference.abs().max()).unwrap();
            let error =
                f64::try_from((ours.to_kind(Kind::Double) - reference).abs().max()).unwrap();
            assert!(error <= 6.1e-5 * scale, "{what}: off by {error} of {scale}");
        };
        check("loss", losses, &reference);
        for (grad, reference) in grads.iter().zip(&reference_grads) {
            check("gradient", grad, reference);
        }
    }

    /// Each of the eleven members' own batch of 1,024 (as sparse as `setting`'s).
    fn own_batches() -> Tensor {
        let options = (Kind::Float, Device::Cpu);
        Tensor::rand([11, 1024, 6], options)
            * Tensor::rand([11, 1024, 6], options).lt(0.1).to_kind(Kind::Float)
    }

    #[test]
    fn each_members_own_batch_agrees_with_the_hand_derived_libtorch_gradients() {
        for bias in [true, false] {
            let (model, params, _) = setting(bias);
            let x = own_batches();
            let (losses, grads) = TmsLanes::new(6, 2, bias).per_member_batches(&params, &x, &x);
            // The same bound as the shared batch's (the sums are the same length and order).
            agree_with_libtorch(&model, (&params, &x), (&losses, &grads));
        }
    }

    #[test]
    fn own_batches_give_a_member_its_bytes_alone_and_the_shared_batchs_bytes() {
        let (_, params, shared) = setting(true);
        let x = own_batches();
        let (losses, grads) = TmsLanes::new(6, 2, true).per_member_batches(&params, &x, &x);
        // Member 9 alone, on its own batch, read from a pool by rows: the same bytes as lane 1
        // of the second group.
        let alone: Vec<Tensor> = params.iter().map(|p| p.narrow(0, 9, 1).copy()).collect();
        let pool = Vec::<f32>::try_from(x.reshape([-1])).unwrap();
        let rows = vec![(0..1024).map(|s| (9 * 1024 + s) * 6).collect::<Vec<usize>>()];
        let (alone_loss, alone_grads) =
            TmsLanes::new(6, 2, true).per_member_rows(&alone, (&pool, &pool), &rows);
        assert!(alone_loss.equal(&losses.narrow(0, 9, 1)));
        for (one, all) in alone_grads.iter().zip(&grads) {
            assert!(one.equal(&all.narrow(0, 9, 1)), "{one} vs {all}");
        }
        // Every member on the shared batch (dense sums): the shared lanes' bytes (which skip
        // the zeros), all eleven.
        let (dense_losses, dense_grads) =
            TmsLanes::new(6, 2, true).per_member_batches(&params, &shared, &shared);
        let (sparse_losses, sparse_grads) = lanes(true, &params, &shared);
        assert!(dense_losses.equal(&sparse_losses));
        for (dense, sparse) in dense_grads.iter().zip(&sparse_grads) {
            assert!(dense.equal(sparse));
        }
    }

    #[test]
    fn a_members_bytes_do_not_depend_on_the_others() {
        let (_, params, x) = setting(true);
        let (losses, grads) = lanes(true, &params, &x);
        // Member 9 alone (lane 0 of a partial group), and among the eleven (lane 1 of the
        // second group).
        let alone: Vec<Tensor> = params.iter().map(|p| p.narrow(0, 9, 1).copy()).collect();
        let (alone_loss, alone_grads) = lanes(true, &alone, &x);
        assert!(alone_loss.equal(&losses.narrow(0, 9, 1)));
        for (one, all) in alone_grads.iter().zip(&grads) {
            assert!(one.equal(&all.narrow(0, 9, 1)), "{one} vs {all}");
        }
    }

    /// The recorded losses (`mean_losses_each`, each member on its own batch read by rows)
    /// against libtorch's forward pass and mean squared error in f64 from the same f32 numbers,
    /// and a member's loss alone equal to its loss among the eleven.
    #[test]
    fn the_recorded_losses_agree_with_libtorchs_and_are_a_members_own() {
        for bias in [true, false] {
            let (model, params, _) = setting(bias);
            let x = own_batches();
            let pool = Vec::<f32>::try_from(x.reshape([-1])).unwrap();
            let rows_of = |m: usize| (0..1024).map(|s| (m * 1024 + s) * 6).collect::<Vec<_>>();
            let rows: Vec<Vec<usize>> = (0..11).map(rows_of).collect();
            let ours = TmsLanes::new(6, 2, bias).mean_losses_each(&params, (&pool, &pool), &rows);
            let double: Vec<Tensor> = params.iter().map(|p| p.to_kind(Kind::Double)).collect();
            let x64 = x.to_kind(Kind::Double);
            let reference = Vec::<f64>::try_from(Loss::MSE.per_member(
                &model.forward(&double, &x64),
                &x64,
                Kind::Double,
            ))
            .unwrap();
            // Each output entry's f32 error: `h` is 6 products and 6 sums, `pre` adds 2 of each
            // and the bias, the residual one more, each rounding by at most u = 2^-24 of the
            // magnitudes involved, so |r - r_exact| <= 16u (M + |y|), where M = |b| + |W|^T
            // |W| |x| (the forward pass of the absolute values), and its square's error is at
            // most 33u (M + |y|)^2. The f64 sum adds nothing measurable. The mean's bound is
            // then 33u times the mean of (M + |y|)^2.
            let abs: Vec<Tensor> = double.iter().map(Tensor::abs).collect();
            let magnitude = model.forward(&abs, &x64.abs()) + x64.abs();
            let bounds = Vec::<f64>::try_from(
                magnitude.square().mean_dim([1i64, 2].as_slice(), false, Kind::Double)
                    * (33.0 * 2f64.powi(-24)),
            )
            .unwrap();
            for m in 0..11 {
                let error = (ours[m] - reference[m]).abs();
                assert!(error <= bounds[m], "member {m}: off by {error}, bound {}", bounds[m]);
            }
            let alone: Vec<Tensor> = params.iter().map(|p| p.narrow(0, 9, 1).copy()).collect();
            let one =
                TmsLanes::new(6, 2, bias).mean_losses_each(&alone, (&pool, &pool), &[rows_of(9)]);
            assert_eq!(one[0].to_bits(), ours[9].to_bits());
        }
    }
}
