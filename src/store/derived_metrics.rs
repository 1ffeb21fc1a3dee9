//! The metrics a result determines, re-derived from its bytes: what makes a manifest's numbers
//! checkable against its `result` blob (an LLC estimate's `llc_mean` is its result's
//! `estimate.llc_mean`, a run's `final_train_loss` the last of its result's series, a
//! detection's `boundaries` the length of its list). A metric the result does not determine
//! (`steps_trained`, how far a resumed run went) is protected by the record's seal alone.

use devspec_protocol::StepKind;
use serde_json::Value;

/// A metric whose value differs from what its result says: (name, recorded, derived).
pub type Mismatch = (String, Value, Value);

/// The metrics of `metrics` that `result` (the bytes of a step's `result` output) contradicts.
/// A result that is not JSON (the test step's text) determines nothing.
pub fn mismatches(
    kind: StepKind,
    metrics: &serde_json::Map<String, Value>,
    result: &[u8],
) -> Vec<Mismatch> {
    let Ok(result) = serde_json::from_slice::<Value>(result) else { return Vec::new() };
    metrics
        .iter()
        .filter_map(|(name, recorded)| {
            let derived = derive(kind, name, &result)?;
            (!same(recorded, &derived)).then(|| (name.clone(), recorded.clone(), derived))
        })
        .collect()
}

/// The value of metric `name` that `result` determines, if it determines one.
fn derive(kind: StepKind, name: &str, result: &Value) -> Option<Value> {
    let last = |series: &str| result["series"][series].as_array()?.last().cloned();
    let count = |field: &str| Some(result.get(field)?.as_array()?.len().into());
    let special = match (kind, name) {
        (StepKind::Train, "final_train_loss") => last("train_loss"),
        (StepKind::Train, "final_test_loss") => last("test_loss"),
        (StepKind::Detect, "boundaries" | "stages") => count(name),
        (StepKind::Detect, "at") => Some(describe_boundaries(result).into()),
        (StepKind::Report, "llc_series") => count("llc"),
        (StepKind::Report, "loss_series") => count("losses"),
        (StepKind::Report, "trace_plots") => count("traces"),
        (StepKind::Report, "observable_series") => count("observables"),
        (StepKind::Report, "detections") => count("detections"),
        (StepKind::Report, "theory_points") => count("theory"),
        (StepKind::Estimate, "acceptance") => result["estimate"].get("acceptance_mean").cloned(),
        (StepKind::Estimate, "localization_sensitivity") => {
            result["estimate"]["localization_sensitivity"].get("value").cloned()
        }
        (StepKind::Estimate, "localization_sensitivity_se") => {
            result["estimate"]["localization_sensitivity"].get("se").cloned()
        }
        (StepKind::Estimate, "diagnostics") => {
            let names: Vec<&str> = result["estimate"]["diagnostics"]
                .as_array()?
                .iter()
                .filter_map(|d| d["name"].as_str())
                .collect();
            Some(names.join(" ").into())
        }
        // Any other metric is read by its name, below.
        (
            StepKind::Train
            | StepKind::Checkpoint
            | StepKind::Estimate
            | StepKind::Detect
            | StepKind::Report
            | StepKind::Test,
            _,
        ) => None,
    };
    if special.is_some() {
        return special;
    }
    // Otherwise a number (or name) the result holds under the metric's own name, at its top
    // or in its `estimate`; a list or record of that name (a probe's `outputs`) is something
    // else.
    let value = result.get(name).or_else(|| result.get("estimate")?.get(name))?;
    (value.is_number() || value.is_string()).then(|| value.clone())
}

/// `334-2519 development, 6889-9074 plateau`: a detection's boundaries as its `at` metric.
fn describe_boundaries(result: &Value) -> String {
    boundary_texts(result).join(", ")
}

/// A detection result's boundaries, each as `334-2519 development` (the lock's and `at`'s
/// wording).
pub fn boundary_texts(result: &Value) -> Vec<String> {
    result["boundaries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            format!(
                "{}-{} {}",
                b["interval"][0],
                b["interval"][1],
                b["kind"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Equal as JSON, numbers compared as numbers (`3` and `3.0` are one value).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use devspec_protocol::StepKind;
    use serde_json::json;

    use super::mismatches;

    fn metrics(value: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn an_estimates_numbers_are_its_results() {
        let result = json!({
            "observable": "llc",
            "estimate": {"llc_mean": 0.129, "llc_se": 0.01, "acceptance_mean": null,
                         "diagnostics": [{"name": "low_ess"}]},
        });
        let bytes = serde_json::to_vec(&result).unwrap();
        let honest = metrics(&json!({"llc_mean": 0.129, "llc_se": 0.01, "diagnostics": "low_ess"}));
        assert!(mismatches(StepKind::Estimate, &honest, &bytes).is_empty());
        let edited = metrics(&json!({"llc_mean": 0.929, "llc_se": 0.01}));
        let found = mismatches(StepKind::Estimate, &edited, &bytes);
        assert_eq!(found, [("llc_mean".to_owned(), json!(0.929), json!(0.129))]);
    }

    #[test]
    fn the_localization_sensitivity_is_its_results() {
        // The result holds it as a record (value, standard error, settled); the manifest as two
        // numbers, each checked against its field.
        let result = json!({"estimate": {"llc_mean": 2.0,
            "localization_sensitivity": {"value": 0.4, "se": 0.05, "settled": true}}});
        let bytes = serde_json::to_vec(&result).unwrap();
        let honest =
            metrics(&json!({"localization_sensitivity": 0.4, "localization_sensitivity_se": 0.05}));
        assert!(mismatches(StepKind::Estimate, &honest, &bytes).is_empty());
        let edited = metrics(&json!({"localization_sensitivity": 0.1}));
        assert_eq!(mismatches(StepKind::Estimate, &edited, &bytes).len(), 1);
    }

    #[test]
    fn a_runs_final_losses_and_a_detections_boundaries_are_derived() {
        let train = serde_json::to_vec(&json!({"series": {"steps": [1, 2],
            "train_loss": [0.5, 0.25], "test_loss": [0.6, 0.3]}}))
        .unwrap();
        assert!(
            mismatches(
                StepKind::Train,
                &metrics(&json!({"final_train_loss": 0.25, "steps_trained": 2})),
                &train
            )
            .is_empty()
        );
        assert_eq!(
            mismatches(StepKind::Train, &metrics(&json!({"final_test_loss": 0.2})), &train).len(),
            1
        );
        let detect = serde_json::to_vec(&json!({"series": "llc_mean", "stages": [{}, {}],
            "boundaries": [{"interval": [10, 20], "kind": "plateau"}]}))
        .unwrap();
        let honest = metrics(&json!({"boundaries": 1, "stages": 2, "at": "10-20 plateau",
            "series": "llc_mean"}));
        assert!(mismatches(StepKind::Detect, &honest, &detect).is_empty());
        assert_eq!(
            mismatches(StepKind::Detect, &metrics(&json!({"boundaries": 2})), &detect).len(),
            1
        );
    }

    #[test]
    fn what_the_result_does_not_hold_as_a_number_is_not_compared() {
        // A probe's `outputs` metric counts rows; its result's `outputs` lists the values.
        let result = serde_json::to_vec(&json!({"outputs": [1.0, 2.0], "shape": [2]})).unwrap();
        assert!(
            mismatches(StepKind::Estimate, &metrics(&json!({"outputs": 2})), &result).is_empty()
        );
        // A result that is not JSON determines nothing.
        assert!(
            mismatches(StepKind::Test, &metrics(&json!({"value": 3})), b"test value=3").is_empty()
        );
    }
}
