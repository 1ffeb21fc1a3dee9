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
//! Starting a worker is a handshake: it must answer a ping of this protocol version within
//! [`WorkerDeadlines::startup`] (a worker of another version refuses it), or it is stopped and
//! named by what it printed or the versions; [`WorkerProcess::version`] checks the version its
//! report names too. While a request runs, the worker sends a heartbeat every
//! [`WorkerDeadlines::interval`]; one silent for [`WorkerDeadlines::silence`] is taken for hung
//! and stopped. No wait on a worker is without a deadline.
//!
//! Dropping a `WorkerProcess` closes the worker's stdin, which ends it; a worker that does not
//! end promptly is killed, so no worker outlives its handle.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use devspec_protocol::{
    DEFAULT_HEARTBEAT_SECONDS, HEARTBEAT_ENV, PROTOCOL_VERSION, Reply, Request, RequestBody,
    VersionReport, WorkerError, WorkerErrorKind,
};

use crate::failure::{Failure, FailureClass};

/// How much of a worker's stderr is kept to explain its death (a loader error or a libtorch
/// abort message fits easily).
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How long a worker whose stdin closed may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The longest reply line read whole; a longer one is not a reply (replies are digests and
/// metrics), and reading it whole could take all memory.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// How much of a line that is not a reply a message quotes.
const QUOTED_CHARS: usize = 160;

/// Heartbeats a busy worker may miss before it is taken for hung: a loaded machine can delay
/// one beat, hardly three in a row.
const MISSED_BEATS: u32 = 4;

/// Heartbeat intervals a new worker has to answer its first request (loading libtorch, from a
/// slow shared disk perhaps): a minute at the default interval.
const STARTUP_BEATS: u32 = 12;

/// How long `devspec` waits on a worker, all from one setting: the heartbeat interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerDeadlines {
    interval: Duration,
}

impl WorkerDeadlines {
    /// The deadlines of a heartbeat every `seconds` (a positive, finite number).
    pub fn every(seconds: f64) -> Option<WorkerDeadlines> {
        (seconds > 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten()
            .filter(|interval| interval.checked_mul(STARTUP_BEATS).is_some())
            .map(|interval| WorkerDeadlines { interval })
    }

    /// How often a busy worker sends a heartbeat.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a busy worker may be silent before it is taken for hung.
    pub fn silence(&self) -> Duration {
        self.interval * MISSED_BEATS
    }

    /// How long a new worker has to answer its first request.
    pub fn startup(&self) -> Duration {
        self.interval * STARTUP_BEATS
    }
}

impl Default for WorkerDeadlines {
    fn default() -> Self {
        WorkerDeadlines::every(DEFAULT_HEARTBEAT_SECONDS).expect("the default is positive")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerProcessError {
    #[error("cannot start the worker {}: {source}", path.display())]
    Spawn { path: PathBuf, source: std::io::Error },
    #[error("the worker {} ended ({status}) before answering{}", path.display(), tail_text(stderr_tail))]
    Died { path: PathBuf, status: String, stderr_tail: String },
    /// The first thing a new worker printed was not a reply: another program, or something it
    /// loads writing to its output.
    #[error(
        "the worker {} printed `{printed}` where devspec expected its answer to the first \
         request: it is not a devspec-worker{}",
        path.display(),
        tail_text(stderr_tail)
    )]
    NotAWorker { path: PathBuf, printed: String, stderr_tail: String },
    #[error(
        "the worker {} {}",
        path.display(),
        match theirs {
            Some(theirs) => format!(
                "speaks protocol {theirs}, this devspec speaks protocol {PROTOCOL_VERSION}"
            ),
            None => format!("refused devspec's protocol {PROTOCOL_VERSION}: {said}"),
        }
    )]
    ProtocolMismatch { path: PathBuf, theirs: Option<u32>, said: String },
    #[error(
        "the worker {} {}; it was stopped{}",
        path.display(),
        if *starting {
            format!("did not answer devspec's first request within {}", seconds(*waited))
        } else {
            format!("sent no heartbeat for {}, so it was taken for hung", seconds(*waited))
        },
        tail_text(stderr_tail)
    )]
    Silent { path: PathBuf, waited: Duration, starting: bool, stderr_tail: String },
    #[error("the worker sent a reply devspec cannot read ({error}): `{line}`")]
    BadReply { line: String, error: String },
    #[error("the worker refused the request: {}", .0.message)]
    Refused(WorkerError),
    #[error("the worker answered request {expected} with a reply to {got}")]
    WrongReply { expected: u64, got: u64 },
    #[error("the worker answered with a `{got}` reply where devspec expected `{expected}`")]
    UnexpectedReply { expected: &'static str, got: &'static str },
}

