//! The five step kinds a spec can declare (`train`, `checkpoint`, `estimate`, `detect`,
//! `report`) and the executor's `test` fixture: their fields, and which kinds of step each may
//! be `on`. [`entry`] matches every [`StepKind`], so a new kind needs its entry here.

use devspec_protocol::StepKind;

use super::constructors::{
    DEVICE, DTYPE, SEED, STEP, above, between, defaults_to, derived, required, whole,
};
use super::schema::{
    Batching, Bound, CtorKind, Literal, Param, Status, StepKindEntry, TotalDependence, Trajectory,
    ValueType,
};

/// The entry of each kind: a match, so a kind without one does not compile.
pub(super) fn entry(kind: StepKind) -> &'static StepKindEntry {
    match kind {
        StepKind::Train => &TRAIN,
        StepKind::Checkpoint => &CHECKPOINT,
        StepKind::Estimate => &ESTIMATE,
        StepKind::Detect => &DETECT,
        StepKind::Report => &REPORT,
        StepKind::Test => &TEST,
    }
}

static TRAIN: StepKindEntry = StepKindEntry {
    kind: StepKind::Train,
    doc: "Trains a model from a seed and writes checkpoints as it goes; one instance per \
          sweep point.",
    on: &[],
    needs_on: false,
    fields: &[
        required("model", ValueType::Ctor(CtorKind::Model), "the model to train"),
        required("data", ValueType::Ctor(CtorKind::Data), "the training data"),
        derived(
            "test_data",
            ValueType::Ctor(CtorKind::Data),
            "none, unless `test_fraction` splits `data`",
            "held-out data; its loss is the `test_loss` series",
        ),
        defaults_to(
            "test_fraction",
            between(Bound::Inclusive(0.0), Bound::Exclusive(1.0)),
            Literal::Float(0.0),
            "fraction of `data` held out as test data (0: none)",
        ),
        defaults_to(
            "loss",
            ValueType::OneOf(&[ValueType::Auto, ValueType::Enum(&["mse", "cross_entropy"])]),
            Literal::Auto,
            "`auto`: the model's natural loss (MSE, averaged over batch and outputs, or \
             cross-entropy for classes and tokens)",
        ),
        required(
            "optimizer",
            ValueType::Ctor(CtorKind::Optimizer),
            "the optimizer, with its learning-rate schedule",
        ),
        required(
            "batch_size",
            ValueType::OneOf(&[whole(1), ValueType::Enum(&["full"])]),
            "samples per step, or `full` for the whole data set",
        ),
        required("steps", whole(1), "number of training steps"),
        defaults_to(
            "seed",
            SEED,
            Literal::Int(0),
            "seed of the initialization, the minibatch order and (by default) the data",
        ),
        derived(
            "checkpoints",
            ValueType::OneOf(&[ValueType::Ctor(CtorKind::Schedule), ValueType::List(&STEP)]),
            "the last step only",
            "steps at which a checkpoint is saved; the last step is always added",
        ),
        DEVICE_FIELD,
        defaults_to(
            "dtype",
            DTYPE,
            Literal::Enum("f32"),
            "floating-point precision of parameters and data",
        ),
        THREADS,
        RESOURCES,
    ],
    status: Status::Implemented,
    // Seeds and learning rates of one setting train as an ensemble, one batched
    // computation.
    batching: Batching::Siblings { may_differ: &["seed", "optimizer.lr"] },
    trajectory: Some(Trajectory {
        extent: &["steps", "checkpoints"],
        total_dependence: Some(TotalDependence {
            field: "steps",
            when: ("optimizer", "schedule", &["cosine"]),
        }),
    }),
    // 2: the loss series is recorded on a grid that does not depend on the run's length.
    // 3: the toy model's hand-derived gradient scales the small gradients, not the batch.
    // 4: fresh sequence data records its loss on sequences of 2,048 positions in all.
    // 5: an empty optimizer state (plain SGD) is a readable file, so SGD runs resume.
    // 6: the toy model in f32 on the CPU takes its loss and gradients from plain Rust sums in a
    // fixed order, eight members side by side (`tms_lanes`), not from libtorch's products.
    // 7: ... and its recorded losses from the same lanes' forward pass (squares summed in f64).
    // 8: the transformer's query, key and value projections are one product, its layer norms
    // apply their gain and bias in the kernel.
    implementation: 8,
    records_inputs: false,
};

