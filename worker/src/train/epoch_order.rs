//! A minibatch order over a pool: one permutation per epoch, drawn from (seed, purpose, stream,
//! epoch), so the batch of step t depends on (seed, t) alone (training's own, each member's;
//! the sampler's, shared by its chains or each chain's). A step's samples are the next `size`
//! positions of the sequence of permutations.
//!
//! The permutation is `rand`'s `SliceRandom::shuffle` (0.8): the same from the same stream.
//! Ours shuffles several orders at once ([`EpochOrder::prepare`]: a training ensemble's
//! members all start an epoch at the same step). Why: Fisher-Yates draws each swap's index by
//! rejection (a `u32` times the range, kept when the low half is within a zone; a third of the
//! draws are rejected, at random), and whether a draw is kept decides the next draw's range, a
//! chain of about eight dependent instructions per draw that no branch predictor shortens: an
//! ensemble of 16 toy models shuffling a pool of 8,192 per member every eight steps spent a
//! sixth of its training there. Several shuffles side by side are independent chains the CPU
//! runs at once. Every draw advances a shuffle's loop, a rejected one swapping an element with
//! itself: the same draws and swaps as `rand`'s, which stays the reference (the test below
//! compares them on every size up to 1,000 and on large ones, from many streams, alone and
//! side by side).

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use super::rng::{Purpose, stream};

pub struct EpochOrder {
    seed: i64,
    purpose: Purpose,
    /// Set bits above the epoch's in each permutation's stream index (the sampler's chain).
    stream: u64,
    /// The current epoch and its permutation of the pool (`u32`: a pool's rows are counted in
    /// `u32`, as `DataSpec` checks, and half the width keeps a permutation of 8,192 in the L1
    /// cache while it is shuffled).
    epoch: Option<(u64, Vec<u32>)>,
}

impl EpochOrder {
    pub fn new(seed: i64, purpose: Purpose, stream: u64) -> EpochOrder {
        EpochOrder { seed, purpose, stream, epoch: None }
    }

    /// The pool indices of step `t`'s minibatch (see [`EpochOrder::positions`]).
    pub fn indices(&mut self, t: u64, size: usize, n: usize) -> Vec<i64> {
        let mut indices = Vec::with_capacity(size);
        self.positions(t, size, n, |i| indices.push(i as i64));
        indices
    }

    /// Calls `each` with the pool index of every sample of step `t`'s minibatch, in order (a
    /// pool of `n`), read as slices of the permutations they fall in.
    pub fn positions(&mut self, t: u64, size: usize, n: usize, mut each: impl FnMut(usize)) {
        Self::positions_side_by_side(&mut [self], t, size, n, |_, i| each(i));
    }

    /// [`EpochOrder::positions`] of each of `orders` (a group's members, which start each epoch
    /// at the same step), as `each(k, i)` for order `k`, epoch by epoch: each epoch's
    /// permutations drawn side by side.
    pub fn positions_side_by_side(
        orders: &mut [&mut EpochOrder],
        t: u64,
        size: usize,
        n: usize,
        mut each: impl FnMut(usize, usize),
    ) {
        let (mut position, end) = ((t - 1) as usize * size, t as usize * size);
        while position < end {
            let (epoch, at) = ((position / n) as u64, position % n);
            let take = (n - at).min(end - position);
            Self::prepare(orders.iter_mut().map(|o| &mut **o), epoch, n);
            for (k, order) in orders.iter_mut().enumerate() {
                for &i in &order.permutation(epoch, n)[at..at + take] {
                    each(k, i as usize);
                }
            }
            position += take;
        }
    }

    /// Epoch `epoch`'s order of a pool of `n`.
    pub fn permutation(&mut self, epoch: u64, n: usize) -> &[u32] {
        Self::prepare([&mut *self], epoch, n);
        &self.epoch.as_ref().expect("prepared").1
    }

