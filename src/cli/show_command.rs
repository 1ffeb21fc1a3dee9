//! `devspec show FILE STEP [--format table|csv|json]`: one step's results across its instances,
//! a row each: its coordinates, checkpoint, status and metrics. Instances not computed yet are
//! listed without metrics, so a run in progress shows its partial results. What is shown is
//! checked first (`Store::served`); a damaged result is named on stderr, set aside and shown
//! as `damaged` (exit 1), never served.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use devspec_protocol::StepKind;
use devspec_protocol::results::{self, DiagnosticName, EstimateResult, TrainResult};

use super::args::ShowArgs;
use super::run_context::{ContextArgs, planned, reading_session};
use crate::detect::Detection;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::step_results;
use crate::tables::Shape;

/// Bumped when the JSON's shape changes (documented in docs/results.md).
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Aligned columns for people.
    Table,
    /// Comma-separated values, with a header line.
    Csv,
    /// One JSON document (`schema_version`, `step`, `rows`).
    Json,
    /// An Apache Parquet file (`-o FILE`): typed columns, series as lists (docs/results.md).
    Parquet,
}

pub fn run(args: &ShowArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    if args.paths {
        return super::show_paths::run(args, worker);
    }
    let ShowArgs {
        file,
        step,
        sets,
        bind,
        format,
        output,
        long,
        precision,
        provenance,
        settings,
        paths: _,
    } = args;
    let (step, format, provenance) = (step.as_str(), *format, *provenance);
    let parquet_to = parquet_output(format, output.as_deref(), *long, provenance)?;
    let precision = usize::from(*precision);
    let plan = match planned(file, sets, bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    crate::ops::step_kind(&plan, step)?;
    let context = reading_session(&ContextArgs::new(file, settings, worker))?;
    let results = step_results(&plan, &context, step)?;
    for entry in &results.damaged {
        eoutln!("{entry}");
    }
    let damaged = !results.damaged.is_empty();
    if let Some((path, shape)) = parquet_to {
        let table = crate::tables::step_table(&results, shape);
        crate::tables::write_parquet(&table, path)?;
        let done = results.rows.iter().filter(|r| r.served().is_some()).count();
        eoutln!(
            "wrote {}: {} rows, {} columns ({} of {} instances have results)",
            path.display(),
            table.num_rows(),
            table.num_columns(),
            done,
            results.rows.len()
        );
        return Ok(if damaged { ExitCode::Failed } else { ExitCode::Success });
    }
    let rows: Vec<serde_json::Value> = results
        .rows
        .iter()
        .map(|row| {
            let coords: serde_json::Map<String, serde_json::Value> = row
                .coords
                .iter()
                .map(|(axis, value)| (axis.clone(), serde_json::Value::from(value.as_str())))
                .collect();
            let (metrics, extra) = match row.served() {
                Some(served) if provenance => (provenance_of(&served.manifest), None),
                Some(served) => (
                    serde_json::Value::Object(served.manifest.metrics.clone()),
                    details(row.kind, served.result.as_deref()),
                ),
                None => (serde_json::Value::Null, None),
            };
            let mut row = serde_json::json!({
                "instance": row.instance,
                "coords": coords,
                "checkpoint": row.checkpoint,
                "status": row.status(),
                "metrics": metrics,
            });
            if let Some((field, value)) = extra {
                row[field] = value;
            }
            row
        })
        .collect();
    let text = match format {
        ShowFormat::Json => {
            let document = serde_json::json!({ "schema_version": RESULTS_SCHEMA_VERSION, "step": step, "rows": rows });
            serde_json::to_string_pretty(&document).expect("results serialize") + "\n"
        }
        ShowFormat::Csv => tabulate(&series_rows(rows), None),
        // Written to its file above: nothing for stdout.
        ShowFormat::Parquet => String::new(),
        ShowFormat::Table if provenance => provenance_blocks(&rows),
        ShowFormat::Table => {
            let notes = diagnostic_notes(&rows) + &detection_notes(&rows);
            tabulate(&series_rows(rows), Some(precision)) + &notes
        }
    };
    out!("{text}");
    Ok(if damaged { ExitCode::Failed } else { ExitCode::Success })
}

/// Where `--format parquet` writes and in which shape; `-o` and `--long` belong to it alone.
fn parquet_output(
    format: ShowFormat,
    output: Option<&std::path::Path>,
    long: bool,
    provenance: bool,
) -> Result<Option<(&std::path::Path, Shape)>, Failure> {
    let shape = if long { Shape::Long } else { Shape::Wide };
    match (format, output) {
        (ShowFormat::Parquet, _) if provenance => Err(Failure::bad_input(
            "--provenance is not written to Parquet",
        )
        .with_hint("use `--provenance --format json` or `csv` for what produced each result")),
        (ShowFormat::Parquet, Some(path)) => Ok(Some((path, shape))),
        (ShowFormat::Parquet, None) => Err(Failure::bad_input(
            "--format parquet writes a file: say which",
        )
        .with_hint("add `-o results.parquet`")),
        (ShowFormat::Table | ShowFormat::Csv | ShowFormat::Json, Some(_)) => Err(
            Failure::bad_input("-o is for `--format parquet`")
                .with_hint("tables, CSV and JSON go to stdout: redirect it (`> file.csv`)"),
        ),
        (ShowFormat::Table | ShowFormat::Csv | ShowFormat::Json, None) if long => Err(
            Failure::bad_input("--long shapes the Parquet table")
                .with_hint("add `--format parquet -o FILE`; `--format csv` already gives a train's loss series a row per step"),
        ),
        (ShowFormat::Table | ShowFormat::Csv | ShowFormat::Json, None) => Ok(None),
    }
}

/// What produced a result, as the columns of its row (`--provenance`).
fn provenance_of(manifest: &crate::store::Manifest) -> serde_json::Value {
    let p = &manifest.provenance;
    serde_json::json!({
        "key": manifest.key,
        "spec_digest": p.spec_digest,
        "devspec": p.devspec_version,
        "commit": p.devspec_commit,
        "libtorch": p.libtorch,
        "device": p.device,
        "device_name": p.device_name,
        "cpu_capability": p.cpu_capability,
        "threads": p.threads,
        "host": p.host,
        "started": p.started,
        "wall_seconds": (p.wall_seconds() * 1000.0).round() / 1000.0,
    })
}

/// For tables with `--provenance`: a block per instance, a line per fact.
fn provenance_blocks(rows: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for row in rows {
        let name = row["instance"].as_str().unwrap_or_default();
        let p = &row["metrics"];
        if p.is_null() {
            let _ = writeln!(out, "{name}: {}\n", row["status"].as_str().unwrap_or_default());
            continue;
        }
        let text = |field: &str| p[field].as_str().unwrap_or_default().to_owned();
        let or_unknown = |text: String| if text.is_empty() { "unknown".to_owned() } else { text };
        let started = p["started"].as_f64().unwrap_or_default();
        let started = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(started.max(0.0));
        let commit = text("commit");
        let devspec = if commit.is_empty() {
            text("devspec")
        } else {
            format!("{} (commit {commit})", text("devspec"))
        };
        let mut device = text("device");
        if !text("device_name").is_empty() {
            let _ = write!(device, ": {}", text("device_name"));
        }
        if !text("cpu_capability").is_empty() {
            let _ = write!(device, " ({} kernels)", text("cpu_capability"));
        }
        let _ = writeln!(out, "{name}");
        for (label, value) in [
            ("key", text("key")),
            ("spec digest", or_unknown(text("spec_digest"))),
            ("devspec", devspec),
            (
                "libtorch",
                if text("libtorch").is_empty() { "not used".into() } else { text("libtorch") },
            ),
            ("device", device),
            ("threads", p["threads"].to_string()),
            ("host", text("host")),
            ("started", humantime::format_rfc3339_seconds(started).to_string()),
            ("wall time", format!("{:.3} s", p["wall_seconds"].as_f64().unwrap_or_default())),
        ] {
            let _ = writeln!(out, "  {label:<12} {value}");
        }
        out.push('\n');
    }
    out
}

/// What `show` takes from an instance's result beyond its metrics, as fields of its row: a
/// train's loss series (`series`: `steps`, `train_loss`, maybe `test_loss`), an estimate's
/// diagnostics with their explanations and fixes (`diagnostics`: `[{name, message, fix}]`), a
/// detection's boundaries and stages (`detection`), from its checked result's bytes.
fn details(kind: StepKind, result: Option<&[u8]>) -> Option<(&'static str, serde_json::Value)> {
    let result = result?;
    match kind {
        StepKind::Train => {
            let series = results::decode::<TrainResult>(result).ok()?.series;
            Some(("series", serde_json::to_value(series).ok()?))
        }
        // Only the LLC diagnoses itself; the others' metrics say it all.
        StepKind::Estimate => {
            let estimate = results::decode::<EstimateResult>(result).ok()?;
            let diagnostics = &estimate.observed.llc()?.estimate.diagnostics;
            Some(("diagnostics", serde_json::to_value(diagnostics).ok()?))
        }
        StepKind::Detect => {
            let detection = results::decode::<Detection>(result).ok()?;
            let shown = serde_json::json!({
                "series": detection.series,
                "method": detection.method,
                "boundaries": detection.boundaries,
                "stages": detection.stages,
            });
            Some(("detection", shown))
        }
        // A report is shown by `devspec report`; the others' metrics say it all.
        StepKind::Checkpoint | StepKind::Report | StepKind::Test => None,
    }
}

/// For tables: each detection's stage table under the table.
fn detection_notes(rows: &[serde_json::Value]) -> String {
    let mut notes = String::new();
    for row in rows {
        if let Some(detection) = row.get("detection") {
            notes.push('\n');
            super::stage_table::render(
                &mut notes,
                row["instance"].as_str().unwrap_or_default(),
                detection,
            );
        }
    }
    notes
}

/// For tables: each instance's diagnostics under the table, what each means, and one thing to
/// do: the fix of the diagnostic that comes first (`DiagnosticName::recommended`), so an
/// instance is never told both to lower and to raise the sampler's lr.
fn diagnostic_notes(rows: &[serde_json::Value]) -> String {
    let mut notes = String::new();
    for row in rows {
        let diagnostics: Vec<&serde_json::Value> =
            row.get("diagnostics").and_then(|d| d.as_array()).into_iter().flatten().collect();
        if diagnostics.is_empty() {
            continue;
        }
        let instance = row["instance"].as_str().unwrap_or_default();
        let mut names = Vec::new();
        for diagnostic in diagnostics {
            let field = |name: &str| diagnostic[name].as_str().unwrap_or_default().to_owned();
            let _ = write!(notes, "\n{instance}: {}: {}", field("name"), field("message"));
            names.extend(DiagnosticName::from_name(&field("name")));
        }
        if let Some(first) = DiagnosticName::recommended(names.iter().copied()) {
            let why = if names.len() > 1 {
                format!(" (for {}, which comes first)", first.name())
            } else {
                String::new()
            };
            let _ = write!(notes, "\n  fix: {}{why}", first.fix());
        }
    }
    if !notes.is_empty() {
        notes.push('\n');
    }
    notes
}

/// For tables: a row with a loss series becomes a row per recorded step, its losses as metrics.
fn series_rows(rows: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(series) = row.get("series") else {
            out.push(row);
            continue;
        };
        let column = |name: &str| series[name].as_array().cloned().unwrap_or_default();
        let (steps, train, test) = (column("steps"), column("train_loss"), column("test_loss"));
        for (index, step) in steps.iter().enumerate() {
            let mut metrics = serde_json::Map::new();
            metrics.insert("train_loss".into(), train.get(index).cloned().unwrap_or_default());
            if let Some(loss) = test.get(index) {
                metrics.insert("test_loss".into(), loss.clone());
            }
            out.push(serde_json::json!({
                "coords": row["coords"],
                "step": step,
                "checkpoint": null,
                "status": row["status"],
                "metrics": metrics,
            }));
        }
    }
    out
}

