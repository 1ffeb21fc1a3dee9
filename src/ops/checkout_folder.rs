//! `devspec checkout`'s folder: a step's stored checkpoints ([`super::checkout`]) laid out by
//! name, `DIR/<step>/<point>/step_001000.safetensors`, and `DIR/index.json` saying what each file
//! is (`docs/results.md`, "Checkpoints by name").
//!
//! Each file is a hard link to the store's blob (no bytes copied; the store's file itself), or,
//! where the folder is on another file system or the file system refuses the link, a copy,
//! checked against the digest as it is written. Either way a file appears whole or not at all
//! (written beside its place, then renamed over it), and is made read-only: a hard link shares
//! the store's bytes, so writing into it would change the store. A rerun keeps a file that is
//! already what it should be and replaces one that is not.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkout::{Checkpoints, StoredCheckpoint};
use crate::failure::Failure;

/// Bumped when `index.json`'s shape changes (documented in docs/results.md).
pub const INDEX_SCHEMA_VERSION: u32 = 1;

/// The widest folder name written whole; longer ones are cut and end with a digest of the whole.
const MAX_FOLDER_NAME: usize = 120;

/// The folder name of the instances at a sweep point: `seed=0`, `seed=0,lr=0.001`, `no_sweep`
/// without coordinates. Unique and portable: every byte outside `A-Z a-z 0-9 . _ + -` of an
/// axis or value is written `%XX` (so `,` and `=` only ever separate, and no name is special
/// to any file system; a trailing `.` too, which Windows drops), and a name longer than 120 bytes is cut, with the first 16 hex digits
/// of its BLAKE3 after a `~`.
pub fn point_folder(coords: &[(String, String)]) -> String {
    if coords.is_empty() {
        return "no_sweep".to_owned();
    }
    let mut name = coords
        .iter()
        .map(|(axis, value)| format!("{}={}", escaped(axis), escaped(value)))
        .collect::<Vec<_>>()
        .join(",");
    // Windows drops a name's trailing dot.
    if name.ends_with('.') {
        name.pop();
        name.push_str("%2E");
    }
    if name.len() <= MAX_FOLDER_NAME {
        return name;
    }
    let digest = blake3::hash(name.as_bytes()).to_hex();
    // Escaped names are ASCII, so any byte is a character boundary.
    format!("{}~{}", &name[..MAX_FOLDER_NAME - 17], &digest[..16])
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'+' | b'-') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A checkpoint's file name, its training step zero-padded to `width` digits.
pub fn file_name(training_step: u64, width: usize) -> String {
    format!("step_{training_step:0width$}.safetensors")
}

/// The digits every file name of a step pads to: 6, or more when a step needs it, so the names
/// sort in training order.
fn padding(checkpoints: &[StoredCheckpoint]) -> usize {
    checkpoints.iter().map(|c| c.training_step.to_string().len()).max().unwrap_or(0).max(6)
}

/// How a file came to be in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// A new hard link to the store's blob.
    Linked,
    /// A new copy (the folder is on another file system, or it refused the link).
    Copied,
    /// Already there: the store's blob itself (a link from an earlier checkout).
    KeptLink,
    /// Already there: a copy with the right bytes.
    KeptCopy,
}

/// One file of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFile {
    /// Relative to the folder: `run/seed=0/step_001000.safetensors`.
    pub path: PathBuf,
    pub checkpoint: StoredCheckpoint,
    pub placement: Placement,
}

/// What `devspec checkout` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaidOut {
    /// The folder (`DIR`).
    pub folder: PathBuf,
    pub files: Vec<PlacedFile>,
    pub index: PathBuf,
    /// Files of an earlier checkout of the step that this one no longer has (relative to the
    /// folder), removed.
    pub removed: Vec<PathBuf>,
}

