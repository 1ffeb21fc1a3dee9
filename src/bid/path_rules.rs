//! What a bid may name. A bid runs on the owner's machine, so every path in it is either one of
//! the bid's own files (inside the folder it unpacks to) or a value the owner binds. Refused:
//! a path written absolute, one that climbs out with `..`, one whose file is a symlink leading
//! out of the bid's folder, and a glob (`*`, `?`, `[`) the owner did not give by a binding
//! (a glob in the bid could reach whatever the owner keeps beside it).

use std::path::{Component, Path};

/// Why a path a bid names is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    Absolute,
    ClimbsOut,
    Glob,
    /// It resolves (through a symlink) outside the bid's folder.
    LeadsOut,
}

impl PathRefusal {
    pub fn describe(self) -> &'static str {
        match self {
            PathRefusal::Absolute => "is absolute: a bid names its own files relative to its spec",
            PathRefusal::ClimbsOut => "climbs out of the bid's folder with `..`",
            PathRefusal::Glob => {
                "is a glob, which only a binding may give: it could reach the owner's files"
            }
            PathRefusal::LeadsOut => "is a symlink leading out of the bid's folder",
        }
    }
}

/// The written form of a path in a bid's spec: relative, no `..`, no glob.
pub fn check_written(written: &str) -> Result<(), PathRefusal> {
    if written.starts_with('/') || Path::new(written).has_root() {
        return Err(PathRefusal::Absolute);
    }
    if Path::new(written).components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(PathRefusal::ClimbsOut);
    }
    if written.contains(['*', '?', '[']) {
        return Err(PathRefusal::Glob);
    }
    Ok(())
}

/// A resolved path of the bid's own: once links are followed, inside `root` (the bid's folder).
/// A path that does not exist yet resolves as written.
pub fn check_resolved(path: &Path, root: &Path) -> Result<(), PathRefusal> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let resolved = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if resolved.starts_with(&root) { Ok(()) } else { Err(PathRefusal::LeadsOut) }
}

/// An archive entry's path: relative, `/`-separated, without `.`, `..` or empty parts (the
/// study bundles' rule).
pub(crate) use crate::study::bundle::clean_relative;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_climbing_and_glob_paths_are_refused() {
        assert_eq!(check_written("data.safetensors"), Ok(()));
        assert_eq!(check_written("sub/model.pt"), Ok(()));
        assert_eq!(check_written("/etc/passwd"), Err(PathRefusal::Absolute));
        assert_eq!(check_written("../private/x.safetensors"), Err(PathRefusal::ClimbsOut));
        assert_eq!(check_written("sub/../../x"), Err(PathRefusal::ClimbsOut));
        assert_eq!(check_written("runs/*.safetensors"), Err(PathRefusal::Glob));
        assert_eq!(check_written("runs/step_?.pt"), Err(PathRefusal::Glob));
    }

    #[test]
    fn a_symlink_leading_out_of_the_folder_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let bid = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::fs::write(bid.path().join("own"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), bid.path().join("link")).unwrap();
        assert_eq!(check_resolved(&bid.path().join("own"), bid.path()), Ok(()));
        assert_eq!(
            check_resolved(&bid.path().join("link"), bid.path()),
            Err(PathRefusal::LeadsOut)
        );
    }

    #[test]
    fn archive_entries_must_be_clean_and_relative() {
        assert!(clean_relative("spec/tms.dev").is_ok());
        assert!(clean_relative("/spec/tms.dev").is_err());
        assert!(clean_relative("spec/../x").is_err());
        assert!(clean_relative("spec//x").is_err());
        assert!(clean_relative("./x").is_err());
    }
}
