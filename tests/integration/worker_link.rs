//! devspec driving a real worker: the protocol round trip, libtorch's autograd through it, and
//! the worker's lifetime being tied to its parent.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devspec::exec::{WorkerProcess, WorkerProcessError};
use devspec_protocol::{Reply, RequestBody, StepRequest, WorkerErrorKind};

use super::binaries::worker_exe;

#[test]
fn autograd_runs_in_the_worker() {
    let mut worker = WorkerProcess::spawn(&worker_exe()).unwrap();
    let (value, gradient) = worker.autograd_probe(&[1.0, -2.0, 0.5, 3.0]).unwrap();
    // f(x) = sum x^3 and f'(x) = 3x^2; these inputs and results are exact in f64.
    assert_eq!(value, 1.0 - 8.0 + 0.125 + 27.0);
    assert_eq!(gradient, vec![3.0, 12.0, 0.75, 27.0]);
    // The same worker answers again: it is long-lived, not one process per request.
    let (value, _) = worker.autograd_probe(&[2.0]).unwrap();
    assert_eq!(value, 8.0);
    assert!(worker.shutdown().unwrap().success());
}

#[test]
fn unknown_step_is_refused_with_its_kind_and_the_group_still_ends() {
    let mut worker = WorkerProcess::spawn(&worker_exe()).unwrap();
    let step = StepRequest {
        kind: "no_such_step".into(),
        display_name: "x".into(),
        params: serde_json::json!({}),
        inputs: vec![],
        store: "/tmp".into(),
        threads: 1,
        outputs: vec!["result".into()],
        key: String::new(),
        trajectory: None,
    };
    let mut events = Vec::new();
    let last = worker
        .request(RequestBody::Steps { members: vec![step] }, &mut |reply| {
            events.push(reply.clone());
        })
        .unwrap();
    assert!(matches!(last, Reply::StepsDone { .. }), "{last:?}");
    match events.as_slice() {
        [Reply::StepFailed { member: 0, error, .. }] => {
            assert_eq!(error.kind, WorkerErrorKind::UnknownStep);
            assert!(error.message.contains("no_such_step"));
        }
        other => panic!("expected one refusal, got {other:?}"),
    }
    // The worker is still there for the next request.
    assert!(worker.version().is_ok());
}

#[test]
fn a_worker_that_cannot_start_reports_why() {
    // `false` exits at once without answering, as a worker that cannot load libtorch does.
    // Found at the handshake, when it is started.
    let Err(err) = WorkerProcess::spawn("/bin/false".as_ref()) else { panic!("it started") };
    assert!(matches!(err, WorkerProcessError::Died { .. }), "{err:?}");
    assert!(err.to_string().contains("ended (exit status: 1) before answering"), "{err}");
}

fn is_gone(pid: u32) -> bool {
    // Without a reaper in the sandbox an exited orphan may linger as a zombie ('Z').
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

fn wait_until_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn worker_exits_when_its_parent_dies_even_with_stdin_open() {
    // A shell starts the worker with our pipe as its stdin, prints its pid, and is then killed:
    // the pipe stays open (we hold it), so only the parent watch can end the worker.
    // (A background command's stdin would be /dev/null; fd 3 carries our pipe past that.)
    let script = format!(
        "exec 3<&0; '{}' <&3 3<&- >/dev/null & echo $!; exec sleep 60",
        worker_exe().display()
    );
    let mut shell = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(shell.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let worker_pid: u32 = line.trim().parse().unwrap();
    // Let the worker start (libtorch loads in about 0.2 s) so the kill finds it running.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!is_gone(worker_pid), "the worker should be running before its parent dies");
    shell.kill().unwrap();
    shell.wait().unwrap();
    assert!(wait_until_gone(worker_pid, Duration::from_secs(5)), "worker outlived its parent");
    drop(shell.stdin.take());
}

#[test]
fn worker_exits_when_stdin_closes() {
    let mut child =
        Command::new(worker_exe()).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    drop(child.stdin.take());
    let start = Instant::now();
    let mut status = None;
    while status.is_none() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
        status = child.try_wait().unwrap();
    }
    if status.is_none() {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "worker did not end by itself 5 s after its stdin closed: {status}");
}
