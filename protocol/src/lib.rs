//! The messages `devspec` and `devspec-worker` exchange: one JSON object per line, in both
//! directions, requests over the worker's stdin and replies over what the worker was started
//! with as its stdout (and, in one-shot mode for cluster jobs, one request file and one result
//! file). A pool worker keeps that descriptor for its replies alone and points its own stdout at
//! stderr, so what libtorch, MKL or a TorchScript model prints lands in the step's log, never in
//! the reply stream.
//!
//! Every request carries [`PROTOCOL_VERSION`]; a worker built from another version answers
//! [`Reply::Failed`] with [`WorkerErrorKind::ProtocolMismatch`] instead of guessing, and
//! `devspec` checks the version a new worker reports before it sends it anything else. A
//! request's `id` is echoed on every reply it causes, so progress events and results can be
//! told apart when a pool multiplexes workers. While a request runs, a pool worker sends
//! [`Reply::Heartbeat`] every [`HEARTBEAT_ENV`] seconds, whatever the step is doing, so a
//! worker that stopped (hung, frozen, swapped out for good) is told from a slow step.
//!
//! ```
//! use devspec_protocol::{Request, RequestBody, Reply};
//! let line = serde_json::to_string(&Request::new(7, RequestBody::Ping)).unwrap();
//! let back: Request = serde_json::from_str(&line).unwrap();
//! assert_eq!(back.id, 7);
//! ```

pub mod params;
pub mod results;
pub mod step_kind;
pub mod store_layout;

pub use step_kind::StepKind;

use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes shape; both sides refuse a different version.
/// 4: [`Reply::Heartbeat`]. 5: a step's parameters are typed ([`params`]): a field the worker
/// does not know, or a value of another type, is refused instead of ignored.
pub const PROTOCOL_VERSION: u32 = 5;

/// The environment variable that tells a pool worker how often (in seconds, a decimal number)
/// to send [`Reply::Heartbeat`] while a request runs; `devspec` sets it when it starts one.
pub const HEARTBEAT_ENV: &str = "DEVSPEC_HEARTBEAT";

/// The heartbeat interval, in seconds, of a worker started without [`HEARTBEAT_ENV`].
pub const DEFAULT_HEARTBEAT_SECONDS: f64 = 5.0;

/// One message from `devspec` to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub protocol: u32,
    pub id: u64,
    #[serde(flatten)]
    pub body: RequestBody,
}

