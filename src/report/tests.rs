//! The report's figures from synthetic data: each kind appears exactly when its data do
//! (theory points, an essential-dynamics detection, a calibration), flagged estimates and
//! diverged chains are marked, text is escaped, and an unchanged report is not rewritten.

use serde_json::json;

use super::data::{
    DetectionOf, LlcSeries, LossSeries, ObservableSeries, ReportData, SCHEMA_VERSION, TheoryPoint,
    TracePanel,
};
use super::{Context, write_report};
use crate::detect::boundary::between;
use crate::detect::{Detection, Series, essential_dynamics};

pub(super) const STEPS: [i64; 6] = [1, 10, 100, 1000, 5000, 10_000];

pub(super) fn llc_series(point: &str) -> LlcSeries {
    let mean: Vec<Option<f64>> = [0.2, 0.3, 0.8, 1.6, 1.9, 2.0].map(Some).to_vec();
    LlcSeries {
        step: "llc".into(),
        point: point.into(),
        checkpoints: STEPS.to_vec(),
        chain_low: mean.iter().map(|m| m.map(|m| m - 0.1)).collect(),
        chain_high: mean.iter().map(|m| m.map(|m| m + 0.1)).collect(),
        se: vec![Some(0.05); 6],
        init_loss: [0.016, 0.015, 0.012, 0.006, 0.005, 0.004].map(Some).to_vec(),
        diagnostics: vec![Vec::new(); 6],
        instances: STEPS.iter().map(|s| format!("llc[{point}]@{s}")).collect(),
        mean,
    }
}

fn trace(point: &str, checkpoint: i64, diagnostics: &[&str], diverged: bool) -> TracePanel {
    let chain =
        |offset: f64| (0..50).map(|i| Some(0.01 + offset + f64::from(i % 7) * 1e-4)).collect();
    TracePanel {
        step: "llc".into(),
        point: point.into(),
        checkpoint,
        instance: format!("llc[{point}]@{checkpoint}"),
        traces: vec![chain(0.0), chain(0.001)],
        init_loss: Some(0.009),
        llc_mean: Some(1.0),
        llc_per_chain: vec![Some(1.0), if diverged { None } else { Some(1.1) }],
        diagnostics: diagnostics.iter().map(|d| (*d).to_owned()).collect(),
    }
}

pub(super) fn data() -> ReportData {
    let series = Series::new("llc_mean", STEPS.to_vec(), vec![0.2, 0.3, 0.8, 1.6, 1.9, 2.0]);
    let stages = Detection::new(
        &series,
        "critical_points",
        vec![between(&series, 2, "development", 0.5, "rises".into())],
        json!({}),
    );
    let mut outputs = Series::new("outputs", STEPS.to_vec(), vec![0.0; 6]);
    outputs.outputs = Some(
        (0..6)
            .map(|i| (0..4).map(|j| (f64::from(i) * 0.7 + f64::from(j)).sin()).collect())
            .collect(),
    );
    let dynamics = essential_dynamics::detect(&outputs, 2, 0.2).expect("synthetic outputs");
    let detection = |step: &str, point: &str, detection: &Detection| DetectionOf {
        step: step.into(),
        point: point.into(),
        instance: format!("{step}[{point}]"),
        on: None,
        detection: detection.clone(),
    };
    ReportData {
        schema_version: SCHEMA_VERSION,
        title: Some("a <b>bold</b> title".into()),
        description: None,
        llc: vec![llc_series("seed=0"), llc_series("seed=1")],
        losses: vec![LossSeries {
            step: "run".into(),
            point: "seed=0".into(),
            steps: vec![0, 1, 10, 100, 1000, 10_000],
            train_loss: [0.02, 0.016, 0.015, 0.012, 0.006, 0.004].map(Some).to_vec(),
            test_loss: None,
            instance: "run[seed=0]".into(),
        }],
        traces: vec![
            trace("seed=0", 1000, &[], false),
            trace("seed=0", 5000, &["poor_mixing"], true),
        ],
        observables: ["accuracy", "test_accuracy"]
            .map(|name| ObservableSeries {
                step: "acc".into(),
                point: "seed=0".into(),
                observable: "accuracy".into(),
                name: name.into(),
                checkpoints: vec![100, 1000, 5000],
                values: vec![Some(0.2), Some(1.0), Some(1.0)],
            })
            .to_vec(),
        detections: vec![
            detection("stages", "seed=0", &stages),
            detection("stages", "seed=1", &stages),
            detection("dynamics", "seed=0", &dynamics),
        ],
        theory: vec![TheoryPoint {
            step: "llc_dln".into(),
            instance: "llc_dln@0".into(),
            checkpoint: "truth".into(),
            theory: 22.5,
            llc_mean: Some(23.0),
            llc_se: Some(0.25),
        }],
        provenance: Vec::new(),
        redacted: Vec::new(),
    }
}

