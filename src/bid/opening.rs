//! The researcher's checks of a results bundle against the bid it answers (`bid open`): the
//! same spec (by digest) and bid; a commitment whose root is the one its checkpoints give, and
//! whose checkpoints are exactly those the results name; every number in the lock the number its
//! result's bytes give (so a changed number is caught wherever it was changed); every output's
//! bytes present (an output sent with fields left out, its sent copy, whose numbers are checked
//! as any result's, [`redaction_problems`]); and every step of the spec answered, redacted by
//! the owner, or named among the instances a partial run is missing.

use std::collections::BTreeSet;

use devspec_protocol::StepKind;
use devspec_protocol::results::{self, EstimateResult, TrainResult};

use super::bid_bundle::BidManifest;
use super::redaction;
use super::results_bundle::ResultsManifest;
use crate::report::data::ReportData;
use crate::study::Lock;
use crate::study::lock::{Headline, LockedInstance};

/// A checkpoint output (`checkpoint@N`) of a step that holds checkpoints: committed to by its
/// digest, never sent.
pub fn is_checkpoint_output(kind: StepKind, output: &str) -> bool {
    match kind {
        StepKind::Checkpoint | StepKind::Train | StepKind::Test => {
            output.starts_with("checkpoint@")
        }
        StepKind::Estimate | StepKind::Detect | StepKind::Report => false,
    }
}

/// An output that stays on the owner's machine and is not committed to either: an optimizer
/// state (gradients' moments), and an imported checkpoint's record (it names the owner's file).
pub fn is_withheld(kind: StepKind, output: &str) -> bool {
    output.starts_with("optimizer@") || (matches!(kind, StepKind::Checkpoint) && output == "result")
}

/// The instance names of step `step`: `step`, `step[...]`, `step@...`.
pub fn is_instance_of(instance: &str, step: &str) -> bool {
    instance
        .strip_prefix(step)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('[') || rest.starts_with('@'))
}

/// Every problem found, in words; empty when the results answer the bid.
pub fn problems(
    results: &ResultsManifest,
    lock: &Lock,
    blob: &dyn Fn(&str) -> Option<Vec<u8>>,
    bid: &BidManifest,
    bid_digest: &str,
    steps: &[(String, StepKind)],
) -> Vec<String> {
    let mut problems = Vec::new();
    if results.spec_digest != bid.spec_digest {
        problems.push(format!(
            "they answer another spec (digest {}; the bid's is {})",
            results.spec_digest, bid.spec_digest
        ));
    }
    if results.bid_digest != bid_digest {
        problems.push(format!(
            "they answer another bid (digest {}; this bid's is {bid_digest})",
            results.bid_digest
        ));
    }
    if !results.commitment.holds() {
        problems.push(format!(
            "the commitment's root {} is not the root of its checkpoints' digests",
            results.commitment.root
        ));
    }
    let mut named: BTreeSet<(String, String)> = BTreeSet::new();
    for instance in &lock.instances {
        if !steps.iter().any(|(step, kind)| *step == instance.step && *kind == instance.kind) {
            problems.push(format!("`{}` is not an instance of the bid's spec", instance.name));
            continue;
        }
        for (output, digest) in &instance.outputs {
            if is_checkpoint_output(instance.kind, output) {
                named.insert((instance.name.clone(), output.clone()));
                match results.commitment.digest_of(&instance.name, output) {
                    Some(committed) if committed == digest => {}
                    Some(committed) => problems.push(format!(
                        "`{}` {output} is checkpoint {digest}, the commitment says {committed}",
                        instance.name
                    )),
                    None => problems.push(format!(
                        "`{}` {output} (checkpoint {digest}) is not in the commitment",
                        instance.name
                    )),
                }
            } else if !is_withheld(instance.kind, output) {
                // An output sent with fields left out is read from its sent copy.
                let digest = results.sent_digest(&instance.name, output, digest);
                match blob(digest) {
                    Some(bytes) => {
                        if let Some(problem) = changed_number(instance, &bytes) {
                            problems.push(problem);
                        }
                    }
                    None => problems.push(format!(
                        "`{}` {output} ({digest}) is not in the bundle",
                        instance.name
                    )),
                }
            }
        }
    }
    for committed in &results.commitment.checkpoints {
        // A redacted step's checkpoints are committed to, their results not sent.
        let redacted =
            results.redacted.iter().any(|step| is_instance_of(&committed.instance, step));
        if !redacted && !named.contains(&(committed.instance.clone(), committed.output.clone())) {
            problems.push(format!(
                "the commitment names `{}` {}, which no result comes from",
                committed.instance, committed.output
            ));
        }
    }
    if results.complete != results.missing.is_empty() {
        problems.push("it says it is complete and names missing instances".to_owned());
    }
    for (step, _) in steps {
        let answered = lock.instances.iter().any(|i| i.step == *step)
            || results.redacted.contains(step)
            || results.missing.iter().any(|m| is_instance_of(m, step));
        if !answered {
            problems.push(format!("step `{step}` has no results, and none are said missing"));
        }
    }
    problems
}

