//! Studies that travel: the lock file a complete run writes ([`Lock`]), bundles of a spec with
//! its files and results (`bundle`), the comparison of recomputed results against a lock
//! (`verification`) and of two locks (`comparison`).

pub mod bundle;
pub mod comparison;
pub mod lock;
pub mod verification;

pub use lock::{Lock, LockedInstance, lock_path};
