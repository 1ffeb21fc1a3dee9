//! `devspec show FILE STEP --paths`: each stored output of a step's instances as its file in the
//! store, a row per output: instance, output (`checkpoint@1000`, `result`), digest, bytes, path
//! (`--format table|csv|json`). Only entries the store serves are listed (`Store::served`: the
//! record's seal, every output's size, the result's bytes); a damaged one is named on stderr,
//! set aside, and the command exits 1. A checkpoint's bytes are checked against its digest by
//! whatever reads it (`devspec checkout`, `devspec store check`), not by this listing.

use std::fmt::Write as _;
use std::path::PathBuf;

use devspec_protocol::store_layout;

use super::args::ShowArgs;
use super::run_context::{ContextArgs, planned, session};
use super::show_command::{RESULTS_SCHEMA_VERSION, ShowFormat};
use crate::exec::{InstanceStatus, survey};
use crate::exit_code::ExitCode;
use crate::failure::Failure;

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
        .with_hint("drop `--format parquet`, or `--paths` for the step's results as a table"));
    }
    let plan = match planned(&args.file, &args.sets)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let Ok(plan) = plan.restricted_to(&[step.to_owned()]) else {
        return Err(Failure::bad_input(format!("the spec has no step `{step}`"))
            .with_hint("name a step of the spec, as written after its kind"));
    };
    let context = session(&ContextArgs::new(&args.file, &args.settings, worker))?;
    let statuses = survey(&plan, &context.store, &context.options);
    let (mut rows, mut not_run, mut damaged) = (Vec::new(), Vec::new(), false);
    for &node in &plan.order {
        let instance = &plan.graph[node];
        if instance.step_name != step {
            continue;
        }
        let name = instance.display_name();
        let InstanceStatus::Cached(manifest) = &statuses[node.index()] else {
            not_run.push(name);
            continue;
        };
        let manifest = match context.store.served(&manifest.key) {
            Ok(Some(served)) => served.manifest,
            Ok(None) => {
                not_run.push(name);
                continue;
            }
            Err(damage) => {
                let _ = context.store.set_aside(&damage);
                eoutln!(
                    "store: {} is damaged ({}): set aside; `devspec run` recomputes it",
                    damage.what(&name),
                    damage.detail
                );
                damaged = true;
                continue;
            }
        };
        // In the plan's order of outputs: checkpoints by training step, then the result.
        for output in &instance.outputs {
            let output = output.to_string();
            let Some(digest) = manifest.outputs.get(&output) else { continue };
            rows.push(PathRow {
                instance: name.clone(),
                coords: instance
                    .coords
                    .iter()
                    .map(|c| (c.axis.clone(), serde_json::Value::from(c.value.to_string())))
                    .collect(),
                output,
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
    Ok(if damaged { ExitCode::Failed } else { ExitCode::Success })
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
                let quoted: Vec<String> = cells
                    .iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                let _ = writeln!(out, "{}", quoted.join(","));
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