/// Every entry of the bundle other than its lock must be a result blob named by the BLAKE3 of
/// its bytes (as the store names them and `study::bundle` checks them): else a forger could
/// change a result's bytes (and the lock's headline to match) under its old name, and the
/// lock's output digests, which the keys and the report's data name, would still point at it.
pub fn blob_problems(entries: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let hex = |s: &str| {
        s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let mut problems = Vec::new();
    for (path, bytes) in entries {
        if path == super::results_bundle::LOCK_ENTRY {
            continue;
        }
        let Some(name) = path.strip_prefix("results/blobs/").filter(|name| hex(name)) else {
            problems.push(format!("`{path}` is neither the lock nor a result blob"));
            continue;
        };
        let digest = blake3::hash(bytes).to_hex().to_string();
        if name != digest {
            problems
                .push(format!("`{path}` was changed: its bytes hash to {digest}, not to its name"));
        }
    }
    problems
}

/// The headline numbers a result's bytes give (as the lock states them): `Some(None)` for a
/// kind whose numbers are its bytes (a detection's boundaries, a report's data: the digest
/// checks them), `None` when the bytes are no result of their kind.
pub fn headline_of(kind: StepKind, bytes: &[u8]) -> Option<Option<Headline>> {
    let metrics = match kind {
        StepKind::Estimate => {
            results::decode::<EstimateResult>(bytes).ok().map(|r| r.observed.metrics())
        }
        StepKind::Train => results::decode::<TrainResult>(bytes).ok().map(|r| r.metrics()),
        StepKind::Checkpoint | StepKind::Detect | StepKind::Report | StepKind::Test => {
            return Some(None);
        }
    }?;
    let number = |name: &str| metrics.get(name).and_then(serde_json::Value::as_f64);
    let mut expected = Headline::default();
    if matches!(kind, StepKind::Train) {
        expected.final_train_loss = number("final_train_loss");
        expected.final_test_loss = number("final_test_loss");
    } else if number("llc_mean").is_some() {
        expected.llc_mean = number("llc_mean");
        expected.llc_se = number("llc_se");
    } else {
        expected.numbers = metrics
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.as_f64()?)))
            .collect();
    }
    Some(Some(expected))
}

/// Whether the lock's headline numbers of `instance` are the ones its result's bytes give.
fn changed_number(instance: &LockedInstance, bytes: &[u8]) -> Option<String> {
    let Some(expected) = headline_of(instance.kind, bytes) else {
        return Some(format!("`{}`'s result is unreadable", instance.name));
    };
    let expected = expected?;
    (format!("{expected:?}") != format!("{:?}", instance.results)).then(|| {
        format!(
            "`{}`'s numbers were changed: the lock says {:?}, its result gives {expected:?}",
            instance.name, instance.results
        )
    })
}

