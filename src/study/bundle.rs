//! Study bundles (`study.tar.zst`): a tar archive, compressed with Zstandard, holding
//!
//! ```text
//! devspec-bundle.json           the manifest: every other entry's path, digest and size, the
//!                               outputs left out (checkpoints, unless asked for), the sender's
//!                               settings and the provenance of each result
//! study/...                     the spec, the project files it imports and the files it reads,
//!                               and its lock, at their paths in the sender's project
//! store/actions/ab/KEY.json     the manifest of every result the plan reaches
//! store/blobs/ab/DIGEST         their outputs
//! ```
//!
//! Importing reads the archive twice: first to check everything (each entry a plain file at a
//! clean relative path, listed in the manifest with its digest and size, the whole under a size
//! limit, nothing to overwrite), writing nothing; then to write, checking each digest again
//! as it goes, so a bundle changed in between is caught too, and removing what it wrote if it
//! fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use devspec_protocol::{StepKind, store_layout};
use serde::{Deserialize, Serialize};

use super::lock::Lock;
use crate::compile::value::Value;
use crate::exec::{DEVSPEC_COMMIT, RunOptions};
use crate::failure::Failure;
use crate::plan::Plan;
use crate::source::SourceMap;
use crate::store::Store;

/// By default, an import unpacks to at most this many times the bundle's own size, plus
/// [`DEFAULT_LIMIT_FLOOR`]: results (JSON, float tensors) compress a few times at most, so a
/// bundle that claims far more is a decompression bomb, not a study.
pub const DEFAULT_LIMIT_RATIO: u64 = 50;

/// What a small bundle may unpack to whatever its size.
pub const DEFAULT_LIMIT_FLOOR: u64 = 64 << 20;

/// The largest size an import of a `compressed`-byte bundle unpacks to unless `--max-size`
/// says otherwise: [`DEFAULT_LIMIT_RATIO`] times its size plus [`DEFAULT_LIMIT_FLOOR`], and
/// never more than `free` (the free space where it unpacks, when known).
pub fn default_max_size(compressed: u64, free: Option<u64>) -> u64 {
    let relative =
        compressed.saturating_mul(DEFAULT_LIMIT_RATIO).saturating_add(DEFAULT_LIMIT_FLOOR);
    free.map_or(relative, |free| relative.min(free))
}

/// The space free for an unprivileged writer on the filesystem of `path` (or of its nearest
/// existing folder), if it can be read.
fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.is_dir())?;
    let stats = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(stats.blocks_available().saturating_mul(stats.fragment_size()))
}

/// Bumped when the bundle's layout changes.
pub const BUNDLE_FORMAT: u32 = 1;

/// The bundle's first entry.
pub const MANIFEST_NAME: &str = "devspec-bundle.json";

