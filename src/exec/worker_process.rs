//! One running `devspec-worker`, spoken to over its stdin and stdout. The executor's pool holds
//! several; `devspec --version` starts one to ask what libtorch it loaded.
//!
//! ```no_run
//! # use devspec::exec::WorkerProcess;
//! let mut worker = WorkerProcess::spawn("target/debug/devspec-worker".as_ref())?;
//! let report = worker.version()?;
//! println!("libtorch {}", report.libtorch);
//! # Ok::<(), devspec::exec::WorkerProcessError>(())
//! ```
//!
//! Dropping a `WorkerProcess` closes the worker's stdin, which ends it; a worker that does not
//! end promptly is killed, so no worker outlives its handle.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use devspec_protocol::{Reply, Request, RequestBody, VersionReport, WorkerError};

use crate::failure::{Failure, FailureClass};

/// How much of a worker's stderr is kept to explain its death (a loader error or a libtorch
/// abort message fits easily).
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How long a worker whose stdin closed may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum WorkerProcessError {
    #[error("cannot start the worker {}: {source}", path.display())]
    Spawn { path: PathBuf, source: std::io::Error },
    #[error("the worker {} ended ({status}) before answering{}", path.display(), tail_text(stderr_tail))]
    Died { path: PathBuf, status: String, stderr_tail: String },
    #[error("the worker sent a reply devspec cannot read ({error}): {line}")]
    BadReply { line: String, error: String },
    #[error("the worker refused the request: {}", .0.message)]
    Refused(WorkerError),
    #[error("the worker answered request {expected} with a reply to {got}")]
    WrongReply { expected: u64, got: u64 },
}

fn tail_text(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("; it said:\n{}", tail.trim_end()) }
}

impl From<WorkerProcessError> for Failure {
    fn from(err: WorkerProcessError) -> Self {
        let class = match &err {
            WorkerProcessError::Spawn { .. } | WorkerProcessError::Died { .. } => {
                FailureClass::Environment
            }
            WorkerProcessError::Refused(_) => FailureClass::StepFailed,
            WorkerProcessError::BadReply { .. } | WorkerProcessError::WrongReply { .. } => {
                FailureClass::Internal
            }
        };
        let hint = matches!(class, FailureClass::Environment).then(|| {
            "the worker needs libtorch 2.13.0: `make install` (or scripts/fetch-libtorch.sh) \
             sets it up"
        });
        let failure = Failure::new(class, err.to_string());
        match hint {
            Some(hint) => failure.with_hint(hint),
            None => failure,
        }
    }
}

pub struct WorkerProcess {
    path: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr_buffers: Arc<Mutex<StderrBuffers>>,
    stderr_reader: Option<JoinHandle<()>>,
    next_id: u64,
}

/// What the stderr reader keeps: the last words (to explain a death) and, while a step runs,
/// everything it says (for the step's log).
#[derive(Default)]
struct StderrBuffers {
    tail: Vec<u8>,
    capture: Option<Vec<u8>>,
}

/// How much of one step's stderr its log keeps (the start is kept, the rest counted).
const CAPTURE_BYTES: usize = 1024 * 1024;

impl WorkerProcess {
    pub fn spawn(path: &Path) -> Result<Self, WorkerProcessError> {
        WorkerProcess::spawn_with_env(path, &[])
    }

    /// Starts a worker with extra environment variables (the executor pins ATen's CPU kernels
    /// and MKL's code path this way, since both change results).
    pub fn spawn_with_env(
        path: &Path,
        env: &[(String, String)],
    ) -> Result<Self, WorkerProcessError> {
        let mut child = Command::new(path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| WorkerProcessError::Spawn { path: path.to_path_buf(), source })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let stderr = child.stderr.take().expect("stderr was piped");
        let stderr_buffers = Arc::new(Mutex::new(StderrBuffers::default()));
        let tail = Arc::clone(&stderr_buffers);
        // Drained on its own thread so a chatty worker never blocks on a full stderr pipe.
        let stderr_reader = Some(std::thread::spawn(move || keep_tail(stderr, &tail)));
        Ok(WorkerProcess {
            path: path.to_path_buf(),
            child,
            stdin,
            stdout,
            stderr_buffers,
            stderr_reader,
            next_id: 1,
        })
    }

