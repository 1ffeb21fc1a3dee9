//! What `devspec run`'s progress says about speed, from this run's own observations only: each
//! running instance's steps per second (from the first and the latest of its progress reports)
//! and its latest training loss, and the time the run has left. Nothing is guessed: an
//! instance has a rate once two of its reports are apart in time and in steps; the run has a
//! time left once every running instance has a rate and, for each step with instances still
//! waiting to start, an instance of that step this run computed has finished (the step's pace:
//! its instances finished per second since its first started, which counts the parallelism and
//! batching it ran with).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A running instance's reports.
#[derive(Debug, Clone, Default)]
struct Running {
    /// The first report of its current phase: when, and the steps done then.
    first: Option<(Instant, u64)>,
    latest: Option<(Instant, u64)>,
    total: u64,
    loss: Option<f64>,
}

impl Running {
    fn per_second(&self) -> Option<f64> {
        let ((t0, done0), (t1, done1)) = (self.first?, self.latest?);
        let seconds = t1.duration_since(t0).as_secs_f64();
        (seconds > 0.0 && done1 > done0).then(|| (done1 - done0) as f64 / seconds)
    }

    fn left(&self) -> Option<Duration> {
        let (_, done) = self.latest?;
        let rate = self.per_second()?;
        Some(Duration::from_secs_f64(self.total.saturating_sub(done) as f64 / rate))
    }
}

/// One step's instances as reported so far.
#[derive(Debug, Clone, Default)]
struct Step {
    instances: usize,
    /// Cached, finished, failed or not run: nothing left to do for them.
    settled: usize,
    /// Finished instances this run computed.
    computed: usize,
    first_start: Option<Instant>,
}

/// The run's instances as reported so far, and their pace.
#[derive(Debug)]
pub struct RunRates {
    steps: BTreeMap<String, Step>,
    running: BTreeMap<String, Running>,
}

/// The step of an instance from its display name (`llc[seed=1]@100` is `llc`'s): a step's name
/// is an identifier, so it ends where the sweep point or the checkpoint begins.
fn step_of(instance: &str) -> &str {
    instance.split(['[', '@']).next().unwrap_or(instance)
}

impl RunRates {
    /// A run of instances of these steps (a step's name once per instance).
    pub fn new<'a>(steps: impl IntoIterator<Item = &'a str>) -> RunRates {
        let mut counted: BTreeMap<String, Step> = BTreeMap::new();
        for step in steps {
            counted.entry(step.to_owned()).or_default().instances += 1;
        }
        RunRates { steps: counted, running: BTreeMap::new() }
    }

    fn step(&mut self, instance: &str) -> &mut Step {
        self.steps.entry(step_of(instance).to_owned()).or_default()
    }

    pub fn started(&mut self, instance: &str, now: Instant) {
        self.step(instance).first_start.get_or_insert(now);
        self.running.insert(instance.to_owned(), Running::default());
    }

    pub fn progress(
        &mut self,
        instance: &str,
        done: u64,
        total: u64,
        loss: Option<f64>,
        now: Instant,
    ) {
        if let Some(running) = self.running.get_mut(instance) {
            // A report that goes back (a new phase, a resubmitted job) starts the rate afresh.
            if running.latest.is_none_or(|(_, before)| done < before) || total != running.total {
                running.first = Some((now, done));
            }
            running.latest = Some((now, done));
            running.total = total;
            running.loss = loss.or(running.loss);
        }
    }

    /// An instance this run computed has finished.
    pub fn finished(&mut self, instance: &str) {
        self.running.remove(instance);
        let step = self.step(instance);
        step.settled += 1;
        step.computed += 1;
    }

    /// An instance that needs nothing more: cached, failed or not run.
    pub fn settled(&mut self, instance: &str) {
        self.running.remove(instance);
        self.step(instance).settled += 1;
    }

    /// An instance counted cached turned out damaged: it runs after all.
    pub fn unsettled(&mut self, instance: &str) {
        let step = self.step(instance);
        step.settled = step.settled.saturating_sub(1);
    }

    /// A running instance's latest loss and steps per second, as the display says them:
    /// `loss 1.2340e-2, 1520 steps/s`; empty before there is either.
    pub fn describe(&self, instance: &str) -> String {
        let Some(running) = self.running.get(instance) else { return String::new() };
        let mut parts = Vec::new();
        if let Some(loss) = running.loss {
            parts.push(format!("loss {loss:.4e}"));
        }
        if let Some(rate) = running.per_second() {
            parts.push(format!("{} steps/s", rate_text(rate)));
        }
        parts.join(", ")
    }

    /// A running instance's steps per second, once known.
    pub fn per_second(&self, instance: &str) -> Option<f64> {
        self.running.get(instance)?.per_second()
    }

    /// The time the run has left, once this run's observations give it: the longest a running
    /// instance has left, or, when longer, the time the waiting instances take at their
    /// steps' pace.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        let mut running_left = Duration::ZERO;
        for running in self.running.values() {
            running_left = running_left.max(running.left()?);
        }
        let mut waiting_left = 0.0;
        for (name, step) in &self.steps {
            let running = self.running.keys().filter(|i| step_of(i) == name).count();
            let waiting = step.instances.saturating_sub(step.settled + running);
            if waiting == 0 {
                continue;
            }
            let elapsed = now.duration_since(step.first_start?).as_secs_f64();
            if step.computed == 0 || elapsed <= 0.0 {
                return None;
            }
            waiting_left += waiting as f64 * elapsed / step.computed as f64;
        }
        Some(running_left.max(Duration::from_secs_f64(waiting_left)))
    }
}