fn tail_text(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("; it said:\n{}", tail.trim_end()) }
}

fn seconds(duration: Duration) -> String {
    format!("{} s", (duration.as_secs_f64() * 100.0).round() / 100.0)
}

impl WorkerProcessError {
    /// Whose fault it is: the machine's or installation's for a worker that cannot start, is
    /// not this devspec's or stopped answering; the step's for a refused request; devspec's
    /// own for a reply it cannot read from its own worker.
    pub fn class(&self) -> FailureClass {
        match self {
            WorkerProcessError::Spawn { .. }
            | WorkerProcessError::Died { .. }
            | WorkerProcessError::NotAWorker { .. }
            | WorkerProcessError::ProtocolMismatch { .. }
            | WorkerProcessError::Silent { .. } => FailureClass::Environment,
            WorkerProcessError::Refused(error) => FailureClass::of_worker(error.kind),
            WorkerProcessError::BadReply { .. }
            | WorkerProcessError::WrongReply { .. }
            | WorkerProcessError::UnexpectedReply { .. } => FailureClass::Internal,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            WorkerProcessError::Spawn { .. } | WorkerProcessError::Died { .. } => Some(
                "the worker needs libtorch 2.13.0: `make install` (or scripts/fetch-libtorch.sh) \
                 sets it up"
                    .to_owned(),
            ),
            WorkerProcessError::NotAWorker { .. } | WorkerProcessError::ProtocolMismatch { .. } => {
                Some(
                    "use the devspec-worker built with this devspec (`make install` installs \
                     both); `--worker`, DEVSPEC_WORKER or `worker.path` in devspec.toml say \
                     which one runs"
                        .to_owned(),
                )
            }
            WorkerProcessError::Silent { .. } => Some(format!(
                "a worker that stops answering is hung or starved of CPU; the heartbeat \
                 interval is `run.heartbeat_seconds` in devspec.toml or {HEARTBEAT_ENV} \
                 (default {DEFAULT_HEARTBEAT_SECONDS} s): a busy worker may miss \
                 {MISSED_BEATS} beats, a starting one has {STARTUP_BEATS} intervals"
            )),
            _ => None,
        }
    }
}

impl From<WorkerProcessError> for Failure {
    fn from(err: WorkerProcessError) -> Self {
        let failure = Failure::new(err.class(), err.to_string());
        match err.hint() {
            Some(hint) => failure.with_hint(hint),
            None => failure,
        }
    }
}

pub struct WorkerProcess {
    path: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    /// The worker's output, line by line, from a reader thread: waited on with a deadline.
    lines: Receiver<ReplyLine>,
    stderr_buffers: Arc<Mutex<StderrBuffers>>,
    stderr_reader: Option<JoinHandle<()>>,
    next_id: u64,
    deadlines: WorkerDeadlines,
}

/// One line of the worker's output, as the reader thread passes it on.
enum ReplyLine {
    Whole(String),
    /// A line longer than any reply: its start. The reader stops there.
    TooLong(String),
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
    /// Starts a worker with the default deadlines and checks it at the handshake.
    pub fn spawn(path: &Path) -> Result<Self, WorkerProcessError> {
        WorkerProcess::spawn_with(path, &[], WorkerDeadlines::default())
    }

