//! `bid results`: only the results, provenance without hosts or paths, and the commitment
//! (`bid::results_bundle`, `bid::commitment`), scanned before anything is written.

use std::path::{Path, PathBuf};

use super::{draw_reports, exporter, planned_in};
use crate::bid::archive::{self, Archive};
use crate::bid::commitment::{Commitment, CommittedCheckpoint};
use crate::bid::opening::{is_checkpoint_output, is_withheld};
use crate::bid::results_bundle::{
    LOCK_ENTRY, RESULTS_FORMAT, RESULTS_MANIFEST, ResultsManifest, Scan,
};
use crate::bid::run_record::RunRecord;
use crate::exec::Results;
use crate::failure::Failure;
use crate::study::Lock;
use crate::study::bundle::write_archive;

/// What `bid results` wrote.
pub struct ResultsExported {
    pub instances: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub manifest: ResultsManifest,
    /// Where the report drawn from the written bundle went (the page the researcher will see).
    pub reports: Vec<PathBuf>,
}

/// Writes the results of the bid run in `dir` to `out`: only results, provenance without hosts
/// or paths, and the commitment; scanned so that no checkpoint's bytes go in.
pub fn results(dir: &Path, out: &Path, redact: &[String]) -> Result<ResultsExported, Failure> {
    let record = RunRecord::read(dir)?;
    let spec = dir.join(&record.spec);
    let (plan, session) = planned_in(dir, &spec, &record)?;
    if let Some(unknown) =
        redact.iter().find(|name| !plan.instances().any(|i| i.step_name == **name))
    {
        return Err(Failure::bad_input(format!("--redact {unknown}: the bid has no such step"))
            .with_hint("--redact names a step whose results stay here"));
    }
    let present = Results::in_store(&plan, &session.store, &session.options);
    let (mut lock, missing) =
        Lock::of_results(&plan, &present, &session.store, &session.options, &spec);
    lock.instances.retain(|i| !redact.contains(&i.step));
    scrub(&mut lock, dir, &record);
    let mut scan = Scan::new();
    let mut committed = Vec::new();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs = std::collections::BTreeSet::new();
    for instance in &lock.instances {
        for (output, digest) in &instance.outputs {
            if is_checkpoint_output(instance.kind, output) || is_withheld(instance.kind, output) {
                if is_withheld(instance.kind, output) && !output.starts_with("optimizer@") {
                    scan.forbid_digest(digest);
                    continue;
                }
                let bytes = session.store.read_blob(digest).map_err(|err| {
                    Failure::environment(format!("cannot read {}'s {output}: {err}", instance.name))
                })?;
                scan.forbid(&instance.name, digest, &bytes);
                if is_checkpoint_output(instance.kind, output) {
                    committed.push(CommittedCheckpoint {
                        instance: instance.name.clone(),
                        output: output.clone(),
                        digest: digest.clone(),
                    });
                }
            } else {
                blobs.insert(digest.clone());
            }
        }
    }
    let lock_text = lock.to_text();
    contents.push((LOCK_ENTRY.to_owned(), lock_text.into_bytes()));
    for digest in &blobs {
        let bytes = session.store.read_blob(digest).map_err(|err| {
            Failure::environment(format!("cannot read the result {digest}: {err}"))
        })?;
        contents.push((format!("results/blobs/{digest}"), bytes));
    }
    // The owner's paths: the run's folder, and every absolute path bound.
    scan.forbid_text(
        &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string(),
    );
    for (_, bound) in bound_texts(&record) {
        if bound.starts_with('/') {
            scan.forbid_text(&bound);
        }
    }
    if let Some(why) = contents.iter().find_map(|(path, bytes)| scan.refusal(path, bytes)) {
        return Err(Failure::bad_input(format!(
            "the results of {} would carry what must not leave: {why}; nothing was written",
            dir.display()
        ))
        .with_hint("results never carry weights; check the store with `devspec store check`"));
    }
    let complete = missing.is_empty();
    let manifest = ResultsManifest {
        format: RESULTS_FORMAT,
        study: Path::new(&record.spec).file_stem().unwrap_or_default().to_string_lossy().into(),
        spec_digest: record.spec_digest.clone(),
        bid_digest: record.bid_digest.clone(),
        files: archive::listing(&contents),
        complete,
        stopped_at_budget: record.stopped_at_budget,
        missing,
        redacted: redact.to_vec(),
        commitment: Commitment::new(committed),
        exported_by: exporter(),
    };
    let bytes = write_archive(out, RESULTS_MANIFEST, &manifest, &contents)?;
    // The page the researcher will draw, drawn here from the bundle as written.
    let sent: Archive<ResultsManifest> = archive::read(out, RESULTS_MANIFEST)?;
    let spec_source = std::fs::read_to_string(&spec).unwrap_or_default();
    let spec_name = record.spec.trim_start_matches("spec/").to_owned();
    let reports = draw_reports(&sent, &spec_name, &spec_source, &dir.join("report-sent"))?;
    Ok(ResultsExported {
        instances: lock.instances.len(),
        blobs: blobs.len(),
        bytes,
        manifest,
        reports,
    })
}

