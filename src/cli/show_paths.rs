//! `devspec show FILE STEP --paths`: each stored output of a step's instances as its file in the
//! store, a row per output: instance, output (`checkpoint@1000`, `result`), digest, bytes, path
//! (`--format table|csv|json`). Only entries the store serves are listed (`ops::step_results`,
//! as `show` reads them: the record's seal, every output's size, the result's bytes); a damaged
//! one is named on stderr, set aside, and the command exits 1. A checkpoint's bytes are checked against its digest by
//! whatever reads it (`devspec checkout`, `devspec store check`), not by this listing.

use std::path::PathBuf;

use devspec_protocol::store_layout;

use super::args::ShowArgs;
use super::run_context::{ContextArgs, planned, reading_session};
use super::show_command::{RESULTS_SCHEMA_VERSION, ShowFormat};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::{RowState, step_results};

/// One stored output.
struct PathRow {
    instance: String,
    coords: serde_json::Map<String, serde_json::Value>,
    output: String,
    digest: String,
    bytes: u64,
    path: PathBuf,
}

pub fn run(args: &ShowArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let step = args.step.as_str();
    if args.format == ShowFormat::Parquet {
        return Err(Failure::bad_input(
            "`show --paths` writes `table`, `csv` or `json`, not parquet",
        )
        .with_hint(
            "drop `--format parquet`, or drop `--paths` to write the step's results as Parquet",
        ));
    }
    let plan = match planned(&args.file, &args.sets, &args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let context = reading_session(&ContextArgs::new(&args.file, &args.settings, worker))?;
    let results = step_results(&plan, &context, step)?;
    for entry in &results.damaged {
        eoutln!("{entry}");
    }
    let (mut rows, mut not_run) = (Vec::new(), Vec::new());
    for row in &results.rows {
        let manifest = match &row.state {
            RowState::Done(served) => &served.manifest,
            RowState::NotRun(_) => {
                not_run.push(row.instance.clone());
                continue;
            }
            RowState::Damaged => continue,
        };
        // Checkpoints, then optimizer states, each in training order, then the result.
        let mut outputs: Vec<(&String, &String)> = manifest.outputs.iter().collect();
        outputs.sort_by_key(|(name, _)| output_order(name));
        for (output, digest) in outputs {
            rows.push(PathRow {
                instance: row.instance.clone(),
                coords: row
                    .coords
                    .iter()
                    .map(|(axis, value)| (axis.clone(), serde_json::Value::from(value.as_str())))
                    .collect(),
                output: output.clone(),
                digest: digest.clone(),
                bytes: manifest.sizes.get(digest).copied().unwrap_or_default(),
                path: store_layout::blob_path(context.store.root(), digest),
            });
        }
    }
    if !not_run.is_empty() {
        eoutln!(
            "{} of `{step}`'s instances have no stored results yet ({}): `devspec run` computes them",
            not_run.len(),
            not_run.join(", ")
        );
    }
    out!("{}", render(step, &rows, args.format));
    Ok(if results.damaged.is_empty() { ExitCode::Success } else { ExitCode::Failed })
}

/// Where an output's row goes among its instance's: `checkpoint@N`, then other `NAME@N` (the
/// optimizer's states), each by N, then the rest (`result`).
fn output_order(name: &str) -> (u8, String, u64) {
    match name.split_once('@') {
        Some((base, at)) => {
            let rank = u8::from(base != "checkpoint");
            (rank, base.to_owned(), at.parse().unwrap_or(u64::MAX))
        }
        None => (2, name.to_owned(), 0),
    }
}

fn render(step: &str, rows: &[PathRow], format: ShowFormat) -> String {
    match format {
        // Refused before anything was read.
        ShowFormat::Parquet => String::new(),
        ShowFormat::Json => {
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    serde_json::json!({
                        "instance": row.instance,
                        "coords": row.coords,
                        "output": row.output,
                        "digest": row.digest,
                        "bytes": row.bytes,
                        "path": row.path.display().to_string(),
                    })
                })
                .collect();
            let document = serde_json::json!({
                "schema_version": RESULTS_SCHEMA_VERSION,
                "step": step,
                "rows": rows,
            });
            serde_json::to_string_pretty(&document).expect("paths serialize") + "\n"
        }
        ShowFormat::Csv => {
            let mut out = String::from("instance,output,digest,bytes,path\n");
            for row in rows {
                let cells = [
                    row.instance.clone(),
                    row.output.clone(),
                    row.digest.clone(),
                    row.bytes.to_string(),
                    row.path.display().to_string(),
                ];
                out.push_str(&crate::columns::csv_line(&cells));
            }
            out
        }
        // For people: the digest's first 12 digits (the path ends with all of it).
        ShowFormat::Table => {
            let header = ["instance", "output", "digest", "bytes", "path"].map(str::to_owned);
            let lines: Vec<Vec<String>> = std::iter::once(header.to_vec())
                .chain(rows.iter().map(|row| {
                    vec![
                        row.instance.clone(),
                        row.output.clone(),
                        row.digest.chars().take(12).collect(),
                        row.bytes.to_string(),
                        row.path.display().to_string(),
                    ]
                }))
                .collect();
            crate::columns::align(&lines, "")
        }
    }
}
