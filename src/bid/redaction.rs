//! What an owner may leave out of a step's results without leaving the step out
//! (`bid results --redact STEP.FIELD`): a fixed table, per step kind and observable, of named
//! fields, each the result JSON's own key (so what `bid inspect` names is what the researcher
//! reads in the blob), with words saying what it is. Headlines (an LLC's mean and standard
//! error, a run's final losses while their series are sent, an observable's numbers) are not in
//! it: to hide one, the owner leaves the whole step out (`--redact STEP`).
//!
//! A redacted field is emptied in the sent copy of the result (a list becomes `[]`, an optional
//! part `null`), through the protocol's own types, so the copy still decodes as a result of its
//! kind. The same fields come out of a report's data where they came from that step
//! ([`redact_report`]), with a notice the page shows.

use devspec_protocol::StepKind;
use devspec_protocol::params::Observable;
use devspec_protocol::results::{EstimateResult, Observed, TrainResult};

use crate::report::data::ReportData;

/// Which field, whatever the observable it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldId {
    Traces,
    Distances,
    Companion,
    LlcPerChain,
    TrainLoss,
    TestLoss,
    Heads,
    Norms,
    Represented,
    Directions,
    Angles,
    PerPosition,
    Outputs,
}

/// One field an owner may leave out: its name (the result JSON's key) and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub id: FieldId,
    pub name: &'static str,
    pub what: &'static str,
}

const fn field(id: FieldId, name: &'static str, what: &'static str) -> Field {
    Field { id, name, what }
}

/// A training run's result.
pub const TRAIN: &[Field] = &[
    field(
        FieldId::TrainLoss,
        "train_loss",
        "the training loss at each logged step, and the final training loss read from it",
    ),
    field(
        FieldId::TestLoss,
        "test_loss",
        "the held-out loss at each logged step, and the final test loss read from it",
    ),
];

/// An LLC estimate's result.
pub const LLC: &[Field] = &[
    field(FieldId::Traces, "traces", "every chain's loss trace, the companion chains' too"),
    field(
        FieldId::Distances,
        "distances",
        "each recorded draw's half squared distance from the checkpoint",
    ),
    field(
        FieldId::Companion,
        "companion",
        "the companion chains whole (their localization, traces and divergences)",
    ),
    field(
        FieldId::LlcPerChain,
        "llc_per_chain",
        "each chain's estimate and acceptance (with the traces: each chain's estimate is \
         computed from its trace)",
    ),
];

const INDUCTION_SCORE: &[Field] =
    &[field(FieldId::Heads, "heads", "every head's score, per layer (the best head's stays)")];

const TMS_GEOMETRY: &[Field] = &[
    field(FieldId::Norms, "norms", "each feature's column norm"),
    field(
        FieldId::Represented,
        "represented",
        "which features are represented (with the norms, which decide it)",
    ),
    field(FieldId::Directions, "directions", "the represented features' directions"),
    field(
        FieldId::Angles,
        "angles",
        "the angles between neighbouring directions (with the directions, which give them)",
    ),
];

const ICL_BASELINES: &[Field] = &[field(
    FieldId::PerPosition,
    "per_position",
    "each position's mean squared error (model, ridge, dMMSE)",
)];

const OUTPUTS: &[Field] =
    &[field(FieldId::Outputs, "outputs", "the model's outputs on the probe's samples")];

/// The fields of an observable as a spec writes it (for `bid inspect` and `--redact`).
pub fn of_observable(observable: &Observable) -> &'static [Field] {
    match observable {
        Observable::Llc(_) => LLC,
        Observable::InductionScore(_) => INDUCTION_SCORE,
        Observable::TmsGeometry(_) => TMS_GEOMETRY,
        Observable::IclBaselines(_) => ICL_BASELINES,
        Observable::Outputs(_) => OUTPUTS,
        Observable::Loss(_)
        | Observable::WeightNorm(_)
        | Observable::GradientNorm(_)
        | Observable::HessianTrace(_)
        | Observable::Accuracy(_) => &[],
    }
}

