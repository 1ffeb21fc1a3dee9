//! A bid (`bid.tar.zst`): a tar archive compressed with Zstandard holding
//!
//! ```text
//! devspec-bid.json     the manifest: every other entry's path, BLAKE3 digest and size; the
//!                      spec's path and digest; its open parameters (name, type, doc); the
//!                      TorchScript models it brings; its cost forecast
//! spec/...             the spec, its imports and the files it reads from the researcher's
//!                      side, at their paths relative to the researcher's project
//! ```
//!
//! and nothing else: no store, no results, no settings. Reading one checks every entry against
//! the manifest ([`super::archive`]); unpacking writes only under `spec/` of the run's folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::archive::{self, Archive, Listing};
use crate::failure::Failure;
use crate::study::bundle::{BundledFile, Exporter};

/// Bumped when the bid's layout changes.
pub const BID_FORMAT: u32 = 1;

/// The bid's first entry.
pub const BID_MANIFEST: &str = "devspec-bid.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidManifest {
    pub format: u32,
    /// The spec's file stem: the default name of the folder a bid runs in.
    pub study: String,
    /// The spec's path under `spec/`.
    pub spec: String,
    /// The BLAKE3 of the spec's bytes: results name it, and `bid open` compares them.
    pub spec_digest: String,
    /// Every entry but this manifest.
    pub files: Vec<BundledFile>,
    /// The parameters the owner binds.
    pub params: Vec<BidParam>,
    /// The TorchScript models the bid brings (paths under `spec/`): code the owner runs.
    pub torchscript: Vec<String>,
    pub forecast: BidForecast,
    pub exported_by: Exporter,
}

impl Listing for BidManifest {
    fn listed(&self) -> &[BundledFile] {
        &self.files
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidParam {
    pub name: String,
    /// Its type as written (`files`, `model`).
    pub ty: String,
    pub doc: Option<String>,
}

/// The researcher's forecast of the bid's cost, on the researcher's machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "made", rename_all = "snake_case")]
pub enum BidForecast {
    /// Why there is none (not asked for, or the spec could not be planned unbound).
    No { why: String },
    Yes {
        jobs: usize,
        /// The whole study's wall time; `None` when some instance cannot be priced.
        total_seconds: Option<f64>,
        instances: Vec<ForecastLine>,
        /// Priced with one stand-in checkpoint per open `files` parameter: the cost of each
        /// checkpoint the owner binds (`ckpts@1`, `llc@1`), to multiply by their number.
        per_checkpoint: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastLine {
    pub instance: String,
    /// Seconds of its own, or why it is unknown.
    pub seconds: Result<f64, String>,
}

/// Reads and checks a bid: every entry listed with its digest, under `spec/`, the spec among
/// them, and of this devspec's format.
pub fn read(path: &Path) -> Result<Archive<BidManifest>, Failure> {
    let bid: Archive<BidManifest> = archive::read(path, BID_MANIFEST)?;
    if bid.manifest.format != BID_FORMAT {
        return Err(archive::refuse(
            path,
            format!(
                "bid format {} is not the one this devspec reads ({BID_FORMAT})",
                bid.manifest.format
            ),
        ));
    }
    if let Some(stray) = bid.entries.keys().find(|p| !p.starts_with("spec/")) {
        return Err(archive::refuse(path, format!("`{stray}` is not under `spec/`")));
    }
    // Settings (a worker to start, a store elsewhere) are the owner's: a bid brings none.
    if let Some(settings) = bid.entries.keys().find(|p| {
        p.split('/').any(|part| part == crate::project_config::FILE_NAME || part == ".devspec")
    }) {
        return Err(archive::refuse(
            path,
            format!("`{settings}` is a project's settings or store, which a bid may not bring"),
        ));
    }
    let spec = format!("spec/{}", bid.manifest.spec);
    match bid.entries.get(&spec) {
        Some(bytes) if blake3::hash(bytes).to_hex().as_str() == bid.manifest.spec_digest => {}
        Some(_) => return Err(archive::refuse(path, "its spec does not match its digest")),
        None => return Err(archive::refuse(path, format!("its spec `{spec}` is not in it"))),
    }
    Ok(bid)
}

/// The BLAKE3 of the bid archive's bytes: the results of a run name the bid they answer.
pub fn digest_of(path: &Path) -> Result<String, Failure> {
    devspec_protocol::store_layout::file_digest(path)
        .map_err(|err| Failure::bad_input(format!("cannot read {}: {err}", path.display())))
}

/// Writes the bid's files under `dir` (the run's folder, or a scratch folder for `inspect` and
/// `open`: every side unpacks the same way), with `spec/devspec.toml` so that the bid's project
/// is its own folder (no settings of the owner's above it apply). Refuses a folder that holds
/// anything but what a bid run writes (`spec/`, `.devspec/`) and no bid run, a symlink under
/// `dir` on an entry's way, and a file that is there with other bytes; each file is created
/// new (never through an existing link).
/// Returns the spec's path.
pub fn unpack(bid: &Archive<BidManifest>, dir: &Path) -> Result<PathBuf, Failure> {
    // What a bid run writes before its record (a run refused, or killed, before its end).
    let of_a_run = |name: &std::ffi::OsStr| name == "spec" || name == ".devspec";
    let foreign = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| !of_a_run(&entry.file_name()))
    });
    if foreign && !dir.join(super::run_record::RECORD_NAME).exists() {
        return Err(Failure::bad_input(format!(
            "{} is not empty and holds no bid run ({} is missing)",
            dir.display(),
            super::run_record::RECORD_NAME
        ))
        .with_hint("run each bid in a new folder of its own (--dir)"));
    }
    let config = (
        format!("spec/{}", crate::project_config::FILE_NAME),
        b"# Written by devspec: the bid's own project.\n".to_vec(),
    );
    for (path, bytes) in bid.entries.iter().chain(std::iter::once((&config.0, &config.1))) {
        let target = dir.join(path);
        let refuse = |why: &str| {
            Failure::bad_input(format!("{} {why} ({path})", dir.display()))
                .with_hint("run each bid in a new folder of its own (--dir)")
        };
        // Every folder on the way, and the file, must be what it seems: never a link out.
        let mut on_the_way = dir.to_path_buf();
        for part in Path::new(path).components() {
            on_the_way.push(part);
            if std::fs::symlink_metadata(&on_the_way).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(refuse("holds a symbolic link where the bid writes"));
            }
        }
        if let Ok(existing) = std::fs::read(&target) {
            if existing == *bytes || *path == config.0 {
                continue;
            }
            return Err(refuse("holds another bid's file"));
        }
        let folder = target.parent().expect("entries are under spec/");
        let unwritable = |err: std::io::Error| {
            Failure::environment(format!("cannot write {}: {err}", target.display()))
        };
        std::fs::create_dir_all(folder).map_err(unwritable)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(unwritable)?;
        std::io::Write::write_all(&mut file, bytes).map_err(unwritable)?;
    }
    Ok(dir.join("spec").join(&bid.manifest.spec))
}