static CHECKPOINT: StepKindEntry = StepKindEntry {
    kind: StepKind::Checkpoint,
    doc: "Checkpoints made elsewhere (files) or at a known point (a teacher's weights), so \
          that estimates can run on them.",
    on: &[],
    needs_on: false,
    fields: &[
        required(
            "model",
            ValueType::Ctor(CtorKind::Model),
            "the model whose parameters the checkpoints hold",
        ),
        derived(
            "weights",
            ValueType::Ctor(CtorKind::Teacher),
            "none: give `weights` or `files`",
            "one checkpoint at these weights (a teacher: the truth of a study)",
        ),
        derived(
            "files",
            ValueType::Path,
            "none: give `weights` or `files`",
            "checkpoint files (safetensors or PyTorch state dicts), a glob such as \
             `runs/*.safetensors`; one checkpoint per file",
        ),
        derived(
            "step_from",
            ValueType::Str,
            "the last number in the file name",
            "regular expression whose first group is the file's training step",
        ),
        derived(
            "data",
            ValueType::Ctor(CtorKind::Data),
            "none: estimates on it then need their own `data`",
            "the data the checkpoints were trained on, for estimates",
        ),
    ],
    status: Status::Implemented,
    batching: Batching::Never,
    trajectory: None,
    implementation: 1,
    records_inputs: false,
};

static ESTIMATE: StepKindEntry = StepKindEntry {
    kind: StepKind::Estimate,
    doc: "Measures an observable (the LLC, a loss, a norm, ...) at the checkpoints of the \
          steps it is on; one instance per checkpoint.",
    on: &[StepKind::Train, StepKind::Checkpoint],
    needs_on: true,
    fields: &[
        required(
            "observable",
            ValueType::Ctor(CtorKind::Observable),
            "what to measure at each checkpoint",
        ),
        defaults_to(
            "seed",
            SEED,
            Literal::Int(0),
            "seed of the sampling; each chain's seed derives from it",
        ),
        defaults_to(
            "at",
            ValueType::OneOf(&[
                ValueType::Enum(&["all"]),
                ValueType::List(&STEP),
                ValueType::Ctor(CtorKind::Schedule),
            ]),
            Literal::Enum("all"),
            "which checkpoints: `all`, a list of steps, or a schedule such as `every(k)`",
        ),
        DEVICE_FIELD,
        derived(
            "dtype",
            DTYPE,
            "the checkpoint's dtype",
            "floating-point precision of the computation",
        ),
        THREADS,
        RESOURCES,
    ],
    status: Status::Implemented,
    // Sibling checkpoints with the same settings sample their chains as one batched
    // computation (their inputs, the checkpoints, differ), and so do a calibration's cells
    // (the sampler's step size and localization, and n_beta, are per chain).
    batching: Batching::Siblings {
        may_differ: &[
            "observable.sampler.lr",
            "observable.sampler.localization",
            "observable.nbeta",
        ],
    },
    trajectory: None,
    // 2: an LLC estimate carries its localization sensitivity and the diagnostic built on
    // it, so an estimate made before cannot be served without it. 3: the toy model's chains
    // in f32 on the CPU take their gradients from plain Rust sums in a fixed order
    // (`tms_lanes`), not from libtorch's kernels. 4: the transformer's query, key and value
    // projections are one product, its layer norms apply their gain and bias in the kernel.
    implementation: 4,
    records_inputs: false,
};

static DETECT: StepKindEntry = StepKindEntry {
    kind: StepKind::Detect,
    doc: "Finds stage boundaries or change points in a series over checkpoints; one instance \
          per sweep point.",
    on: &[StepKind::Train, StepKind::Checkpoint, StepKind::Estimate],
    needs_on: true,
    fields: &[
        derived(
            "series",
            ValueType::Str,
            "`llc_mean` on an estimate, `train_loss` on a train step",
            "the series to search, one its inputs produce (`check` refuses others): \
             `train_loss`, `test_loss` of a train step; an observable's numbers (`llc_mean`, \
             `llc_se`, `r_hat`, ...; `accuracy`, `test_accuracy`; `weight_norm`; ...)",
        ),
        required("method", ValueType::Ctor(CtorKind::Method), "the detection method"),
    ],
    status: Status::Implemented,
    // Computed by devspec itself in milliseconds: nothing to batch.
    batching: Batching::Never,
    trajectory: None,
    // 2: a loss is smoothed as log(loss) by `critical_points`. 3: a stage after an interval
    // holding two changes (a peak) is what the last leads to. 4: a stage between
    // `transitions` named without its checkpoints next to a boundary. 5: such a stage is
    // `between`, not named by a direction.
    implementation: 5,
    records_inputs: false,
};

