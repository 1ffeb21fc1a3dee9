//! Workers that misbehave, and what `devspec` makes of them: one that never answers, one that
//! prints something else than replies, one of another protocol version, one that goes silent in
//! the middle of a step; and real workers whose libraries or models print on stdout. Every wait
//! on a worker has a deadline, and each case ends with one clear, classified message.
//!
//! The fake workers are shell scripts passed with `--worker`; the heartbeat interval is short
//! (`DEVSPEC_HEARTBEAT`), so each case takes about a second.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use devspec_protocol::PROTOCOL_VERSION;

use super::binaries::{devspec_exe, worker_exe};
use super::run::Project;

/// The heartbeat interval of these tests: a busy worker silent for 4 intervals (1 s) is taken
/// for hung; a starting one has 12 (3 s) to answer its first request. Short, yet long enough
/// for a shell script to answer on a loaded machine.
const HEARTBEAT: &str = "0.25";

/// Longer than any case takes with deadlines, far shorter than forever.
const LIMIT: Duration = Duration::from_secs(30);

const SPEC: &str = "test a { value = 1 }\ntest b on a { value = 2 }\n";

/// A version report as a worker of protocol `protocol` writes it, answering request `id`.
fn version_reply(protocol: u32, id: &str) -> String {
    format!(
        r#"{{"type":"version","id":{id},"report":{{"protocol":{protocol},"worker_version":"0.1.0","libtorch":"2.13.0","libtorch_path":"","cuda_available":false,"cuda_devices":0,"cpu_capability":"AVX2"}}}}"#
    )
}

/// A fake worker: a shell script in the project's folder running `body`.
fn fake_worker(project: &Project, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = project.dir.path().join("fake-worker");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs `command`, killing it (and failing the test) if it takes longer than [`LIMIT`].
fn output_within(command: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Drained on threads, so a chatty child never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("still running after {LIMIT:?}: it hangs\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let output = Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
    (output, elapsed)
}

/// `devspec run` of the project's spec with `worker` and the tests' heartbeat.
fn run_with(project: &Project, worker: &Path) -> (Output, Duration) {
    output_within(
        project
            .command(&["--jobs", "1"])
            .arg("--worker")
            .arg(worker)
            .env("DEVSPEC_HEARTBEAT", HEARTBEAT),
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_worker_that_never_answers_is_stopped_at_the_handshake_with_exit_3() {
    let project = Project::new(SPEC);
    let worker = fake_worker(&project, "exec sleep 1000");
    let (run, took) = run_with(&project, &worker);
    let text = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{text}");
    assert!(
        text.contains("did not answer devspec's first request within 3 s; it was stopped"),
        "{text}"
    );
    assert!(text.contains("DEVSPEC_HEARTBEAT"), "the hint names the setting: {text}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // `devspec --version` starts a worker too, under the same deadline.
    let (version, _) = output_within(
        Command::new(devspec_exe())
            .args(["--version", "--worker"])
            .arg(&worker)
            .env("DEVSPEC_HEARTBEAT", HEARTBEAT)
            .current_dir(project.dir.path()),
    );
    assert_eq!(version.status.code(), Some(3), "{}", stderr(&version));
    assert!(stderr(&version).contains("did not answer"), "{}", stderr(&version));
}

#[test]
fn a_worker_that_prints_garbage_exits_3_naming_what_it_printed() {
    let project = Project::new(SPEC);
    let worker = fake_worker(
        &project,
        "read line\necho 'MKL_VERBOSE oneMKL 2024.0 Product build'\nread line",
    );
    let (run, _) = run_with(&project, &worker);
    let text = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "error: the worker {} printed `MKL_VERBOSE oneMKL 2024.0 Product build` where \
             devspec expected its answer to the first request: it is not a devspec-worker",
            worker.display()
        )),
        "{text}"
    );
    assert!(text.contains("hint: use the devspec-worker built with this devspec"), "{text}");
    // A long line is cut, with control characters escaped, on one line of the message.
    let worker = fake_worker(&project, "read line\nprintf '\\033[1m%0500d\\n' 7\nread line");
    let (run, _) = run_with(&project, &worker);
    let text = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{text}");
    let error = text.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(error.contains("printed `\\u{1b}[1m0000"), "{error}");
    assert!(error.contains("0000 …` where"), "{error}");
    assert!(error.len() < 400, "{error}");
}

#[test]
fn a_worker_of_another_protocol_exits_3_at_the_handshake_naming_both_versions() {
    let project = Project::new(SPEC);
    let worker =
        fake_worker(&project, &format!("read line\necho '{}'\nread line", version_reply(99, "1")));
    let (run, _) = run_with(&project, &worker);
    let text = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "the worker {} speaks protocol 99, this devspec speaks protocol {PROTOCOL_VERSION}",
            worker.display()
        )),
        "{text}"
    );
    assert!(!text.contains("VersionReport"), "no debug dump: {text}");
    assert!(!text.contains(" ran, "), "refused before any step: {text}");
    // `devspec --version` checks it the same way.
    let (version, _) = output_within(
        Command::new(devspec_exe())
            .args(["--version", "--worker"])
            .arg(&worker)
            .current_dir(project.dir.path()),
    );
    assert_eq!(version.status.code(), Some(3), "{}", stderr(&version));
    assert!(stderr(&version).contains("speaks protocol 99"), "{}", stderr(&version));
    // A report of another shape (a future version's) still names its version.
    let future = r#"{"type":"version","id":1,"report":{"protocol":7,"renamed":true}}"#;
    let worker = fake_worker(&project, &format!("read line\necho '{future}'\nread line"));
    let (run, _) = run_with(&project, &worker);
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));
    assert!(stderr(&run).contains("speaks protocol 7, this devspec"), "{}", stderr(&run));
}