/// The owner's paths out of `lock`: the bindings' values and the bound files' paths (each bound
/// file's digest stays, beside the commitment), and the parameters' texts.
fn scrub(lock: &mut Lock, dir: &Path, record: &RunRecord) {
    let scrub = scrubbed_texts(dir, record);
    let scrubbed = |text: &mut String| {
        for (from, to) in &scrub {
            *text = text.replace(from.as_str(), to);
        }
    };
    for binding in &mut lock.bindings {
        scrubbed(&mut binding.value);
        for file in &mut binding.files {
            scrubbed(&mut file.path);
        }
    }
    for instance in &mut lock.instances {
        for text in instance.params.values_mut() {
            scrubbed(text);
        }
    }
}

/// Each binding's name and text as the owner gave it, and, for a bind file's relative path,
/// also as the run read it: absolute, from the bind file's folder.
fn bound_texts(record: &RunRecord) -> Vec<(String, String)> {
    let mut texts: Vec<(String, String)> = record
        .binds
        .iter()
        .filter_map(|b| b.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    if let Some(file) = &record.bind_file
        && let Some(table) =
            std::fs::read_to_string(file).ok().and_then(|text| text.parse::<toml::Table>().ok())
    {
        let folder = file.parent().unwrap_or(Path::new("/"));
        for (name, value) in &table {
            if let Some(text) = value.as_str() {
                texts.push((name.clone(), text.to_owned()));
                if !text.starts_with('/') {
                    texts.push((name.clone(), folder.join(text).display().to_string()));
                }
            }
        }
    }
    texts.retain(|(_, text)| !text.is_empty());
    texts
}

/// The owner's paths a result's parameters may name (the bound values, the run's folder), and
/// what each is replaced with.
fn scrubbed_texts(dir: &Path, record: &RunRecord) -> Vec<(String, String)> {
    let mut scrub: Vec<(String, String)> = bound_texts(record)
        .into_iter()
        .map(|(name, value)| (value, format!("<bound {name}>")))
        .collect();
    // The longest first, so a folder's path never cuts a longer one it begins.
    scrub.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    // A glob's matches name files in its folder: that folder goes too, the file names stay.
    let folders: Vec<(String, String)> = scrub
        .iter()
        .filter_map(|(value, label)| {
            let fixed = &value[..value.find(['*', '?', '[']).unwrap_or(value.len())];
            let folder = &fixed[..=fixed.rfind('/')?];
            Some((folder.to_owned(), format!("{label}/")))
        })
        .collect();
    scrub.extend(folders);
    scrub.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    let absolute = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    scrub.push((absolute.to_string_lossy().into_owned(), "<bid>".into()));
    scrub
}