impl Request {
    pub fn new(id: u64, body: RequestBody) -> Self {
        Request { protocol: PROTOCOL_VERSION, id, body }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestBody {
    /// Liveness check; answered with [`Reply::Pong`].
    Ping,
    /// Asks for the worker's [`VersionReport`].
    Version,
    /// A small autograd computation that proves libtorch loads and differentiates: the worker
    /// returns `f(x) = sum(x_i^3)` and its gradient `3 x_i^2`, computed by libtorch's autograd.
    AutogradProbe { x: Vec<f64> },
    /// Runs a group of sibling step instances (one, for a step that is not batched) and writes
    /// their outputs into the store. The members are computed together where their kind
    /// allows (one batched computation over a leading member dimension), yet each member's
    /// bytes never depend on the group: batching is invisible to the cache. The worker answers
    /// each member with [`Reply::StepDone`] or [`Reply::StepFailed`], in any order, then
    /// [`Reply::StepsDone`]. A request whose members do not read as their kinds' typed
    /// parameters (an unknown kind, a misnamed field) is refused whole with
    /// [`WorkerErrorKind::BadRequest`].
    Steps { members: Vec<StepRequest> },
}

/// One step instance, fully resolved by the planner: the worker needs nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRequest {
    /// The step's kind and its resolved parameters, typed: written `"kind": "train",
    /// "params": {...}`.
    #[serde(flatten)]
    pub step: params::StepParams,
    /// Human-readable instance name, used only in messages (`llc[seed=2]@1200`).
    pub display_name: String,
    /// Content digests (hex BLAKE3) of the input blobs, read from `store`.
    pub inputs: Vec<String>,
    /// Root of the content-addressed store the worker reads from and writes into.
    pub store: String,
    /// The threads this step may use: libtorch's intra-op threads, or a transformer's members side
    /// by side (the worker's `train::member_threads`).
    pub threads: u32,
    /// The outputs the plan expects, in the order the step produces them (`checkpoint@10`,
    /// ..., `result`): a training step learns its checkpoint steps from here.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// The instance's key, which names its result in the store.
    #[serde(default)]
    pub key: String,
    /// A training step's trajectory key (its key without `steps` and the checkpoint grid): the
    /// states it reaches (checkpoints, resume points) are stored under it, so a killed run
    /// resumes and a longer run continues a shorter one. `None` for steps that do not train.
    #[serde(default)]
    pub trajectory: Option<String>,
}

impl StepRequest {
    /// The step's kind, as the registry names it.
    pub fn kind(&self) -> StepKind {
        self.step.kind()
    }
}

/// One message from a worker to `devspec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Pong {
        id: u64,
    },
    Version {
        id: u64,
        report: VersionReport,
    },
    AutogradProbe {
        id: u64,
        value: f64,
        gradient: Vec<f64>,
    },
    /// A request's progress (for a group: the group's): zero or more of these precede its
    /// final reply.
    Progress {
        id: u64,
        done: u64,
        total: u64,
        message: String,
        /// A training group's: each member's training loss at `done` (`None`: it diverged),
        /// for the display only (never stored). Empty for other steps and older workers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        losses: Vec<Option<f64>>,
    },
    /// One output of a member, complete in the store before the member has finished (a
    /// checkpoint written during training): what reads it may start at once.
    Output {
        id: u64,
        member: usize,
        name: String,
        digest: String,
    },
    /// One member finished: the digests of everything it wrote, and its metrics.
    StepDone {
        id: u64,
        member: usize,
        result: StepResult,
    },
    /// One member failed; the other members of its group go on.
    StepFailed {
        id: u64,
        member: usize,
        error: WorkerError,
    },
    /// Every member of a [`RequestBody::Steps`] has answered: the request's last reply.
    StepsDone {
        id: u64,
    },
    /// The worker is alive and still working on request `id`: sent by a thread of its own at a
    /// fixed interval while the request runs, whatever the step is doing.
    Heartbeat {
        id: u64,
    },
    /// The whole request was refused (unreadable, another protocol version).
    Failed {
        id: u64,
        error: WorkerError,
    },
}

impl Reply {
    /// The id of the request this reply answers.
    pub fn id(&self) -> u64 {
        match self {
            Reply::Pong { id }
            | Reply::Version { id, .. }
            | Reply::AutogradProbe { id, .. }
            | Reply::Progress { id, .. }
            | Reply::Output { id, .. }
            | Reply::StepDone { id, .. }
            | Reply::StepFailed { id, .. }
            | Reply::StepsDone { id }
            | Reply::Heartbeat { id }
            | Reply::Failed { id, .. } => *id,
        }
    }

    /// Whether this reply ends its request (every other reply is an event along the way).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Reply::Progress { .. }
                | Reply::Output { .. }
                | Reply::StepDone { .. }
                | Reply::StepFailed { .. }
                | Reply::Heartbeat { .. }
        )
    }

    /// The reply's kind as it is written on the wire (`steps_done`), for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reply::Pong { .. } => "pong",
            Reply::Version { .. } => "version",
            Reply::AutogradProbe { .. } => "autograd_probe",
            Reply::Progress { .. } => "progress",
            Reply::Output { .. } => "output",
            Reply::StepDone { .. } => "step_done",
            Reply::StepFailed { .. } => "step_failed",
            Reply::StepsDone { .. } => "steps_done",
            Reply::Heartbeat { .. } => "heartbeat",
            Reply::Failed { .. } => "failed",
        }
    }
}