    /// Starts a worker with extra environment variables (the executor pins ATen's CPU kernels
    /// and MKL's code path this way, since both change results) and the given deadlines, and
    /// checks it at the handshake: a ping of this protocol answered within the startup
    /// deadline. (A ping, not a version request: that costs a look for CUDA, on the critical
    /// path of every step a new worker takes.)
    pub fn spawn_with(
        path: &Path,
        env: &[(String, String)],
        deadlines: WorkerDeadlines,
    ) -> Result<Self, WorkerProcessError> {
        let mut child = Command::new(path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(HEARTBEAT_ENV, deadlines.interval.as_secs_f64().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| WorkerProcessError::Spawn { path: path.to_path_buf(), source })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout was piped");
        let (line_tx, lines) = mpsc::channel();
        // Read on its own thread, so every wait for a reply can have a deadline.
        std::thread::spawn(move || read_lines(stdout, &line_tx));
        let stderr = child.stderr.take().expect("stderr was piped");
        let stderr_buffers = Arc::new(Mutex::new(StderrBuffers::default()));
        let tail = Arc::clone(&stderr_buffers);
        // Drained on its own thread so a chatty worker never blocks on a full stderr pipe.
        let stderr_reader = Some(std::thread::spawn(move || keep_tail(stderr, &tail)));
        let mut worker = WorkerProcess {
            path: path.to_path_buf(),
            child,
            stdin,
            lines,
            stderr_buffers,
            stderr_reader,
            next_id: 1,
            deadlines,
        };
        worker.handshake()?;
        Ok(worker)
    }

    /// Pings a new worker. Its first line is read as text: a program that is not this
    /// devspec's worker is named by what it printed, another protocol version by its number,
    /// even when its reply does not parse as this version's.
    fn handshake(&mut self) -> Result<(), WorkerProcessError> {
        let id = self.send(RequestBody::Ping)?;
        let mut limit = self.deadlines.startup();
        loop {
            let line = match self.next_line(limit, true)? {
                ReplyLine::Whole(line) => line,
                ReplyLine::TooLong(start) => return Err(self.not_a_worker(&start)),
            };
            match serde_json::from_str::<Reply>(&line) {
                // Alive, if slow to answer: from here the busy worker's deadline.
                Ok(Reply::Heartbeat { id: got }) if got == id => {
                    limit = self.deadlines.silence();
                }
                Ok(Reply::Pong { id: got }) if got == id => return Ok(()),
                Ok(Reply::Failed { error, .. })
                    if error.kind == WorkerErrorKind::ProtocolMismatch =>
                {
                    return Err(self.mismatch(None, error.message));
                }
                _ => {
                    return Err(match protocol_of(&line) {
                        Some(theirs) if theirs != PROTOCOL_VERSION => {
                            self.mismatch(Some(theirs), String::new())
                        }
                        _ => self.not_a_worker(&line),
                    });
                }
            }
        }
    }

    /// Sends one request and returns its final reply; the events before it (progress,
    /// streamed outputs, each member's end) go to `on_event` as they arrive. A worker silent
    /// for longer than the heartbeat deadline is stopped.
    pub fn request(
        &mut self,
        body: RequestBody,
        on_event: &mut dyn FnMut(&Reply),
    ) -> Result<Reply, WorkerProcessError> {
        let id = self.send(body)?;
        loop {
            let line = match self.next_line(self.deadlines.silence(), false)? {
                ReplyLine::Whole(line) => line,
                ReplyLine::TooLong(start) => {
                    return Err(WorkerProcessError::BadReply {
                        line: quoted(&start),
                        error: format!("a line longer than {MAX_REPLY_BYTES} bytes"),
                    });
                }
            };
            let reply: Reply = serde_json::from_str(&line).map_err(|err| {
                WorkerProcessError::BadReply { line: quoted(&line), error: err.to_string() }
            })?;
            match reply {
                // Liveness only; never a reply to anything.
                Reply::Heartbeat { .. } => {}
                reply if reply.id() != id => {
                    return Err(WorkerProcessError::WrongReply { expected: id, got: reply.id() });
                }
                Reply::Failed { error, .. } => return Err(WorkerProcessError::Refused(error)),
                reply if reply.is_final() => return Ok(reply),
                event => on_event(&event),
            }
        }
    }

    fn send(&mut self, body: RequestBody) -> Result<u64, WorkerProcessError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request::new(id, body)).expect("requests serialize");
        let sent =
            self.stdin.as_mut().map(|stdin| writeln!(stdin, "{line}").and_then(|()| stdin.flush()));
        if matches!(sent, Some(Ok(()))) { Ok(id) } else { Err(self.died()) }
    }

    /// The worker's next line, within `limit`; a worker silent for longer is stopped.
    fn next_line(
        &mut self,
        limit: Duration,
        starting: bool,
    ) -> Result<ReplyLine, WorkerProcessError> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Disconnected) => Err(self.died()),
            Err(RecvTimeoutError::Timeout) => {
                self.stop();
                Err(WorkerProcessError::Silent {
                    path: self.path.clone(),
                    waited: limit,
                    starting,
                    stderr_tail: self.stderr_tail(),
                })
            }
        }
    }

    /// Stops a worker that failed the handshake: it is not ours to wait for.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.reap();
    }

    fn not_a_worker(&mut self, printed: &str) -> WorkerProcessError {
        self.stop();
        WorkerProcessError::NotAWorker {
            path: self.path.clone(),
            printed: quoted(printed),
            stderr_tail: self.stderr_tail(),
        }
    }

    fn mismatch(&mut self, theirs: Option<u32>, said: String) -> WorkerProcessError {
        self.stop();
        WorkerProcessError::ProtocolMismatch { path: self.path.clone(), theirs, said }
    }

    /// The worker's process id, for a step's log.
    pub fn id(&self) -> u32 {
        self.child.id()
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

    /// What the worker is: its version report, which must name this protocol.
    pub fn version(&mut self) -> Result<VersionReport, WorkerProcessError> {
        match self.request(RequestBody::Version, &mut |_| {})? {
            Reply::Version { report, .. } if report.protocol == PROTOCOL_VERSION => Ok(report),
            Reply::Version { report, .. } => {
                Err(self.mismatch(Some(report.protocol), String::new()))
            }
            other => Err(WorkerProcessError::UnexpectedReply {
                expected: "version",
                got: other.kind_name(),
            }),
        }
    }

    /// The value and gradient of `sum(x_i^3)`, computed by libtorch's autograd in the worker.
    pub fn autograd_probe(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), WorkerProcessError> {
        match self.request(RequestBody::AutogradProbe { x: x.to_vec() }, &mut |_| {})? {
            Reply::AutogradProbe { value, gradient, .. } => Ok((value, gradient)),
            other => Err(WorkerProcessError::UnexpectedReply {
                expected: "autograd_probe",
                got: other.kind_name(),
            }),
        }
    }

    /// Closes the worker's stdin and waits for it to exit (killing it after a grace period).
    pub fn shutdown(mut self) -> std::io::Result<ExitStatus> {
        self.reap()
    }

    /// Closes the worker's stdin and waits for it to exit, killing it after a grace period.
    fn reap(&mut self) -> std::io::Result<ExitStatus> {
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
        let status = self.reap().map_or_else(|err| err.to_string(), |s| s.to_string());
        WorkerProcessError::Died {
            path: self.path.clone(),
            status,
            stderr_tail: self.stderr_tail(),
        }
    }

    /// The last words of a worker that has ended. Its stderr closes with it (the reader then
    /// ends with the full tail), unless a process it started holds it open: that is not waited
    /// for.
    fn stderr_tail(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_millis(500);
        if let Some(reader) = self.stderr_reader.take() {
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        let tail = self.stderr_buffers.lock().map(|t| t.tail.clone()).unwrap_or_default();
        String::from_utf8_lossy(&tail).into_owned()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.reap();
    }
}

/// The protocol version a reply of another version names, if it parses as JSON at all (a
/// version report's `protocol`, or a request echoed back).
fn protocol_of(line: &str) -> Option<u32> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let number = value.pointer("/report/protocol").or_else(|| value.get("protocol"))?;
    number.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// A line the worker printed, fit for a one-line message: control characters escaped, long
/// text cut.
fn quoted(line: &str) -> String {
    let line = line.trim_end_matches(['\n', '\r']);
    let mut text: String = line
        .chars()
        .take(QUOTED_CHARS)
        .flat_map(|c| {
            let escaped: Vec<char> =
                if c.is_control() { c.escape_default().collect() } else { vec![c] };
            escaped
        })
        .collect();
    if line.chars().nth(QUOTED_CHARS).is_some() {
        text.push_str(" …");
    }
    text
}

/// Passes the worker's output on line by line until it closes (or a line is too long to be a
/// reply, or nobody listens any more).
fn read_lines(stdout: ChildStdout, lines: &mpsc::Sender<ReplyLine>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_REPLY_BYTES).unwrap_or(u64::MAX);
        match (&mut reader).take(limit).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        if line.len() >= MAX_REPLY_BYTES && !line.ends_with(b"\n") {
            let _ = lines.send(ReplyLine::TooLong(text.chars().take(QUOTED_CHARS + 1).collect()));
            return;
        }
        if lines.send(ReplyLine::Whole(text)).is_err() {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_interval() {
        let deadlines = WorkerDeadlines::every(0.5).unwrap();
        assert_eq!(deadlines.silence(), Duration::from_secs(2));
        assert_eq!(deadlines.startup(), Duration::from_secs(6));
        assert_eq!(WorkerDeadlines::default().interval(), Duration::from_secs(5));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(WorkerDeadlines::every(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn printed_text_is_quoted_on_one_line_and_cut() {
        assert_eq!(quoted("MKL_VERBOSE oneMKL\n"), "MKL_VERBOSE oneMKL");
        assert_eq!(quoted("a\tb\u{1b}[0m"), "a\\tb\\u{1b}[0m");
        let long = "x".repeat(1000);
        let cut = quoted(&long);
        assert!(cut.starts_with(&"x".repeat(QUOTED_CHARS)) && cut.ends_with(" …"), "{cut}");
        assert_eq!(cut.chars().count(), QUOTED_CHARS + 2);
    }

    #[test]
    fn another_versions_reply_still_says_its_protocol() {
        let report = r#"{"type":"version","id":1,"report":{"protocol":99,"new_field":1}}"#;
        assert_eq!(protocol_of(report), Some(99));
        assert_eq!(protocol_of(r#"{"protocol":2,"id":1}"#), Some(2));
        assert_eq!(protocol_of("hello"), None);
    }
}