    /// Draws epoch `epoch`'s order of a pool of `n` for each of `orders` that does not hold it,
    /// side by side (the same orders as one by one).
    pub fn prepare<'a>(orders: impl IntoIterator<Item = &'a mut EpochOrder>, epoch: u64, n: usize) {
        let mut due: Vec<(&mut EpochOrder, Vec<u32>)> = orders
            .into_iter()
            .filter(|o| o.epoch.as_ref().map(|(e, _)| *e) != Some(epoch))
            .map(|o| {
                let order = o.epoch.take().map_or_else(Vec::new, |(_, order)| order);
                (o, order)
            })
            .collect();
        let mut shuffles: Vec<(&mut [u32], ChaCha8Rng)> = due
            .iter_mut()
            .map(|(o, order)| {
                order.clear();
                order.extend(0..u32::try_from(n).expect("`DataSpec` keeps a pool within u32 rows"));
                (&mut order[..], stream(o.seed, o.purpose, o.stream | epoch))
            })
            .collect();
        shuffle_side_by_side(&mut shuffles);
        for (o, order) in due {
            o.epoch = Some((epoch, order));
        }
    }
}

/// How many shuffles run side by side: enough independent chains to fill the CPU's window.
const SIDE_BY_SIDE: usize = 4;

/// Shuffles each order as `order.shuffle(rng)` would (`rand` 0.8), side by side, for slices
/// no longer than `u32::MAX` (`rand` draws `u32` indices there, and so does this).
fn shuffle_side_by_side(shuffles: &mut [(&mut [u32], ChaCha8Rng)]) {
    for group in shuffles.chunks_mut(SIDE_BY_SIDE) {
        // Fisher-Yates from the end: the element at `i` is swapped with one drawn from `0..=i`.
        // (A fixed-size array of `i`s, so that they stay in registers.)
        let mut next = [0usize; SIDE_BY_SIDE];
        for (i, (order, _)) in next.iter_mut().zip(group.iter()) {
            *i = order.len().saturating_sub(1);
        }
        while next.iter().any(|&i| i > 0) {
            for (i, (order, rng)) in next.iter_mut().zip(group.iter_mut()) {
                if *i == 0 {
                    continue;
                }
                let range = (*i + 1) as u64;
                // `rand`'s zone for a range of `u32`: the range shifted to the top bit, minus one.
                let zone = ((range << (range as u32).leading_zeros()) as u32).wrapping_sub(1);
                let product = u64::from(rng.next_u32()) * range;
                let accepted = (product as u32) <= zone;
                // The draw's index where it is kept, else `i` itself; not a branch, which would
                // be mispredicted a third of the time.
                let j = std::hint::select_unpredictable(accepted, (product >> 32) as usize, *i);
                order.swap(*i, j);
                *i -= usize::from(accepted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::seq::SliceRandom;

    use super::EpochOrder;
    use crate::train::rng::{Purpose, stream};

    /// `rand`'s permutation of `n` from the stream of (seed, epoch).
    fn rands(seed: i64, epoch: u64, n: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.shuffle(&mut stream(seed, Purpose::Batches, epoch));
        order
    }

    /// One order at a time and seven side by side (a group of four and one of three), on
    /// every size up to 1,000 (the zone's every leading-zero count up to 2^10) and large ones.
    #[test]
    fn the_permutations_are_rands() {
        let sizes = (0..=1000).chain([1024, 4095, 8192, 10_007, 65_536, 100_000]);
        for (epoch, n) in sizes.enumerate() {
            let epoch = epoch as u64;
            let mut alone = EpochOrder::new(11, Purpose::Batches, 0);
            assert_eq!(alone.permutation(epoch, n), rands(11, epoch, n), "{n} rows alone");
            let mut orders: Vec<EpochOrder> =
                (0..7).map(|seed| EpochOrder::new(seed, Purpose::Batches, 0)).collect();
            // One of them already holds the epoch: it is left as it is.
            orders[2].permutation(epoch, n);
            EpochOrder::prepare(&mut orders, epoch, n);
            for (seed, order) in orders.iter_mut().enumerate() {
                let seed = seed as i64;
                assert_eq!(order.permutation(epoch, n), rands(seed, epoch, n), "{n} rows, {seed}");
            }
        }
    }

    /// A step's positions run on across epochs: a pool of 10 in batches of 4.
    #[test]
    fn positions_run_across_epochs() {
        let mut order = EpochOrder::new(3, Purpose::Batches, 0);
        let all: Vec<usize> = (1..=5)
            .flat_map(|t| {
                let mut step = Vec::new();
                order.positions(t, 4, 10, |i| step.push(i));
                step
            })
            .collect();
        let expected: Vec<usize> =
            (0..2).flat_map(|e| rands(3, e, 10)).map(|i| i as usize).collect();
        assert_eq!(all, expected);
    }
}
