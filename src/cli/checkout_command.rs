//! `devspec checkout FILE STEP [-o DIR]`: a train or checkpoint step's stored checkpoints as
//! files named by instance and training step (`ops::checkout` finds and checks them,
//! `ops::checkout_folder` lays them out), into `checkouts/<spec>/` in the project unless `-o`
//! says where. Prints what it wrote and names the instances not run yet and what was damaged.

use std::path::{Path, PathBuf};

use super::args::CheckoutArgs;
use super::run_context::{ContextArgs, planned, reading_session};
use crate::exit_code::ExitCode;
use crate::failure::{Failure, FailureClass};
use crate::ops::checkout::{Selection, stored_checkpoints};
use crate::ops::checkout_folder::{Placement, lay_out};

pub fn run(args: &CheckoutArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let plan = match planned(&args.file, &args.sets, &args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let session = reading_session(&ContextArgs::new(&args.file, &args.settings, worker))?;
    let found = stored_checkpoints(&plan, &session, &args.step, &Selection::all())?;
    for entry in &found.damaged {
        eoutln!("{entry}");
    }
    let step = &found.step;
    let run_first = format!("devspec run {} --target {step}", args.file.display());
    if found.checkpoints.is_empty() {
        return Err(Failure::new(
            FailureClass::StepFailed,
            format!("no checkpoint of `{step}` is stored yet{}", damaged_note(found.damaged.len())),
        )
        .with_hint(format!("run it first: `{run_first}`")));
    }
    let folder =
        args.out.clone().unwrap_or_else(|| default_folder(&session.config.root, &args.file));
    let laid = lay_out(&found, &session.options.spec_id, &folder)?;
    let count = |wanted: &[Placement]| {
        laid.files.iter().filter(|file| wanted.contains(&file.placement)).count()
    };
    let (linked, copied) = (count(&[Placement::Linked]), count(&[Placement::Copied]));
    let kept = count(&[Placement::KeptLink, Placement::KeptCopy]);
    outln!(
        "checkout: {} of `{step}` in {}: {linked} linked, {copied} copied, {kept} already there",
        plural(laid.files.len(), "checkpoint"),
        laid.folder.join(step).display(),
    );
    if !laid.removed.is_empty() {
        outln!(
            "removed {} of an earlier checkout that this one no longer has",
            plural(laid.removed.len(), "file")
        );
    }
    outln!("index: {}", laid.index.display());
    if linked + count(&[Placement::KeptLink]) > 0 {
        outln!(
            "note: a linked file is the store's own file (read-only): copy it before changing it"
        );
    }
    if !found.missing.is_empty() {
        eoutln!(
            "{} not run yet ({}): `{run_first}` computes them",
            plural(found.missing.len(), "instance"),
            found.missing.join(", ")
        );
    }
    Ok(if found.damaged.is_empty() { ExitCode::Success } else { ExitCode::Failed })
}

/// `checkouts/<spec name>` in the project's folder, beside `reports/<spec name>`.
pub fn default_folder(project_root: &Path, spec: &Path) -> PathBuf {
    let stem = spec.file_stem().map_or_else(|| "spec".into(), |s| s.to_string_lossy().into_owned());
    project_root.join("checkouts").join(stem)
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

fn damaged_note(damaged: usize) -> String {
    if damaged == 0 { String::new() } else { format!(" ({damaged} damaged: set aside)") }
}
