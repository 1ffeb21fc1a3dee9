//! The metrics a result determines, re-derived from its bytes by the functions that made them
//! (the protocol's result types' `metrics`, [`Detection::metrics`]): what makes a manifest's
//! numbers checkable against its `result` blob (an LLC estimate's `llc_mean` is its result's
//! `estimate.llc_mean`, a run's `final_train_loss` the last of its result's series, a
//! detection's `boundaries` the length of its list). A metric the result does not determine
//! (`steps_trained`, how far a resumed run went) is protected by the record's seal alone.

use devspec_protocol::StepKind;
use devspec_protocol::results::{self, EstimateResult, TrainResult};
use serde_json::Value;

use crate::detect::Detection;

/// A metric whose value differs from what its result says: (name, recorded, derived).
pub type Mismatch = (String, Value, Value);

/// The metrics of `metrics` that `result` (the bytes of a step's `result` output) contradicts.
/// A result of a kind whose type the protocol or devspec declares (train, estimate, detect)
/// that does not read as that type is refused: its bytes are intact (their digest is checked
/// first), so it was written by another layout or doctored, and serving it would fail every
/// step that reads it. A result of another kind (the test step's text) determines nothing.
pub fn mismatches(
    kind: StepKind,
    metrics: &serde_json::Map<String, Value>,
    result: &[u8],
) -> Result<Vec<Mismatch>, String> {
    let Some(derived) = derive(kind, result)? else { return Ok(Vec::new()) };
    Ok(metrics
        .iter()
        .filter_map(|(name, recorded)| {
            let derived = derived.get(name)?;
            (!same(recorded, derived)).then(|| (name.clone(), recorded.clone(), derived.clone()))
        })
        .collect())
}

/// The metrics `result` determines, by the same functions that made them; an error says why a
/// typed result does not read.
fn derive(kind: StepKind, result: &[u8]) -> Result<Option<serde_json::Map<String, Value>>, String> {
    let unreadable = |e: results::DecodeError| format!("its result is not readable: {e}");
    Ok(match kind {
        StepKind::Train => {
            Some(results::decode::<TrainResult>(result).map_err(unreadable)?.metrics())
        }
        StepKind::Estimate => {
            Some(results::decode::<EstimateResult>(result).map_err(unreadable)?.observed.metrics())
        }
        StepKind::Detect => {
            Some(results::decode::<Detection>(result).map_err(unreadable)?.metrics())
        }
        StepKind::Report => report_counts(result),
        StepKind::Checkpoint | StepKind::Test => None,
    })
}

/// A report's metrics count the lists of its data. (Read as JSON: the report's data type lives
/// in `report`, which reads the store, so the store does not name it.)
fn report_counts(result: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let result = serde_json::from_slice::<Value>(result).ok()?;
    let lists = [
        ("llc_series", "llc"),
        ("loss_series", "losses"),
        ("trace_plots", "traces"),
        ("observable_series", "observables"),
        ("detections", "detections"),
        ("theory_points", "theory"),
    ];
    Some(
        lists
            .iter()
            .filter_map(|(metric, field)| {
                Some(((*metric).to_owned(), result.get(*field)?.as_array()?.len().into()))
            })
            .collect(),
    )
}

/// Equal as JSON, numbers compared as numbers (`3` and `3.0` are one value).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[cfg(test)]
pub mod tests {
    use devspec_protocol::StepKind;
    use serde_json::json;

    use super::mismatches;

    fn metrics(value: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().unwrap().clone()
    }