/// The largest manifest an import reads, whatever the size limit: it lists files, and even a
/// study with a million results stays far below it.
const MANIFEST_LIMIT: u64 = 256 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: u32,
    /// The study's name (the spec's file stem): the default folder to import into.
    pub study: String,
    /// The spec's path under `study/`.
    pub spec: String,
    /// Every entry of the archive but this manifest, in archive order.
    pub files: Vec<BundledFile>,
    /// Outputs whose blobs are not in the bundle (checkpoints, unless exported with them).
    pub left_out: Vec<LeftOut>,
    /// The sender's settings that enter keys, for the importer's `devspec.toml`.
    pub settings: SenderSettings,
    pub exported_by: Exporter,
    /// What produced each result: its instance, key and the manifest's provenance.
    pub provenance: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledFile {
    pub path: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    pub instance: String,
    pub output: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderSettings {
    pub threads_per_step: crate::exec::ThreadsPerStep,
    pub device: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exporter {
    pub devspec: String,
    pub commit: String,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub study_files: usize,
    pub results: usize,
    pub blobs: usize,
    pub left_out: usize,
    pub left_out_bytes: u64,
    pub bytes: u64,
}

/// What `export` needs: the planned spec with its sources, where its results are, and how it
/// ran.
pub struct ExportInput<'a> {
    pub spec: &'a Path,
    pub plan: &'a Plan,
    pub sources: &'a SourceMap,
    pub store: &'a Store,
    pub options: &'a RunOptions,
    /// Each instance's record in the store.
    pub results: &'a crate::exec::Results,
    pub project_root: &'a Path,
    pub with_checkpoints: bool,
}

/// Outputs that are model states: large, and restored by retraining.
fn is_checkpoint(kind: StepKind, output: &str) -> bool {
    matches!(kind, StepKind::Checkpoint)
        || output.starts_with("checkpoint@")
        || output.starts_with("optimizer@")
}

/// Writes the bundle of a study whose lock matches its results to `out`, atomically.
pub fn export(input: &ExportInput<'_>, out: &Path) -> Result<Exported, Failure> {
    let lock_file = super::lock_path(input.spec);
    let lock = Lock::complete(input.plan, input.results, input.store, input.options, input.spec)
        .map_err(|incomplete| {
            Failure::bad_input(format!(
                "{} has {} instance(s) without results ({}): a bundle carries a complete study",
                input.spec.display(),
                incomplete.missing.len(),
                incomplete.missing[0]
            ))
            .with_hint(format!("run `devspec run {}` first", input.spec.display()))
        })?;
    let written = std::fs::read_to_string(&lock_file).unwrap_or_default();
    if written != lock.to_text() {
        let what = if written.is_empty() { "is missing" } else { "does not match the results" };
        return Err(Failure::bad_input(format!("{} {what}", lock_file.display())).with_hint(
            format!(
                "a complete `devspec run {}` (no --set, no --target) writes it",
                input.spec.display()
            ),
        ));
    }
    let root = input.project_root.canonicalize().unwrap_or_else(|_| input.project_root.into());
    let mut study_files: BTreeSet<PathBuf> = BTreeSet::new();
    study_files.insert(absolute(&lock_file));
    for source in input.sources.files() {
        if let Some(path) = &source.path {
            study_files.insert(absolute(path));
        }
    }
    for instance in input.plan.instances() {
        study_files.extend(instance.params.values().flat_map(Value::files).map(absolute));
    }
    let mut entries: Vec<(String, Content)> = Vec::new();
    for file in &study_files {
        let relative = file.strip_prefix(&root).map_err(|_| {
            Failure::bad_input(format!(
                "{} is outside the project ({}): a bundle holds the project's files only",
                file.display(),
                root.display()
            ))
            .with_hint("move the file into the project, beside its devspec.toml")
        })?;
        entries.push((format!("study/{}", slashed(relative)), Content::File(file.clone())));
    }
    let (left_out, provenance, blob_count) = result_entries(input, &lock, &mut entries);
    let mut contents = Vec::with_capacity(entries.len());
    let mut files = Vec::with_capacity(entries.len());
    for (path, content) in entries {
        let bytes = match &content {
            Content::File(file) => std::fs::read(file).map_err(|err| {
                Failure::environment(format!("cannot read {}: {err}", file.display()))
            })?,
            Content::Blob(digest) => input.store.read_blob(digest).map_err(|err| {
                Failure::environment(format!("cannot bundle the store's blob: {err}"))
                    .with_hint(format!("rerun `devspec run {}`, then export", input.spec.display()))
            })?,
        };
        files.push(BundledFile {
            path: path.clone(),
            digest: store_layout::digest(&bytes),
            size: bytes.len() as u64,
        });
        contents.push((path, bytes));
    }
    let spec = absolute(input.spec);
    let spec = slashed(spec.strip_prefix(&root).unwrap_or(&spec));
    let manifest = BundleManifest {
        format: BUNDLE_FORMAT,
        study: input.spec.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
        spec,
        files,
        left_out,
        settings: SenderSettings {
            threads_per_step: input.options.threads_per_step,
            device: input.options.device.clone(),
        },
        exported_by: Exporter {
            devspec: env!("CARGO_PKG_VERSION").to_owned(),
            commit: DEVSPEC_COMMIT.to_owned(),
        },
        provenance,
    };
    let bytes = write_archive(out, MANIFEST_NAME, &manifest, &contents)?;
    Ok(Exported {
        study_files: study_files.len(),
        results: lock.instances.len(),
        blobs: blob_count,
        left_out: manifest.left_out.len(),
        left_out_bytes: manifest.left_out.iter().map(|l| l.size).sum(),
        bytes,
    })
}

/// The archive entries of the locked results (their manifests and output blobs, checkpoints
/// only when asked), appended to `entries`; the outputs left out, each result's provenance, and
/// how many blobs were added.
fn result_entries(
    input: &ExportInput<'_>,
    lock: &Lock,
    entries: &mut Vec<(String, Content)>,
) -> (Vec<LeftOut>, Vec<serde_json::Value>, usize) {
    let mut left_out = Vec::new();
    let mut provenance = Vec::new();
    let mut blobs: BTreeSet<String> = BTreeSet::new();
    for locked in &lock.instances {
        let manifest = input.store.manifest(&locked.key).expect("a locked instance is cached");
        let action = store_layout::action_path(input.store.root(), &locked.key);
        entries.push((
            format!("store/actions/{}/{}.json", &locked.key[..2], locked.key),
            Content::File(action),
        ));
        for (output, digest) in &manifest.outputs {
            let size = manifest.sizes.get(digest).copied().unwrap_or_default();
            if !input.with_checkpoints && is_checkpoint(locked.kind, output) {
                left_out.push(LeftOut {
                    instance: locked.name.clone(),
                    output: output.clone(),
                    digest: digest.clone(),
                    size,
                });
            } else if blobs.insert(digest.clone()) {
                entries.push((
                    format!("store/blobs/{}/{digest}", &digest[..2]),
                    Content::Blob(digest.clone()),
                ));
            }
        }
        let mut record = serde_json::to_value(&manifest.provenance).expect("provenance serializes");
        record["instance"] = locked.name.clone().into();
        record["key"] = locked.key.clone().into();
        provenance.push(record);
    }
    // The blobs a kept output shares with a left-out one are in the bundle after all.
    left_out.retain(|l| !blobs.contains(&l.digest));
    (left_out, provenance, blobs.len())
}

/// Writes the archive (manifest first, as `manifest_name`) to a temporary file beside `out`,
/// then renames it over `out`; its size in bytes. Bids and their results (`bid`) are written
/// the same way.
pub(crate) fn write_archive<M: Serialize>(
    out: &Path,
    manifest_name: &str,
    manifest: &M,
    contents: &[(String, Vec<u8>)],
) -> Result<u64, Failure> {
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("bundle manifests serialize");
    let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let unwritable = |err: std::io::Error| {
        Failure::environment(format!("cannot write {}: {err}", out.display()))
    };
    let temp = super::shareable_temp_file(folder).map_err(unwritable)?;
    let encoder = zstd::Encoder::new(temp, 3).map_err(unwritable)?;
    let mut archive = tar::Builder::new(encoder);
    append(&mut archive, manifest_name, &manifest_bytes).map_err(unwritable)?;
    for (path, bytes) in contents {
        append(&mut archive, path, bytes).map_err(unwritable)?;
    }
    let temp = archive.into_inner().and_then(zstd::Encoder::finish).map_err(unwritable)?;
    temp.as_file().sync_all().map_err(unwritable)?;
    let file = temp.persist(out).map_err(|err| unwritable(err.error))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or_default())
}

