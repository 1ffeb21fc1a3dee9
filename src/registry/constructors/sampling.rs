//! What an `estimate` step measures at a checkpoint: the samplers of the tempered posterior and
//! the observables, from the local learning coefficient to plain loss, norms and outputs.

use super::{NAME_PATTERNS, above, at_least, between, defaults_to, derived, required, whole};
use crate::registry::schema::{Bound, Constructor, CtorKind, Literal, Param, Status, ValueType};

pub(super) static CONSTRUCTORS: &[Constructor] = &[
    Constructor {
        name: "sgld",
        kind: CtorKind::Sampler,
        params: &[
            SAMPLER_LR,
            LOCALIZATION,
            defaults_to(
                "noise_level",
                at_least(0.0),
                Literal::Float(1.0),
                "multiplies the injected noise's standard deviation (1: exact SGLD)",
            ),
            defaults_to(
                "weight_decay",
                at_least(0.0),
                Literal::Float(0.0),
                "L2 pull towards the origin, added to the potential",
            ),
            derived(
                "bounding_box",
                above(0.0),
                "none: unbounded",
                "keeps each parameter within this distance of the checkpoint",
            ),
        ],
        doc: "Stochastic-gradient Langevin dynamics on minibatches, localized at the checkpoint.",
        reference: Some(
            "Welling & Teh 2011, \"Bayesian learning via stochastic gradient Langevin \
             dynamics\", ICML; localization as in Lau et al., AISTATS 2025",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "rmsprop_sgld",
        kind: CtorKind::Sampler,
        params: &[
            SAMPLER_LR,
            LOCALIZATION,
            defaults_to(
                "alpha",
                between(Bound::Inclusive(0.0), Bound::Exclusive(1.0)),
                Literal::Float(0.99),
                "decay rate of the running mean of squared gradients",
            ),
            defaults_to(
                "eps",
                above(0.0),
                Literal::Float(0.1),
                "added to the preconditioner's denominator; bounds the largest step",
            ),
        ],
        doc: "SGLD preconditioned by RMSprop's running mean of squared gradients: the more \
              faithful sampler on large models.",
        reference: Some(
            "Li et al. 2016, \"Preconditioned stochastic gradient Langevin dynamics for deep \
             neural networks\", AAAI; Hitchcock & Hoogland 2025 (sampler benchmark)",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "llc",
        kind: CtorKind::Observable,
        params: &[
            required("sampler", ValueType::Ctor(CtorKind::Sampler), "the sampler of the chains"),
            defaults_to(
                "nbeta",
                ValueType::OneOf(&[ValueType::Auto, ValueType::Enum(&["dataset"]), above(0.0)]),
                Literal::Auto,
                "n times the inverse temperature: `auto` is B / ln B for batch size B \
                 (devinterp's default), `dataset` is n / ln n (the paper's); the value used is \
                 stored",
            ),
            defaults_to("chains", whole(1), Literal::Int(4), "independent chains"),
            defaults_to("draws", whole(1), Literal::Int(200), "recorded draws per chain"),
            defaults_to("burnin", whole(0), Literal::Int(100), "discarded steps per chain"),
            defaults_to(
                "steps_between_draws",
                whole(1),
                Literal::Int(1),
                "sampler steps per recorded draw",
            ),
            derived(
                "batch_size",
                whole(1),
                "the training batch size",
                "minibatch size of the sampler's gradients",
            ),
            derived(
                "init_loss_batches",
                whole(1),
                "the whole data set; 16 batches of fresh data where the data are drawn fresh",
                "batches averaged for the loss at the checkpoint, shared by all chains",
            ),
            defaults_to(
                "restrict",
                NAME_PATTERNS,
                Literal::EmptyList,
                "sample only parameters whose names match these globs, holding the rest \
                 (weight-restricted LLC); empty: all",
            ),
            derived(
                "data",
                ValueType::Ctor(CtorKind::Data),
                "the data of the step it is on",
                "data of the loss (another distribution gives the data-restricted LLC)",
            ),
            derived(
                "min_chains",
                whole(1),
                "half of `chains`, rounded up",
                "fewest chains that must not diverge for the estimate to stand",
            ),
            defaults_to(
                "independent_batches",
                ValueType::Bool,
                Literal::Bool(false),
                "give each chain its own minibatch stream instead of sharing one",
            ),
            defaults_to(
                "companion",
                ValueType::Bool,
                Literal::Bool(false),
                "also sample each chain at half the localization, with the same noise and \
                 minibatches, to measure how much the estimate depends on it (doubles the \
                 sampling; for the `localization_dominated` diagnostic)",
            ),
            defaults_to(
                "acceptance_every",
                whole(1),
                Literal::Int(10),
                "steps between two checks of the MALA acceptance probability",
            ),
            defaults_to(
                "batched",
                ValueType::Bool,
                Literal::Bool(true),
                "sample all chains of all sibling checkpoints as one computation (on one CPU \
                 thread, a large model's in several, the same numbers: docs/estimation.md); \
                 `false` runs one chain at a time on autograd (the path of models that cannot be batched), \
                 to check the batched path against",
            ),
        ],
        doc: "The local learning coefficient n_beta * (E[L_n(w)] - L_n(w*)), the expectation \
              over chains sampling the posterior localized at the checkpoint w*, with \
              diagnostics (negative, diverged, not stationary, low acceptance, poor mixing).",
        reference: Some(
            "Lau et al., \"The local learning coefficient: a singularity-aware complexity \
             measure\", AISTATS 2025; restriction: Wang et al. 2024, \"Differentiation and \
             specialization of attention heads via the refined local learning coefficient\"",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "loss",
        kind: CtorKind::Observable,
        params: &[LOSS_DATA],
        doc: "The model's loss at the checkpoint, over a whole data set.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "weight_norm",
        kind: CtorKind::Observable,
        params: &[defaults_to(
            "restrict",
            NAME_PATTERNS,
            Literal::EmptyList,
            "only parameters whose names match these globs; empty: all",
        )],
        doc: "The Euclidean norm of the parameters at the checkpoint.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "gradient_norm",
        kind: CtorKind::Observable,
        params: &[LOSS_DATA],
        doc: "The Euclidean norm of the loss's gradient at the checkpoint, over a whole data \
              set: near 0 at a critical point of the loss, which the LLC's localization \
              assumes the checkpoint is.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "hessian_trace",
        kind: CtorKind::Observable,
        params: &[
            defaults_to(
                "samples",
                whole(1),
                Literal::Int(100),
                "random probe vectors averaged (more: smaller variance)",
            ),
            LOSS_DATA,
        ],
        doc: "The trace of the loss's Hessian at the checkpoint, by Hutchinson's estimator \
              (Hessian-vector products with random sign vectors).",
        reference: Some(
            "Hutchinson 1990, \"A stochastic estimator of the trace of the influence matrix for \
             Laplacian smoothing splines\"",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "outputs",
        kind: CtorKind::Observable,
        params: &[
            PROBE,
            defaults_to(
                "samples",
                whole(1),
                Literal::Int(256),
                "inputs taken from the probe data, the same at every checkpoint",
            ),
        ],
        doc: "The model's outputs on a fixed probe set, the input of `essential_dynamics`.",
        reference: Some(
            "Hoogland et al. 2024, \"The developmental landscape of in-context learning\" \
             (essential dynamics)",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "accuracy",
        kind: CtorKind::Observable,
        params: &[derived(
            "data",
            ValueType::Ctor(CtorKind::Data),
            "the data of the step it is on",
            "data the accuracy is computed on",
        )],
        doc: "The fraction of samples whose most likely class is the target, for classification \
              models (grokking is defined by it).",
        reference: Some("Power et al. 2022, \"Grokking\""),
        status: Status::Implemented,
    },
    Constructor {
        name: "induction_score",
        kind: CtorKind::Observable,
        params: &[PROBE],
        doc: "Per attention head, the attention paid to the token after the previous occurrence \
              of the current token, on sequences with repeated segments.",
        reference: Some("Olsson et al. 2022, \"In-context learning and induction heads\""),
        status: Status::Implemented,
    },
    Constructor {
        name: "tms.geometry",
        kind: CtorKind::Observable,
        params: &[],
        doc: "For a toy model of superposition: how many features are represented, and the \
              angles between their directions (the k-gon).",
        reference: Some(
            "Chen et al. 2023, \"Dynamical versus Bayesian phase transitions in a toy model of \
             superposition\"",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "icl.baselines",
        kind: CtorKind::Observable,
        params: &[],
        doc: "For in-context regression: the loss of ridge regression and of the task-prior \
              estimator on the same contexts, as reference lines.",
        reference: Some(
            "Raventós et al. 2023, \"Pretraining task diversity and the emergence of \
             non-Bayesian in-context learning for regression\"",
        ),
        status: Status::Implemented,
    },
];

const SAMPLER_LR: Param = required("lr", above(0.0), "step size epsilon (noise variance epsilon)");

const LOCALIZATION: Param = required(
    "localization",
    at_least(0.0),
    "strength gamma of the pull towards the checkpoint (typically 1 to 1000)",
);

/// The data an observable's loss is taken over: the step's unless it names its own.
const LOSS_DATA: Param = derived(
    "data",
    ValueType::Ctor(CtorKind::Data),
    "the data of the step it is on",
    "data the loss is computed on",
);

const PROBE: Param = derived(
    "probe",
    ValueType::Ctor(CtorKind::Data),
    "the data of the step it is on",
    "data whose inputs are the probe set",
);
