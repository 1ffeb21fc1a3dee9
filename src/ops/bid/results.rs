//! `bid results`: only the results, provenance without hosts or paths, and the commitment
//! (`bid::results_bundle`, `bid::commitment`), scanned before anything is written.

use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;
use devspec_protocol::results::{self, EstimateResult, TrainResult};

use super::{draw_reports, exporter, planned_in};
use crate::bid::archive::{self, Archive};
use crate::bid::commitment::{Commitment, CommittedCheckpoint};
use crate::bid::opening::{headline_of, is_checkpoint_output, is_withheld};
use crate::bid::redaction::{self, Field, FieldId, Request};
use crate::bid::results_bundle::{
    LOCK_ENTRY, RESULTS_FORMAT, RESULTS_MANIFEST, RedactedOutput, ResultsManifest, Scan,
};
use crate::bid::run_record::RunRecord;
use crate::exec::Results;
use crate::failure::Failure;
use crate::report::data::ReportData;
use crate::study::Lock;
use crate::study::bundle::write_archive;
use crate::study::lock::{Headline, LockedInstance};

/// What `bid results` wrote.
pub struct ResultsExported {
    pub instances: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub manifest: ResultsManifest,
    /// Where the report drawn from the written bundle went (the page the researcher will see).
    pub reports: Vec<PathBuf>,
}

/// How many checkpoints and model states the scan will forbid by their bytes, so that they
/// share one budget of samples.
fn states_to_forbid(lock: &Lock) -> usize {
    lock.instances
        .iter()
        .flat_map(|i| i.outputs.keys().map(move |output| (i.kind, output)))
        .filter(|(kind, output)| {
            is_checkpoint_output(*kind, output) || output.starts_with("optimizer@")
        })
        .count()
}

/// Writes the results of the bid run in `dir` to `out`: only results, provenance without hosts
/// or paths, and the commitment; scanned so that no checkpoint's bytes go in.
pub fn results(dir: &Path, out: &Path, redact: &[String]) -> Result<ResultsExported, Failure> {
    let record = RunRecord::read(dir)?;
    let spec = dir.join(&record.spec);
    let (plan, session) = planned_in(dir, &spec, &record)?;
    let (redacted, fields) = requested(&plan, redact)?;
    let present = Results::in_store(&plan, &session.store, &session.options);
    let (mut lock, missing) =
        Lock::of_results(&plan, &present, &session.store, &session.options, &spec);
    scrub(&mut lock, &plan);
    let mut scan = Scan::for_checkpoints(states_to_forbid(&lock));
    let mut committed = Vec::new();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs = std::collections::BTreeSet::new();
    let mut copies: Vec<SentCopy> = Vec::new();
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
            } else if !redacted.contains(&instance.step) {
                let copy = if output == "result" && !fields.is_empty() {
                    let bytes = session.store.read_blob(digest).map_err(|err| {
                        Failure::environment(format!(
                            "cannot read {}'s {output}: {err}",
                            instance.name
                        ))
                    })?;
                    refuse_detection_of_redacted(&plan, instance, &bytes, &fields)?;
                    redacted_copy(instance, &bytes, &fields)?
                } else {
                    None
                };
                match copy {
                    Some(copy) => copies.push(copy),
                    None => {
                        blobs.insert(digest.clone());
                    }
                }
            }
        }
    }
    // A copy's headline is the one its bytes give (a run's final loss goes with its series):
    // the researcher checks the lock's numbers against the bytes sent.
    for SentCopy { entry, headline, .. } in &copies {
        if let (Some(instance), Some(headline)) =
            (lock.instances.iter_mut().find(|i| i.name == entry.instance), headline)
        {
            instance.results = headline.clone();
        }
    }
    // The scan and the commitment are of every result (a redacted step's checkpoints are still
    // committed to, and their bytes still forbidden); only what is written is redacted.
    lock.instances.retain(|i| !redacted.contains(&i.step));
    let lock_text = lock.to_text();
    contents.push((LOCK_ENTRY.to_owned(), lock_text.into_bytes()));
    contents.extend(result_entries(&session.store, &blobs, &copies)?);
    forbid_owners_paths(&mut scan, dir, &plan);
    if let Some(why) = contents.iter().find_map(|(path, bytes)| scan.refusal(path, bytes)) {
        return Err(Failure::bad_input(format!(
            "the results of {} would carry what must not leave: {why}; nothing was written",
            dir.display()
        ))
        .with_hint("results never carry weights; check the store with `devspec store check`"));
    }
    let commitment = unambiguous(Commitment::new(committed))?;
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
        redacted: redacted.clone(),
        redacted_outputs: copies.into_iter().map(|copy| copy.entry).collect(),
        commitment,
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
        blobs: contents.len() - 1,
        bytes,
        manifest,
        reports,
    })
}

