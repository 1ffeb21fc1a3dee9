//! What `devspec run`'s progress says about speed, from this run's own observations only: each
//! running instance's steps per second (from the first and the latest of its progress reports)
//! and its latest training loss, and the time the run has left. Nothing is guessed: an
//! instance has a rate once two of its reports are apart in time and in steps, and the run a
//! time left once every running instance has a rate and, while instances wait to start, at
//! least one instance this run computed has finished (their pace is this run's completions per
//! second since its first start).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A running instance's reports.
#[derive(Debug, Clone)]
struct Running {
    /// The first report: when, and the steps done then.
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

/// The run's instances as reported so far, and their pace.
#[derive(Debug)]
pub struct RunRates {
    total: usize,
    /// Cached, finished, failed or not run: nothing left to do for them.
    settled: usize,
    /// Finished instances this run computed (the pace of what waits).
    computed: usize,
    first_start: Option<Instant>,
    running: BTreeMap<String, Running>,
}

impl RunRates {
    pub fn new(total: usize) -> RunRates {
        RunRates { total, settled: 0, computed: 0, first_start: None, running: BTreeMap::new() }
    }

    pub fn started(&mut self, instance: &str, now: Instant) {
        self.first_start.get_or_insert(now);
        let running = Running { first: None, latest: None, total: 0, loss: None };
        self.running.insert(instance.to_owned(), running);
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
        self.settled += 1;
        self.computed += 1;
    }

    /// An instance that needs nothing more: cached, failed or not run.
    pub fn settled(&mut self, instance: &str) {
        self.running.remove(instance);
        self.settled += 1;
    }

    /// An instance counted cached turned out damaged: it runs after all.
    pub fn unsettled(&mut self) {
        self.settled = self.settled.saturating_sub(1);
    }

    /// A running instance's steps per second and latest loss, as the display says them:
    /// `loss 0.01234, 1520 steps/s`; empty before there is either.
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

    /// The time the run has left, once this run's observations give it.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        let mut left = Duration::ZERO;
        for running in self.running.values() {
            left = left.max(running.left()?);
        }
        let waiting = self.total.saturating_sub(self.settled + self.running.len());
        if waiting > 0 {
            let elapsed = now.duration_since(self.first_start?).as_secs_f64();
            if self.computed == 0 || elapsed <= 0.0 {
                return None;
            }
            let per_second = self.computed as f64 / elapsed;
            left = left.max(Duration::from_secs_f64(waiting as f64 / per_second));
        }
        Some(left)
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

/// A time left for people: `45s`, `3m 20s`, `2h 05m`.
pub fn duration_text(left: Duration) -> String {
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
        let mut rates = RunRates::new(3);
        rates.started("run[seed=0]", at(0));
        assert_eq!(rates.left(at(0)), None, "no report yet");
        rates.progress("run[seed=0]", 100, 1000, Some(0.5), at(1));
        assert_eq!(rates.per_second("run[seed=0]"), None, "one report is no rate");
        assert_eq!(rates.describe("run[seed=0]"), "loss 5.0000e-1");
        assert_eq!(rates.left(at(1)), None);
        rates.progress("run[seed=0]", 300, 1000, Some(0.25), at(3));
        assert_eq!(rates.per_second("run[seed=0]"), Some(100.0));
        assert_eq!(rates.describe("run[seed=0]"), "loss 2.5000e-1, 100 steps/s");
        // Two instances wait, and none has finished: their pace is unknown.
        assert_eq!(rates.left(at(3)), None);
        rates.finished("run[seed=0]");
        // One finished in 4 s since the first start: two more take 8 s.
        assert_eq!(rates.left(at(4)), Some(Duration::from_secs(8)));
    }

    #[test]
    fn the_time_left_is_the_longest_running_instance_or_the_pace_of_what_waits() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut rates = RunRates::new(2);
        rates.settled("cached");
        rates.started("a", at(0));
        rates.progress("a", 0, 100, None, at(0));
        rates.progress("a", 10, 100, None, at(10));
        // 90 steps at 1 a second; nothing waits.
        assert_eq!(rates.left(at(10)), Some(Duration::from_secs(90)));
        // A report that goes back starts the rate afresh.
        rates.progress("a", 5, 50, None, at(11));
        assert_eq!(rates.per_second("a"), None);
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_text(Duration::from_secs(45)), "45s");
        assert_eq!(duration_text(Duration::from_secs(200)), "3m 20s");
        assert_eq!(duration_text(Duration::from_secs(7500)), "2h 05m");
    }
}
