//! A reader that goes away (`devspec status | head -1`): the output ends quietly, never with a
//! panic. `status` and `show` finish with exit 0; `run` finishes the run whose results it
//! prints at the end (its lock written); a run whose progress nobody reads any more stops as
//! Ctrl-C does, exit 141, with what finished recorded.

use std::process::{Child, Command, Stdio};

use super::binaries::devspec_exe;
use super::run::Project;

/// Starts devspec in the project with `args`, its stdout or stderr a pipe whose reader is
/// already gone, as `| head` leaves it.
fn start_unread(project: &Project, args: &[&str], stderr_unread: bool) -> Child {
    let spec = project.spec();
    let mut command = Command::new(devspec_exe());
    for arg in args {
        if *arg == "{spec}" {
            command.arg(&spec)
        } else {
            command.arg(arg)
        };
    }
    command.current_dir(project.dir.path()).env_remove("DEVSPEC_STORE").stdin(Stdio::null());
    if stderr_unread {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = command.spawn().unwrap();
    // The reader goes away before devspec writes a line.
    if stderr_unread {
        drop(child.stderr.take());
    } else {
        drop(child.stdout.take());
    }
    child
}

#[test]
fn status_run_and_show_end_quietly_when_nobody_reads_their_output() {
    let project = Project::new("test a { value = sweep(0..40) }\ntest b on a { value = 1 }\n");
    for args in [
        &["status", "{spec}"][..],
        &["run", "{spec}"],
        &["show", "{spec}", "a"],
        &["plan", "{spec}"],
    ] {
        let out = start_unread(&project, args, false).wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{args:?}: {stderr}");
    }
    // The run did all its work: every result, and the lock.
    assert_eq!(project.results().len(), 80);
    assert!(project.dir.path().join("study.dev.lock").is_file());
}

#[test]
fn a_run_whose_progress_nobody_reads_stops_as_ctrl_c_does() {
    let project = Project::new("test a { value = sweep(0..6), sleep_ms = 400 }\n");
    let out = start_unread(&project, &["run", "{spec}", "--jobs", "1", "--batch", "1"], true)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141), "stopped at the first progress line it wrote");
    // It stopped before the 2.4 s of steps were done; a rerun finishes the rest.
    let recorded = recorded(&project);
    assert!(recorded < 6, "{recorded} results: the run went on");
    let rerun = project.run(&["--jobs", "1", "--batch", "1"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    assert_eq!(rerun.counts().0 + recorded, 6, "{}", rerun.stderr());
}

/// How many results the store holds (none, before any was recorded).
fn recorded(project: &Project) -> usize {
    let Ok(shards) = std::fs::read_dir(project.store().join("actions")) else { return 0 };
    shards.map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count()).sum()
}