/// The fields of an observable's result (what `bid open` holds a redaction to).
pub fn of_observed(observed: &Observed) -> &'static [Field] {
    match observed {
        Observed::Llc(_) => LLC,
        Observed::InductionScore(_) => INDUCTION_SCORE,
        Observed::TmsGeometry(_) => TMS_GEOMETRY,
        Observed::IclBaselines(_) => ICL_BASELINES,
        Observed::Outputs { .. } => OUTPUTS,
        Observed::Loss { .. }
        | Observed::WeightNorm { .. }
        | Observed::GradientNorm { .. }
        | Observed::HessianTrace { .. }
        | Observed::Accuracy(_) => &[],
    }
}

/// The fields of a step of `kind` (its observable, for an estimate). A report's data is
/// redacted by what is redacted from the steps it draws, never by fields of its own.
pub fn of_step(kind: StepKind, observable: Option<&Observable>) -> &'static [Field] {
    match kind {
        StepKind::Train => TRAIN,
        StepKind::Estimate => observable.map_or(&[], of_observable),
        StepKind::Checkpoint | StepKind::Detect | StepKind::Report | StepKind::Test => &[],
    }
}

/// The field that must go with `id`, because `id` can be computed from it: each chain's
/// estimate from its trace (with the headline's `nbeta` and initial loss), which features are
/// represented from their norms, the angles from the directions.
pub fn implied(id: FieldId) -> Option<FieldId> {
    match id {
        FieldId::LlcPerChain => Some(FieldId::Traces),
        FieldId::Represented => Some(FieldId::Norms),
        FieldId::Angles => Some(FieldId::Directions),
        FieldId::Traces
        | FieldId::Distances
        | FieldId::Companion
        | FieldId::TrainLoss
        | FieldId::TestLoss
        | FieldId::Heads
        | FieldId::Norms
        | FieldId::Directions
        | FieldId::PerPosition
        | FieldId::Outputs => None,
    }
}

/// Any table's field named `name` (a report's `STEP.FIELD` names its input's).
pub fn any_named(name: &str) -> Option<Field> {
    [TRAIN, LLC, INDUCTION_SCORE, TMS_GEOMETRY, ICL_BASELINES, OUTPUTS]
        .iter()
        .find_map(|fields| named(fields, name))
}

/// The field named `name` among `fields`.
pub fn named(fields: &'static [Field], name: &str) -> Option<Field> {
    fields.iter().copied().find(|f| f.name == name)
}

/// `fields` in words, for a refusal: `` `traces`: every chain's loss trace...; `distances`: ...``.
pub fn listed(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "none (`--redact STEP` leaves the whole step out)".to_owned();
    }
    fields.iter().map(|f| format!("`{}`: {}", f.name, f.what)).collect::<Vec<_>>().join("; ")
}

/// One `--redact`: a whole step, or one field of it (`STEP.FIELD`: step names hold no dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Step(String),
    Field { step: String, field: String },
}

impl Request {
    pub fn parse(text: &str) -> Request {
        match text.split_once('.') {
            Some((step, field)) => {
                Request::Field { step: step.to_owned(), field: field.to_owned() }
            }
            None => Request::Step(text.to_owned()),
        }
    }

    pub fn step(&self) -> &str {
        match self {
            Request::Step(step) | Request::Field { step, .. } => step,
        }
    }
}

/// `result` with `fields` emptied; the fields that held something to empty (of its
/// observable's: a companion never sampled is not left out), in table order.
pub fn redact_estimate(result: &mut EstimateResult, fields: &[FieldId]) -> Vec<Field> {
    let applicable = of_observed(&result.observed);
    let mut done = Vec::new();
    for field in applicable.iter().filter(|f| fields.contains(&f.id)) {
        let before = serde_json::to_value(&result.observed).ok();
        empty(&mut result.observed, field.id);
        if serde_json::to_value(&result.observed).ok() != before {
            done.push(*field);
        }
    }
    // A diagnostic's words quote the numbers behind it (the chains' mean loss over each half of
    // their draws, the companion's estimate): with the traces or the companion left out, only
    // its name and fix are sent.
    let quotes = |id: FieldId| matches!(id, FieldId::Traces | FieldId::Companion);
    if let Observed::Llc(llc) = &mut result.observed
        && let Some(quoting) = LLC.iter().find(|f| quotes(f.id) && fields.contains(&f.id))
    {
        let mut reworded = false;
        for diagnostic in &mut llc.estimate.diagnostics {
            if diagnostic.message != DIAGNOSTIC_LEFT_OUT {
                DIAGNOSTIC_LEFT_OUT.clone_into(&mut diagnostic.message);
                reworded = true;
            }
        }
        if reworded && !done.iter().any(|f| quotes(f.id)) {
            done.push(*quoting);
            done.sort_by_key(|f| f.id);
        }
    }
    done
}

