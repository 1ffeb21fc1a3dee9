//! The contract between the registry's series (what `check` lets `series = ...` name, and what
//! `docs/language.md` lists) and the results the worker stores (`devspec_protocol::results`):
//! every series the registry declares for an observable, and only those, in the same order
//! (the default first), is a number a result of that observable holds. Without it, a series
//! the registry allows but the result lacks passes `check` and fails the detection after
//! training and sampling, which the declared series exist to prevent.

use devspec_protocol::results::{self, EstimateResult, Reading, TrainResult};
use serde_json::json;

use super::constructors;
use super::schema::CtorKind;

/// A stored result of `observable` with every optional number present.
fn full_result(observable: &str) -> serde_json::Value {
    let estimate = json!({
        "llc_mean": 1.5, "llc_std": 0.5, "llc_se": 0.25, "llc_per_chain": [1.0, 2.0],
        "init_loss": 0.25, "nbeta": 10.0, "acceptance_mean": 0.9, "acceptance_per_chain": [0.9, 0.9],
        "r_hat": 1.01, "ess": 40.0, "localization_sensitivity": null, "diagnostics": [],
    });
    let fields = match observable {
        "llc" => json!({
            "estimate": estimate, "batch_size": 8, "chains": 2, "draws": 1, "burnin": 0,
            "steps_between_draws": 1, "diverged_at": [null, null], "traces": [[0.5], [0.5]],
            "distances": [[1.0], [1.0]], "companion": null,
        }),
        "loss" => json!({ "loss": 0.5 }),
        "weight_norm" => json!({ "weight_norm": 2.0 }),
        "gradient_norm" => json!({ "gradient_norm": 0.1 }),
        "hessian_trace" => json!({ "hessian_trace": 3.0, "hessian_trace_se": 0.2, "probes": 8 }),
        "outputs" => json!({ "shape": [2, 1], "outputs": [0.5, 0.25] }),
        "accuracy" => json!({
            "accuracy": 0.9, "samples": 10, "test_accuracy": 0.8, "test_samples": 5,
        }),
        "induction_score" => json!({
            "induction_score": 0.4, "best_head": [0, 1], "heads": [[0.1, 0.4]],
            "positions_scored": 30,
        }),
        "tms.geometry" => json!({
            "headline": "features", "features": 2, "norms": [1.0, 1.0, 0.0],
            "represented": [0, 1],
        }),
        "icl.baselines" => json!({
            "headline": "model_loss", "model_loss": 1.0, "ridge_loss": 0.9, "dmmse_loss": 0.8,
            "noise_var": 0.25, "per_position": { "model": [1.0], "ridge": [0.9], "dmmse": [0.8] },
            "sequences": 4,
        }),
        other => panic!("no sample result of `{other}`: add one with every number present"),
    };
    let mut result = fields;
    result["observable"] = observable.into();
    result["schema_version"] = results::SCHEMA_VERSION.into();
    result
}

#[test]
fn every_observables_registry_series_are_the_numbers_its_results_hold() {
    let observables = constructors().iter().filter(|c| c.kind == CtorKind::Observable);
    for ctor in observables {
        let bytes = serde_json::to_vec(&full_result(ctor.name)).unwrap();
        let result: EstimateResult = results::decode(&bytes)
            .unwrap_or_else(|e| panic!("the sample `{}` result does not read: {e}", ctor.name));
        assert_eq!(result.observed.name(), ctor.name);
        let held: Vec<&str> = result.observed.series().iter().map(|(name, _)| *name).collect();
        let declared = super::series::of_observable(ctor.name).unwrap_or_default();
        assert_eq!(held, declared, "`{}`: the registry's series and the result's", ctor.name);
        for (name, reading) in result.observed.series() {
            assert_ne!(reading, Reading::Absent, "`{}` holds no `{name}`", ctor.name);
        }
    }
}

#[test]
fn a_training_runs_registry_series_are_its_results_series() {
    let stored = json!({
        "schema_version": 1,
        "series": { "steps": [0, 1], "train_loss": [1.0, 0.5], "test_loss": [1.1, 0.6] },
    });
    let result: TrainResult = results::decode(&serde_json::to_vec(&stored).unwrap()).unwrap();
    for name in super::series::TRAIN {
        assert!(result.series.named(name).is_some(), "a run's result has no `{name}` series");
    }
    assert_eq!(result.series.named("train_los"), None);
}
