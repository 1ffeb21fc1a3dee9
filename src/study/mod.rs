//! Studies that travel: the lock file a complete run writes ([`Lock`]), bundles of a spec with
//! its files and results (`bundle`), the comparison of recomputed results against a lock
//! (`verification`) and of two locks (`comparison`), a verify's bindings against the lock's
//! (`bound_files`); and the choice among a sampler
//! calibration's cells (`calibration`).

pub mod bound_files;
pub mod bundle;
pub mod calibration;
pub mod comparison;
pub mod lock;
pub mod verification;

pub use lock::{Lock, LockedInstance, lock_path};

/// A temporary file in `folder`, to be renamed over what it replaces once written, with the
/// permissions of a file made the usual way (0666 less the umask, not `tempfile`'s 0600): lock
/// files are committed, bundles sent, imported specs edited.
pub(crate) fn shareable_temp_file(
    folder: &std::path::Path,
) -> std::io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o666)).tempfile_in(folder)
}
