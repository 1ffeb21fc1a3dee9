//! `devspec export FILE -o study.tar.zst [--with-checkpoints]`: bundles a study whose lock
//! matches its results (see `study::bundle`).

use std::path::PathBuf;

use super::args::ExportArgs;
use super::run_context::{ContextArgs, RunContext, planned_with_sources};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::study::bundle::{self, ExportInput};

pub fn run(args: &ExportArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let (plan, sources) = match planned_with_sources(&args.file, &[])? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let context = RunContext::new(&ContextArgs::new(&args.file, &args.settings, worker))?;
    let exported = bundle::export(
        &ExportInput {
            spec: &args.file,
            plan: &plan,
            sources: &sources,
            store: &context.store,
            options: &context.options,
            project_root: &context.config.root,
            with_checkpoints: args.with_checkpoints,
        },
        &args.out,
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
