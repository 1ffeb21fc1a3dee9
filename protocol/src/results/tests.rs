//! Stored results read back as their types and write back as the same bytes: the types are
//! a description of what the worker has always written (keys sorted, `null` for a number that
//! is not finite), so a result stored before them keeps its digest.

use super::*;

/// Each as the worker stores it (small, but every field of every shape present).
const STORED: &[&str] = &[
    r#"{"checkpoints":[0],"schema_version":1,"source":"weights"}"#,
    r#"{"checkpoints":[1200],"schema_version":1,"source":{"file":"runs/step_1200.safetensors"}}"#,
    r#"{"schema_version":1,"series":{"steps":[0,10],"train_loss":[0.5,null]}}"#,
    r#"{"schema_version":1,"series":{"steps":[0,10],"test_loss":[0.7,0.6],"train_loss":[0.5,0.25]}}"#,
    r#"{"loss":0.125,"observable":"loss","schema_version":1}"#,
    r#"{"observable":"weight_norm","schema_version":1,"weight_norm":3.5}"#,
    r#"{"gradient_norm":0.001,"observable":"gradient_norm","schema_version":1}"#,
    r#"{"hessian_trace":12.5,"hessian_trace_se":0.75,"observable":"hessian_trace","probes":16,"schema_version":1}"#,
    r#"{"observable":"outputs","outputs":[0.5,-1.25,2.0,null],"schema_version":1,"shape":[2,2]}"#,
    r#"{"accuracy":0.4813218390804598,"observable":"accuracy","samples":1392,"schema_version":1,"test_accuracy":0.0,"test_samples":2089}"#,
    r#"{"accuracy":1.0,"observable":"accuracy","samples":100,"schema_version":1}"#,
    r#"{"best_head":[1,0],"heads":[[0.05,0.25],[0.5,0.125]],"induction_score":0.5,"observable":"induction_score","positions_scored":3792,"schema_version":1}"#,
    r#"{"angles":[72.0,72.0,72.0,72.0,72.0],"directions":[10.0,82.0,154.0,226.0,298.0],"features":5,"headline":"features","norms":[1.0,1.0,1.0,1.0,1.0,0.05],"observable":"tms.geometry","represented":[0,1,2,3,4],"schema_version":1}"#,
    r#"{"features":0,"headline":"features","norms":[0.01,0.02],"observable":"tms.geometry","represented":[],"schema_version":1}"#,
    r#"{"dmmse_loss":0.5,"headline":"model_loss","model_loss":2.0851672884907435,"noise_var":0.125,"observable":"icl.baselines","per_position":{"dmmse":[0.75,0.25],"model":[4.0,0.17],"ridge":[4.0,0.14]},"ridge_loss":1.5,"schema_version":1,"sequences":512}"#,
    r#"{"batch_size":64,"burnin":2,"chains":2,"companion":{"diverged_at":[null,null],"localization":50.0,"traces":[[0.5,0.6],[0.55,0.65]]},"distances":[[1.0,1.5],[2.0,2.5]],"diverged_at":[null,null],"draws":2,"estimate":{"acceptance_mean":0.95,"acceptance_per_chain":[0.9,1.0],"diagnostics":[{"fix":"raise draws, or raise the sampler's lr","message":"R-hat across chains is 1.50, above 1.1: the chains disagree","name":"poor_mixing"}],"ess":3.5,"init_loss":0.25,"llc_mean":1.5,"llc_per_chain":[1.25,1.75],"llc_se":0.25,"llc_std":0.3535533905932738,"localization_sensitivity":{"companion":{"llc_mean":1.75,"localization":50.0},"se":0.125,"settled":true,"value":0.25},"nbeta":10.0,"r_hat":1.5},"observable":"llc","schema_version":1,"steps_between_draws":1,"traces":[[0.5,0.6],[0.55,null]]}"#,
    r#"{"batch_size":64,"burnin":2,"chains":2,"companion":null,"distances":[[1.0],[2.0]],"diverged_at":[null,7],"draws":1,"estimate":{"acceptance_mean":null,"acceptance_per_chain":[null,null],"diagnostics":[],"ess":1.0,"init_loss":0.25,"llc_mean":-0.5,"llc_per_chain":[-0.5,null],"llc_se":0.0,"llc_std":0.0,"localization_sensitivity":null,"nbeta":10.0,"r_hat":null},"observable":"llc","schema_version":1,"steps_between_draws":1,"traces":[[0.2],[0.3]]}"#,
];