enum Content {
    File(PathBuf),
    Blob(String),
}

/// One archive entry: a plain file, its metadata fixed so the same study gives the same bytes.
fn append<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    archive.append_data(&mut header, path, bytes)
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// A relative path with `/` between its parts, as archives name entries.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A bundle that passed every check, with where each of its files goes.
#[derive(Debug)]
pub struct Checked {
    pub manifest: BundleManifest,
    /// The folder it unpacks into.
    pub dir: PathBuf,
    /// Archive path to the file it becomes.
    targets: BTreeMap<String, PathBuf>,
}

impl Checked {
    /// Where the spec will be.
    pub fn spec_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.spec)
    }
}

/// A refusal: bad input, with what to do.
fn refuse(bundle: &Path, what: impl std::fmt::Display) -> Failure {
    Failure::bad_input(format!("{}: {what}; nothing was written", bundle.display()))
        .with_hint("ask the sender for a fresh `devspec export` of the study")
}

/// Reads the whole bundle and checks it, writing nothing: every entry a plain file at a clean
/// relative path, listed in the manifest with its size (checked from its header, before any of
/// it is decompressed) and digest, no entry twice, every listed entry present, the whole within
/// `max_size` bytes (default: [`default_max_size`]), and no file of `dir` (default: a new folder
/// named after the study, in `here`) already there.
pub fn check(
    bundle: &Path,
    dir: Option<&Path>,
    here: &Path,
    max_size: Option<u64>,
) -> Result<Checked, Failure> {
    let compressed = std::fs::metadata(bundle)
        .map_err(|err| Failure::bad_input(format!("cannot read {}: {err}", bundle.display())))?
        .len();
    let unpacks_into = dir.unwrap_or(here);
    let (max_size, over_limit_hint) = match max_size {
        Some(limit) => {
            (limit, "raise the limit with --max-size if you trust the sender".to_owned())
        }
        None => (
            default_max_size(compressed, free_space(unpacks_into)),
            format!(
                "the default limit is {DEFAULT_LIMIT_RATIO} times the bundle's size plus {}M, \
                 and no more than the free disk space; if you trust the sender and have the \
                 space, raise it with --max-size",
                DEFAULT_LIMIT_FLOOR >> 20
            ),
        ),
    };
    if compressed > max_size {
        return Err(refuse(
            bundle,
            format!("it is {compressed} bytes, over the limit of {max_size}"),
        )
        .with_hint(over_limit_hint.clone()));
    }
    let mut seen: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut manifest: Option<BundleManifest> = None;
    let mut listed: BTreeMap<String, BundledFile> = BTreeMap::new();
    let mut total: u64 = 0;
    for_each_entry(bundle, |path, size, reader| {
        if manifest.is_none() {
            if path != MANIFEST_NAME {
                return Err(refuse(
                    bundle,
                    format!("its first entry is `{path}`, not {MANIFEST_NAME}"),
                ));
            }
            let parsed = read_manifest(bundle, reader, size, max_size, &over_limit_hint)?;
            listed = parsed.files.iter().map(|f| (f.path.clone(), f.clone())).collect();
            total = size;
            manifest = Some(parsed);
            return Ok(());
        }
        // The entry's header is checked against the listing before a byte of it is
        // decompressed: a lying entry costs nothing to refuse, whatever size it claims.
        let Some(file) = listed.get(&path) else {
            return Err(refuse(bundle, format!("`{path}` is not in its manifest")));
        };
        if file.size != size {
            return Err(refuse(
                bundle,
                format!("`{path}` is {size} bytes, the manifest says {} bytes", file.size),
            ));
        }
        if seen.contains_key(&path) {
            return Err(refuse(bundle, format!("`{path}` is in it twice")));
        }
        total = total.saturating_add(size);
        if total > max_size {
            return Err(refuse(
                bundle,
                format!("it unpacks to more than the limit of {max_size} bytes"),
            )
            .with_hint(over_limit_hint.clone()));
        }
        let digest = hash(reader).map_err(|e| refuse(bundle, e))?;
        seen.insert(path, (digest, size));
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| refuse(bundle, "it is empty"))?;
    check_listing(bundle, &manifest, &seen)?;
    let dir = dir.map_or_else(|| here.join(&manifest.study), Path::to_path_buf);
    if dir.exists() && !dir.is_dir() {
        return Err(refuse(bundle, format!("{} exists and is not a folder", dir.display())));
    }
    let mut targets = BTreeMap::new();
    for path in seen.keys() {
        let target = match path.split_once('/') {
            Some(("study", rest)) => dir.join(rest),
            Some(("store", rest)) => dir.join(".devspec").join(rest),
            _ => unreachable!("entry paths were checked"),
        };
        targets.insert(path.clone(), target);
    }
    targets.insert(String::new(), dir.join(crate::project_config::FILE_NAME));
    if let Some(existing) = targets.values().find(|t| t.symlink_metadata().is_ok()) {
        return Err(refuse(
            bundle,
            format!("{} already exists and would be overwritten", existing.display()),
        )
        .with_hint("import into a new folder: `devspec import BUNDLE DIR`"));
    }
    Ok(Checked { manifest, dir, targets })
}

/// Reads and checks the manifest, the bundle's first entry of `size` bytes: readable, of this
/// devspec's format, and listing no more than `max_size` bytes in all.
fn read_manifest(
    bundle: &Path,
    reader: &mut dyn Read,
    size: u64,
    max_size: u64,
    over_limit_hint: &str,
) -> Result<BundleManifest, Failure> {
    let mut bytes = Vec::new();
    reader.take(MANIFEST_LIMIT).read_to_end(&mut bytes).map_err(|e| refuse(bundle, e))?;
    let parsed: BundleManifest = serde_json::from_slice(&bytes)
        .map_err(|err| refuse(bundle, format!("its manifest is unreadable: {err}")))?;
    if parsed.format != BUNDLE_FORMAT {
        return Err(refuse(
            bundle,
            format!(
                "bundle format {} is not the one this devspec reads ({BUNDLE_FORMAT})",
                parsed.format
            ),
        ));
    }
    // What the manifest says it unpacks to is refused before anything is read.
    let declared = parsed.files.iter().fold(size, |sum, file| sum.saturating_add(file.size));
    if declared > max_size {
        return Err(refuse(
            bundle,
            format!("it unpacks to {declared} bytes, over the limit of {max_size}"),
        )
        .with_hint(over_limit_hint));
    }
    Ok(parsed)
}

/// Every entry read (path to digest and size) is listed in the manifest with that digest and
/// size, blobs are named by their digest, and every listed entry was read.
fn check_listing(
    bundle: &Path,
    manifest: &BundleManifest,
    seen: &BTreeMap<String, (String, u64)>,
) -> Result<(), Failure> {
    let listed: BTreeMap<&str, &BundledFile> =
        manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for (path, (digest, size)) in seen {
        let Some(file) = listed.get(path.as_str()) else {
            return Err(refuse(bundle, format!("`{path}` is not in its manifest")));
        };
        if file.size != *size {
            return Err(refuse(
                bundle,
                format!("`{path}` is {size} bytes, the manifest says {} bytes", file.size),
            ));
        }
        if file.digest != *digest {
            return Err(refuse(
                bundle,
                format!(
                    "`{path}` does not match its manifest: its bytes hash to {digest}, the \
                     manifest says {}",
                    file.digest
                ),
            ));
        }
        if let Some(name) = path.strip_prefix("store/blobs/")
            && !name.ends_with(digest.as_str())
        {
            return Err(refuse(
                bundle,
                format!("blob `{path}` is not named by its digest {digest}"),
            ));
        }
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains_key(&f.path)) {
        return Err(refuse(bundle, format!("`{}` is in its manifest but not in it", missing.path)));
    }
    if !seen.contains_key(&format!("study/{}", manifest.spec)) {
        return Err(refuse(bundle, format!("its spec `{}` is not in it", manifest.spec)));
    }
    Ok(())
}

/// Calls `each` with every entry's checked path, size and content, in archive order; refuses an
/// entry that is not a plain file or whose path is not a clean relative one under `study/` or
/// `store/` (or the manifest).
fn for_each_entry(
    bundle: &Path,
    each: impl FnMut(String, u64, &mut dyn Read) -> Result<(), Failure>,
) -> Result<(), Failure> {
    walk_entries(bundle, &|what| refuse(bundle, what), &clean_path, each)
}

/// The entry walk every tar.zst devspec reads shares (study bundles, bids and their results):
/// calls `each` with every entry's path as `clean` accepts it, its size and content, in archive
/// order; refuses (through `refuse`) a stream that is not a tar.zst, an entry that is not a
/// plain file, and a path `clean` refuses.
pub(crate) fn walk_entries(
    archive: &Path,
    refuse: &dyn Fn(String) -> Failure,
    clean: &dyn Fn(&str) -> Result<String, &'static str>,
    mut each: impl FnMut(String, u64, &mut dyn Read) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let file = std::fs::File::open(archive)
        .map_err(|err| Failure::bad_input(format!("cannot read {}: {err}", archive.display())))?;
    let decoder = zstd::Decoder::new(file)
        .map_err(|err| refuse(format!("it is not a zstd stream: {err}")))?;
    let mut tar = tar::Archive::new(decoder);
    let entries = tar.entries().map_err(|err| refuse(format!("it is not a tar archive: {err}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|err| refuse(format!("it is not a readable tar.zst archive: {err}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            let what = match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => "a link",
                tar::EntryType::Char | tar::EntryType::Block => "a device",
                tar::EntryType::Fifo => "a pipe",
                tar::EntryType::Directory => "a folder",
                _ => "not a plain file",
            };
            return Err(refuse(format!("entry `{raw}` is {what}; only plain files are read")));
        }
        let path = clean(&raw).map_err(|why| refuse(format!("entry `{raw}` {why}")))?;
        let size = entry.header().size().map_err(|err| refuse(err.to_string()))?;
        each(path, size, &mut entry)?;
    }
    Ok(())
}

/// An archive entry's path: relative, `/`-separated, without `.`, `..` or empty parts (a bid's
/// and a results bundle's entries are held to it too).
pub(crate) fn clean_relative(raw: &str) -> Result<(), &'static str> {
    if raw.starts_with('/') || Path::new(raw).has_root() {
        return Err("has an absolute path");
    }
    if raw.split('/').any(|part| part == "..") {
        return Err("leaves its folder (`..`)");
    }
    if raw.split('/').any(|part| part.is_empty() || part == ".")
        || !Path::new(raw).components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err("has an irregular path");
    }
    Ok(())
}

