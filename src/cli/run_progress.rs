//! How `devspec run` reports as it goes: an overall bar (done, cached, running, failed, elapsed,
//! ETA) with the running instances when stderr is a terminal; a plain line per event when it is
//! not (logs, CI); JSON lines for programs (`--log-format json`); failures only with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exec::RunEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// A progress bar on a terminal, plain lines otherwise.
    Text,
    /// One JSON object per event on stderr.
    Json,
}

pub enum RunProgress {
    Bar { bar: ProgressBar, counts: Counts, running: Vec<String> },
    Lines,
    Json,
    Quiet,
}

#[derive(Default)]
pub struct Counts {
    done: u64,
    cached: u64,
    failed: u64,
    skipped: u64,
}

impl RunProgress {
    pub fn new(total: usize, format: LogFormat, quiet: bool) -> RunProgress {
        match format {
            LogFormat::Json => RunProgress::Json,
            LogFormat::Text if quiet => RunProgress::Quiet,
            LogFormat::Text if std::io::stderr().is_terminal() => {
                let bar =
                    ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} [{elapsed_precise}, ETA {eta}] {msg}",
                    )
                    .expect("a valid template"),
                );
                bar.enable_steady_tick(Duration::from_millis(200));
                RunProgress::Bar { bar, counts: Counts::default(), running: Vec::new() }
            }
            LogFormat::Text => RunProgress::Lines,
        }
    }

    pub fn event(&mut self, event: &RunEvent) {
        match self {
            RunProgress::Quiet => {
                if let RunEvent::Failed { instance, error } = event {
                    eprintln!("  FAILED  {instance}: {error}");
                }
            }
            RunProgress::Json => eprintln!("{}", json(event)),
            RunProgress::Lines => match event {
                RunEvent::Cached { .. } => {}
                RunEvent::Started { instance } => eprintln!("  run     {instance}"),
                RunEvent::Finished { instance, seconds } => {
                    eprintln!("  done    {instance} ({seconds:.2} s)");
                }
                RunEvent::Failed { instance, error } => eprintln!("  FAILED  {instance}: {error}"),
                RunEvent::Skipped { instance, because } => {
                    eprintln!("  skip    {instance} (needs {because})");
                }
            },
            RunProgress::Bar { bar, counts, running } => {
                match event {
                    RunEvent::Cached { .. } => counts.cached += 1,
                    RunEvent::Started { instance } => running.push(instance.clone()),
                    RunEvent::Finished { instance, .. } => {
                        counts.done += 1;
                        running.retain(|r| r != instance);
                    }
                    RunEvent::Failed { instance, error } => {
                        counts.failed += 1;
                        running.retain(|r| r != instance);
                        bar.println(format!("  FAILED  {instance}: {error}"));
                    }
                    RunEvent::Skipped { .. } => counts.skipped += 1,
                }
                if !matches!(event, RunEvent::Started { .. }) {
                    bar.inc(1);
                }
                let shown: Vec<&str> = running.iter().take(3).map(String::as_str).collect();
                let more = running.len().saturating_sub(3);
                bar.set_message(format!(
                    "{} done, {} cached, {} running, {} failed, {} not run{}{}",
                    counts.done,
                    counts.cached,
                    running.len(),
                    counts.failed,
                    counts.skipped,
                    if shown.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", shown.join(", "))
                    },
                    if more > 0 { format!(" and {more} more") } else { String::new() },
                ));
            }
        }
    }

    pub fn finish(self) {
        if let RunProgress::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

fn json(event: &RunEvent) -> serde_json::Value {
    match event {
        RunEvent::Cached { instance } => {
            serde_json::json!({ "event": "cached", "instance": instance })
        }
        RunEvent::Started { instance } => {
            serde_json::json!({ "event": "started", "instance": instance })
        }
        RunEvent::Finished { instance, seconds } => {
            serde_json::json!({ "event": "finished", "instance": instance, "seconds": seconds })
        }
        RunEvent::Failed { instance, error } => {
            serde_json::json!({ "event": "failed", "instance": instance, "error": error })
        }
        RunEvent::Skipped { instance, because } => {
            serde_json::json!({ "event": "skipped", "instance": instance, "because": because })
        }
    }
}
