//! devspec driving a real worker: the protocol round trip, libtorch's autograd through it, and
//! the worker's lifetime being tied to its parent.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devspec::exec::{WorkerProcess, WorkerProcessError};
use devspec_protocol::{PROTOCOL_VERSION, Reply, Request, RequestBody, WorkerErrorKind};

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
fn a_request_naming_an_unknown_kind_is_refused_by_name_and_the_worker_goes_on() {
    // A typed request cannot name an unknown kind, so the line is written by hand, as another
    // build of devspec could write it.
    let mut worker = Command::new(worker_exe())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = worker.stdin.take().unwrap();
    let mut replies = BufReader::new(worker.stdout.take().unwrap()).lines();
    let member = r#"{"kind":"no_such_step","params":{},"display_name":"x","inputs":[],"store":"/tmp","threads":1}"#;
    writeln!(
        stdin,
        r#"{{"protocol":{PROTOCOL_VERSION},"id":7,"type":"steps","members":[{member}]}}"#
    )
    .unwrap();
    let reply: Reply = serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap();
    match reply {
        Reply::Failed { id: 7, error } => {
            assert_eq!(error.kind, WorkerErrorKind::BadRequest);
            assert!(
                error.message.contains("unknown variant `no_such_step`")
                    && error.message.contains("`train`"),
                "{}",
                error.message
            );
        }
        other => panic!("expected the request refused, got {other:?}"),
    }
    // The worker is still there for the next request.
    let ping = serde_json::to_string(&Request::new(8, RequestBody::Ping)).unwrap();
    writeln!(stdin, "{ping}").unwrap();
    let reply: Reply = serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap();
    assert_eq!(reply, Reply::Pong { id: 8 });
    drop(stdin);
    assert!(worker.wait().unwrap().success());
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