/// An entry's path if it is relative, without `.`, `..` or empty parts, and the manifest or
/// under `study/` or `store/` (where only `actions/ab/KEY.json` and `blobs/ab/DIGEST` are
/// allowed); otherwise why not.
fn clean_path(raw: &str) -> Result<String, &'static str> {
    clean_relative(raw)?;
    if raw == MANIFEST_NAME {
        return Ok(raw.to_owned());
    }
    let hex = |s: &str| {
        s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let parts: Vec<&str> = raw.split('/').collect();
    let fine = match parts.as_slice() {
        // Import writes the study's `devspec.toml` (the sender's settings) and its store
        // itself: a bundled one would be replaced, or would slip results past the checks.
        ["study", "devspec.toml"] => return Err("is a `devspec.toml`, which import writes itself"),
        ["study", ".devspec", ..] => {
            return Err("is inside the study's store; a bundle's results are under `store/`");
        }
        ["study", _, ..] => true,
        ["store", "blobs", shard, name] => hex(name) && name.starts_with(shard),
        ["store", "actions", shard, name] => {
            name.strip_suffix(".json").is_some_and(|key| hex(key) && key.starts_with(shard))
        }
        _ => false,
    };
    if fine { Ok(raw.to_owned()) } else { Err("is not where a bundle puts files") }
}