/// The steps left out whole, and the fields (by step) left out of the others.
type Requested = (Vec<String>, Vec<(String, Field)>);

/// What `--redact` asks: the steps left out whole (with every step downstream of one), and the
/// fields left out of the others. A step the bid lacks is refused.
fn requested(plan: &crate::plan::Plan, redact: &[String]) -> Result<Requested, Failure> {
    let requests: Vec<Request> = redact.iter().map(|text| Request::parse(text)).collect();
    if let Some((text, request)) = redact
        .iter()
        .zip(&requests)
        .find(|(_, r)| !plan.instances().any(|i| i.step_name == r.step()))
    {
        return Err(Failure::bad_input(format!(
            "--redact {text}: the bid has no step `{}`",
            request.step()
        ))
        .with_hint("--redact STEP leaves a step's results here; --redact STEP.FIELD one field"));
    }
    let whole: Vec<String> = requests
        .iter()
        .filter_map(|r| match r {
            Request::Step(step) => Some(step.clone()),
            Request::Field { .. } => None,
        })
        .collect();
    let redacted = redacted_with_downstream(plan, &whole);
    let fields = requested_fields(plan, &requests, &redacted)?;
    Ok((redacted, fields))
}

/// An output sent with fields left out: its manifest entry, the copy's bytes, and the headline
/// they give (the lock's for it).
struct SentCopy {
    entry: RedactedOutput,
    bytes: Vec<u8>,
    headline: Option<Headline>,
}

/// The fields `requests` leave out, by step (steps left out whole aside): each one the step's
/// kind or observable has, else a refusal listing those it has.
fn requested_fields(
    plan: &crate::plan::Plan,
    requests: &[Request],
    redacted: &[String],
) -> Result<Vec<(String, Field)>, Failure> {
    let mut fields: Vec<(String, Field)> = Vec::new();
    for request in requests {
        let Request::Field { step, field } = request else { continue };
        // Each instance's own observable (a sweep may give a step several).
        let mut available: Vec<Field> = Vec::new();
        let mut kind = None;
        for instance in plan.instances().filter(|i| i.step_name == *step) {
            kind = Some(instance.kind);
            let observable = instance.params.get("observable").and_then(super::Value::typed);
            for found in redaction::of_step(instance.kind, observable.as_ref()) {
                if !available.contains(found) {
                    available.push(*found);
                }
            }
        }
        let Some(found) = available.iter().find(|f| f.name == field) else {
            let kind = kind.map(|k| format!(" ({k})")).unwrap_or_default();
            return Err(Failure::bad_input(format!(
                "--redact {step}.{field}: step `{step}`{kind} has no field `{field}` to leave \
                 out; its fields: {}",
                redaction::listed(&available)
            ))
            .with_hint(format!(
                "--redact {step}.FIELD leaves one of those out; --redact {step} leaves the whole \
                 step out (and every step that reads it)"
            )));
        };
        if redacted.contains(step) {
            continue;
        }
        // A field computed from another goes with it (each chain's estimate from its trace):
        // sent alone, the other would give it back.
        let source =
            redaction::implied(found.id).and_then(|id| available.iter().find(|f| f.id == id));
        for field in std::iter::once(found).chain(source) {
            if !fields.iter().any(|(s, f)| s == step && f == field) {
                fields.push((step.clone(), *field));
            }
        }
    }
    Ok(fields)
}

/// A detection holds the series it searched (its `values`, and what its method computed on
/// them), and the report drawing it holds the detection: one that searched a field left out
/// of its input would send that field's numbers anyway. Refused, saying what to redact.
fn refuse_detection_of_redacted(
    plan: &crate::plan::Plan,
    instance: &LockedInstance,
    bytes: &[u8],
    fields: &[(String, Field)],
) -> Result<(), Failure> {
    if !matches!(instance.kind, StepKind::Detect) {
        return Ok(());
    }
    let Ok(detection) = results::decode::<crate::detect::Detection>(bytes) else {
        return Ok(());
    };
    let Some(node) =
        plan.order.iter().copied().find(|&n| plan.graph[n].display_name() == instance.name)
    else {
        return Ok(());
    };
    let reads: Vec<&str> = plan
        .graph
        .neighbors_directed(node, petgraph::Direction::Incoming)
        .map(|input| plan.graph[input].step_name.as_str())
        .collect();
    match fields
        .iter()
        .find(|(step, field)| reads.contains(&step.as_str()) && field.name == detection.series)
    {
        None => Ok(()),
        Some((step, field)) => Err(Failure::bad_input(format!(
            "--redact {step}.{}: step `{}` (detect) searched `{step}`'s `{}`, and its result \
             (and every report drawing it) holds those numbers; nothing was written",
            field.name, instance.step, field.name
        ))
        .with_hint(format!(
            "leave the detection out too (`--redact {}`), or send `{step}.{}`",
            instance.step, field.name
        ))),
    }
}