/// The metrics a table shows first, in this order, where a step has them; the rest follow
/// alphabetically.
const HEADLINE: [&str; 5] = ["llc_mean", "llc_se", "diagnostics", "train_loss", "test_loss"];

/// Rows as columns: coordinates, step (for loss series), checkpoint, status, the headline
/// metrics, then every other metric any row has. With `precision` (tables), a number that is
/// not whole is written to that many significant digits; without (CSV), in full.
fn tabulate(rows: &[serde_json::Value], precision: Option<usize>) -> String {
    let names = |field: &str| -> BTreeSet<String> {
        rows.iter()
            .filter_map(|row| row[field].as_object())
            .flat_map(|map| map.keys().cloned())
            .collect()
    };
    let (axes, metrics) = (names("coords"), names("metrics"));
    let metrics: Vec<String> = HEADLINE
        .iter()
        .filter(|name| metrics.contains(**name))
        .map(|name| (*name).to_owned())
        .chain(metrics.iter().filter(|name| !HEADLINE.contains(&name.as_str())).cloned())
        .collect();
    let stepped = rows.iter().any(|row| row.get("step").is_some());
    let mut header: Vec<String> = axes.iter().cloned().collect();
    if stepped {
        header.push("step".to_owned());
    }
    header.extend(["checkpoint".to_owned(), "status".to_owned()]);
    // A metric named like an axis (the test step's `value`) is told apart by a prefix.
    header.extend(
        metrics.iter().map(|m| if axes.contains(m) { format!("metric.{m}") } else { m.clone() }),
    );
    let cell = |value: &serde_json::Value| match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) if number.is_f64() => {
            match (precision, number.as_f64()) {
                (Some(digits), Some(x)) => significant(x, digits),
                _ => number.to_string(),
            }
        }
        other => other.to_string(),
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells: Vec<String> = axes.iter().map(|a| cell(&row["coords"][a])).collect();
            if stepped {
                cells.push(cell(row.get("step").unwrap_or(&serde_json::Value::Null)));
            }
            cells.push(cell(&row["checkpoint"]));
            cells.push(cell(&row["status"]));
            cells.extend(metrics.iter().map(|m| cell(&row["metrics"][m])));
            cells
        })
        .collect();
    let mut out = String::new();
    if precision.is_none() {
        for line in std::iter::once(&header).chain(&table) {
            out.push_str(&crate::columns::csv_line(line));
        }
        return out;
    }
    let lines: Vec<Vec<String>> = std::iter::once(header).chain(table).collect();
    out + &crate::columns::align(&lines, "")
}