/// Each output the owner sent with fields left out must be one of the lock's results (a
/// training run's, an estimate's or a report's `result`, named once), with at least one field
/// that can be left out of it ([`redaction`]: an estimate's by the observable its sent bytes
/// hold, a run's, or a report's `STEP.FIELD` where that field was left out of STEP itself).
/// Its sent bytes are checked as any output's are (their name is their digest, their numbers
/// the lock's), and they must be what the owner's devspec writes: each field named is empty
/// (emptying it again changes nothing), a report carries the notice for it, and the bytes are
/// those its decoded result encodes to (nothing added beside). That they are the original's
/// less those fields cannot be checked: the original's bytes are not here.
pub fn redaction_problems(
    results: &ResultsManifest,
    lock: &Lock,
    blob: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if results.format < 2 && !results.redacted_outputs.is_empty() {
        problems.push(format!(
            "the manifest is of format {}, which sends no output with fields left out, yet it \
             lists some",
            results.format
        ));
    }
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for redacted in &results.redacted_outputs {
        let what = format!("`{}` {}", redacted.instance, redacted.output);
        if !seen.insert((&redacted.instance, &redacted.output)) {
            problems.push(format!("the manifest lists {what} as redacted twice"));
            continue;
        }
        let Some(instance) = lock
            .instances
            .iter()
            .find(|i| i.name == redacted.instance && i.outputs.contains_key(&redacted.output))
        else {
            problems.push(format!(
                "the manifest says {what} was sent with fields left out, but the results' lock \
                 has no such output"
            ));
            continue;
        };
        let redactable =
            matches!(instance.kind, StepKind::Train | StepKind::Estimate | StepKind::Report);
        if !redactable || redacted.output != "result" || redacted.fields.is_empty() {
            problems.push(format!(
                "the manifest says {what} ({}) was sent with fields left out ({}), but only a \
                 training run's, an estimate's or a report's result can be, with at least one \
                 field named",
                instance.kind,
                if redacted.fields.is_empty() {
                    "none named".to_owned()
                } else {
                    redacted.fields.join(", ")
                }
            ));
            continue;
        }
        // A missing copy is said where every output's bytes are looked for.
        let Some(bytes) = blob(&redacted.sent) else { continue };
        if let Some(problem) = sent_copy_problem(results, lock, instance, &redacted.fields, &bytes)
        {
            problems.push(format!("{what} as sent: {problem}"));
        }
    }
    problems
}

/// Why the copy of `instance`'s result sent without `fields` is not what the owner's devspec
/// writes for it, if it is not.
fn sent_copy_problem(
    results: &ResultsManifest,
    lock: &Lock,
    instance: &LockedInstance,
    fields: &[String],
    bytes: &[u8],
) -> Option<String> {
    let not_a_field = |field: &str| format!("`{field}` is not a field that can be left out of it");
    let reencoded = match instance.kind {
        StepKind::Estimate => match emptied_copy::<EstimateResult>(
            bytes,
            fields,
            |sent| redaction::of_observed(&sent.observed),
            redaction::redact_estimate,
        ) {
            Ok(encoded) => encoded,
            Err(problem) => return Some(problem),
        },
        StepKind::Train => match emptied_copy::<TrainResult>(
            bytes,
            fields,
            |_| redaction::TRAIN,
            redaction::redact_train,
        ) {
            Ok(encoded) => encoded,
            Err(problem) => return Some(problem),
        },
        StepKind::Report => {
            let Ok(mut sent) = serde_json::from_slice::<ReportData>(bytes) else {
                return Some("unreadable".to_owned());
            };
            let encoded = serde_json::to_vec(&sent).ok();
            for named in fields {
                // `STEP.FIELD`, where that field was left out of STEP itself.
                let source = named.split_once('.').and_then(|(step, name)| {
                    let field = redaction::any_named(name)?;
                    let left_out_there = results.redacted_outputs.iter().any(|other| {
                        lock.instances.iter().any(|i| i.name == other.instance && i.step == step)
                            && other.fields.iter().any(|f| f == name)
                    });
                    left_out_there.then_some((step, field))
                });
                let Some((step, field)) = source else { return Some(not_a_field(named)) };
                if !sent.redacted.contains(&redaction::notice(step, &field)) {
                    return Some(format!("its page does not say `{named}` was left out"));
                }
                let notices = sent.redacted.len();
                if redaction::redact_report(&mut sent, step, &field) {
                    return Some(format!("its `{named}` was not left out"));
                }
                sent.redacted.truncate(notices);
            }
            encoded
        }
        StepKind::Checkpoint | StepKind::Detect | StepKind::Test => return None,
    };
    (reencoded.as_deref() != Some(bytes)).then(|| {
        "its bytes are not those its result encodes to (something was added or rewritten)"
            .to_owned()
    })
}