/// The copy of `instance`'s result (`bytes`) to send, with the requested `fields` left out,
/// naming those it had (`traces`; a report's as `llc.traces`); `None` when it had none of them
/// (it is sent as it is).
fn redacted_copy(
    instance: &LockedInstance,
    bytes: &[u8],
    fields: &[(String, Field)],
) -> Result<Option<SentCopy>, Failure> {
    let ids: Vec<FieldId> =
        fields.iter().filter(|(step, _)| *step == instance.step).map(|(_, f)| f.id).collect();
    let unreadable = |err: &dyn std::fmt::Display| {
        Failure::environment(format!(
            "cannot leave fields out of `{}`: its result is unreadable: {err}",
            instance.name
        ))
        .with_hint("`devspec store check` checks the bid's store")
    };
    let (copy, left_out): (Vec<u8>, Vec<String>) = match instance.kind {
        StepKind::Estimate => {
            let mut result = results::decode::<EstimateResult>(bytes)
                .map_err(|err| unreadable(&format!("{err:?}")))?;
            let done = redaction::redact_estimate(&mut result, &ids);
            let copy = serde_json::to_vec(&result).map_err(|err| unreadable(&err))?;
            (copy, done.iter().map(|f| f.name.to_owned()).collect())
        }
        StepKind::Train => {
            let mut result = results::decode::<TrainResult>(bytes)
                .map_err(|err| unreadable(&format!("{err:?}")))?;
            let done = redaction::redact_train(&mut result, &ids);
            let copy = serde_json::to_vec(&result).map_err(|err| unreadable(&err))?;
            (copy, done.iter().map(|f| f.name.to_owned()).collect())
        }
        StepKind::Report => {
            let mut data: ReportData =
                serde_json::from_slice(bytes).map_err(|err| unreadable(&err))?;
            let done: Vec<String> = fields
                .iter()
                .filter(|(step, field)| redaction::redact_report(&mut data, step, field))
                .map(|(step, field)| format!("{step}.{}", field.name))
                .collect();
            let copy = serde_json::to_vec(&data).map_err(|err| unreadable(&err))?;
            (copy, done)
        }
        StepKind::Checkpoint | StepKind::Detect | StepKind::Test => return Ok(None),
    };
    if left_out.is_empty() {
        return Ok(None);
    }
    let entry = RedactedOutput {
        instance: instance.name.clone(),
        output: "result".to_owned(),
        fields: left_out,
        sent: blake3::hash(&copy).to_hex().to_string(),
    };
    let headline = headline_of(instance.kind, &copy).flatten();
    Ok(Some(SentCopy { entry, bytes: copy, headline }))
}

/// The owner's paths, which no entry may name: the run's folder, every absolute text bound,
/// every bound file.
fn forbid_owners_paths(scan: &mut Scan, dir: &Path, plan: &crate::plan::Plan) {
    scan.forbid_text(
        &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string(),
    );
    for bound in &plan.bound {
        if bound.text.starts_with('/') {
            scan.forbid_text(&bound.text);
        }
        for file in &bound.files {
            scan.forbid_text(&file.display().to_string());
        }
    }
}

/// The bundle's result entries: each blob sent as it is, and each copy sent with fields left
/// out (once, by its own digest).
fn result_entries(
    store: &crate::store::Store,
    blobs: &std::collections::BTreeSet<String>,
    copies: &[SentCopy],
) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut entries = Vec::new();
    for digest in blobs {
        let bytes = store.read_blob(digest).map_err(|err| {
            Failure::environment(format!("cannot read the result {digest}: {err}"))
        })?;
        entries.push((format!("results/blobs/{digest}"), bytes));
    }
    let mut written = blobs.clone();
    for SentCopy { entry, bytes, .. } in copies {
        if written.insert(entry.sent.clone()) {
            entries.push((format!("results/blobs/{}", entry.sent), bytes.clone()));
        }
    }
    Ok(entries)
}

/// `commitment`, refused when a field's tab or newline would make its root ambiguous.
fn unambiguous(commitment: Commitment) -> Result<Commitment, Failure> {
    match commitment.ambiguous() {
        None => Ok(commitment),
        Some(field) => Err(Failure::bad_input(format!(
            "the commitment would name {field:?}, whose tab or newline makes its root ambiguous; \
             nothing was written"
        ))
        .with_hint("name the steps and sweep values of a bid without tabs or newlines")),
    }
}

