//! `devspec verify FILE [--steps NAME...] [--sample K]`: recomputes the locked instances (or
//! some of them) in a scratch store and compares them with the lock (`ops::verify`), then
//! prints the comparison. Exit 0 when everything judged agrees, 1 when anything differs or
//! fails to recompute.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::args::VerifyArgs;
use super::run_context::{ContextArgs, planned, session};
use super::run_progress::{LogFormat, RunProgress};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::verify::{Selection, verify};
use crate::study::verification::{Comparison, Mode, Verdict};

/// A lock written by a bound run, verified with no bindings at all: say which the locked run
/// used (the planner would only say that a parameter is open).
fn refuse_missing_bindings(args: &VerifyArgs) -> Result<(), Failure> {
    if !args.bind.binds.is_empty() || args.bind.bind_file.is_some() {
        return Ok(());
    }
    let lock_file = crate::study::lock_path(&args.file);
    let Ok(lock) = crate::study::Lock::read(&lock_file) else { return Ok(()) };
    if lock.bindings.is_empty() {
        return Ok(());
    }
    let binds: Vec<String> = lock
        .bindings
        .iter()
        .map(|binding| format!("--bind {}={}", binding.name, shell_word(&binding.value)))
        .collect();
    Err(Failure::bad_input(format!(
        "{} was written by a run with bound parameters, and this verify binds none",
        lock_file.display()
    ))
    .with_hint(format!("bind them as the locked run did: {}", binds.join(" "))))
}

/// A value quoted for a shell when it holds anything but plain path characters.
fn shell_word(value: &str) -> String {
    let plain = value.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:,".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

pub fn run(args: &VerifyArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    refuse_missing_bindings(args)?;
    let plan = match planned(&args.file, &[], &args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let session = session(&ContextArgs {
        file: &args.file,
        settings: args.settings.clone(),
        jobs: args.jobs,
        batch: None,
        worker,
    })?;
    let selection = Selection { steps: &args.steps, sample: args.sample };
    let mut progress = RunProgress::new(&plan, LogFormat::Text, true);
    let outcome = verify(&plan, &args.file, &session, &selection, &mut progress);
    progress.finish();
    let outcome = outcome?;
    let comparisons = &outcome.comparisons;
    out!("{}", render(comparisons));
    for failed in &outcome.summary.failed {
        outln!("failed to recompute {}: {}", failed.instance, failed.error);
    }
    let differ = comparisons.iter().filter(|c| c.verdict == Verdict::Differ).count();
    let agree = comparisons.iter().filter(|c| c.verdict == Verdict::Agree).count();
    let unjudged = comparisons.len() - differ - agree;
    let exact = comparisons.iter().filter(|c| c.mode == Mode::Exact).count();
    let not_recomputed = &outcome.not_recomputed;
    outln!(
        "{} instance(s) recomputed, {} compared with the lock ({exact} byte for byte, {} \
         statistically): {agree} agree, {differ} differ, {unjudged} shown without a tolerance{}",
        outcome.summary.executed,
        comparisons.len(),
        comparisons.len() - exact,
        if not_recomputed.is_empty() {
            String::new()
        } else {
            format!(", {} could not be recomputed ({})", not_recomputed.len(), not_recomputed[0])
        }
    );
    Ok(if differ == 0 && not_recomputed.is_empty() && outcome.summary.failed.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failed
    })
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