/// `index.json`: what each file of the folder is. Entries of other steps checked out into the
/// same folder are kept.
#[derive(Debug, Serialize, Deserialize)]
struct Index {
    schema_version: u32,
    /// The spec, relative to its project's folder.
    spec: String,
    files: Vec<IndexEntry>,
    /// Instances of the steps checked out that had no stored checkpoints yet.
    missing: Vec<MissingEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexEntry {
    path: String,
    step: String,
    instance: String,
    coords: BTreeMap<String, String>,
    training_step: u64,
    output: String,
    key: String,
    digest: String,
    bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct MissingEntry {
    step: String,
    instance: String,
}

/// Lays out `found`'s checkpoints under `folder/<step>/` and records them in
/// `folder/index.json` (`spec`: the spec as the index names it).
pub fn lay_out(found: &Checkpoints, spec: &str, folder: &Path) -> Result<LaidOut, Failure> {
    let width = padding(&found.checkpoints);
    let mut files = Vec::with_capacity(found.checkpoints.len());
    let mut seen = std::collections::BTreeSet::new();
    for checkpoint in &found.checkpoints {
        let path = Path::new(&found.step)
            .join(point_folder(&checkpoint.coords))
            .join(file_name(checkpoint.training_step, width));
        if !seen.insert(path.clone()) {
            return Err(Failure::new(
                crate::failure::FailureClass::Internal,
                format!("two checkpoints of `{}` would both be {}", found.step, path.display()),
            ));
        }
        let placement = place(checkpoint, &folder.join(&path)).map_err(|err| {
            Failure::environment(format!("cannot write {}: {err}", folder.join(&path).display()))
                .with_hint("choose another folder with `-o DIR`, or free space on its disk")
        })?;
        files.push(PlacedFile { path, checkpoint: checkpoint.clone(), placement });
    }
    let index = folder.join("index.json");
    let earlier: Option<Index> = fs::read(&index)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Index>(&bytes).ok())
        .filter(|earlier| earlier.schema_version == INDEX_SCHEMA_VERSION && earlier.spec == spec);
    let removed = remove_stale(folder, earlier.as_ref(), &found.step, &files);
    write_index(&index, earlier, found, spec, &files)
        .map_err(|err| Failure::environment(format!("cannot write {}: {err}", index.display())))?;
    Ok(LaidOut { folder: folder.to_path_buf(), files, index, removed })
}

/// Removes the files an earlier checkout of this step into this folder wrote that this one
/// does not (the spec changed: fewer seeds, other checkpoints), and their folders once empty.
/// Only a file the earlier index lists at a place checkout writes (`STEP/POINT/step_N.safetensors`)
/// and that still holds the bytes it listed: never anything else.
fn remove_stale(
    folder: &Path,
    earlier: Option<&Index>,
    step: &str,
    files: &[PlacedFile],
) -> Vec<PathBuf> {
    let Some(earlier) = earlier else { return vec![] };
    let current: std::collections::BTreeSet<&Path> =
        files.iter().map(|file| file.path.as_path()).collect();
    let mut removed = Vec::new();
    for entry in earlier.files.iter().filter(|entry| entry.step == step) {
        let relative = PathBuf::from(&entry.path);
        let parts: Vec<&std::ffi::OsStr> = relative
            .components()
            .map_while(|part| match part {
                std::path::Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        let ours = parts.len() == 3
            && relative.components().count() == 3
            && parts[0] == step
            && parts[2]
                .to_str()
                .is_some_and(|name| name.starts_with("step_") && name.ends_with(".safetensors"));
        if !ours || current.contains(relative.as_path()) {
            continue;
        }
        let path = folder.join(&relative);
        if digest_of(&path).is_ok_and(|digest| digest == entry.digest)
            && fs::remove_file(&path).is_ok()
        {
            // Only when empty: a folder holding anything else stays.
            if let Some(parent) = path.parent() {
                let _ = fs::remove_dir(parent);
            }
            removed.push(relative);
        }
    }
    removed
}

/// Puts the checkpoint's bytes at `target`: kept if already there, else linked, else copied;
/// then read-only.
fn place(checkpoint: &StoredCheckpoint, target: &Path) -> io::Result<Placement> {
    let blob = fs::metadata(&checkpoint.store_path)?;
    let placement = match fs::metadata(target) {
        Ok(existing) if existing.dev() == blob.dev() && existing.ino() == blob.ino() => {
            Placement::KeptLink
        }
        Ok(existing)
            if existing.is_file()
                && existing.len() == checkpoint.bytes
                && digest_of(target)? == checkpoint.digest =>
        {
            Placement::KeptCopy
        }
        _ => {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            let partial = partial_path(target);
            let placed = match fs::hard_link(&checkpoint.store_path, &partial) {
                Ok(()) => Ok(Placement::Linked),
                // Another file system, or one that takes no links (or not to a file this user
                // does not own): a copy will do.
                Err(err) if link_refused(&err) => {
                    copy_checked(checkpoint, &partial).map(|()| Placement::Copied)
                }
                Err(err) => Err(err),
            };
            let renamed = placed.and_then(|placement| {
                fs::rename(&partial, target)?;
                Ok(placement)
            });
            // Left only when something failed (or rename found the same file there).
            let _ = fs::remove_file(&partial);
            renamed?
        }
    };
    read_only(target);
    Ok(placement)
}

/// Whether a hard link failed for a reason a copy avoids.
fn link_refused(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::CrossesDevices
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::Unsupported
    )
}

/// Where a file is written before it is renamed into place: beside it, hidden, unique to this
/// process.
fn partial_path(target: &Path) -> PathBuf {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    target.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Copies the blob to `to`, hashing what it writes: bytes that do not hash to the digest (the
/// blob changed since it was checked) are refused. Flushed to disk before it is renamed.
fn copy_checked(checkpoint: &StoredCheckpoint, to: &Path) -> io::Result<()> {
    let mut from = fs::File::open(&checkpoint.store_path)?;
    let mut file = fs::File::create(to)?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = from.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])?;
    }
    file.sync_all()?;
    let actual = hasher.finalize().to_hex().to_string();
    if actual != checkpoint.digest {
        return Err(io::Error::other(format!(
            "the store's blob {} changed while it was copied (its bytes now hash to {actual})",
            checkpoint.digest
        )));
    }
    Ok(())
}

fn digest_of(path: &Path) -> io::Result<String> {
    devspec_protocol::store_layout::file_digest(path)
}

/// Takes the write permission away (for a link, from the store's blob too: the store never
/// writes a blob in place, it renames a new one over it). Not possible on a file another user
/// owns, which this user cannot write anyway: then nothing changes.
fn read_only(path: &Path) {
    if let Ok(metadata) = fs::metadata(path) {
        let mode = metadata.permissions().mode();
        if mode & 0o222 != 0 {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode & !0o222));
        }
    }
}