    /// Sends one request and returns its final reply; the events before it (progress,
    /// streamed outputs, each member's end) go to `on_event` as they arrive.
    pub fn request(
        &mut self,
        body: RequestBody,
        on_event: &mut dyn FnMut(&Reply),
    ) -> Result<Reply, WorkerProcessError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request::new(id, body)).expect("requests serialize");
        let sent =
            self.stdin.as_mut().map(|stdin| writeln!(stdin, "{line}").and_then(|()| stdin.flush()));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.died());
        }
        loop {
            let mut line = String::new();
            match self.stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return Err(self.died()),
                Ok(_) => {}
            }
            let reply: Reply =
                serde_json::from_str(&line).map_err(|err| WorkerProcessError::BadReply {
                    line: line.trim_end().to_owned(),
                    error: err.to_string(),
                })?;
            if reply.id() != id {
                return Err(WorkerProcessError::WrongReply { expected: id, got: reply.id() });
            }
            match reply {
                Reply::Failed { error, .. } => return Err(WorkerProcessError::Refused(error)),
                reply if reply.is_final() => return Ok(reply),
                event => on_event(&event),
            }
        }
    }

    /// Starts keeping everything the worker writes on stderr, for a step's log.
    pub fn capture_stderr(&mut self) {
        if let Ok(mut buffers) = self.stderr_buffers.lock() {
            buffers.capture = Some(Vec::new());
        }
    }

    /// What the worker wrote on stderr since [`WorkerProcess::capture_stderr`]. Lines the
    /// worker wrote just before its last reply may still be in the pipe and be missed.
    pub fn captured_stderr(&mut self) -> String {
        let bytes = self.stderr_buffers.lock().ok().and_then(|mut b| b.capture.take());
        String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
    }

    pub fn version(&mut self) -> Result<VersionReport, WorkerProcessError> {
        match self.request(RequestBody::Version, &mut |_| {})? {
            Reply::Version { report, .. } => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// The value and gradient of `sum(x_i^3)`, computed by libtorch's autograd in the worker.
    pub fn autograd_probe(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), WorkerProcessError> {
        match self.request(RequestBody::AutogradProbe { x: x.to_vec() }, &mut |_| {})? {
            Reply::AutogradProbe { value, gradient, .. } => Ok((value, gradient)),
            other => Err(unexpected(&other)),
        }
    }

    /// Closes the worker's stdin and waits for it to exit (killing it after a grace period).
    pub fn shutdown(mut self) -> std::io::Result<ExitStatus> {
        self.close_and_reap()
    }

    fn close_and_reap(&mut self) -> std::io::Result<ExitStatus> {
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()
    }

    /// The error for a worker that stopped answering: its exit status and last words.
    fn died(&mut self) -> WorkerProcessError {
        drop(self.stdin.take());
        let status = self.child.wait().map_or_else(|err| err.to_string(), |s| s.to_string());
        // The worker has exited, so its stderr is closed and the reader ends with the full tail.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let tail = self.stderr_buffers.lock().map(|t| t.tail.clone()).unwrap_or_default();
        WorkerProcessError::Died {
            path: self.path.clone(),
            status,
            stderr_tail: String::from_utf8_lossy(&tail).into_owned(),
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.close_and_reap();
    }
}

fn unexpected(reply: &Reply) -> WorkerProcessError {
    WorkerProcessError::BadReply {
        line: format!("{reply:?}"),
        error: "a reply of another kind than the request".to_owned(),
    }
}

fn keep_tail(mut stderr: impl Read, buffers: &Mutex<StderrBuffers>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut buffers) = buffers.lock() {
            let StderrBuffers { tail, capture } = &mut *buffers;
            tail.extend_from_slice(&buf[..n]);
            let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
            tail.drain(..excess);
            if let Some(capture) = capture {
                let room = CAPTURE_BYTES.saturating_sub(capture.len());
                capture.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}