    /// An LLC estimate's stored result (two chains, one draw) with this mean and sensitivity.
    pub fn llc_result(llc_mean: f64, sensitivity: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schema_version": 1, "observable": "llc", "batch_size": 8, "chains": 2, "draws": 1,
            "burnin": 0, "steps_between_draws": 1, "diverged_at": [null, null],
            "traces": [[0.5], [0.5]], "distances": [[1.0], [1.0]], "companion": null,
            "estimate": {
                "llc_mean": llc_mean, "llc_std": 0.02, "llc_se": 0.01,
                "llc_per_chain": [llc_mean, llc_mean], "init_loss": 0.25, "nbeta": 10.0,
                "acceptance_mean": null, "acceptance_per_chain": [null, null], "r_hat": null,
                "ess": 2.0, "localization_sensitivity": sensitivity,
                "diagnostics": [{"name": "not_stationary", "message": "m", "fix": "f"}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn an_estimates_numbers_are_its_results() {
        let bytes = llc_result(0.129, &json!(null));
        let honest =
            metrics(&json!({"llc_mean": 0.129, "llc_se": 0.01, "diagnostics": "not_stationary"}));
        assert!(mismatches(StepKind::Estimate, &honest, &bytes).unwrap().is_empty());
        let edited = metrics(&json!({"llc_mean": 0.929, "llc_se": 0.01}));
        let found = mismatches(StepKind::Estimate, &edited, &bytes).unwrap();
        assert_eq!(found, [("llc_mean".to_owned(), json!(0.929), json!(0.129))]);
        let silenced = metrics(&json!({"diagnostics": ""}));
        assert_eq!(mismatches(StepKind::Estimate, &silenced, &bytes).unwrap().len(), 1);
    }

    #[test]
    fn the_localization_sensitivity_is_its_results() {
        // The result holds it as a record (value, standard error, settled); the manifest as two
        // numbers, each checked against its field.
        let sensitivity = json!({"value": 0.4, "se": 0.05, "settled": true, "companion": null});
        let bytes = llc_result(2.0, &sensitivity);
        let honest =
            metrics(&json!({"localization_sensitivity": 0.4, "localization_sensitivity_se": 0.05}));
        assert!(mismatches(StepKind::Estimate, &honest, &bytes).unwrap().is_empty());
        let edited = metrics(&json!({"localization_sensitivity": 0.1}));
        assert_eq!(mismatches(StepKind::Estimate, &edited, &bytes).unwrap().len(), 1);
    }

    #[test]
    fn a_runs_final_losses_and_a_detections_boundaries_are_derived() {
        let train = serde_json::to_vec(&json!({"schema_version": 1, "series": {"steps": [1, 2],
            "train_loss": [0.5, 0.25], "test_loss": [0.6, 0.3]}}))
        .unwrap();
        assert!(
            mismatches(
                StepKind::Train,
                &metrics(&json!({"final_train_loss": 0.25, "steps_trained": 2})),
                &train
            )
            .unwrap()
            .is_empty()
        );
        assert_eq!(
            mismatches(StepKind::Train, &metrics(&json!({"final_test_loss": 0.2})), &train)
                .unwrap()
                .len(),
            1
        );
        let stage = json!({"start": 10, "end": 20, "kind": "plateau", "value_start": 1.0,
            "value_end": 1.0});
        let detect = serde_json::to_vec(&json!({"schema_version": 1, "series": "llc_mean",
            "method": "transitions", "steps": [10, 20], "values": [1.0, 1.0],
            "stages": [stage, stage], "details": null,
            "boundaries": [{"interval": [10, 20], "kind": "plateau", "strength": 1.0,
                "evidence": "flat"}]}))
        .unwrap();
        let honest = metrics(&json!({"boundaries": 1, "stages": 2, "at": "10-20 plateau",
            "series": "llc_mean"}));
        assert!(mismatches(StepKind::Detect, &honest, &detect).unwrap().is_empty());
        assert_eq!(
            mismatches(StepKind::Detect, &metrics(&json!({"boundaries": 2})), &detect)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_probes_outputs_metric_is_its_sample_count() {
        let result = serde_json::to_vec(&json!({"schema_version": 1, "observable": "outputs",
            "outputs": [1.0, 2.0], "shape": [2, 1]}))
        .unwrap();
        assert!(
            mismatches(StepKind::Estimate, &metrics(&json!({"outputs": 2})), &result)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            mismatches(StepKind::Estimate, &metrics(&json!({"outputs": 3})), &result)
                .unwrap()
                .len(),
            1
        );
        // The test step's text determines nothing; an estimate that does not read as one is
        // refused, whatever its metrics.
        assert!(
            mismatches(StepKind::Test, &metrics(&json!({"value": 3})), b"test value=3")
                .unwrap()
                .is_empty()
        );
        let refused = mismatches(StepKind::Estimate, &metrics(&json!({})), b"{\"loss\": 1}");
        assert!(refused.unwrap_err().contains("not readable"));
    }
}