/// `x` to `digits` significant digits (at least 1): fixed-point between 1e-4 and 1e6,
/// scientific outside, so a column of estimates reads at a glance.
fn significant(x: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if !x.is_finite() || x == 0.0 {
        return if x == 0.0 { "0".to_owned() } else { x.to_string() };
    }
    // A whole number is written whole (`nbeta` 10, not 10.00), below where the exponent form
    // starts.
    if x.fract() == 0.0 && x.abs() < 1e6 {
        return format!("{x:.0}");
    }
    // Rounded first, so that a value rounding up to the next power of ten (9.9996 to 10.00)
    // is written with the digits of its rounded magnitude.
    let rounded: f64 = format!("{:.*e}", digits - 1, x).parse().unwrap_or(x);
    let magnitude = rounded.abs().log10().floor();
    if !(-4.0..6.0).contains(&magnitude) {
        return format!("{:.*e}", digits - 1, x);
    }
    // Whole digits before the point: 0 below 1, else the magnitude + 1 (at most 6).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let before = if magnitude < 0.0 { 0 } else { magnitude as usize + 1 };
    let decimals = if magnitude < 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let zeros = (-magnitude) as usize - 1;
        zeros + digits
    } else {
        digits.saturating_sub(before)
    };
    // With as many whole digits as asked for or more, every whole digit is kept (123457, not
    // 123500): only decimals are dropped.
    let value = if before >= digits { x } else { rounded };
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn numbers_are_written_to_their_significant_digits() {
        assert_eq!(significant(std::f64::consts::PI, 4), "3.142");
        assert_eq!(significant(12.345_678_9, 4), "12.35");
        assert_eq!(significant(0.001_234_567, 4), "0.001235");
        assert_eq!(significant(-0.5, 4), "-0.5000");
        assert_eq!(significant(123_456.7, 4), "123457");
        assert_eq!(significant(1.234_567e9, 4), "1.235e9");
        assert_eq!(significant(1.5e-7, 3), "1.50e-7");
        assert_eq!(significant(0.0, 6), "0");
        assert_eq!(significant(f64::NAN, 4), "NaN");
        // Rounding up to the next power of ten keeps the requested digits.
        assert_eq!(significant(9.9996, 4), "10.00");
        assert_eq!(significant(0.99996, 4), "1.000");
        assert_eq!(significant(99_999.6, 4), "100000");
        // Whole numbers are written whole.
        assert_eq!(significant(10.0, 4), "10");
        assert_eq!(significant(-3.0, 4), "-3");
    }
}