/// What a diagnostic says when the numbers it quoted were left out.
pub const DIAGNOSTIC_LEFT_OUT: &str =
    "the numbers this diagnostic quoted were left out by the owner";

/// Empties one field of `observed` (one of [`of_observed`]'s).
fn empty(observed: &mut Observed, id: FieldId) {
    match observed {
        Observed::Llc(llc) => match id {
            FieldId::Traces => {
                llc.traces.clear();
                if let Some(companion) = &mut llc.companion {
                    companion.traces.clear();
                }
            }
            FieldId::Distances => llc.distances.clear(),
            FieldId::Companion => {
                llc.companion = None;
                // Its localization and estimate, kept beside the sensitivity they gave.
                if let Some(sensitivity) = &mut llc.estimate.localization_sensitivity {
                    sensitivity.companion = None;
                }
            }
            FieldId::LlcPerChain => {
                llc.estimate.llc_per_chain.clear();
                llc.estimate.acceptance_per_chain.clear();
            }
            FieldId::TrainLoss
            | FieldId::TestLoss
            | FieldId::Heads
            | FieldId::Norms
            | FieldId::Represented
            | FieldId::Directions
            | FieldId::Angles
            | FieldId::PerPosition
            | FieldId::Outputs => {}
        },
        Observed::InductionScore(score) => {
            if id == FieldId::Heads {
                score.heads.clear();
            }
        }
        Observed::TmsGeometry(geometry) => match id {
            FieldId::Norms => geometry.norms.clear(),
            FieldId::Represented => geometry.represented.clear(),
            FieldId::Directions => geometry.directions = None,
            FieldId::Angles => geometry.angles = None,
            FieldId::Traces
            | FieldId::Distances
            | FieldId::Companion
            | FieldId::LlcPerChain
            | FieldId::TrainLoss
            | FieldId::TestLoss
            | FieldId::Heads
            | FieldId::PerPosition
            | FieldId::Outputs => {}
        },
        Observed::IclBaselines(baselines) => {
            if id == FieldId::PerPosition {
                baselines.per_position.model.clear();
                baselines.per_position.ridge.clear();
                baselines.per_position.dmmse = None;
            }
        }
        Observed::Outputs { outputs, .. } => {
            if id == FieldId::Outputs {
                outputs.clear();
            }
        }
        Observed::Loss { .. }
        | Observed::WeightNorm { .. }
        | Observed::GradientNorm { .. }
        | Observed::HessianTrace { .. }
        | Observed::Accuracy(_) => {}
    }
}

/// `result` with `fields` emptied (its final losses, read from the series, go with them).
pub fn redact_train(result: &mut TrainResult, fields: &[FieldId]) -> Vec<Field> {
    let mut done = Vec::new();
    for field in TRAIN.iter().filter(|f| fields.contains(&f.id)) {
        // A run without held-out data has no test loss to leave out.
        let series = match field.id {
            FieldId::TrainLoss => &mut result.series.train_loss,
            FieldId::TestLoss => &mut result.series.test_loss,
            FieldId::Traces
            | FieldId::Distances
            | FieldId::Companion
            | FieldId::LlcPerChain
            | FieldId::Heads
            | FieldId::Norms
            | FieldId::Represented
            | FieldId::Directions
            | FieldId::Angles
            | FieldId::PerPosition
            | FieldId::Outputs => continue,
        };
        if series.is_empty() {
            continue;
        }
        series.clear();
        done.push(*field);
    }
    done
}

