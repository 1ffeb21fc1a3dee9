//! How a step spends its threads when its model runs each member's pass on its own (the
//! transformer, see `transformer.rs`): on the members, side by side, each member's forward and
//! backward pass on one thread. Not inside the passes: splitting one product or reduction over
//! threads changes its last bits with the thread count, and a member's bytes must not depend on
//! how many siblings share its group (a group of one would have its pass split, a group of
//! four would not). Spent on the members, the threads change no number: a member's pass is
//! the same single-threaded pass whether it runs alone or beside others, on one thread or
//! eight. So a transformer's step runs libtorch on one thread (`steps::run` sets it) and its
//! budget here.
//!
//! Why it pays: the transformer's per-member products are small (a batch's positions by
//! `d_model`), so libtorch's own threads gain little on them, while the members (an LLC's
//! chains, an ensemble's seeds) are independent from the first operation to the last.

use std::sync::atomic::{AtomicUsize, Ordering};

use tch::Tensor;

/// The threads the current request's members may run on (the worker serves one request at a
/// time; `steps::run` sets it for each).
static BUDGET: AtomicUsize = AtomicUsize::new(1);

/// Sets the thread budget of the request about to run.
pub fn set_budget(threads: usize) {
    BUDGET.store(threads.max(1), Ordering::Relaxed);
}

/// The current request's thread budget.
pub fn budget() -> usize {
    BUDGET.load(Ordering::Relaxed)
}

/// One member's loss `[1]` and its parameters' gradients (each `[1, ...]`).
pub type MemberPass = (Tensor, Vec<Tensor>);

/// Each member's loss and gradients, `[members]` and `[members, ...]` per parameter, computed by
/// `pass` on the member's own parameters (leaves of its own: views of its rows of `params`,
/// which require gradients) and rows of `x` and `y`, on up to [`budget`] threads at once, the
/// members split into contiguous runs. Each thread runs libtorch on one thread.
pub fn each_member(
    params: &[Tensor],
    x: &Tensor,
    y: &Tensor,
    pass: &(dyn Fn(&[Tensor], &Tensor, &Tensor) -> MemberPass + Sync),
) -> MemberPass {
    let members = x.size()[0];
    let threads = i64::try_from(budget()).unwrap_or(1).clamp(1, members.max(1));
    // A thread's share: its members' own leaves and rows, made here (tensors are `Send`, not
    // `Sync`: each thread owns what it reads).
    let share = |first: i64, count: i64| -> Vec<(Vec<Tensor>, Tensor, Tensor)> {
        (first..first + count)
            .map(|member| {
                let own = params
                    .iter()
                    .map(|p| p.detach().narrow(0, member, 1).set_requires_grad(true))
                    .collect();
                (own, x.narrow(0, member, 1), y.narrow(0, member, 1))
            })
            .collect()
    };
    if threads == 1 {
        // On this thread: the request's libtorch threads are already one (`steps::run`).
        let passes: Vec<MemberPass> =
            share(0, members).iter().map(|(own, x, y)| pass(own, x, y)).collect();
        return joined(params.len(), &passes);
    }
    let per_thread = (members + threads - 1) / threads;
    let shares: Vec<_> = (0..members)
        .step_by(per_thread as usize)
        .map(|first| share(first, per_thread.min(members - first)))
        .collect();
    let passes: Vec<MemberPass> = std::thread::scope(|scope| {
        let running: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || {
                    // A new thread takes libtorch's thread count lazily from the process's;
                    // said here, so each member's pass is single-threaded whatever it is.
                    tch::set_num_threads(1);
                    share.iter().map(|(own, x, y)| pass(own, x, y)).collect::<Vec<_>>()
                })
            })
            .collect();
        running
            .into_iter()
            .flat_map(|thread| thread.join().expect("a member's pass does not panic"))
            .collect()
    });
    joined(params.len(), &passes)
}

/// The members' passes as one: losses `[members]`, and each parameter's gradients stacked.
fn joined(parameters: usize, passes: &[MemberPass]) -> MemberPass {
    let losses = Tensor::cat(&passes.iter().map(|(loss, _)| loss).collect::<Vec<_>>(), 0);
    let grads = (0..parameters)
        .map(|i| Tensor::cat(&passes.iter().map(|(_, g)| &g[i]).collect::<Vec<_>>(), 0))
        .collect();
    (losses, grads)
}