/// What a worker is: enough for `devspec --version` and for the cache key's environment part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionReport {
    pub protocol: u32,
    pub worker_version: String,
    /// The libtorch version the worker loaded at run time, e.g. `"2.13.0"`.
    pub libtorch: String,
    /// The install folder of the libtorch the worker loaded (empty if it cannot tell).
    pub libtorch_path: String,
    pub cuda_available: bool,
    pub cuda_devices: u32,
    /// ATen's CPU kernel level (`DEFAULT`, `AVX2`, `AVX512`), which changes the last bits of
    /// reductions and so belongs in cache keys.
    pub cpu_capability: String,
}

/// A finished step: the digests of what it wrote into the store, by output name (`result`,
/// `checkpoint@1200`), and scalar metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub outputs: std::collections::BTreeMap<String, String>,
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

/// Why a request failed, classified so `devspec` can pick the exit code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerError {
    pub kind: WorkerErrorKind,
    pub message: String,
}

impl WorkerError {
    /// A step that ran and failed: bad data, a NaN, a libtorch error.
    pub fn step_failed(message: impl Into<String>) -> WorkerError {
        WorkerError { kind: WorkerErrorKind::StepFailed, message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerErrorKind {
    /// The request line was not valid JSON or not a known message.
    BadRequest,
    /// The request was written for another protocol version.
    ProtocolMismatch,
    /// The step ran and failed (bad data, NaN, libtorch error).
    StepFailed,
    /// The machine failed under the step (disk full, store unwritable).
    Environment,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_with_flat_tag() {
        let req = Request::new(3, RequestBody::AutogradProbe { x: vec![1.0, 2.0] });
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"protocol":5,"id":3,"type":"autograd_probe","x":[1.0,2.0]}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), req);
    }

    #[test]
    fn a_step_request_writes_its_kind_and_typed_params_beside_the_rest_and_refuses_strays() {
        let line = r#"{"kind":"test","params":{"value":3,"sleep_ms":0,"tag":0,"fail":false,"crash":false,"outputs":1},"display_name":"t","inputs":[],"store":"/s","threads":1,"outputs":["result"],"key":"k","trajectory":null}"#;
        let request: StepRequest = serde_json::from_str(line).unwrap();
        assert_eq!(request.kind(), StepKind::Test);
        let written: serde_json::Value = serde_json::to_value(&request).unwrap();
        assert_eq!(written, serde_json::from_str::<serde_json::Value>(line).unwrap());
        let unknown = line.replace(r#""kind":"test""#, r#""kind":"no_such_step""#);
        let err = serde_json::from_str::<StepRequest>(&unknown).unwrap_err().to_string();
        assert!(err.contains("unknown variant `no_such_step`"), "{err}");
        let stray = line.replace(r#""value":3"#, r#""value":3,"valeu":3"#);
        let err = serde_json::from_str::<StepRequest>(&stray).unwrap_err().to_string();
        assert!(err.contains("unknown field `valeu`"), "{err}");
    }

    #[test]
    fn reply_reports_its_request_id() {
        let reply: Reply = serde_json::from_str(
            r#"{"type":"failed","id":9,"error":{"kind":"bad_request","message":"no"}}"#,
        )
        .unwrap();
        assert_eq!(reply.id(), 9);
    }

    #[test]
    fn a_heartbeat_is_an_event_named_as_on_the_wire() {
        let beat = Reply::Heartbeat { id: 4 };
        let line = serde_json::to_string(&beat).unwrap();
        assert_eq!(line, r#"{"type":"heartbeat","id":4}"#);
        assert!(!beat.is_final());
        assert_eq!(beat.kind_name(), "heartbeat");
        assert_eq!(Reply::StepsDone { id: 1 }.kind_name(), "steps_done");
    }
}
