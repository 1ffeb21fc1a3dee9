//! `devspec show --format parquet` on a small TMS study: the Parquet file holds the same
//! numbers `show --format json` prints (wide: a row per instance; long: a train's loss series a
//! row per step), its schema says what it is, and reading needs no worker.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use super::run::Project;

/// Two seeds, four checkpoints, few draws: a run takes a few seconds.
const STUDY: &str = "import std.tms\n\
    train run {\n  model = tms.model(features = 6, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 6, sparsity = 0.95, samples = 1024)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 256\n  steps = 400\n  seed = sweep(0..2)\n  checkpoints = logspace(1, 400, 4)\n}\n\
    estimate llc on run {\n  observable = llc(sampler = sgld(lr = 3e-3, localization = 100), \
    nbeta = auto, chains = 2, draws = 20, burnin = 10)\n}\n\
    detect stages on llc { method = critical_points(smoothing = 0.1) }\n";

/// The file's one batch (a small table is one row group) and its schema's metadata.
fn read_parquet(path: &Path) -> (RecordBatch, std::collections::HashMap<String, String>) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = builder.schema().metadata().clone();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1, "a small table is read as one batch");
    (batches[0].clone(), metadata.into())
}

/// A cell as JSON, for comparison with `show --format json`.
fn cell(batch: &RecordBatch, column: &str, row: usize) -> Value {
    let array = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        arrow_schema::DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        arrow_schema::DataType::Float64 => array.as_primitive::<Float64Type>().value(row).into(),
        arrow_schema::DataType::Utf8 => array.as_string::<i32>().value(row).into(),
        arrow_schema::DataType::Boolean => array.as_boolean().value(row).into(),
        other => panic!("{column}: unexpected type {other}"),
    }
}

fn show_json(project: &Project, step: &str) -> Vec<Value> {
    let out = project.verb(&["show", "{spec}", step, "--format", "json"]);
    let json: Value = serde_json::from_str(&out).unwrap();
    json["rows"].as_array().unwrap().clone()
}

#[test]
fn parquet_holds_the_numbers_show_prints() {
    let project = Project::new(STUDY);
    assert!(project.run(&["--quiet"]).0.status.success(), "the study runs");
    let parquet = project.dir.path().join("llc.parquet");
    project.verb(&["show", "{spec}", "llc", "--format", "parquet", "-o", "llc.parquet"]);
    let (table, metadata) = read_parquet(&parquet);
    assert_eq!(metadata["devspec.schema_version"], "1");
    assert_eq!(
        (metadata["devspec.step"].as_str(), metadata["devspec.shape"].as_str()),
        ("llc", "wide")
    );
    let rows = show_json(&project, "llc");
    assert_eq!(table.num_rows(), rows.len(), "a row per instance");
    let mut compared = 0;
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(cell(&table, "instance", index), row["instance"]);
        assert_eq!(
            cell(&table, "seed", index),
            Value::from(row["coords"]["seed"].as_str().unwrap().parse::<i64>().unwrap()),
            "the seed is a whole number"
        );
        assert_eq!(cell(&table, "checkpoint", index), row["checkpoint"]);
        assert_eq!(cell(&table, "status", index), row["status"]);
        for (name, value) in row["metrics"].as_object().unwrap() {
            assert_eq!(&cell(&table, name, index), value, "{} {name}", row["instance"]);
            compared += 1;
        }
        // The per-chain estimates are the result's, whose mean is the headline.
        let chains = table.column_by_name("llc_per_chain").unwrap().as_list::<i32>().value(index);
        let chains = chains.as_primitive::<Float64Type>();
        assert_eq!(chains.len(), 2, "two chains");
        let mean = f64::midpoint(chains.value(0), chains.value(1));
        // The mean of two f64s computed in another order: equal to a few ulps.
        assert!(
            (mean - row["metrics"]["llc_mean"].as_f64().unwrap()).abs()
                < 1e-12 * mean.abs().max(1.0)
        );
    }
    assert!(compared >= rows.len() * 8, "every metric compared ({compared})");
}

#[test]
fn the_long_table_has_a_row_per_recorded_step() {
    let project = Project::new(STUDY);
    assert!(project.run(&["--quiet"]).0.status.success(), "the study runs");
    project.verb(&["show", "{spec}", "run", "--format", "parquet", "--long", "-o", "run.parquet"]);
    let (table, metadata) = read_parquet(&project.dir.path().join("run.parquet"));
    assert_eq!(metadata["devspec.shape"], "long");
    let mut expected: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for row in show_json(&project, "run") {
        let series = &row["series"];
        for (step, loss) in
            series["steps"].as_array().unwrap().iter().zip(series["train_loss"].as_array().unwrap())
        {
            expected.insert(
                (row["instance"].as_str().unwrap().to_owned(), step.as_i64().unwrap()),
                loss.as_f64().unwrap(),
            );
        }
    }
    assert_eq!(table.num_rows(), expected.len(), "a row per instance and recorded step");
    for index in 0..table.num_rows() {
        let instance = cell(&table, "instance", index).as_str().unwrap().to_owned();
        let step = cell(&table, "step", index).as_i64().unwrap();
        assert_eq!(cell(&table, "train_loss", index).as_f64(), Some(expected[&(instance, step)]));
    }
}

#[test]
fn results_are_read_without_a_worker_and_bad_flags_are_refused() {
    let project = Project::new(STUDY);
    assert!(project.run(&["--quiet", "--target", "run"]).0.status.success(), "the training runs");
    // A devspec with no worker beside it and none on PATH still reads what is stored.
    let alone = tempfile::tempdir().unwrap();
    let devspec = alone.path().join("devspec");
    std::fs::copy(super::binaries::devspec_exe(), &devspec).unwrap();
    let out = std::process::Command::new(&devspec)
        .args(["show", "study.dev", "run", "--format", "json"])
        .current_dir(project.dir.path())
        .env("PATH", alone.path())
        .env_remove("DEVSPEC_WORKER")
        .env_remove("DEVSPEC_STORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["rows"].as_array().unwrap().iter().all(|r| r["status"] == "done"), "{json}");
    for (args, expected) in [
        (&["--format", "parquet"][..], "--format parquet writes a file"),
        (&["--long"][..], "--long shapes the Parquet table"),
        (&["-o", "x.csv"][..], "-o is for `--format parquet`"),
    ] {
        let out = project.verb_output(&[&["show", "{spec}", "run"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{args:?}");
    }
}
