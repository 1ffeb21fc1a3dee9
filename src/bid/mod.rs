//! Bids (`devspec bid ...`, issue 26): a researcher's study sent to a checkpoint owner, run on
//! the owner's private checkpoints, and answered with results only.
//!
//! - [`bid_bundle`]: `bid.tar.zst`, the spec, its imports, the files it reads from the
//!   researcher's side, its open parameters and a cost forecast, and nothing else;
//! - [`path_rules`]: what a bid may name (no absolute paths, no `..`, no symlink leading out,
//!   no glob a binding did not give);
//! - [`revealing`]: the observables whose numbers can reveal weights, which run only with the
//!   owner's opt-in;
//! - [`budget`]: `--budget 2h`; [`parent_watch`]: the child run ends with `bid run`;
//! - [`run_record`]: what `bid run` left in its folder (complete, or which instances are
//!   missing and why);
//! - [`commitment`]: the checkpoints a run used, each by its BLAKE3 digest, and one root over
//!   them;
//! - [`results_bundle`]: `results.tar.zst`, only the results, provenance without hosts or paths,
//!   and the commitment, scanned so no checkpoint's bytes go in;
//! - [`redaction`]: the fields an owner may leave out of a step's results
//!   (`--redact STEP.FIELD`), emptied in the copy sent;
//! - [`opening`]: the researcher's checks of a results bundle against the bid.
//!
//! Both archives are tar + Zstandard as study bundles are (`study::bundle`), read through
//! [`archive`], which refuses anything but plain files at clean relative paths.

pub mod archive;
pub mod bid_bundle;
pub mod budget;
pub mod commitment;
pub mod opening;
pub mod parent_watch;
pub mod path_rules;
pub mod redaction;
pub mod results_bundle;
pub mod revealing;
pub mod run_record;
