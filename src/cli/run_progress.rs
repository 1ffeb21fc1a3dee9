//! How `devspec run` reports as it goes: an overall bar (done, cached, running, failed, elapsed,
//! the time left once this run's own rates give it) with the running instances (a training's
//! loss and steps per second, an estimate's chains and steps per second) when stderr is a
//! terminal; a plain line per event when it is not (logs, CI); JSON lines for programs
//! (`--log-format json`, progress with its loss, rate and the run's time left when known);
//! failures only with `--quiet`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::run_rates::{RunRates, time_left_text};
use crate::exec::RunEvent;
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// A progress bar on a terminal, plain lines otherwise.
    Text,
    /// One JSON object per event on stderr.
    Json,
}

pub enum RunProgress {
    Bar(Box<Bars>),
    /// A line per event, and a running instance's progress every [`PROGRESS_LINE_EVERY`] it
    /// runs (the rates, and when each instance last had a line).
    Lines(Box<(RunRates, HashMap<String, Instant>)>),
    Json(Box<RunRates>),
    Quiet,
}

/// The terminal display: the overall bar, and a line per running instance with its own
/// progress (at most [`MAX_STEP_LINES`]; the rest are counted in the overall line).
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    counts: Counts,
    running: Vec<(String, Option<ProgressBar>)>,
    rates: RunRates,
}

const MAX_STEP_LINES: usize = 8;

/// How often a log (stderr not a terminal) gets a running instance's progress line.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Counts {
    done: u64,
    cached: u64,
    failed: u64,
    skipped: u64,
}

impl RunProgress {
    pub fn new(plan: &Plan, format: LogFormat, quiet: bool) -> RunProgress {
        let total = plan.order.len();
        let rates = || RunRates::new(plan.instances().map(|i| i.step_name.as_str()));
        match format {
            LogFormat::Json => RunProgress::Json(Box::new(rates())),
            LogFormat::Text if quiet => RunProgress::Quiet,
            LogFormat::Text if std::io::stderr().is_terminal() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let overall = multi.add(ProgressBar::new(total as u64));
                overall.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
                        .expect("a valid template"),
                );
                overall.enable_steady_tick(Duration::from_millis(200));
                RunProgress::Bar(Box::new(Bars {
                    multi,
                    overall,
                    counts: Counts::default(),
                    running: Vec::new(),
                    rates: rates(),
                }))
            }
            LogFormat::Text => RunProgress::Lines(Box::new((rates(), HashMap::new()))),
        }
    }

    pub fn event(&mut self, event: &RunEvent) {
        match self {
            RunProgress::Quiet => match event {
                RunEvent::Failed { instance, error, .. } => {
                    eoutln!("  FAILED  {instance}: {error}");
                }
                RunEvent::Damaged { what, detail, .. } => eoutln!("{}", damaged(what, detail)),
                _ => {}
            },
            RunProgress::Json(rates) => {
                observe(rates, event, Instant::now());
                eoutln!("{}", json(event, rates));
            }
            RunProgress::Lines(state) => {
                let (rates, last_line) = &mut **state;
                let now = Instant::now();
                observe(rates, event, now);
                lines(event, rates, last_line, now);
            }
            RunProgress::Bar(bars) => bars.event(event),
        }
    }

    pub fn finish(self) {
        if let RunProgress::Bar(bars) = self {
            for (_, line) in bars.running {
                if let Some(line) = line {
                    line.finish_and_clear();
                }
            }
            bars.overall.finish_and_clear();
        }
    }
}

impl crate::ops::Observer for RunProgress {
    fn event(&mut self, event: &RunEvent) {
        RunProgress::event(self, event);
    }

    fn note(&mut self, text: &str) {
        match self {
            RunProgress::Bar(bars) => bars.multi.suspend(|| eoutln!("{text}")),
            RunProgress::Lines(_) | RunProgress::Json(_) | RunProgress::Quiet => eoutln!("{text}"),
        }
    }
}

/// An observer for operations without a progress display: their notes on stderr.
pub struct Notes;

impl crate::ops::Observer for Notes {
    fn event(&mut self, _: &RunEvent) {}

    fn note(&mut self, text: &str) {
        eoutln!("{text}");
    }
}

/// A plain line per event (for logs), and a running instance's progress (its loss, rate and
/// the run's time left, as far as known) every [`PROGRESS_LINE_EVERY`] it runs.
fn lines(
    event: &RunEvent,
    rates: &RunRates,
    last_line: &mut HashMap<String, Instant>,
    now: Instant,
) {
    match event {
        RunEvent::Cached { .. } => {}
        RunEvent::Progress { instance, done, total, message, .. } => {
            // Counted from its start, so an instance shorter than that adds no line.
            let due = last_line.get(instance).is_some_and(|at| now - *at >= PROGRESS_LINE_EVERY);
            if !due {
                return;
            }
            last_line.insert(instance.clone(), now);
            let mut said = format!("{done}/{total}");
            for part in [
                if message.starts_with("step ") { String::new() } else { message.clone() },
                rates.describe(instance),
                rates
                    .left(now)
                    .map_or(String::new(), |left| format!("run: {}", time_left_text(left))),
            ] {
                if !part.is_empty() {
                    said.push_str(", ");
                    said.push_str(&part);
                }
            }
            eoutln!("  ...     {instance} {said}");
        }
        RunEvent::Started { instance } => {
            last_line.insert(instance.clone(), now);
            eoutln!("  run     {instance}");
        }
        RunEvent::Finished { instance, seconds } => {
            last_line.remove(instance);
            eoutln!("  done    {instance} ({seconds:.2} s)");
        }
        RunEvent::Failed { instance, error, .. } => {
            last_line.remove(instance);
            eoutln!("  FAILED  {instance}: {error}");
        }
        RunEvent::Skipped { instance, because } => {
            eoutln!("  skip    {instance} (needs {because})");
        }
        RunEvent::Damaged { what, detail, .. } => eoutln!("{}", damaged(what, detail)),
    }
}

