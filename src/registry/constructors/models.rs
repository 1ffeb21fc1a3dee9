//! The built-in models. Each is written once in batched form in the worker (a leading member
//! dimension), so one declaration here covers a single model, an ensemble of seeds and a batch of
//! sampler chains; `torchscript.model` is the user's own architecture, run one member at a time.

use super::{above, defaults_to, derived, required, whole};
use crate::registry::schema::{Constructor, CtorKind, Literal, Param, Status, ValueType};

pub(super) static CONSTRUCTORS: &[Constructor] = &[
    Constructor {
        name: "tms.model",
        kind: CtorKind::Model,
        params: &[
            required("features", whole(1), "number of input features c"),
            required("hidden", whole(1), "number of hidden dimensions m (W is m x c)"),
            defaults_to(
                "bias",
                ValueType::Bool,
                Literal::Bool(true),
                "whether to learn the bias b",
            ),
            // The measured TMS 6 -> 2 run with visible plateaus starts from N(0, 0.1^2).
            defaults_to(
                "init_scale",
                above(0.0),
                Literal::Float(0.1),
                "standard deviation of W's normal initialization; b starts at 0",
            ),
        ],
        doc: "Toy model of superposition: x_hat = ReLU(W^T W x + b), trained with MSE.",
        reference: Some(
            "Elhage et al. 2022, \"Toy models of superposition\"; Chen et al. 2023, \"Dynamical \
             versus Bayesian phase transitions in a toy model of superposition\"",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "dln.model",
        kind: CtorKind::Model,
        params: &[
            WIDTHS,
            defaults_to(
                "bias",
                ValueType::Bool,
                Literal::Bool(false),
                "whether the layers learn biases (the theory's DLN has none)",
            ),
            FAN_IN_INIT,
        ],
        doc: "Deep linear network y = W_L ... W_1 x, trained with MSE; its learning coefficient \
              at a teacher is known in closed form.",
        reference: Some("Aoyagi 2024, Neural Networks 172 (learning coefficients of DLNs)"),
        status: Status::Implemented,
    },
    Constructor {
        name: "mlp.model",
        kind: CtorKind::Model,
        params: &[
            WIDTHS,
            defaults_to(
                "activation",
                ACTIVATIONS,
                Literal::Enum("relu"),
                "nonlinearity between layers (none after the last)",
            ),
            defaults_to(
                "bias",
                ValueType::Bool,
                Literal::Bool(true),
                "whether layers learn biases",
            ),
            FAN_IN_INIT,
        ],
        doc: "Multilayer perceptron with fully connected layers.",
        reference: None,
        status: Status::Implemented,
    },
    Constructor {
        name: "transformer.model",
        kind: CtorKind::Model,
        params: &[
            required("layers", whole(1), "number of transformer blocks"),
            required("heads", whole(1), "attention heads per block"),
            required("d_model", whole(1), "width of the residual stream"),
            derived("d_head", whole(1), "`d_model / heads`", "width of each attention head"),
            derived(
                "d_mlp",
                whole(0),
                "`4 * d_model`",
                "hidden width of each block's MLP; 0 makes the model attention-only",
            ),
            defaults_to(
                "activation",
                ACTIVATIONS,
                Literal::Enum("gelu"),
                "nonlinearity of each block's MLP",
            ),
            required("context", whole(1), "longest input sequence, in positions"),
            derived(
                "vocab",
                whole(1),
                "none: give `vocab` for token inputs or `input_dim` for vector inputs",
                "number of tokens, for token inputs",
            ),
            derived(
                "input_dim",
                whole(1),
                "none: give `vocab` for token inputs or `input_dim` for vector inputs",
                "size of each input vector, for vector inputs (in-context regression)",
            ),
            derived(
                "output_dim",
                whole(1),
                "`vocab` for token inputs; required with `input_dim`",
                "size of the output at each position",
            ),
            defaults_to(
                "layer_norm",
                ValueType::Bool,
                Literal::Bool(true),
                "whether blocks and the output apply layer normalization",
            ),
            // GPT-2's initialization, which the in-context-learning studies also use.
            defaults_to(
                "init_scale",
                above(0.0),
                Literal::Float(0.02),
                "standard deviation of the weights' normal initialization; biases start at 0",
            ),
        ],
        doc: "Decoder-only transformer with causal attention.",
        reference: Some(
            "Vaswani et al. 2017, \"Attention is all you need\"; settings as in Hoogland et al. \
             2024, \"The developmental landscape of in-context learning\"",
        ),
        status: Status::Implemented,
    },
    Constructor {
        name: "torchscript.model",
        kind: CtorKind::Model,
        params: &[required(
            "path",
            ValueType::Path,
            "the file saved by `torch.jit.save`; its digest is part of the cache key",
        )],
        doc: "The user's own PyTorch architecture saved as TorchScript; its parameters keep their \
              names. TorchScript is deprecated in recent PyTorch (see the guide).",
        reference: None,
        status: Status::Implemented,
    },
];

const WIDTHS: Param = required(
    "widths",
    ValueType::List(&WIDTH),
    "layer widths from input to output, e.g. `[10, 5, 5, 10]`",
);

const WIDTH: ValueType = whole(1);

/// The nonlinearities a model's hidden layers may apply (`silu` is x·sigmoid(x)).
const ACTIVATIONS: ValueType = ValueType::Enum(&["relu", "gelu", "tanh", "silu"]);

// PyTorch's own scale keeps activations of order one whatever the widths are.
const FAN_IN_INIT: Param = derived(
    "init_scale",
    above(0.0),
    "1 / sqrt(fan in) for each layer",
    "standard deviation of the weights' normal initialization; biases start at 0",
);
