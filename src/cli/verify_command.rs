//! `devspec verify FILE [--steps NAME...] [--sample K]`: recomputes the locked instances (or
//! some of them) and everything they need in a scratch store, never reading the results it
//! checks, and compares each with its entry in `FILE.lock`, and the lock with this store's
//! entry of each key (see `study::verification`). Exit 0 when everything judged agrees, 1 when
//! anything differs or fails to recompute.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::args::VerifyArgs;
use super::run_context::{ContextArgs, RunContext, planned};
use super::run_progress::{LogFormat, RunProgress};
use crate::exec::Executor;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::store::Store;
use crate::study::verification::{self, Comparison, Mode, Stored, Verdict};
use crate::study::{Lock, lock_path};

pub fn run(args: &VerifyArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let plan = match planned(&args.file, &[])? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let lock_file = lock_path(&args.file);
    let lock = Lock::read(&lock_file)?;
    for step in &args.steps {
        if !lock.instances.iter().any(|i| &i.step == step) {
            return Err(Failure::bad_input(format!(
                "--steps {step}: {} locks no step `{step}`",
                lock_file.display()
            ))
            .with_hint("name a step of the spec, as written after its kind"));
        }
    }
    spec_matches_lock(&plan, &lock, &args.file, &lock_file)?;
    let chosen = choose(&plan, &lock, args);
    let wanted: BTreeSet<&str> = chosen.iter().map(|i| i.name.as_str()).collect();
    let plan = plan.restricted_to_instances(|i| wanted.contains(i.display_name().as_str()));
    let context = RunContext::new(&ContextArgs {
        file: &args.file,
        settings: args.settings.clone(),
        jobs: args.jobs,
        batch: None,
        worker,
    })?;
    let scratch = tempfile::Builder::new()
        .prefix("devspec-verify-")
        .tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch store: {err}")))?;
    let store = Store::open(scratch.path())?;
    let mut options = context.options.clone();
    // The scratch store has its own stat cache of the files steps read.
    options.files = std::sync::Arc::new(crate::store::FileDigests::new(store.root()));
    eoutln!(
        "verify: recomputing {} locked instance(s) of {} and what they need ({} instance(s)) in a scratch store",
        wanted.len(),
        lock_file.display(),
        plan.order.len()
    );
    let executor =
        Executor { plan: &plan, store: &store, worker: context.worker, options: options.clone() };
    let mut progress = RunProgress::new(plan.order.len(), LogFormat::Text, true);
    let summary = executor.run(&mut |event| progress.event(event));
    progress.finish();
    let (recomputed, _) = Lock::of_results(&plan, &store, &options, &args.file);
    let mut comparisons: Vec<Comparison> = Vec::new();
    let mut not_recomputed: Vec<String> = Vec::new();
    for locked in &lock.instances {
        if !plan.instances().any(|i| i.display_name() == locked.name) {
            continue;
        }
        match recomputed.instance(&locked.name) {
            Some(again) => {
                let stored = stored(&context.store, locked);
                comparisons.push(verification::compare(locked, again, &stored));
            }
            None => not_recomputed.push(locked.name.clone()),
        }
    }
    out!("{}", render(&comparisons));
    for failed in &summary.failed {
        outln!("failed to recompute {}: {}", failed.instance, failed.error);
    }
    let differ = comparisons.iter().filter(|c| c.verdict == Verdict::Differ).count();
    let agree = comparisons.iter().filter(|c| c.verdict == Verdict::Agree).count();
    let unjudged = comparisons.len() - differ - agree;
    let exact = comparisons.iter().filter(|c| c.mode == Mode::Exact).count();
    outln!(
        "{} instance(s) recomputed, {} compared with the lock ({exact} byte for byte, {} \
         statistically): {agree} agree, {differ} differ, {unjudged} shown without a tolerance{}",
        summary.executed,
        comparisons.len(),
        comparisons.len() - exact,
        if not_recomputed.is_empty() {
            String::new()
        } else {
            format!(", {} could not be recomputed ({})", not_recomputed.len(), not_recomputed[0])
        }
    );
    Ok(if differ == 0 && not_recomputed.is_empty() && summary.failed.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failed
    })
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
    args: &VerifyArgs,
) -> Vec<&'l crate::study::LockedInstance> {
    let planned_names: BTreeSet<String> =
        plan.instances().map(crate::plan::Instance::display_name).collect();
    let mut chosen: Vec<&crate::study::LockedInstance> = lock
        .instances
        .iter()
        .filter(|i| planned_names.contains(&i.name))
        .filter(|i| args.steps.is_empty() || args.steps.contains(&i.step))
        .collect();
    if let Some(k) = args.sample {
        // Sampled among what the workers compute (runs, checkpoints, estimates): a detection or
        // a report is derived from many of those and would pull them all in (`--steps` names
        // them). By a hash of the key: the same lock gives the same sample, spread over steps
        // and sweep points.
        if args.steps.is_empty() {
            chosen.retain(|i| i.kind.runs_in_worker());
        }
        chosen.sort_by_key(|i| blake3::hash(i.key.as_bytes()).to_hex().to_string());
        chosen.truncate(k as usize);
    }
    chosen
}

/// The comparisons as a table: a row per compared quantity, grouped by instance, with how each
/// was compared.
fn render(comparisons: &[Comparison]) -> String {
    let mut rows: Vec<Vec<String>> = vec![vec![
        "instance".into(),
        "quantity".into(),
        "locked".into(),
        "recomputed".into(),
        "store".into(),
        "verdict".into(),
        "how".into(),
    ]];
    let mut notes = String::new();
    for c in comparisons {
        if c.mode == Mode::Statistical && !c.differing_parts.is_empty() {
            let _ = writeln!(
                notes,
                "{}: compared statistically: {}",
                c.instance,
                c.differing_parts.join(", ")
            );
        }
        for (index, line) in c.lines.iter().enumerate() {
            let verdict = match line.verdict {
                Verdict::Agree => "agree",
                Verdict::Differ => "DIFFER",
                Verdict::NotJudged => "",
            };
            rows.push(vec![
                if index == 0 { c.instance.clone() } else { String::new() },
                line.quantity.clone(),
                line.locked.clone(),
                line.recomputed.clone(),
                line.stored.clone(),
                verdict.into(),
                line.measure.clone(),
            ]);
        }
    }
    crate::columns::align(&rows, "") + &notes
}
