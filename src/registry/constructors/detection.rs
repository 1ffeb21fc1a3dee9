//! The methods of a `detect` step: each finds where a series over checkpoints changes (stage
//! boundaries, change points, milestones). They run in `devspec` itself, without libtorch.

use super::{PROBABILITY, above, between, defaults_to, whole};
use crate::registry::schema::{Bound, Constructor, CtorKind, Literal, Param, Status, ValueType};

pub(super) static CONSTRUCTORS: &[Constructor] = &[
    Constructor {
        name: "critical_points",
        kind: CtorKind::Method,
        params: &[
            SMOOTHING,
            AXIS,
            defaults_to(
                "plateau",
                PROBABILITY,
                Literal::Float(0.1),
                "a slope below this fraction of its largest magnitude counts as a plateau",
            ),
        ],
        doc: "Smooths the series over the axis, differentiates it, and marks where the slope \
              crosses zero or falls to a plateau; LLC rising between boundaries is development, \
              falling is refinement.",
        reference: Some(
            "Hoogland et al. 2024, \"The developmental landscape of in-context learning\" (TMLR \
             2025 as \"Loss landscape degeneracy and stagewise development in transformers\")",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "transitions",
        kind: CtorKind::Method,
        params: &[
            defaults_to(
                "smoothing",
                above(0.0),
                Literal::Float(0.05),
                "width of the Gaussian smoothing kernel, as a fraction of the axis's span",
            ),
            AXIS,
            defaults_to(
                "threshold",
                PROBABILITY,
                Literal::Float(0.2),
                "a peak of the slope counts from this fraction of its largest magnitude",
            ),
        ],
        doc: "Smooths the series over the axis and marks where it changes fastest (each peak of \
              its slope's magnitude): the middle of each rise or drop, where a transition is \
              placed. LLC rising fastest is a development transition, falling a refinement one.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "change_points",
        kind: CtorKind::Method,
        params: &[
            defaults_to(
                "method",
                ValueType::Enum(&["pelt", "binseg"]),
                Literal::Enum("pelt"),
                "exact penalized segmentation (PELT) or binary segmentation",
            ),
            defaults_to(
                "penalty",
                ValueType::OneOf(&[ValueType::Auto, above(0.0)]),
                Literal::Auto,
                "cost of one more change point; `auto`: the modified BIC, 3 ln(n) times the noise \
                 variance (estimated from first differences)",
            ),
            defaults_to("min_size", whole(1), Literal::Int(2), "fewest checkpoints in a segment"),
        ],
        doc: "Change points in the mean of the series, minimizing the squared error plus a \
              penalty per change.",
        reference: Some(
            "Killick, Fearnhead & Eckley 2012, \"Optimal detection of changepoints with a \
             linear computational cost\" (PELT); Scott & Knott 1974 (binary segmentation)",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "bocpd",
        kind: CtorKind::Method,
        params: &[
            defaults_to(
                "hazard",
                between(Bound::Exclusive(0.0), Bound::Inclusive(1.0)),
                Literal::Float(0.05),
                "prior probability of a change at each checkpoint (1 / expected stage length)",
            ),
            defaults_to(
                "threshold",
                PROBABILITY,
                Literal::Float(0.5),
                "posterior probability of a new run above which a change point is reported",
            ),
        ],
        doc: "Bayesian online change-point detection: the posterior over the run length since \
              the last change, with a constant hazard and a Normal-Gamma model.",
        reference: Some("Adams & MacKay 2007, \"Bayesian online changepoint detection\""),
        status: Status::Implemented,
    },
    Constructor {
        name: "essential_dynamics",
        kind: CtorKind::Method,
        params: &[
            defaults_to(
                "components",
                whole(1),
                Literal::Int(3),
                "principal components kept (2 to 4 is usual)",
            ),
            SMOOTHING,
        ],
        doc: "On an `outputs` estimate: PCA of the outputs across checkpoints, the trajectory \
              smoothed in the top components, and its turning points as milestones.",
        reference: Some(
            "Hoogland et al. 2024, \"The developmental landscape of in-context learning\" \
             (essential dynamics)",
        ),
        status: Status::Implemented,
    },
];

// A fraction of the axis span, so one value suits runs of any length.
const AXIS: Param = defaults_to(
    "axis",
    ValueType::Enum(&["log", "linear"]),
    Literal::Enum("log"),
    "the time axis the series is smoothed and differentiated over: log(step) or step",
);

const SMOOTHING: Param = defaults_to(
    "smoothing",
    above(0.0),
    Literal::Float(0.1),
    "width of the Gaussian smoothing kernel, as a fraction of the axis's span",
);