/// The steps `redact` names and every step downstream of one, in plan order: a step that reads
/// a redacted step's results carries them on (a report's data holds the estimates it draws).
fn redacted_with_downstream(plan: &crate::plan::Plan, redact: &[String]) -> Vec<String> {
    let mut redacted: Vec<String> = Vec::new();
    for &node in &plan.order {
        let step = &plan.graph[node].step_name;
        let reads_redacted = plan
            .graph
            .neighbors_directed(node, petgraph::Direction::Incoming)
            .any(|input| redacted.contains(&plan.graph[input].step_name));
        if (redact.contains(step) || reads_redacted) && !redacted.contains(step) {
            redacted.push(step.clone());
        }
    }
    redacted
}

/// The owner's paths out of `lock`, by structure: each `file`/`files` binding's value and
/// files become `<bound NAME>` (a glob keeps its file pattern, a file its name: the researcher
/// plans on stand-ins named so), and each parameter whose value holds a bound file is
/// rendered again with that file as `<bound NAME>/FILE`. Every other text is left as it is (a
/// bound number must not rewrite the digits of another parameter); each bound file's digest
/// stays, beside the commitment.
fn scrub(lock: &mut Lock, plan: &crate::plan::Plan) {
    let mut labels: std::collections::BTreeMap<PathBuf, String> = std::collections::BTreeMap::new();
    for bound in &plan.bound {
        if !bound.ty.names_files() {
            continue;
        }
        for file in &bound.files {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let label = format!("<bound {}>/{name}", bound.name);
            labels.insert(file.canonicalize().unwrap_or_else(|_| file.clone()), label.clone());
            labels.insert(file.clone(), label);
        }
    }
    for binding in &mut lock.bindings {
        let Some(bound) = plan.bound.iter().find(|b| b.name == binding.name && b.ty.names_files())
        else {
            continue;
        };
        let pattern = Path::new(&bound.text).file_name().unwrap_or_default().to_string_lossy();
        binding.value = match bound.ty {
            crate::compile::ParamType::Files => format!("<bound {}>/{pattern}", bound.name),
            crate::compile::ParamType::File
            | crate::compile::ParamType::Model
            | crate::compile::ParamType::Data
            | crate::compile::ParamType::Number
            | crate::compile::ParamType::Integer
            | crate::compile::ParamType::String
            | crate::compile::ParamType::Boolean => format!("<bound {}>", bound.name),
        };
        for file in &mut binding.files {
            let name = Path::new(&file.path).file_name().unwrap_or_default().to_string_lossy();
            file.path = format!("<bound {}>/{name}", bound.name);
        }
    }
    for instance in plan.instances() {
        let Some(locked) = lock.instances.iter_mut().find(|i| i.name == instance.display_name())
        else {
            continue;
        };
        for (name, value) in &instance.params {
            if let Some(scrubbed) = relabelled(value, &labels) {
                locked.params.insert(name.clone(), scrubbed.to_string());
            }
        }
    }
}

/// `value` with each bound file in it written as its label; `None` when it holds none.
fn relabelled(
    value: &super::Value,
    labels: &std::collections::BTreeMap<PathBuf, String>,
) -> Option<super::Value> {
    use super::ValueKind;
    let mut out = value.clone();
    let changed = match &mut out.kind {
        ValueKind::File { written, path } => match labels.get(path.as_path()) {
            Some(label) => {
                written.clone_from(label);
                true
            }
            None => false,
        },
        ValueKind::List(items) | ValueKind::Sweep { values: items, .. } => {
            relabel_each(items.iter_mut(), labels)
        }
        ValueKind::Record(fields) | ValueKind::Ctor { args: fields, .. } => {
            relabel_each(fields.values_mut(), labels)
        }
        ValueKind::Int(_)
        | ValueKind::Float(_)
        | ValueKind::Str(_)
        | ValueKind::Bool(_)
        | ValueKind::Auto
        | ValueKind::Enum(_)
        | ValueKind::Open { .. } => false,
    };
    changed.then_some(out)
}

/// Each of `items` relabelled in place; whether any held a bound file.
fn relabel_each<'a>(
    items: impl Iterator<Item = &'a mut super::Value>,
    labels: &std::collections::BTreeMap<PathBuf, String>,
) -> bool {
    let mut any = false;
    for item in items {
        if let Some(new) = relabelled(item, labels) {
            *item = new;
            any = true;
        }
    }
    any
}
