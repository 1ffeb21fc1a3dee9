//! Seeded random streams. Every random draw of a step comes from a stream named by a seed, a
//! purpose and an index (the training step, the epoch), never from a stream carried along: the
//! draws at step t depend on (seed, t) alone, so a resumed run needs no saved generator state,
//! and a member of a group draws what it would alone. Draws are made in Rust (`ChaCha8`), not by
//! libtorch, so data and initializations are the same on every device and libtorch version.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is for; streams of different purposes never coincide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A model's initial parameters.
    Init,
    /// A data set's samples (a fixed pool, or the fresh samples of one step).
    Data,
    /// The minibatch order of one epoch.
    Batches,
    /// A teacher's weights.
    Teacher,
    /// The label noise of a data set.
    Noise,
    /// The minibatch order of a sampler's epoch (shared by its chains, or one chain's own).
    SamplerBatches,
    /// One sampler chain's injected noise, drawn in sequence.
    SamplerNoise,
    /// The random sign vectors of Hutchinson's trace estimator.
    Probes,
    /// A finite task set (in-context regression with `tasks = N`).
    Tasks,
}

pub fn stream(seed: i64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let name = format!("devspec/{purpose:?}/{seed}/{index}");
    ChaCha8Rng::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}
