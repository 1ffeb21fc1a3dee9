//! The batch-job mode: one request from a file; its replies (outputs, each member's end, the
//! final reply) written to a file as a JSON array, rewritten whole (atomically) as they come, so
//! whoever watches the job sees streamed checkpoints and finished members at once, and a job
//! killed halfway has recorded what it finished; the latest progress in `FILE.progress` (at
//! most once a second) and every progress line on stderr (which a batch system keeps as the
//! job's log).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use devspec_protocol::Reply;

use crate::dispatch;

pub fn run(request: &Path, result: Option<&Path>) -> ExitCode {
    let result_path = result.map_or_else(
        || request.parent().unwrap_or(Path::new(".")).join("result.json"),
        Path::to_path_buf,
    );
    let line = match std::fs::read_to_string(request) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("devspec-worker: cannot read request {}: {err}", request.display());
            return ExitCode::from(2);
        }
    };
    let mut replies = Vec::new();
    let mut unwritten = None;
    let mut progress_path = result_path.clone();
    progress_path.as_mut_os_string().push(".progress");
    let mut last_progress = std::time::Instant::now();
    dispatch::handle_line(line.trim(), &mut |reply: &Reply| {
        if let Reply::Progress { done, total, message, .. } = reply {
            eprintln!("progress {done}/{total}: {message}");
            // The latest only, at most once a second, in a file of its own.
            if last_progress.elapsed() >= std::time::Duration::from_secs(1) {
                last_progress = std::time::Instant::now();
                let _ = write_atomically(&progress_path, reply);
            }
            return;
        }
        replies.push(reply.clone());
        // Written as they come, so whoever follows the job sees streamed checkpoints and
        // finished members at once; the final reply is written below, with the checks.
        if !reply.is_final()
            && let Err(err) = write_atomically(&result_path, &replies)
        {
            unwritten.get_or_insert(err);
        }
    });
    if let Some(err) = unwritten {
        eprintln!("devspec-worker: cannot write result {}: {err}", result_path.display());
    }
    let failed = replies
        .iter()
        .any(|reply| matches!(reply, Reply::Failed { .. } | Reply::StepFailed { .. }));
    if !replies.last().is_some_and(Reply::is_final) {
        eprintln!("devspec-worker: the request produced no final reply (a bug)");
        return ExitCode::from(4);
    }
    if let Err(err) = write_atomically(&result_path, &replies) {
        eprintln!("devspec-worker: cannot write result {}: {err}", result_path.display());
        return ExitCode::from(3);
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Writes JSON beside the target and renames, so a reader (the scheduler polling for the
/// file) sees either no file or a whole one.
fn write_atomically(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    let text = serde_json::to_string_pretty(value).expect("replies always serialize");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
}
