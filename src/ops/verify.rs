//! Verifying a study (`devspec verify`): recomputes the locked instances (or some of them) and
//! everything they need in a scratch store, never reading the results it checks, and compares
//! each with its entry in the lock, and the lock with this store's entry of each key (see
//! `study::verification`).

use std::collections::BTreeSet;
use std::path::Path;

use super::{Observer, Session};
use crate::exec::RunSummary;
use crate::failure::Failure;
use crate::plan::Plan;
use crate::store::Store;
use crate::study::verification::{self, Comparison, Stored};
use crate::study::{Lock, lock_path};

/// Which locked instances to recompute.
pub struct Selection<'a> {
    /// Only these steps' instances (all when empty).
    pub steps: &'a [String],
    /// A sample of this many, chosen by their keys.
    pub sample: Option<u32>,
}

/// What a verification found.
pub struct VerifyOutcome {
    pub comparisons: Vec<Comparison>,
    /// Locked instances that could not be recomputed.
    pub not_recomputed: Vec<String>,
    /// The scratch run's summary (what failed to recompute).
    pub summary: RunSummary,
}

/// Recomputes the chosen instances of `spec`'s lock and compares them.
pub fn verify(
    plan: &Plan,
    spec: &Path,
    session: &Session,
    selection: &Selection<'_>,
    observer: &mut dyn Observer,
) -> Result<VerifyOutcome, Failure> {
    let lock_file = lock_path(spec);
    let lock = Lock::read(&lock_file)?;
    for step in selection.steps {
        if !lock.instances.iter().any(|i| &i.step == step) {
            return Err(Failure::bad_input(format!(
                "--steps {step}: {} locks no step `{step}`",
                lock_file.display()
            ))
            .with_hint("name a step of the spec, as written after its kind"));
        }
    }
    let bound_here = crate::study::lock::locked_bindings(
        &plan.bound,
        &session.options.files,
        &session.config.root,
    );
    crate::study::bound_files::check(&lock.bindings, &bound_here, &lock_file)?;
    spec_matches_lock(plan, &lock, spec, &lock_file)?;
    let chosen = choose(plan, &lock, selection.steps, selection.sample);
    let wanted: BTreeSet<&str> = chosen.iter().map(|i| i.name.as_str()).collect();
    let plan = plan.restricted_to_instances(|i| wanted.contains(i.display_name().as_str()));
    let scratch = tempfile::Builder::new()
        .prefix("devspec-verify-")
        .tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch store: {err}")))?;
    let store = Store::open(scratch.path())?;
    let mut options = session.options.clone();
    // The scratch store has its own stat cache of the files steps read.
    options.files = std::sync::Arc::new(crate::store::FileDigests::new(store.root()));
    observer.note(&format!(
        "verify: recomputing {} locked instance(s) of {} and what they need ({} instance(s)) in a scratch store",
        wanted.len(),
        lock_file.display(),
        plan.order.len()
    ));
    let summary = session.execute_in(&plan, &store, &options, observer);
    let (recomputed, _) = Lock::of_results(&plan, &summary.results, &store, &options, spec);
    let mut comparisons: Vec<Comparison> = Vec::new();
    let mut not_recomputed: Vec<String> = Vec::new();
    for locked in &lock.instances {
        if !plan.instances().any(|i| i.display_name() == locked.name) {
            continue;
        }
        match recomputed.instance(&locked.name) {
            Some(again) => {
                let stored = stored(&session.store, locked);
                comparisons.push(verification::compare(locked, again, &stored));
            }
            None => not_recomputed.push(locked.name.clone()),
        }
    }
    Ok(VerifyOutcome { comparisons, not_recomputed, summary })
}

/// This store's entry of a locked key, checked as it is served (its result against its digest,
/// its numbers against its result); a damaged one is set aside.
fn stored(store: &Store, locked: &crate::study::LockedInstance) -> Stored {
    match store.served(&locked.key) {
        Ok(Some(served)) => Stored::Entry {
            results: crate::study::lock::headline(locked.kind, &served.manifest, store),
            outputs: served.manifest.outputs,
        },
        Ok(None) => Stored::Absent,
        Err(damage) => {
            let _ = store.set_aside(&damage);
            Stored::Damaged(format!(
                "{} is damaged ({}): set aside",
                damage.what(&locked.name),
                damage.detail
            ))
        }
    }
}

/// Refuses a spec that no longer says what its lock recorded: verifying it would compare
/// different computations.
fn spec_matches_lock(
    plan: &crate::plan::Plan,
    lock: &Lock,
    file: &std::path::Path,
    lock_file: &std::path::Path,
) -> Result<(), Failure> {
    // The spec must still say what the lock recorded, or there is nothing to verify.
    for instance in plan.instances() {
        let Some(locked) = lock.instance(&instance.display_name()) else { continue };
        for (name, value) in &instance.params {
            let now = value.to_string();
            if locked.params.get(name) != Some(&now) {
                return Err(Failure::bad_input(format!(
                    "{} no longer says what {} recorded: {}.{name} is {now}, the lock has {}",
                    file.display(),
                    lock_file.display(),
                    instance.display_name(),
                    locked.params.get(name).map_or("nothing", String::as_str)
                ))
                .with_hint(
                    "verify the spec the lock was written from, or rerun it to rewrite the lock",
                ));
            }
        }
    }
    Ok(())
}

/// The locked instances to recompute: those of `--steps` (all without it), or a sample of them.
fn choose<'l>(
    plan: &crate::plan::Plan,
    lock: &'l Lock,
    steps: &[String],
    sample: Option<u32>,
) -> Vec<&'l crate::study::LockedInstance> {
    let planned_names: BTreeSet<String> =
        plan.instances().map(crate::plan::Instance::display_name).collect();
    let mut chosen: Vec<&crate::study::LockedInstance> = lock
        .instances
        .iter()
        .filter(|i| planned_names.contains(&i.name))
        .filter(|i| steps.is_empty() || steps.contains(&i.step))
        .collect();
    if let Some(k) = sample {
        // Sampled among what the workers compute (runs, checkpoints, estimates): a detection or
        // a report is derived from many of those and would pull them all in (`--steps` names
        // them). By a hash of the key: the same lock gives the same sample, spread over steps
        // and sweep points.
        if steps.is_empty() {
            chosen.retain(|i| i.kind.runs_in_worker());
        }
        chosen.sort_by_key(|i| blake3::hash(i.key.as_bytes()).to_hex().to_string());
        chosen.truncate(k as usize);
    }
    chosen
}
