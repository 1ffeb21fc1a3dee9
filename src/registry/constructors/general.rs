//! The general-purpose constructors: optimizers with their learning-rate schedules, the
//! checkpoint schedules (`logspace`, `linspace`, `every`) and `sweep`. The schedules and `sweep`
//! are the language's own: the compiler evaluates them, so they are implemented from the start.

use super::{above, at_least, between, defaults_to, derived, required, whole};
use crate::registry::schema::{Bound, Constructor, CtorKind, Literal, Param, Status, ValueType};

pub(super) static CONSTRUCTORS: &[Constructor] = &[
    Constructor {
        name: "sgd",
        kind: CtorKind::Optimizer,
        params: &[
            LR_REQUIRED,
            defaults_to(
                "momentum",
                MOMENTUM,
                Literal::Float(0.0),
                "momentum factor (0: plain SGD)",
            ),
            defaults_to(
                "weight_decay",
                at_least(0.0),
                Literal::Float(0.0),
                "L2 penalty added to the gradient",
            ),
            LR_SCHEDULE,
            WARMUP,
            DECAY_EVERY,
            DECAY_FACTOR,
        ],
        doc: "Stochastic gradient descent, as PyTorch's `torch.optim.SGD`.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "adam",
        kind: CtorKind::Optimizer,
        params: &[
            LR_ADAM,
            BETAS,
            EPS,
            defaults_to(
                "weight_decay",
                at_least(0.0),
                Literal::Float(0.0),
                "L2 penalty added to the gradient (coupled, as in PyTorch's `Adam`)",
            ),
            LR_SCHEDULE,
            WARMUP,
            DECAY_EVERY,
            DECAY_FACTOR,
        ],
        doc: "Adam, as PyTorch's `torch.optim.Adam` (same defaults).",
        reference: Some("Kingma & Ba 2015, \"Adam: a method for stochastic optimization\", ICLR"),
        status: Status::Implemented,
    },
    Constructor {
        name: "adamw",
        kind: CtorKind::Optimizer,
        params: &[
            LR_ADAM,
            BETAS,
            EPS,
            defaults_to(
                "weight_decay",
                at_least(0.0),
                Literal::Float(0.01),
                "decoupled weight decay, applied to the weights directly (PyTorch's default)",
            ),
            LR_SCHEDULE,
            WARMUP,
            DECAY_EVERY,
            DECAY_FACTOR,
        ],
        doc: "Adam with decoupled weight decay, as PyTorch's `torch.optim.AdamW` (same defaults).",
        reference: Some(
            "Loshchilov & Hutter 2019, \"Decoupled weight decay regularization\", ICLR",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "logspace",
        kind: CtorKind::Schedule,
        params: &[
            required("start", whole(1), "first step (log spacing needs it above 0)"),
            required("stop", whole(1), "last step"),
            required("count", whole(1), "how many steps before rounding and deduplication"),
        ],
        doc: "Steps evenly spaced in log(step) from `start` to `stop`, rounded to whole steps and \
              deduplicated, so early training, where most changes happen, is sampled densely.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "linspace",
        kind: CtorKind::Schedule,
        params: &[
            required("start", whole(0), "first step"),
            required("stop", whole(0), "last step"),
            required("count", whole(1), "how many steps before rounding and deduplication"),
        ],
        doc: "Steps evenly spaced from `start` to `stop`, rounded to whole steps and deduplicated.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "every",
        kind: CtorKind::Schedule,
        params: &[required("k", whole(1), "the spacing")],
        doc: "Every k-th step as a train step's `checkpoints` (k, 2k, ... and the last step), or \
              every k-th checkpoint as an estimate's `at` (the first, the (k+1)-th, ... and the \
              last).",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "sweep",
        kind: CtorKind::Sweep,
        params: &[required(
            "values",
            ValueType::List(&SWEPT_VALUE),
            "the values, all of the field's type; a range `a..b` excludes `b`; never empty",
        )],
        doc: "Makes the step a family of instances, one per value (several sweeps in one step \
              give their cartesian product); accepted in any field, wherever its values are.",
        reference: None,
        status: Status::Implemented,
    },
];

/// What a sweep may list. The compiler checks the elements against the swept field's own type;
/// this is only the widest set of values a field can take.
const SWEPT_VALUE: ValueType = ValueType::OneOf(&[
    ValueType::Int { min: None, max: None },
    ValueType::Float { min: None, max: None },
    ValueType::Str,
    ValueType::Bool,
    ValueType::List(&ValueType::Int { min: None, max: None }),
    ValueType::Ctor(CtorKind::Model),
    ValueType::Ctor(CtorKind::Data),
    ValueType::Ctor(CtorKind::Teacher),
    ValueType::Ctor(CtorKind::Optimizer),
    ValueType::Ctor(CtorKind::Sampler),
    ValueType::Ctor(CtorKind::Observable),
    ValueType::Ctor(CtorKind::Method),
]);

/// Momentum of 1 or more never forgets a gradient, so the iterates diverge.
const MOMENTUM: ValueType = between(Bound::Inclusive(0.0), Bound::Exclusive(1.0));

// SGD has no learning rate that suits every model (PyTorch long required it too); Adam's
// 1e-3 is the default of its paper and of PyTorch.
const LR_REQUIRED: Param = required("lr", above(0.0), "learning rate (peak rate under a schedule)");

const LR_ADAM: Param = defaults_to(
    "lr",
    above(0.0),
    Literal::Float(1e-3),
    "learning rate (peak rate under a schedule)",
);

// `Literal` has no list form, so the default pair is stated in words.
const BETAS: Param = derived(
    "betas",
    ValueType::List(&MOMENTUM),
    "`[0.9, 0.999]`",
    "decay rates of the running means of the gradient and of its square, as a pair",
);

const EPS: Param = defaults_to(
    "eps",
    above(0.0),
    Literal::Float(1e-8),
    "added to the denominator for numerical stability",
);

// The learning-rate schedule lives on the optimizer so that a preset optimizer carries it.
const LR_SCHEDULE: Param = defaults_to(
    "schedule",
    ValueType::Enum(&["constant", "cosine", "step_decay"]),
    Literal::Enum("constant"),
    "learning-rate schedule after warm-up: constant, cosine decay to 0 at the last step, or \
     multiplied by `decay_factor` every `decay_every` steps",
);

const WARMUP: Param =
    defaults_to("warmup", whole(0), Literal::Int(0), "steps of linear warm-up from 0 to `lr`");

const DECAY_EVERY: Param = derived(
    "decay_every",
    whole(1),
    "required with `schedule = step_decay`, unused otherwise",
    "steps between two decays of the learning rate",
);

const DECAY_FACTOR: Param = defaults_to(
    "decay_factor",
    between(Bound::Exclusive(0.0), Bound::Inclusive(1.0)),
    Literal::Float(0.1),
    "what `step_decay` multiplies the learning rate by",
);