/// A rate with as many digits as it needs: `0.52`, `37.5`, `1520`.
fn rate_text(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else if rate >= 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.2}")
    }
}

/// What is left, as the progress lines say it: "about 3m 20s left", "under a second left".
pub fn time_left_text(left: Duration) -> String {
    if left.as_secs() == 0 {
        "under a second left".to_owned()
    } else {
        format!("about {} left", duration_text(left))
    }
}

/// A time of a second or more, for people: `45s`, `3m 20s`, `2h 05m`.
fn duration_text(left: Duration) -> String {
    let seconds = left.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_said_until_there_is_a_rate() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut rates = RunRates::new(["run", "run", "llc"]);
        rates.started("run[seed=0]", at(0));
        assert_eq!(rates.left(at(0)), None, "no report yet");
        rates.progress("run[seed=0]", 100, 1000, Some(0.5), at(1));
        assert_eq!(rates.per_second("run[seed=0]"), None, "one report is no rate");
        assert_eq!(rates.describe("run[seed=0]"), "loss 5.0000e-1");
        assert_eq!(rates.left(at(1)), None);
        rates.progress("run[seed=0]", 300, 1000, Some(0.25), at(3));
        assert_eq!(rates.per_second("run[seed=0]"), Some(100.0));
        assert_eq!(rates.describe("run[seed=0]"), "loss 2.5000e-1, 100 steps/s");
        // `run[seed=1]` and `llc` wait, and none of their steps has finished: unknown.
        assert_eq!(rates.left(at(3)), None);
        rates.finished("run[seed=0]");
        // `run`'s pace is known (one in 4 s), `llc`'s is not.
        assert_eq!(rates.left(at(4)), None);
        rates.started("run[seed=1]", at(4));
        rates.started("llc@1000", at(4));
        rates.progress("llc@1000", 0, 50, None, at(4));
        rates.progress("llc@1000", 10, 50, None, at(5));
        rates.progress("run[seed=1]", 0, 1000, None, at(4));
        rates.progress("run[seed=1]", 500, 1000, None, at(5));
        // Both run, each with its rate: the longer, llc's 40 steps at 10 a second.
        assert_eq!(rates.left(at(5)), Some(Duration::from_secs(4)));
    }

    #[test]
    fn waiting_instances_take_their_steps_pace() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut rates = RunRates::new(["a", "a", "a", "a", "b"]);
        rates.settled("b");
        rates.started("a[i=0]", at(0));
        rates.started("a[i=1]", at(0));
        rates.finished("a[i=0]");
        rates.finished("a[i=1]");
        // Two finished in 10 s: the two waiting take 10 s more.
        assert_eq!(rates.left(at(10)), Some(Duration::from_secs(10)));
        // A report that goes back starts the rate afresh.
        rates.started("a[i=2]", at(10));
        rates.progress("a[i=2]", 10, 100, None, at(10));
        rates.progress("a[i=2]", 20, 100, None, at(11));
        assert_eq!(rates.per_second("a[i=2]"), Some(10.0));
        rates.progress("a[i=2]", 5, 50, None, at(12));
        assert_eq!(rates.per_second("a[i=2]"), None);
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_text(Duration::from_secs(45)), "45s");
        assert_eq!(duration_text(Duration::from_secs(200)), "3m 20s");
        assert_eq!(duration_text(Duration::from_secs(7500)), "2h 05m");
        assert_eq!(time_left_text(Duration::from_millis(400)), "under a second left");
        assert_eq!(time_left_text(Duration::from_secs(45)), "about 45s left");
    }
}