/// The notice a report's data carries for a field left out of step `step`.
pub fn notice(step: &str, field: &Field) -> String {
    format!("{step}.{}: {}, left out by the owner", field.name, field.what)
}

/// Takes `field` of step `step` out of a report's data where it came from that step (its
/// trace panels, its chains' spread, its loss series) and adds the notice the page shows;
/// whether the data held any of it. Fields the data never holds (distances, the companion,
/// other observables' per-unit numbers) leave it as it is.
pub fn redact_report(data: &mut ReportData, step: &str, field: &Field) -> bool {
    let touched = match field.id {
        FieldId::Traces => {
            let before = data.traces.len();
            data.traces.retain(|panel| panel.step != step);
            data.traces.len() != before
        }
        // Each counts only what held a value: a report of a run that logged no loss has none
        // to leave out (and `bid open` holds the notice to what was there).
        FieldId::LlcPerChain => {
            let mut any = false;
            for series in data.llc.iter_mut().filter(|s| s.step == step) {
                for value in series.chain_low.iter_mut().chain(series.chain_high.iter_mut()) {
                    any |= value.take().is_some();
                }
            }
            for panel in data.traces.iter_mut().filter(|p| p.step == step) {
                any |= !panel.llc_per_chain.is_empty();
                panel.llc_per_chain.clear();
            }
            any
        }
        FieldId::TrainLoss => {
            let mut any = false;
            for series in data.losses.iter_mut().filter(|s| s.step == step) {
                for loss in &mut series.train_loss {
                    any |= loss.take().is_some();
                }
            }
            any
        }
        FieldId::TestLoss => {
            let mut any = false;
            for series in data.losses.iter_mut().filter(|s| s.step == step) {
                any |= series.test_loss.take().is_some();
            }
            any
        }
        FieldId::Distances
        | FieldId::Companion
        | FieldId::Heads
        | FieldId::Norms
        | FieldId::Represented
        | FieldId::Directions
        | FieldId::Angles
        | FieldId::PerPosition
        | FieldId::Outputs => false,
    };
    if touched {
        data.redacted.push(notice(step, field));
    }
    touched
}

#[cfg(test)]
mod tests {
    use devspec_protocol::results::llc::{CompanionChains, Estimate, LlcResult};
    use devspec_protocol::results::{self, EstimateResult, Observed, TrainResult};

    use super::{FieldId, LLC, Request, TRAIN, redact_estimate, redact_train};