/// Writes `index.json` atomically: this step's entries replace its earlier ones; other steps'
/// entries stay (`earlier`: the index there, when of this schema and spec).
fn write_index(
    path: &Path,
    earlier: Option<Index>,
    found: &Checkpoints,
    spec: &str,
    files: &[PlacedFile],
) -> io::Result<()> {
    let mut index = match earlier {
        Some(index) => index,
        None => Index {
            schema_version: INDEX_SCHEMA_VERSION,
            spec: spec.to_owned(),
            files: vec![],
            missing: vec![],
        },
    };
    index.files.retain(|entry| entry.step != found.step);
    index.missing.retain(|entry| entry.step != found.step);
    index.files.extend(files.iter().map(|file| {
        let c = &file.checkpoint;
        IndexEntry {
            // Forward slashes whatever the platform: the index is read by programs.
            path: file
                .path
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
            step: c.step.clone(),
            instance: c.instance.clone(),
            coords: c.coords.iter().cloned().collect(),
            training_step: c.training_step,
            output: c.output_name(),
            key: c.key.clone(),
            digest: c.digest.clone(),
            bytes: c.bytes,
        }
    }));
    index.missing.extend(
        found
            .missing
            .iter()
            .map(|instance| MissingEntry { step: found.step.clone(), instance: instance.clone() }),
    );
    index.files.sort_by(|a, b| (&a.step, &a.path).cmp(&(&b.step, &b.path)));
    let text = serde_json::to_string_pretty(&index).expect("an index serializes") + "\n";
    let partial = partial_path(path);
    let written = fs::write(&partial, text).and_then(|()| fs::rename(&partial, path));
    let _ = fs::remove_file(&partial);
    written
}

#[cfg(test)]
mod tests {
    use super::{file_name, point_folder};

    fn point(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, v)| ((*a).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_points_folder_is_readable_unique_and_portable() {
        assert_eq!(point_folder(&[]), "no_sweep");
        assert_eq!(point_folder(&point(&[("seed", "0")])), "seed=0");
        assert_eq!(point_folder(&point(&[("seed", "0"), ("lr", "0.001")])), "seed=0,lr=0.001");
        assert_eq!(point_folder(&point(&[("lr", "1e-5")])), "lr=1e-5");
        // Separators, quotes, slashes, spaces and the escape itself inside a value are escaped,
        // so two points never share a folder and no name means anything to a file system.
        assert_eq!(point_folder(&point(&[("opt", "\"a/b\"")])), "opt=%22a%2Fb%22");
        assert_eq!(point_folder(&point(&[("widths", "[6, 4]")])), "widths=%5B6%2C%204%5D");
        assert_eq!(point_folder(&point(&[("a", "1,b=2")])), "a=1%2Cb%3D2");
        assert_ne!(
            point_folder(&point(&[("a", "1,b=2")])),
            point_folder(&point(&[("a", "1"), ("b", "2")]))
        );
        assert_eq!(point_folder(&point(&[("p", "100%")])), "p=100%25");
        assert_eq!(point_folder(&point(&[("s", "a.")])), "s=a%2E");
        assert_eq!(point_folder(&point(&[("name", "é:\\")])), "name=%C3%A9%3A%5C");
        // Too long for some file systems: cut, and told apart by a digest of the whole.
        let long_a = point_folder(&point(&[("x", &"a".repeat(300))]));
        let long_b = point_folder(&point(&[("x", &format!("{}b", "a".repeat(299)))]));
        assert_eq!(long_a.len(), 120);
        assert_eq!(long_b.len(), 120);
        assert_ne!(long_a, long_b);
        assert!(long_a.starts_with("x=aaa"), "{long_a}");
    }

    #[test]
    fn file_names_are_padded_to_sort_in_training_order() {
        assert_eq!(file_name(1000, 6), "step_001000.safetensors");
        assert_eq!(file_name(0, 6), "step_000000.safetensors");
        assert_eq!(file_name(1_234_567, 7), "step_1234567.safetensors");
    }
}