#[test]
fn a_worker_silent_in_the_middle_of_a_step_is_stopped_and_its_group_fails() {
    let project = Project::new(SPEC);
    // Answers pings and version requests, and goes silent for good on the first step it is
    // given.
    let script = r#"while read line; do
  id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
  case "$line" in
    *'"type":"ping"'*) printf '{"type":"pong","id":%s}\n' "$id" ;;
    *'"type":"version"'*) printf 'VERSION\n' "$id" ;;
    *) exec sleep 1000 ;;
  esac
done"#;
    let worker =
        fake_worker(&project, &script.replace("VERSION", &version_reply(PROTOCOL_VERSION, "%s")));
    let (run, took) = run_with(&project, &worker);
    let text = stderr(&run);
    assert_ne!(run.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "error: a failed: the worker {} sent no heartbeat for 1 s, so it was taken for \
             hung; it was stopped",
            worker.display()
        )),
        "{text}"
    );
    // The run went on to its end: the summary, with what depended on the hung step not run.
    assert!(text.contains("2 instances: 0 ran, 0 cached, 1 failed, 1 not run"), "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_real_worker_busy_for_many_heartbeat_intervals_is_kept_alive_by_its_heartbeat() {
    // 3 s of sleep without a word from the step, against a silence deadline of 2 s.
    let project = Project::new("test slow { value = 1, sleep_ms = 3000 }\n");
    let (run, _) = output_within(
        project.command(&[]).arg("--worker").arg(worker_exe()).env("DEVSPEC_HEARTBEAT", "0.5"),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
}

/// Every step log's text in the project's store.
fn logs(project: &Project) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(project.store().join("logs")).unwrap() {
        text += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    text
}

#[test]
fn what_mkl_prints_with_mkl_verbose_goes_to_the_step_log_not_the_replies() {
    let project = Project::new(
        "train fit {\n  model = dln.model(widths = [6, 4, 6])\n  \
         data = dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 64)\n  \
         optimizer = sgd(lr = 0.01)\n  batch_size = 64\n  steps = 20\n  checkpoints = [20]\n}\n",
    );
    let (run, _) = output_within(project.command(&[]).env("MKL_VERBOSE", "1"));
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let log = logs(&project);
    assert!(log.contains("worker stderr:\nMKL_VERBOSE oneMKL"), "{log}");
    assert!(!String::from_utf8_lossy(&run.stdout).contains("MKL_VERBOSE"));
}

#[test]
fn a_torchscript_model_that_prints_trains_and_its_text_goes_to_the_step_log() {
    // `printing.pt` is the fixture's module with a `print` in its forward (make_printing.py):
    // 100 steps print far more than a stdio buffer holds, so the text is flushed mid-run.
    let project = Project::new(
        "train mine {\n  model = torchscript.model(\"printing.pt\")\n  \
         data = tensors(\"data.safetensors\")\n  optimizer = sgd(lr = 0.1)\n  batch_size = 64\n  \
         steps = 100\n  seed = 0\n  checkpoints = [100]\n}\n",
    );
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchscript");
    for file in ["printing.pt", "data.safetensors"] {
        std::fs::copy(fixture.join(file), project.dir.path().join(file)).unwrap();
    }
    let (run, _) = output_within(&mut project.command(&[]));
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(logs(&project).contains("forward: a model that prints on every call"));
}