    fn llc_result() -> EstimateResult {
        EstimateResult::new(Observed::Llc(Box::new(LlcResult {
            estimate: Estimate {
                llc_mean: 2.5,
                llc_std: 0.5,
                llc_se: 0.25,
                llc_per_chain: vec![Some(2.0), Some(3.0)],
                init_loss: 0.125,
                nbeta: 10.0,
                acceptance_mean: Some(0.9),
                acceptance_per_chain: vec![Some(0.875), Some(0.925)],
                r_hat: Some(1.01),
                ess: 40.0,
                localization_sensitivity: None,
                diagnostics: Vec::new(),
            },
            batch_size: 32,
            chains: 2,
            draws: 3,
            burnin: 0,
            steps_between_draws: 1,
            diverged_at: vec![None, None],
            traces: vec![vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6]],
            distances: vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]],
            companion: Some(CompanionChains {
                localization: 200.0,
                traces: vec![vec![0.7, 0.8, 0.9]],
                diverged_at: vec![None],
            }),
        })))
    }

    #[test]
    fn each_llc_field_is_emptied_and_the_copy_still_decodes_with_its_headline() {
        for field in LLC {
            let mut result = llc_result();
            let done = redact_estimate(&mut result, &[field.id]);
            assert_eq!(done, [*field]);
            let bytes = serde_json::to_vec(&result).unwrap();
            let sent: EstimateResult = results::decode(&bytes).unwrap();
            assert_eq!(sent.observed.metrics(), llc_result().observed.metrics(), "{}", field.name);
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            match field.id {
                FieldId::Traces => {
                    assert_eq!(json["traces"], serde_json::json!([]));
                    assert_eq!(json["companion"]["traces"], serde_json::json!([]));
                    assert_eq!(json["distances"][0][0], 1.0);
                }
                FieldId::Distances => assert_eq!(json["distances"], serde_json::json!([])),
                FieldId::Companion => assert_eq!(json["companion"], serde_json::Value::Null),
                FieldId::LlcPerChain => {
                    assert_eq!(json["estimate"]["llc_per_chain"], serde_json::json!([]));
                    assert_eq!(json["estimate"]["acceptance_per_chain"], serde_json::json!([]));
                }
                other => panic!("{other:?} is not an LLC field"),
            }
        }
    }

    #[test]
    fn a_redacted_loss_series_takes_its_final_loss_with_it() {
        let series = devspec_protocol::results::TrainSeries {
            steps: vec![10, 20],
            train_loss: vec![1.0, 0.5],
            test_loss: vec![1.5, 0.75],
        };
        let mut result = TrainResult::new(series);
        assert_eq!(redact_train(&mut result, &[FieldId::TrainLoss]), [TRAIN[0]]);
        let bytes = serde_json::to_vec(&result).unwrap();
        let sent: TrainResult = results::decode(&bytes).unwrap();
        assert!(sent.metrics().get("final_train_loss").is_none());
        assert_eq!(sent.metrics()["final_test_loss"], 0.75);
        // A field of another kind's table is not this result's to empty, and a series it no
        // longer has is not left out again.
        assert!(redact_train(&mut result, &[FieldId::Traces, FieldId::TrainLoss]).is_empty());
    }

    #[test]
    fn a_field_of_another_observable_or_one_with_nothing_in_it_leaves_the_result_as_it_is() {
        let mut result = llc_result();
        assert!(redact_estimate(&mut result, &[FieldId::Heads, FieldId::TrainLoss]).is_empty());
        assert_eq!(result, llc_result());
        let ids = [FieldId::Companion];
        assert_eq!(redact_estimate(&mut result, &ids).len(), 1);
        assert!(redact_estimate(&mut result, &ids).is_empty(), "no companion is left to leave out");
    }

    #[test]
    fn the_traces_and_companion_take_the_numbers_quoted_beside_them() {
        use devspec_protocol::results::llc::{
            CompanionEstimate, Diagnostic, DiagnosticName, Sensitivity,
        };
        let with_words = || {
            let mut result = llc_result();
            let Observed::Llc(llc) = &mut result.observed else { unreachable!() };
            llc.estimate.diagnostics = vec![Diagnostic {
                name: DiagnosticName::NotStationary,
                message: "mean loss 0.2 over the first half, 0.5 over the second".into(),
                fix: "more burnin".into(),
            }];
            llc.estimate.localization_sensitivity = Some(Sensitivity {
                value: 0.5,
                se: 0.1,
                settled: true,
                companion: Some(CompanionEstimate { localization: 200.0, llc_mean: 1.5 }),
            });
            result
        };
        let llc_of = |result: &EstimateResult| match &result.observed {
            Observed::Llc(llc) => llc.as_ref().clone(),
            other => panic!("{other:?}"),
        };
        // The traces: the diagnostic's words go (its name and fix stay); the companion's
        // estimate beside the sensitivity stays, as the companion was sent.
        let mut result = with_words();
        assert_eq!(redact_estimate(&mut result, &[FieldId::Traces]), [LLC[0]]);
        let llc = llc_of(&result);
        assert_eq!(llc.estimate.diagnostics[0].message, super::DIAGNOSTIC_LEFT_OUT);
        assert_eq!(llc.estimate.diagnostics[0].fix, "more burnin");
        assert!(llc.estimate.localization_sensitivity.unwrap().companion.is_some());
        // Left out again, nothing is left to leave out.
        assert!(redact_estimate(&mut result, &[FieldId::Traces]).is_empty());
        // The companion: its chains, its estimate beside the sensitivity, and the words.
        let mut result = with_words();
        assert_eq!(redact_estimate(&mut result, &[FieldId::Companion]), [LLC[2]]);
        let llc = llc_of(&result);
        let sensitivity = llc.estimate.localization_sensitivity.unwrap();
        assert!(llc.companion.is_none() && sensitivity.companion.is_none());
        assert!(sensitivity.value.to_bits() == 0.5_f64.to_bits(), "the sensitivity is a headline");
        assert_eq!(llc.estimate.diagnostics[0].message, super::DIAGNOSTIC_LEFT_OUT);
        assert_eq!(llc.traces, llc_result().observed.llc().unwrap().traces, "only the companion");
    }

    #[test]
    fn each_per_unit_field_of_the_other_observables_is_emptied_and_the_headline_stays() {
        use devspec_protocol::results::estimate::{
            IclBaselines, InductionScore, PerPosition, TmsGeometry,
        };
        let results = [
            Observed::InductionScore(InductionScore {
                induction_score: 0.75,
                best_head: [1, 0],
                heads: vec![vec![0.125, 0.25], vec![0.75, 0.5]],
                positions_scored: 16,
            }),
            Observed::TmsGeometry(TmsGeometry {
                headline: "features".into(),
                features: 2,
                norms: vec![0.875, 0.0625, 0.9375],
                represented: vec![0, 2],
                directions: Some(vec![10.5, 190.25]),
                angles: Some(vec![179.75]),
            }),
            Observed::IclBaselines(IclBaselines {
                headline: "model_loss".into(),
                model_loss: 0.5,
                ridge_loss: 0.25,
                dmmse_loss: Some(0.375),
                noise_var: 0.0625,
                per_position: PerPosition {
                    model: vec![1.5, 0.5],
                    ridge: vec![1.25, 0.25],
                    dmmse: Some(vec![1.125, 0.375]),
                },
                sequences: 64,
            }),
            Observed::Outputs { shape: vec![2, 2], outputs: vec![0.5, 1.5, 2.5, 3.5] },
        ];
        for observed in results {
            let fields = super::of_observed(&observed);
            assert!(!fields.is_empty(), "{observed:?}");
            for field in fields {
                let mut result = EstimateResult::new(observed.clone());
                assert_eq!(redact_estimate(&mut result, &[field.id]), [*field], "{}", field.name);
                let bytes = serde_json::to_vec(&result).unwrap();
                let sent: EstimateResult = results::decode(&bytes).unwrap();
                assert_eq!(sent.observed.metrics(), observed.metrics(), "{}", field.name);
                // The field is empty (or absent), whatever its place in the JSON.
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let value = match field.id {
                    FieldId::PerPosition => json["per_position"]["model"].clone(),
                    _ => json[field.name].clone(),
                };
                assert!(
                    value.is_null() || value == serde_json::json!([]),
                    "{}: {value}",
                    field.name
                );
                if field.id == FieldId::PerPosition {
                    assert_eq!(json["per_position"]["ridge"], serde_json::json!([]));
                    assert!(json["per_position"]["dmmse"].is_null());
                }
                // Emptied once, nothing is left to leave out.
                assert!(redact_estimate(&mut result, &[field.id]).is_empty(), "{}", field.name);
            }
        }
    }

    #[test]
    fn a_field_computed_from_another_takes_it_with_it() {
        assert_eq!(super::implied(FieldId::LlcPerChain), Some(FieldId::Traces));
        assert_eq!(super::implied(FieldId::Angles), Some(FieldId::Directions));
        assert_eq!(super::implied(FieldId::Represented), Some(FieldId::Norms));
        assert_eq!(super::implied(FieldId::Traces), None);
    }

    #[test]
    fn a_request_is_a_step_or_a_step_and_field() {
        assert_eq!(Request::parse("llc"), Request::Step("llc".into()));
        assert_eq!(
            Request::parse("llc.traces"),
            Request::Field { step: "llc".into(), field: "traces".into() }
        );
        assert_eq!(Request::parse("llc.traces").step(), "llc");
    }
}
