//! `devspec store check` (like `git fsck`): every entry of the store checked, not only what a
//! run reads: each blob against its digest (checkpoints included), each manifest's seal and
//! its numbers against its result, each manifest's outputs present, each trajectory state and
//! each record of `names/`, `files/`, `workers/` and `calibrations/` readable. With `repair`,
//! what is damaged is set aside in `damaged/`, so the next run recomputes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use devspec_protocol::store_layout;

use super::{BlobError, DamagedPart, Store};

/// One damaged entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The damaged file, relative to the store (`actions/ab/KEY.json`); for a missing blob,
    /// where it should be.
    pub path: PathBuf,
    /// What it is and what is wrong: `the record of llc[seed=1]@16: its content does not
    /// match its checksum (edited?)`.
    pub what: String,
    /// With `repair`: where it was set aside (`None` when there was nothing to move).
    pub set_aside: Option<PathBuf>,
}

/// What a check went through, and what it found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreCheck {
    pub manifests: usize,
    pub blobs: usize,
    pub trajectory_states: usize,
    pub records: usize,
    pub findings: Vec<Finding>,
}

impl Store {
    /// Checks every entry; with `repair`, sets aside what is damaged.
    pub fn check(&self, repair: bool) -> StoreCheck {
        let mut check = StoreCheck::default();
        // The blobs first: each hashed once, whoever refers to it.
        let mut damaged_blobs: BTreeMap<String, String> = BTreeMap::new();
        for path in files_under(&self.root.join("blobs"), 1) {
            let Some(digest) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            check.blobs += 1;
            match self.verify_blob(&digest) {
                Ok(()) | Err(BlobError::Missing(_)) => {}
                Err(err) => {
                    damaged_blobs.insert(digest, err.detail());
                }
            }
        }
        // Who uses each damaged blob, to name it by its output.
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for path in files_under(&self.root.join("actions"), 1) {
            let Some(key) = path.file_stem().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            check.manifests += 1;
            let instance = readable_instance(&path).unwrap_or_else(|| format!("key {key}"));
            let manifest = match self.record_of(&key) {
                Ok(Some(manifest)) => manifest,
                Ok(None) => continue,
                Err(damage) => {
                    self.found(
                        &mut check,
                        repair,
                        &path,
                        format!("{}: {}", damage.what(&instance), damage.detail),
                    );
                    continue;
                }
            };
            for (name, digest) in &manifest.outputs {
                let blob = store_layout::blob_path(&self.root, digest);
                if let Some(detail) = damaged_blobs.get(digest) {
                    users.entry(digest.clone()).or_default().push(format!("{name} of {instance}"));
                    // The entry goes with its blob: the next run computes both again.
                    let what = format!("{name} of {instance}: its blob is damaged ({detail})");
                    self.found(&mut check, repair, &path, what);
                } else if !blob.is_file() {
                    let what = format!("{name} of {instance}: its blob is missing");
                    // Nothing to move: the record, which names an output that is gone, goes.
                    self.found(&mut check, repair, &path, what);
                }
            }
            if let Some(digest) = manifest.outputs.get("result")
                && !damaged_blobs.contains_key(digest)
                && let Err(damage) = self.check_result(&manifest)
                && damage.part == DamagedPart::Record
            {
                self.found(
                    &mut check,
                    repair,
                    &path,
                    format!("{}: {}", damage.what(&instance), damage.detail),
                );
            }
        }
        for (digest, detail) in &damaged_blobs {
            let used = users.get(digest).map_or_else(
                || "a blob no result names (a trajectory state's?)".to_owned(),
                |names| names.join(", "),
            );
            let path = store_layout::blob_path(&self.root, digest);
            self.found(&mut check, repair, &path, format!("blob {digest} ({used}): {detail}"));
        }
        self.check_trajectories(&mut check, repair, &damaged_blobs);
        for (folder, depth) in [("names", 0), ("files", 0), ("workers", 0), ("calibrations", 0)] {
            for path in files_under(&self.root.join(folder), depth) {
                check.records += 1;
                let readable = std::fs::read(&path).ok().is_some_and(|bytes| {
                    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.is_object())
                });
                if !readable {
                    let what = format!("a record of {folder}/: it is not readable JSON");
                    self.found(&mut check, repair, &path, what);
                }
            }
        }
        check
    }

    /// Each state a trajectory reached: readable, at the step its name says, its blobs present
    /// and intact.
    fn check_trajectories(
        &self,
        check: &mut StoreCheck,
        repair: bool,
        damaged_blobs: &BTreeMap<String, String>,
    ) {
        for path in files_under(&self.root.join("trajectories"), 1) {
            check.trajectory_states += 1;
            let step: Option<u64> = path.file_stem().and_then(|s| s.to_str()?.parse().ok());
            let point = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
            let problem = match point {
                None => Some("it is not readable JSON".to_owned()),
                Some(point) if point["step"].as_u64() != step => {
                    Some(format!("it says step {}, its name another", point["step"]))
                }
                Some(point) if !point["series"].is_object() => Some("it has no loss series".into()),
                Some(point) => ["params", "optimizer"].iter().find_map(|field| {
                    let Some(digest) = point[*field].as_str() else {
                        return Some(format!("it names no {field} blob"));
                    };
                    if let Some(detail) = damaged_blobs.get(digest) {
                        Some(format!("its {field} blob {digest} is damaged: {detail}"))
                    } else if !store_layout::blob_path(&self.root, digest).is_file() {
                        Some(format!("its {field} blob {digest} is missing"))
                    } else {
                        None
                    }
                }),
            };
            if let Some(problem) = problem {
                self.found(check, repair, &path, format!("a trajectory state: {problem}"));
            }
        }
    }

    /// Records a finding, setting the file aside with `repair`.
    fn found(&self, check: &mut StoreCheck, repair: bool, path: &Path, what: String) {
        let set_aside = if repair { self.set_aside_file(path).ok().flatten() } else { None };
        let relative = path.strip_prefix(&self.root).unwrap_or(path).to_path_buf();
        if check.findings.iter().any(|f| f.path == relative) {
            return;
        }
        check.findings.push(Finding { path: relative, what, set_aside });
    }
}

/// The instance a manifest file names, if it parses as JSON at all.
fn readable_instance(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(value.get("instance")?.as_str()?.to_owned())
}

/// The files `depth` folders below `folder` (blobs/ab/DIGEST: 1), in name order.
fn files_under(folder: &Path, depth: usize) -> Vec<PathBuf> {
    let mut level: BTreeSet<PathBuf> = BTreeSet::from([folder.to_path_buf()]);
    for _ in 0..depth {
        level = level
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
    }
    level
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
