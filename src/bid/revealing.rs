//! The observables whose numbers can reveal a checkpoint's weights, decided per observable
//! (matched exhaustively: a new observable compiles only once it is decided here). A bid that
//! measures one is flagged by `bid inspect`, and `bid run` runs it only with the owner's
//! `--allow-revealing`.

use devspec_protocol::params::Observable;

/// Why `observable`'s numbers can reveal weights, or `None` when they are aggregates that
/// cannot (one number per checkpoint over the whole model, or over the data).
pub fn reveals(observable: &Observable) -> Option<&'static str> {
    match observable {
        Observable::Outputs(_) => Some(
            "the model's outputs on inputs the bid chooses: enough well-chosen inputs recover \
             the weights",
        ),
        Observable::TmsGeometry(_) => Some(
            "the toy model's feature directions and norms: its weight matrix, column by column",
        ),
        Observable::InductionScore(_) => {
            Some("a value per attention head: per-unit values of the model")
        }
        Observable::WeightNorm(norm) if !norm.restrict.is_empty() => Some(
            "norms of chosen parameter tensors: a one-element tensor's norm is its weight's \
             magnitude",
        ),
        Observable::WeightNorm(_)
        | Observable::Llc(_)
        | Observable::Loss(_)
        | Observable::GradientNorm(_)
        | Observable::HessianTrace(_)
        | Observable::Accuracy(_)
        | Observable::IclBaselines(_) => None,
    }
}

/// Why a step measuring `observable` (a field's value, read per instance: each element of a
/// sweep on its own) can reveal weights. Fails closed: a value this devspec cannot read as an
/// observable is flagged, never let through.
pub fn observable_reveals(observable: &crate::compile::value::Value) -> Option<&'static str> {
    use crate::compile::value::ValueKind;
    match &observable.kind {
        ValueKind::Sweep { values, .. } => values.iter().find_map(observable_reveals),
        ValueKind::Int(_)
        | ValueKind::Float(_)
        | ValueKind::Str(_)
        | ValueKind::Bool(_)
        | ValueKind::Auto
        | ValueKind::Enum(_)
        | ValueKind::List(_)
        | ValueKind::Record(_)
        | ValueKind::Ctor { .. }
        | ValueKind::File { .. }
        | ValueKind::Open { .. } => match observable.typed::<Observable>() {
            Some(observable) => reveals(&observable),
            None => Some(
                "an observable this devspec cannot decide on (a sweep inside it, or an open \
                 value): flagged rather than let through",
            ),
        },
    }
}

/// Why a step that computes with a TorchScript model the bid brings can reveal weights: its
/// code decides what every number is, and can encode weights in any of them.
pub const TORCHSCRIPT_REVEALS: &str = "computed by the bid's own TorchScript model: its code \
     decides what each number is, and can encode the weights in any of them";

#[cfg(test)]
mod tests {
    use devspec_protocol::params::{NoArgs, Observable, Outputs, WeightNorm};

    use super::{observable_reveals, reveals};
    use crate::compile::value::{Value, ValueKind};

    #[test]
    fn outputs_geometry_and_restricted_norms_reveal_weights_the_whole_norm_does_not() {
        assert!(reveals(&Observable::Outputs(Outputs { probe: None, samples: 8 })).is_some());
        assert!(reveals(&Observable::TmsGeometry(NoArgs {})).is_some());
        assert!(
            reveals(&Observable::WeightNorm(WeightNorm { restrict: vec!["b".into()] })).is_some()
        );
        assert!(reveals(&Observable::WeightNorm(WeightNorm { restrict: vec![] })).is_none());
    }

    #[test]
    fn an_observable_that_cannot_be_read_fails_closed_even_swept() {
        let origin = crate::compile::value::Origin {
            file: crate::source::FileId(0),
            span: crate::source::Span { start: 0, end: 0 },
        };
        let unreadable = Value::new(ValueKind::Str("llc".into()), origin);
        assert!(observable_reveals(&unreadable).is_some());
        let swept = Value::new(ValueKind::Sweep { values: vec![unreadable], axis: None }, origin);
        assert!(observable_reveals(&swept).is_some());
    }
}
