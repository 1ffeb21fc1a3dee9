//! `devspec export FILE -o study.tar.zst [--with-checkpoints]`: bundles a study whose lock
//! matches its results (`ops::export`, `study::bundle`).

use std::path::PathBuf;

use super::args::ExportArgs;
use super::run_context::{ContextArgs, planned_with_sources, session};
use crate::exit_code::ExitCode;
use crate::failure::Failure;

pub fn run(args: &ExportArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let (plan, sources) =
        match planned_with_sources(&args.file, &[], &super::args::BindArgs::default())? {
            Ok(planned) => planned,
            Err(code) => return Ok(code),
        };
    let session = session(&ContextArgs::new(&args.file, &args.settings, worker))?;
    let exported = crate::ops::export::export(
        &plan,
        &sources,
        &session,
        &args.file,
        &args.out,
        args.with_checkpoints,
    )?;
    outln!(
        "exported {}: {} study file(s), {} result(s) with {} blob(s), {} bytes",
        args.out.display(),
        exported.study_files,
        exported.results,
        exported.blobs,
        exported.bytes
    );
    if exported.left_out > 0 {
        outln!(
            "left out: {} checkpoint and optimizer state(s), {} bytes (--with-checkpoints \
             bundles them; without them, the importer's run retrains to restore them)",
            exported.left_out,
            exported.left_out_bytes
        );
    }
    Ok(ExitCode::Success)
}
