//! Exporting a study (`devspec export`): the spec, its files, its lock and its results as one
//! bundle (`study::bundle`), from what the store holds under this machine's keys.

use std::path::Path;

use super::Session;
use crate::exec::Results;
use crate::failure::Failure;
use crate::plan::Plan;
use crate::source::SourceMap;
use crate::study::bundle::{self, ExportInput, Exported};

/// Writes the bundle of the study `spec` (planned as `plan`, read from `sources`) to `out`.
pub fn export(
    plan: &Plan,
    sources: &SourceMap,
    session: &Session,
    spec: &Path,
    out: &Path,
    with_checkpoints: bool,
) -> Result<Exported, Failure> {
    let results = Results::in_store(plan, &session.store, &session.options);
    bundle::export(
        &ExportInput {
            spec,
            plan,
            sources,
            store: &session.store,
            options: &session.options,
            results: &results,
            project_root: &session.config.root,
            with_checkpoints,
        },
        out,
    )
}