/// A run's or an estimate's copy (`bytes`) decoded: the bytes it encodes to, when each of
/// `fields` (of the table its result has) is already empty in it, so that emptying them again
/// leaves nothing to do; else why not.
fn emptied_copy<T>(
    bytes: &[u8],
    fields: &[String],
    table_of: impl Fn(&T) -> &'static [redaction::Field],
    redact: impl Fn(&mut T, &[redaction::FieldId]) -> Vec<redaction::Field>,
) -> Result<Option<Vec<u8>>, String>
where
    T: serde::de::DeserializeOwned + serde::Serialize + results::Versioned,
{
    let mut sent = results::decode::<T>(bytes).map_err(|_| "unreadable".to_owned())?;
    let table = table_of(&sent);
    let ids = fields
        .iter()
        .map(|name| {
            redaction::named(table, name)
                .map(|f| f.id)
                .ok_or_else(|| format!("`{name}` is not a field that can be left out of it"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let encoded = serde_json::to_vec(&sent).ok();
    match redact(&mut sent, &ids).first() {
        Some(field) => Err(format!("its `{}` was not left out", field.name)),
        None => Ok(encoded),
    }
}

/// Each result's key recomputed from the bid's spec (planned here as `plan`) with the inputs
/// the results name (a checkpoint's committed digest, an estimate's result) and the machine
/// part the result records: a key that differs means the result was not computed by this spec
/// on these inputs. Every instance of the lock must be an instance of the plan, and its key
/// computable (its inputs are in the results: a redacted step's downstream steps are redacted
/// too); else it is a problem, never skipped.
pub fn key_problems(
    plan: &crate::plan::Plan,
    lock: &Lock,
    files: &crate::store::FileDigests,
) -> Vec<String> {
    let by_name: std::collections::BTreeMap<String, &LockedInstance> =
        lock.instances.iter().map(|i| (i.name.clone(), i)).collect();
    let outputs_of = |node: petgraph::graph::NodeIndex| {
        by_name.get(&plan.graph[node].display_name()).map(|locked| &locked.outputs)
    };
    // The keys a report's key holds: its inputs' locked keys, each checked here on its own (an
    // imported checkpoint's is the owner's, as its digest is).
    let key_of = |node: petgraph::graph::NodeIndex| {
        by_name.get(&plan.graph[node].display_name()).map(|locked| locked.key.clone())
    };
    let planned: BTreeSet<String> =
        plan.order.iter().map(|&node| plan.graph[node].display_name()).collect();
    let mut problems: Vec<String> = lock
        .instances
        .iter()
        .filter(|locked| !planned.contains(&locked.name))
        .map(|locked| format!("`{}` is not an instance the bid's spec plans", locked.name))
        .collect();
    for &node in &plan.order {
        // An imported checkpoint's key is its file's digest: the owner's file, not here.
        if matches!(plan.graph[node].kind, StepKind::Checkpoint) {
            continue;
        }
        let Some(locked) = by_name.get(&plan.graph[node].display_name()) else { continue };
        let Some((key, _)) =
            crate::exec::instance_key(plan, node, &outputs_of, &key_of, &locked.environment, files)
        else {
            problems.push(format!(
                "`{}`'s key cannot be recomputed: an instance it reads has no results",
                locked.name
            ));
            continue;
        };
        let key = key.digest();
        if key != locked.key {
            problems.push(format!(
                "`{}` has key {}, but the bid's spec on the inputs the results name gives {key}",
                locked.name, locked.key
            ));
        }
    }
    problems
}