fn hash(reader: &mut dyn Read) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    std::io::copy(reader, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub study_files: usize,
    pub results: usize,
    pub left_out: usize,
}

/// Writes a checked bundle: its files, its store, and a `devspec.toml` with the sender's
/// settings. Each file's digest is checked again as it is written; on any failure, everything
/// written is removed.
pub fn unpack(bundle: &Path, checked: &Checked) -> Result<Imported, Failure> {
    let created_dir = !checked.dir.exists();
    let created_store = !checked.dir.join(".devspec").exists();
    let result = write_all(bundle, checked);
    if result.is_err() {
        // Only what this import made: every target was checked absent, and a folder or store
        // that was there before stays.
        if created_dir {
            let _ = std::fs::remove_dir_all(&checked.dir);
        } else {
            for target in checked.targets.values() {
                let _ = std::fs::remove_file(target);
            }
            if created_store {
                let _ = std::fs::remove_dir_all(checked.dir.join(".devspec"));
            }
        }
    }
    result
}

fn write_all(bundle: &Path, checked: &Checked) -> Result<Imported, Failure> {
    let manifest = &checked.manifest;
    let store = Store::open(&checked.dir.join(".devspec"))?;
    let tmp = store.root().join("tmp");
    let listed: BTreeMap<&str, &BundledFile> =
        manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let unwritable = |path: &Path, err: std::io::Error| {
        Failure::environment(format!("cannot write {}: {err}", path.display()))
    };
    let (mut study_files, mut results) = (0, 0);
    for_each_entry(bundle, |path, _, reader| {
        let Some(file) = listed.get(path.as_str()) else {
            if path == MANIFEST_NAME {
                return Ok(());
            }
            return Err(refuse(bundle, format!("`{path}` changed since it was checked")));
        };
        let target = &checked.targets[&path];
        let folder = target.parent().expect("targets are inside the folder");
        std::fs::create_dir_all(folder).map_err(|e| unwritable(folder, e))?;
        let mut partial = super::shareable_temp_file(&tmp).map_err(|e| unwritable(&tmp, e))?;
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0; 1 << 16];
        loop {
            let read = reader.read(&mut buffer).map_err(|e| refuse(bundle, e))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            partial.write_all(&buffer[..read]).map_err(|e| unwritable(target, e))?;
        }
        if hasher.finalize().to_hex().as_str() != file.digest {
            return Err(refuse(bundle, format!("`{path}` changed since it was checked")));
        }
        partial.as_file().sync_all().map_err(|e| unwritable(target, e))?;
        partial.persist_noclobber(target).map_err(|e| unwritable(target, e.error))?;
        if path.starts_with("study/") {
            study_files += 1;
        } else if path.starts_with("store/actions/") {
            results += 1;
        }
        Ok(())
    })?;
    let config = format!(
        "# Written by `devspec import`: the settings the sender's results were computed with.\n\
         # Threads per step and the device are part of every key: change them and the results\n\
         # are computed again rather than read from the bundle.\n\n[run]\n\
         threads_per_step = {}\ndevice = {:?}\n",
        manifest.settings.threads_per_step, manifest.settings.device
    );
    let config_path = &checked.targets[""];
    std::fs::write(config_path, config).map_err(|e| unwritable(config_path, e))?;
    Ok(Imported { study_files, results, left_out: manifest.left_out.len() })
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn only_clean_relative_paths_in_their_places_pass() {
        let key = "ab".to_owned() + &"0".repeat(62);
        assert!(clean_path("study/specs/tms.dev").is_ok());
        assert!(clean_path(&format!("store/blobs/ab/{key}")).is_ok());
        assert!(clean_path(&format!("store/actions/ab/{key}.json")).is_ok());
        assert_eq!(clean_path("/etc/passwd"), Err("has an absolute path"));
        assert_eq!(clean_path("study/../../x"), Err("leaves its folder (`..`)"));
        assert_eq!(clean_path("study/./x"), Err("has an irregular path"));
        assert_eq!(clean_path("elsewhere/x"), Err("is not where a bundle puts files"));
        assert_eq!(
            clean_path(&format!("store/blobs/cd/{key}")),
            Err("is not where a bundle puts files")
        );
        assert_eq!(clean_path("store/locks/keys.lock"), Err("is not where a bundle puts files"));
        assert_eq!(
            clean_path("study/devspec.toml"),
            Err("is a `devspec.toml`, which import writes itself")
        );
        assert!(clean_path("study/sub/devspec.toml").is_ok(), "only the study's own");
        assert_eq!(
            clean_path(&format!("study/.devspec/actions/ab/{key}.json")),
            Err("is inside the study's store; a bundle's results are under `store/`")
        );
    }

    #[test]
    fn the_default_limit_follows_the_bundle_and_the_free_disk() {
        use super::default_max_size;
        // 103 KB of bundle may not become 2 GiB.
        assert!(default_max_size(103_000, None) < 2 << 30);
        assert_eq!(default_max_size(1 << 30, None), (50 << 30) + (64 << 20));
        assert_eq!(default_max_size(1 << 30, Some(5 << 30)), 5 << 30);
    }
}
