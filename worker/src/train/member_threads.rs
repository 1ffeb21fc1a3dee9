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
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

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
/// which require gradients) and rows of `x` and `y`, on up to [`budget`] threads at once (a
/// pool kept for the process), each running libtorch on one thread.
pub fn each_member(
    params: &[Tensor],
    x: &Tensor,
    y: &Tensor,
    pass: &(dyn Fn(&[Tensor], &Tensor, &Tensor) -> MemberPass + Sync),
) -> MemberPass {
    let members = x.size()[0];
    // Each member's own leaves and rows, made here (tensors are `Send`, not `Sync`: whichever
    // thread runs a member owns what it reads).
    let shares: Vec<(Vec<Tensor>, Tensor, Tensor)> = (0..members)
        .map(|member| {
            let own = params
                .iter()
                .map(|p| p.detach().narrow(0, member, 1).set_requires_grad(true))
                .collect();
            (own, x.narrow(0, member, 1), y.narrow(0, member, 1))
        })
        .collect();
    let threads = budget().min(usize::try_from(members).unwrap_or(1)).max(1);
    // On this thread when one is the budget (the request's libtorch threads are already one,
    // `steps::run`), or when no thread could be started: the same numbers, only slower.
    let passes: Vec<MemberPass> = match (threads > 1).then(|| pool(threads)).flatten() {
        Some(pool) => {
            pool.install(|| shares.into_par_iter().map(|(own, x, y)| pass(&own, &x, &y)).collect())
        }
        None => shares.iter().map(|(own, x, y)| pass(own, x, y)).collect(),
    };
    joined(params.len(), &passes)
}

/// Runs `work` on each of `items` (one per member: a member's own share of some elementwise
/// work), on up to [`budget`] threads at once; on this thread when one is the budget.
pub fn each<T: Send>(items: Vec<T>, work: &(dyn Fn(T) + Sync)) {
    let threads = budget().min(items.len()).max(1);
    match (threads > 1).then(|| pool(threads)).flatten() {
        Some(pool) => pool.install(|| items.into_par_iter().for_each(work)),
        None => items.into_iter().for_each(work),
    }
}

/// The pool of `threads` threads, made once and kept while requests ask for that many: a
/// thread's first libtorch call sets up its own state, and its first allocations fault in fresh
/// pages, which a thread started per step would pay every step.
fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
    static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);
    let mut kept = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match kept.as_ref() {
        Some(pool) if pool.current_num_threads() == threads => Some(Arc::clone(pool)),
        _ => {
            let pool = ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|index| format!("member-{index}"))
                // Each member's pass on one libtorch thread, whatever the process's count.
                .start_handler(|_| tch::set_num_threads(1))
                .build()
                .ok()
                .map(Arc::new)?;
            *kept = Some(Arc::clone(&pool));
            Some(pool)
        }
    }
}

/// The members' passes as one: losses `[members]`, and each parameter's gradients stacked.
fn joined(parameters: usize, passes: &[MemberPass]) -> MemberPass {
    let losses = Tensor::cat(&passes.iter().map(|(loss, _)| loss).collect::<Vec<_>>(), 0);
    let grads = (0..parameters)
        .map(|i| Tensor::cat(&passes.iter().map(|(_, g)| &g[i]).collect::<Vec<_>>(), 0))
        .collect();
    (losses, grads)
}