pub(super) fn calibration() -> serde_json::Value {
    let cell = |lr: f64, nbeta: f64, llc: f64, diagnostics: &str| {
        json!({ "lr": lr, "other": nbeta, "llc_mean": llc, "llc_se": 0.1, "acceptance": 0.9,
                "diagnostics": diagnostics })
    };
    json!({
        "checkpoint": 10_000,
        "axes": { "lr": [1e-3, 3e-3], "other": "nbeta", "others": [100.0, 300.0] },
        "cells": [cell(1e-3, 100.0, 1.9, ""), cell(3e-3, 100.0, 2.0, ""),
                  cell(1e-3, 300.0, 2.1, ""), cell(3e-3, 300.0, 3.5, "poor_mixing")],
        "recommended": cell(3e-3, 100.0, 2.0, ""),
    })
}

#[test]
fn each_kind_of_figure_appears_with_its_data_and_is_marked_as_its_data_say() {
    let folder = tempfile::tempdir().unwrap();
    let context = Context {
        name: "summary".into(),
        spec_path: "study.dev".into(),
        spec_source: "report summary on llc".into(),
        resolved: Vec::new(),
        calibrations: vec![("llc".into(), calibration())],
        provenance: std::collections::BTreeMap::new(),
    };
    // As the product does: the data stored as JSON and read back.
    let data: ReportData = serde_json::from_slice(&serde_json::to_vec(&data()).unwrap()).unwrap();
    let written = write_report(folder.path(), &data, &context).unwrap();
    assert!(!written.unchanged);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.path().join("manifest.json")).unwrap())
            .unwrap();
    let figures = manifest["figures"].as_array().unwrap();
    let kinds: Vec<&str> = figures.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "llc",
            "observable",
            "loss",
            "development",
            "development",
            "theory",
            "dynamics",
            "calibration",
            "trace",
            "trace"
        ]
    );
    let of = |id: &str| figures.iter().find(|f| f["id"] == id).unwrap();
    // The accuracy figure: a line per measured number, each with its three checkpoints.
    let accuracy_lines = of("observable-acc")["panels"][0]["series"].as_array().unwrap();
    assert_eq!(accuracy_lines.len(), 2, "{accuracy_lines:?}");
    assert!(accuracy_lines.iter().all(|l| l["points"].as_array().unwrap().len() == 3));
    // The calibration map has a cell per grid point; the theory figure a point per estimate.
    assert_eq!(of("calibration-llc")["panels"][0]["series"].as_array().unwrap().len(), 4);
    assert_eq!(of("theory")["panels"][0]["series"][0]["points"][0], json!([22.5, 23.0]));
    // Each milestone is circled at the scores of the checkpoint after it.
    let dynamics = data.detections.iter().find(|d| d.step == "dynamics").unwrap();
    let scores = &dynamics.detection.details["trajectory"];
    let circled = &of("dynamics-2")["panels"][0]["series"][1]["points"];
    assert!(!dynamics.detection.boundaries.is_empty());
    assert_eq!(circled.as_array().unwrap().len(), dynamics.detection.boundaries.len());
    for (boundary, drawn) in dynamics.detection.boundaries.iter().zip(circled.as_array().unwrap()) {
        let after = STEPS.iter().position(|&s| s == boundary.interval[1]).unwrap();
        assert_eq!(drawn, &json!([scores[0][after], scores[1][after]]), "{boundary:?}");
    }
    // The flagged estimate's trace plot names its diagnostic; its diverged chain is red.
    let flagged = of("trace-0001");
    assert_eq!(flagged["diagnostics"], json!(["poor_mixing"]));
    let chains = flagged["panels"][0]["series"].as_array().unwrap();
    assert_eq!(chains[1]["label"], "chain 1 (diverged)");
    assert_eq!(chains[1]["colour"], "#C81E1E");
    assert!(of("trace-0000")["diagnostics"].is_null());
    // The loss curve leaves out step 0, which a log axis cannot show.
    let loss = &of("loss")["panels"][0]["series"][0];
    assert_eq!(loss["count"], 5);
    // Text from the spec is escaped in the page.
    let page = std::fs::read_to_string(&written.html).unwrap();
    assert!(page.contains("<title>a &lt;b&gt;bold&lt;/b&gt; title</title>"));
    assert!(page.contains("+2.2%"), "the theory table's error");
    // The same report again: nothing rewritten.
    assert!(write_report(folder.path(), &data, &context).unwrap().unchanged);
}