static REPORT: StepKindEntry = StepKindEntry {
    kind: StepKind::Report,
    doc: "Writes one self-contained HTML report (with SVG and PNG figures) of the steps it \
          is on, joining every sweep point.",
    on: &[StepKind::Estimate, StepKind::Detect, StepKind::Train, StepKind::Checkpoint],
    needs_on: true,
    fields: &[
        derived("title", ValueType::Str, "the report step's name", "the report's title"),
        derived("description", ValueType::Str, "none", "a paragraph shown under the title"),
    ],
    status: Status::Implemented,
    // One instance per report, gathered by devspec itself: nothing to batch.
    batching: Batching::Never,
    trajectory: None,
    // 2: the report data carry estimates against theory. 3: and the other observables.
    // 4: their inputs' provenance is read when drawing, so a recomputed report has the
    // same bytes. 5: `ReportData` 4 (a title the spec does not give is left out, and the page
    // takes the step's name). 6: `ReportData` 5 (each detection names the step it searched).
    implementation: 6,
    records_inputs: true,
};

static TEST: StepKindEntry = StepKindEntry {
    kind: StepKind::Test,
    doc: "For devspec's own tests of the executor: writes deterministic outputs from its \
          `value` and its inputs, and can sleep, fail, crash its worker or emit several \
          outputs on demand. Not for studies.",
    on: &[StepKind::Test],
    needs_on: false,
    fields: &[
        defaults_to(
            "value",
            ValueType::Int { min: None, max: None },
            Literal::Int(0),
            "what the outputs are made of",
        ),
        defaults_to(
            "sleep_ms",
            whole(0),
            Literal::Int(0),
            "how long the step takes, in milliseconds",
        ),
        defaults_to(
            "tag",
            ValueType::Int { min: None, max: None },
            Literal::Int(0),
            "any number: in the key, not in the outputs (to make distinct instances)",
        ),
        defaults_to("fail", ValueType::Bool, Literal::Bool(false), "fail with an error"),
        defaults_to(
            "crash",
            ValueType::Bool,
            Literal::Bool(false),
            "abort the worker process, as a crash would",
        ),
        defaults_to("outputs", whole(1), Literal::Int(1), "how many outputs to write"),
        derived(
            "reads",
            ValueType::Path,
            "none",
            "a file it reads (its size goes into the outputs; its digest into the key)",
        ),
        derived(
            "steps",
            whole(1),
            "none",
            "with `checkpoints`: the step acts as a training run of this many steps",
        ),
        derived(
            "checkpoints",
            ValueType::OneOf(&[ValueType::Ctor(CtorKind::Schedule), ValueType::List(&STEP)]),
            "none",
            "checkpoints to write (streamed, one per phase of `sleep_ms`), as a train does",
        ),
        derived(
            "at",
            ValueType::OneOf(&[
                ValueType::Enum(&["all"]),
                ValueType::List(&STEP),
                ValueType::Ctor(CtorKind::Schedule),
            ]),
            "its inputs' results",
            "read these checkpoints of its input, one instance each, as an estimate does",
        ),
        derived(
            "memory_mb",
            whole(0),
            "none",
            "the memory it is estimated to need, in MiB (it allocates none of it)",
        ),
    ],
    status: Status::Implemented,
    batching: Batching::Siblings { may_differ: &["value", "tag"] },
    trajectory: None,
    implementation: 1,
    records_inputs: false,
};

const DEVICE_FIELD: Param = defaults_to(
    "device",
    DEVICE,
    Literal::Auto,
    "where it runs; `auto`: the command line, environment or devspec.toml, else CUDA if present",
);

const THREADS: Param = derived(
    "threads",
    whole(1),
    "the thread budget of `devspec.toml` (default 1)",
    "CPU threads of its computation",
);

// Out of the cache key: where a step runs does not change its numbers.
const RESOURCES: Param = derived(
    "resources",
    ValueType::Record(&[
        derived("cpus", whole(1), "`threads`", "CPU cores to reserve"),
        derived("mem_gb", above(0.0), "no limit", "memory to reserve, in GB"),
        derived("gpus", whole(0), "1 on `cuda`, else 0", "GPUs to reserve"),
        derived("time", ValueType::Str, "no limit", "wall-time limit, such as \"30m\" or \"2h\""),
    ]),
    "the executor's defaults",
    "what to reserve from a batch scheduler; not part of the cache key",
);
