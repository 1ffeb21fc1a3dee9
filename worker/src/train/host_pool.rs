//! A group's pool in host memory, as the toy model's lanes read it (`f32`, `tms_lanes`): each
//! member's minibatches read in place, by the positions the trainer's gather would take, and
//! the whole pool in order for the recorded losses.
//!
//! Only the rows with a nonzero entry are kept (member by member, in pool order, then one row
//! of zeros that every blank row reads): most of the toy data is blank (three quarters at
//! sparsity 0.95), and an ensemble's whole pools would outgrow the L2 cache, where each random
//! row read costs a miss. A row counts as blank only when its inputs and targets are all `+0.0`
//! bit for bit (conservatively: a `-0.0` read where the pool holds one).

use tch::Tensor;

use super::epoch_order::EpochOrder;

/// Inputs and targets as the lanes read them (the targets may be the inputs themselves).
pub type InputsTargets<'a> = (&'a [f32], &'a [f32]);

pub struct HostPool {
    /// Rows per member.
    n: usize,
    dim: usize,
    /// The kept rows, `dim` numbers each.
    inputs: Vec<f32>,
    /// `None`: the targets are the inputs.
    targets: Option<Vec<f32>>,
    /// Per pool row (`[members, n]`), its place among its member's kept rows, or `u32::MAX`
    /// where it is blank (`u32`: half of `usize`, read at random; a member has at most `u32`
    /// rows, `DataSpec` checks).
    kept: Vec<u32>,
    /// Per member, where its kept rows start (in rows).
    firsts: Vec<usize>,
    /// The row of zeros.
    zeros: usize,
    /// The last request's rows, member by member (kept to spare the allocations).
    rows: Vec<Vec<usize>>,
}

impl HostPool {
    /// The samples `(x, y)` (`[members, n, dim]`, `f32` on the CPU; `y` is `x`'s shape and
    /// ignored where the targets are the inputs).
    pub fn new((x, y): &(Tensor, Tensor), targets_are_inputs: bool) -> HostPool {
        let size = x.size();
        let (members, n, dim) = (size[0] as usize, size[1] as usize, size[2] as usize);
        let all_inputs = host_copy(x);
        let all_targets = (!targets_are_inputs).then(|| host_copy(y));
        let blank = |row: &[f32]| row.iter().all(|v| v.to_bits() == 0);
        let (mut inputs, mut targets) = (Vec::new(), all_targets.as_ref().map(|_| Vec::new()));
        let (mut kept, mut firsts) = (Vec::with_capacity(members * n), Vec::new());
        for member in 0..members {
            let first = inputs.len() / dim;
            firsts.push(first);
            for r in member * n..(member + 1) * n {
                let row = r * dim..(r + 1) * dim;
                let numbers = &all_inputs[row.clone()];
                if blank(numbers) && all_targets.as_ref().is_none_or(|t| blank(&t[row.clone()])) {
                    kept.push(u32::MAX);
                    continue;
                }
                kept.push((inputs.len() / dim - first) as u32);
                inputs.extend_from_slice(numbers);
                if let (Some(targets), Some(all)) = (&mut targets, &all_targets) {
                    targets.extend_from_slice(&all[row]);
                }
            }
        }
        let zeros = inputs.len() / dim;
        inputs.resize(inputs.len() + dim, 0.0);
        if let Some(targets) = &mut targets {
            targets.resize(targets.len() + dim, 0.0);
        }
        HostPool { n, dim, inputs, targets, kept, firsts, zeros, rows: Vec::new() }
    }

    /// Where each member's samples of step `t` start in the inputs and targets (returned with
    /// them): minibatches of `size` in each member's order (`orders`, one per member), or the
    /// whole pool in order where `size` is `None` (a full batch).
    pub fn step(
        &mut self,
        orders: &mut [&mut EpochOrder],
        t: u64,
        size: Option<usize>,
    ) -> (&[Vec<usize>], InputsTargets<'_>) {
        let Some(size) = size else { return self.whole(orders.len()) };
        let mut rows = std::mem::take(&mut self.rows);
        rows.resize_with(orders.len(), Vec::new);
        rows.iter_mut().for_each(Vec::clear);
        EpochOrder::positions_side_by_side(orders, t, size, self.n, |member, i| {
            rows[member].push(row_start(self, member, i));
        });
        self.rows = rows;
        (&self.rows, self.samples())
    }

    /// Where each of `members` members' samples start in the inputs and targets (returned with
    /// them): the whole pool, in order.
    pub fn whole(&mut self, members: usize) -> (&[Vec<usize>], InputsTargets<'_>) {
        self.rows.resize_with(members, Vec::new);
        let mut rows = std::mem::take(&mut self.rows);
        for (member, rows) in rows.iter_mut().enumerate() {
            rows.clear();
            rows.extend((0..self.n).map(|i| row_start(self, member, i)));
        }
        self.rows = rows;
        (&self.rows, self.samples())
    }

    fn samples(&self) -> InputsTargets<'_> {
        (&self.inputs, self.targets.as_deref().unwrap_or(&self.inputs))
    }

    #[cfg(test)]
    pub fn inputs(&self) -> &[f32] {
        &self.inputs
    }
}

/// Where member `member`'s pool row `i` starts in the inputs and targets: its kept row's, or
/// the row of zeros's. Chosen without a branch, which would be mispredicted on a quarter of
/// the toy data's rows.
#[inline]
fn row_start(pool: &HostPool, member: usize, i: usize) -> usize {
    let kept = pool.kept[member * pool.n + i];
    let row = std::hint::select_unpredictable(
        kept == u32::MAX,
        pool.zeros,
        pool.firsts[member] + kept as usize,
    );
    row * pool.dim
}

/// A tensor's numbers as `f32` in host memory.
pub fn host_copy(t: &Tensor) -> Vec<f32> {
    let t = t.contiguous();
    let mut values = vec![0.0f32; t.numel()];
    t.copy_data(&mut values, t.numel());
    values
}

#[cfg(test)]
mod tests {
    use tch::Tensor;

    use super::HostPool;

    /// Targets apart from the inputs (a test pool of other data): a row is blank only when
    /// both are zero, and every row reads its own inputs and targets; two members, each its
    /// own rows.
    #[test]
    fn rows_read_their_own_inputs_and_targets() {
        let x: [f32; 12] = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 3.0, 4.0];
        let y: [f32; 12] = [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0];
        let set = (Tensor::from_slice(&x).view([2, 3, 2]), Tensor::from_slice(&y).view([2, 3, 2]));
        let mut pool = HostPool::new(&set, false);
        // Kept: member 0's rows 1 and 2 (inputs, then targets nonzero), member 1's rows 0 (a
        // -0.0, kept) and 2; then the row of zeros.
        assert_eq!(pool.inputs().len(), 5 * 2);
        let (rows, (inputs, targets)) = pool.whole(2);
        for (member, rows) in rows.iter().enumerate() {
            for (i, &start) in rows.iter().enumerate() {
                let at = (member * 3 + i) * 2;
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&inputs[start..start + 2]), bits(&x[at..at + 2]), "{member} {i}");
                assert_eq!(bits(&targets[start..start + 2]), bits(&y[at..at + 2]), "{member} {i}");
            }
        }
        assert_eq!(rows[0][0], 4 * 2, "member 0's blank row reads the row of zeros");
    }
}