/// Reads `stored` as whichever result type it is, and writes it back.
fn round_trip(stored: &str) -> Vec<u8> {
    let bytes = stored.as_bytes();
    if stored.contains("\"checkpoints\"") {
        encode(&decode::<CheckpointResult>(bytes).unwrap())
    } else if stored.contains("\"series\"") {
        encode(&decode::<TrainResult>(bytes).unwrap())
    } else {
        encode(&decode::<EstimateResult>(bytes).unwrap())
    }
}

#[test]
fn every_stored_result_reads_and_writes_back_byte_for_byte() {
    for stored in STORED {
        assert_eq!(String::from_utf8(round_trip(stored)).unwrap(), *stored);
    }
}

#[test]
fn a_number_stored_as_null_reads_as_nan() {
    let train: TrainResult = decode(STORED[2].as_bytes()).unwrap();
    assert!(train.series.train_loss[1].is_nan());
    assert!(train.series.test_loss.is_empty(), "no held-out data: no test series");
    assert_eq!(train.series.named("test_loss"), None);
    // The last loss is NaN: its metric is too, stored as null (JSON has no NaN).
    assert_eq!(train.metrics()["final_train_loss"], serde_json::Value::Null);
}

#[test]
fn a_result_from_before_the_companion_reads_without_one() {
    let stored = STORED[16].replace("\"companion\":null,", "");
    let result: EstimateResult = decode(stored.as_bytes()).unwrap();
    let Observed::Llc(llc) = result.observed else { panic!("an LLC result") };
    assert_eq!(llc.companion, None);
    assert_eq!(llc.diverged_at, [None, Some(7)]);
}

#[test]
fn another_schema_version_or_observable_is_refused_by_name() {
    let later = STORED[4].replace("\"schema_version\":1", "\"schema_version\":2");
    let refused = decode::<EstimateResult>(later.as_bytes()).unwrap_err();
    assert!(matches!(refused, DecodeError::Version { found: 2, read: 1 }), "{refused:?}");
    assert_eq!(refused.to_string(), "schema version 2, where 1 is read");
    let unknown = STORED[4].replace("\"observable\":\"loss\"", "\"observable\":\"los\"");
    let refused = decode::<EstimateResult>(unknown.as_bytes()).unwrap_err().to_string();
    assert!(refused.contains("los"), "{refused}");
}

#[test]
fn an_estimates_metrics_are_what_its_result_determines() {
    let llc: EstimateResult = decode(STORED[15].as_bytes()).unwrap();
    let metrics = llc.observed.metrics();
    assert_eq!(metrics["llc_mean"], 1.5);
    assert_eq!(metrics["acceptance"], 0.95);
    assert_eq!(metrics["localization_sensitivity_se"], 0.125);
    assert_eq!(metrics["diagnostics"], "poor_mixing");
    let induction: EstimateResult = decode(STORED[11].as_bytes()).unwrap();
    assert_eq!(induction.observed.metrics()["head"], "1.0");
    assert_eq!(induction.observed.default_series(), "induction_score");
    let outputs: EstimateResult = decode(STORED[8].as_bytes()).unwrap();
    assert_eq!(outputs.observed.metrics()["outputs"], 2, "the probe's sample count");
    let Some(Reading::Values(values)) = outputs.observed.reading("outputs") else { panic!() };
    assert_eq!(values.len(), 4);
    let geometry: EstimateResult = decode(STORED[13].as_bytes()).unwrap();
    assert_eq!(geometry.observed.reading("features"), Some(Reading::Number(0.0)));
    assert_eq!(geometry.observed.reading("feature"), None, "not a series of tms.geometry");
    let no_test: EstimateResult = decode(STORED[10].as_bytes()).unwrap();
    assert_eq!(no_test.observed.reading("test_accuracy"), Some(Reading::Absent));
    assert!(!no_test.observed.metrics().contains_key("test_accuracy"));
}

#[test]
fn an_estimate_is_told_one_thing_to_do_and_never_two_that_contradict() {
    use DiagnosticName::{Diverged, Negative, NotStationary, PoorMixing};
    // Negative says lower the lr, not_stationary raise it: the first decides.
    assert_eq!(DiagnosticName::recommended([NotStationary, Negative]), Some(Negative));
    assert_eq!(DiagnosticName::recommended([PoorMixing, Diverged, Negative]), Some(Diverged));
    assert_eq!(DiagnosticName::recommended([]), None);
    for name in DiagnosticName::ALL {
        assert!(DiagnosticName::PRIORITY.contains(&name), "{name:?} has no priority");
        assert_eq!(DiagnosticName::from_name(name.name()), Some(name));
    }
}
