//! The built-in data: generators of the toy settings (deterministic from a seed, generated in
//! Rust), the deep-linear-network teacher, and the user's own tensors read from files.

use super::{
    DATA_SEED, PROBABILITY, SAMPLES, SEED, at_least, between, defaults_to, derived, required, whole,
};
use crate::registry::schema::{Bound, Constructor, CtorKind, Literal, Status, ValueType};

pub(super) static CONSTRUCTORS: &[Constructor] = &[
    Constructor {
        name: "tms.data",
        kind: CtorKind::Data,
        params: &[
            required("features", whole(1), "number of features c"),
            required(
                "sparsity",
                PROBABILITY,
                "probability S that a feature is zero; otherwise it is uniform on [0, 1]",
            ),
            required("samples", SAMPLES, SAMPLES_DOC),
            DATA_SEED,
        ],
        doc: "Sparse synthetic features for the toy model of superposition; the target is the \
              input.",
        reference: Some("Elhage et al. 2022, \"Toy models of superposition\""),
        status: Status::Implemented,
    },
    Constructor {
        name: "dln.teacher",
        kind: CtorKind::Teacher,
        params: &[
            required(
                "widths",
                ValueType::List(&WIDTH),
                "layer widths from input to output, matching the student's",
            ),
            required(
                "rank",
                whole(0),
                "exact rank of the end-to-end map (at most the smallest width)",
            ),
            // A teacher is the ground truth of a study: swept training seeds share it.
            defaults_to("seed", SEED, Literal::Int(0), "seed of the teacher's random weights"),
        ],
        doc: "A random deep-linear-network teacher whose end-to-end map has exactly the given \
              rank; a `checkpoint` step's `weights` or a `dln.data`'s source.",
        reference: Some("Aoyagi 2024, Neural Networks 172 (learning coefficients of DLNs)"),
        status: Status::Implemented,
    },
    Constructor {
        name: "dln.data",
        kind: CtorKind::Data,
        params: &[
            required(
                "teacher",
                ValueType::Ctor(CtorKind::Teacher),
                "the map that labels the inputs",
            ),
            required("samples", SAMPLES, SAMPLES_DOC),
            defaults_to(
                "noise",
                at_least(0.0),
                Literal::Float(0.0),
                "standard deviation of Gaussian noise added to the labels",
            ),
            DATA_SEED,
        ],
        doc: "Standard Gaussian inputs labelled by a teacher, for MSE regression.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "tensors",
        kind: CtorKind::Data,
        params: &[
            required(
                "path",
                ValueType::Path,
                "a `.safetensors` file, a `.npz` archive, or a folder holding `INPUTS.npy` and \
                 `TARGETS.npy`; its digest is part of the cache key",
            ),
            defaults_to(
                "inputs",
                ValueType::Str,
                Literal::Str("x"),
                "name of the tensor of inputs (first dimension: samples)",
            ),
            defaults_to(
                "targets",
                ValueType::Str,
                Literal::Str("y"),
                "name of the tensor of targets (first dimension: samples)",
            ),
        ],
        doc: "The user's own data, read from a file: a fixed pool of samples.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "icl.regression",
        kind: CtorKind::Data,
        params: &[
            defaults_to("dims", whole(1), Literal::Int(4), "dimension D of inputs and tasks"),
            defaults_to("context", whole(1), Literal::Int(16), "pairs K per sequence"),
            defaults_to(
                "noise_var",
                at_least(0.0),
                Literal::Float(0.125),
                "variance sigma^2 of the label noise",
            ),
            defaults_to(
                "tasks",
                ValueType::OneOf(&[ValueType::Auto, whole(1)]),
                Literal::Auto,
                "`auto`: a fresh task per sequence; a number: a finite set of that many tasks",
            ),
            DATA_SEED,
        ],
        doc: "In-context linear regression: each sequence has a task t ~ N(0, I_D) and pairs \
              (x, t . x + noise) with x ~ N(0, I_D); the model predicts each y from the pairs \
              before it. Drawn fresh for every batch.",
        reference: Some(
            "Hoogland et al. 2024, \"The developmental landscape of in-context learning\" (the \
             defaults); Raventós et al. 2023 (finite task sets)",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "induction.data",
        kind: CtorKind::Data,
        params: &[
            required("vocab", whole(2), "number of distinct tokens"),
            required("length", whole(2), "tokens per sequence"),
            derived(
                "segment",
                whole(1),
                "a quarter of `length`",
                "tokens in the segment that repeats within each sequence",
            ),
            defaults_to("samples", SAMPLES, Literal::Enum("fresh"), SAMPLES_DOC),
            DATA_SEED,
        ],
        doc: "Random token sequences with repeated segments, where predicting the repeat \
              rewards an induction head; next-token cross-entropy.",
        reference: Some("Olsson et al. 2022, \"In-context learning and induction heads\""),
        status: Status::Implemented,
    },
    Constructor {
        name: "modular.data",
        kind: CtorKind::Data,
        params: &[
            defaults_to("p", whole(2), Literal::Int(113), "the modulus"),
            defaults_to(
                "op",
                ValueType::Enum(&["add", "sub", "mul"]),
                Literal::Enum("add"),
                "the operation: (a + b), (a - b) or (a * b) mod p",
            ),
            defaults_to(
                "encoding",
                ValueType::Enum(&["one_hot", "tokens"]),
                Literal::Enum("one_hot"),
                "`one_hot`: a and b one-hot side by side (2p inputs, for an MLP); `tokens`: the \
                 three tokens `a b =` (vocabulary p + 1, for a transformer, scored at `=`)",
            ),
            defaults_to(
                "train_fraction",
                between(Bound::Exclusive(0.0), Bound::Exclusive(1.0)),
                Literal::Float(0.3),
                "fraction of the p^2 pairs trained on; the rest are the test data",
            ),
            DATA_SEED,
        ],
        doc: "All pairs (a, b) of residues mod p labelled by `op`, split into train and test \
              pairs; classification over p classes.",
        reference: Some(
            "Power et al. 2022, \"Grokking\"; Nanda et al. 2023, \"Progress measures for grokking \
             via mechanistic interpretability\" (p = 113, train fraction 0.3)",
        ),
        status: Status::Implemented,
    },
];

const WIDTH: ValueType = whole(1);

const SAMPLES_DOC: &str =
    "a fixed pool of this many samples, cycled by training, or `fresh` to draw every batch anew";