/// Updates the run's rates with an event.
fn observe(rates: &mut RunRates, event: &RunEvent, now: Instant) {
    match event {
        RunEvent::Started { instance } => rates.started(instance, now),
        RunEvent::Progress { instance, done, total, loss, .. } => {
            rates.progress(instance, *done, *total, *loss, now);
        }
        RunEvent::Finished { instance, .. } => rates.finished(instance),
        RunEvent::Cached { instance }
        | RunEvent::Failed { instance, .. }
        | RunEvent::Skipped { instance, .. } => rates.settled(instance),
        RunEvent::Damaged { instance, was_cached, .. } => {
            if *was_cached {
                rates.unsettled(instance);
            }
        }
    }
}

impl Bars {
    fn event(&mut self, event: &RunEvent) {
        let now = Instant::now();
        observe(&mut self.rates, event, now);
        match event {
            RunEvent::Cached { .. } => self.counts.cached += 1,
            RunEvent::Started { instance } => {
                let line = (self.lines() < MAX_STEP_LINES).then(|| {
                    let line = self.multi.add(ProgressBar::new(0));
                    line.set_style(
                        ProgressStyle::with_template("  {prefix:30} {bar:20} {pos}/{len} {msg}")
                            .expect("a valid template"),
                    );
                    line.set_prefix(instance.clone());
                    line
                });
                self.running.push((instance.clone(), line));
            }
            RunEvent::Progress { instance, done, total, message, .. } => {
                if let Some((_, Some(line))) = self.running.iter().find(|(i, _)| i == instance) {
                    line.set_length(*total);
                    line.set_position(*done);
                    // The worker's words, but for the step count the bar says already (a
                    // training's `step 300/3000`).
                    let said = if message.starts_with("step ") { "" } else { message.as_str() };
                    let rates = self.rates.describe(instance);
                    let sep = if said.is_empty() || rates.is_empty() { "" } else { ", " };
                    line.set_message(format!("{said}{sep}{rates}"));
                }
            }
            RunEvent::Finished { instance, .. } => {
                self.counts.done += 1;
                self.stop(instance);
            }
            RunEvent::Failed { instance, error, .. } => {
                self.counts.failed += 1;
                self.stop(instance);
                self.overall.println(format!("  FAILED  {instance}: {error}"));
            }
            RunEvent::Skipped { .. } => self.counts.skipped += 1,
            RunEvent::Damaged { what, detail, was_cached, .. } => {
                self.overall.println(damaged(what, detail));
                // It was counted cached; it now runs, and is counted when it ends.
                if *was_cached {
                    self.counts.cached = self.counts.cached.saturating_sub(1);
                    self.overall.dec(1);
                }
            }
        }
        if !matches!(
            event,
            RunEvent::Started { .. } | RunEvent::Progress { .. } | RunEvent::Damaged { .. }
        ) {
            self.overall.inc(1);
        }
        let hidden = self.running.len() - self.lines();
        self.overall.set_message(format!(
            "{} done, {} cached, {} running, {} failed, {} not run{}{}",
            self.counts.done,
            self.counts.cached,
            self.running.len(),
            self.counts.failed,
            self.counts.skipped,
            if hidden > 0 { format!(" ({hidden} running not shown)") } else { String::new() },
            self.rates
                .left(now)
                .map_or(String::new(), |left| format!("; {}", time_left_text(left))),
        ));
    }

    fn lines(&self) -> usize {
        self.running.iter().filter(|(_, line)| line.is_some()).count()
    }

    fn stop(&mut self, instance: &str) {
        if let Some(index) = self.running.iter().position(|(i, _)| i == instance) {
            let (_, line) = self.running.remove(index);
            if let Some(line) = line {
                line.finish_and_clear();
                self.multi.remove(&line);
            }
        }
    }
}

fn json(event: &RunEvent, rates: &RunRates) -> serde_json::Value {
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
        RunEvent::Progress { instance, done, total, message, loss } => {
            let mut event = serde_json::json!({
                "event": "progress", "instance": instance, "done": done, "total": total,
                "message": message,
            });
            // Each only once this run has observed it.
            if let Some(loss) = loss {
                event["loss"] = serde_json::json!(loss);
            }
            if let Some(rate) = rates.per_second(instance) {
                event["steps_per_second"] = serde_json::json!(rate);
            }
            if let Some(left) = rates.left(Instant::now()) {
                event["run_seconds_left"] = serde_json::json!(left.as_secs_f64());
            }
            event
        }
        RunEvent::Failed { instance, error, log } => serde_json::json!({
            "event": "failed", "instance": instance, "error": error,
            "log": log.as_ref().map(|path| path.display().to_string()),
        }),
        RunEvent::Skipped { instance, because } => {
            serde_json::json!({ "event": "skipped", "instance": instance, "because": because })
        }
        RunEvent::Damaged { instance, what, detail, was_cached } => serde_json::json!({
            "event": "damaged", "instance": instance, "what": what, "detail": detail,
            "was_cached": was_cached,
        }),
    }
}

/// A damaged store entry, as said on stderr: `store: the result of llc[seed=1]@16 is damaged
/// (its bytes hash to …): recomputing`.
pub fn damaged(what: &str, detail: &str) -> String {
    format!("store: {what} is damaged ({detail}): set aside, recomputing")
}
