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

#[cfg(test)]
mod tests {
    use devspec_protocol::params::{NoArgs, Observable, Outputs, WeightNorm};

    use super::reveals;

    #[test]
    fn outputs_geometry_and_restricted_norms_reveal_weights_the_whole_norm_does_not() {
        assert!(reveals(&Observable::Outputs(Outputs { probe: None, samples: 8 })).is_some());
        assert!(reveals(&Observable::TmsGeometry(NoArgs {})).is_some());
        assert!(
            reveals(&Observable::WeightNorm(WeightNorm { restrict: vec!["b".into()] })).is_some()
        );
        assert!(reveals(&Observable::WeightNorm(WeightNorm { restrict: vec![] })).is_none());
    }
}
