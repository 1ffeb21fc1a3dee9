//! The rates of `devspec plan --cost` (`plan::cost::Rates`), measured on this machine by a
//! short study run through the worker exactly as a run would (`cost_calibration.dev`: every
//! built-in model family trained and sampled at two sizes and two lengths, with the run's
//! `--jobs`), and cached in the store under what decides them: the worker and devspec executables
//! (path, size, modification time: a debug build is priced by its own measurement), the key's
//! environment (libtorch, CPU kernels, MKL's path, the device, threads per step). So it runs once
//! per machine, build and setting; `--recalibrate` measures again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use devspec_protocol::store_layout;

use super::run::{RunSettings, run};
use super::{Observer, Session};
use crate::exec::{RunEvent, executable_stamp};
use crate::failure::Failure;
use crate::plan::cost::{Cost, Family, Phase, RATES_VERSION, Rates, Work, cost_name, fit, work};
use crate::plan::{self, Plan};
use crate::project_config::ProjectConfig;
use crate::store::Store;

/// The calibration study.
const CALIBRATION_SPEC: &str = include_str!("cost_calibration.dev");

/// How many times the calibration study runs with one worker; each instance's quickest time is
/// fitted.
const ALONE_PASSES: usize = 3;

/// The steps of the calibration run again side by side, for the contention.
const CONTENTION_STEPS: [&str; 5] =
    ["tms_s_long", "dln_l_llc", "mlp_s_llc", "tr_l_llc", "icl_long"];

/// Rates for a forecast, and whether they were measured just now.
pub struct Calibrated {
    pub rates: Rates,
    pub fresh: bool,
    /// Where they are cached.
    pub path: PathBuf,
}

/// The session's rates: cached, or measured now (always with `recalibrate`).
pub fn rates(
    session: &Session,
    recalibrate: bool,
    observer: &mut dyn Observer,
) -> Result<Calibrated, Failure> {
    let path = cache_path(session);
    if !recalibrate
        && let Some(rates) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<Rates>(&text).ok())
            .filter(|rates| rates.version == RATES_VERSION)
    {
        return Ok(Calibrated { rates, fresh: false, path });
    }
    observer
        .note("cost: calibrating this machine's rates (a short study, once per build and setting)");
    let rates = measure(session)?;
    // A cache: failing to write it only costs the next forecast another calibration.
    let text = serde_json::to_vec_pretty(&rates).expect("rates serialize");
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(session.store.root()));
    let _ = store_layout::write_atomically(session.store.root(), &path, &text);
    Ok(Calibrated { rates, fresh: true, path })
}

/// `STORE/costs/<digest>.json`, the digest of everything that decides the rates.
fn cache_path(session: &Session) -> PathBuf {
    let stamp = |path: &Path| {
        executable_stamp(path).unwrap_or_else(|| format!("{} (unreadable)", path.display()))
    };
    let devspec = std::env::current_exe().map(|exe| stamp(&exe)).unwrap_or_default();
    let environment = serde_json::to_string(&session.options.key_environment()).unwrap_or_default();
    let what = format!(
        "rates {RATES_VERSION}\nworker {}\ndevspec {devspec}\nenvironment {environment}\ndevice {}\njobs {}\nspec {}",
        stamp(&session.worker),
        session.options.device,
        session.options.jobs,
        store_layout::digest(CALIBRATION_SPEC.as_bytes()),
    );
    session
        .store
        .root()
        .join("costs")
        .join(format!("{}.json", store_layout::digest(what.as_bytes())))
}

/// The seconds of each instance that ran, by name.
struct Timings(BTreeMap<String, f64>);

impl Observer for Timings {
    fn event(&mut self, event: &RunEvent) {
        if let RunEvent::Finished { instance, seconds } = event {
            self.0.insert(instance.clone(), *seconds);
        }
    }
    fn note(&mut self, _: &str) {}
}

/// Runs the calibration study with the session's worker, device and threads: [`ALONE_PASSES`]
/// times with one worker, each instance alone, to fit the rates to its instances' quickest
/// times; then some of
/// it again in a fresh store with the session's jobs, for how much slower requests side by side
/// go.
fn measure(session: &Session) -> Result<Rates, Failure> {
    let scratch = tempfile::Builder::new()
        .prefix("devspec-cost-")
        .tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch folder: {err}")))?;
    let spec = scratch.path().join("cost_calibration.dev");
    std::fs::write(&spec, CALIBRATION_SPEC)
        .map_err(|err| Failure::environment(format!("cannot write {}: {err}", spec.display())))?;
    let plan = calibration_plan(&spec)?;
    let probe_before = load_probe();
    let started = Instant::now();
    // Three times, each instance's quickest time kept: the 2-core machine this was built on
    // has slow spells of 10 to 30 seconds in which everything, on both cores, runs up to twice
    // as slow (a matrix product on one core and a probe on the other fell together from 190 to
    // 87 and from 860 to 500 iterations per 2 seconds), so one of the calibration's sub-second
    // requests took 0.24 s in one pass and 0.38 s in the next, and with two passes one such
    // request could still move the fit's cost per step by half. Noise only ever adds time.
    let mut alone: BTreeMap<String, f64> = BTreeMap::new();
    // What a run spends outside its instances: planning, starting workers, drawing reports,
    // writing the lock: the wall time beyond the busy time (the least of the passes').
    let mut overhead = f64::INFINITY;
    for pass in 0..ALONE_PASSES {
        let (seconds, wall) =
            timed_run(session, &plan, &spec, &scratch.path().join(format!("alone-{pass}")), 1)?;
        overhead = overhead.min(wall - busy_seconds(&plan, &seconds));
        for (name, time) in seconds {
            alone.entry(name).and_modify(|t| *t = t.min(time)).or_insert(time);
        }
    }
    let overhead = overhead.max(0.0);
    let mut rates = fit(&plan, &alone);
    rates.overhead = overhead;
    let jobs = session.options.jobs.max(1);
    rates.contention = 1.0;
    if jobs > 1 {
        // A few steps of each family, trainings and samplers (their trainings come with
        // them), for a few seconds.
        let some = plan
            .restricted_to(&CONTENTION_STEPS.map(str::to_owned))
            .map_err(|_| internal("names a step it lacks"))?;
        let (side_by_side, _) =
            timed_run(session, &some, &spec, &scratch.path().join("side-by-side"), jobs)?;
        // The same instances' total time, side by side against alone (the last requests of
        // the run go alone, so this leans low, by a few percent).
        let (together, apart) = side_by_side
            .iter()
            .filter_map(|(name, &t)| alone.get(name).map(|&a| (t, a)))
            .fold((0.0, 0.0), |(x, y), (t, a)| (x + t, y + a));
        if apart > 0.0 {
            rates.contention = (together / apart).max(1.0);
        }
    }
    rates.jobs = jobs;
    rates.device.clone_from(&session.options.device);
    rates.device_name = crate::exec::device_name(&session.options.device);
    rates.threads_per_step = session.options.threads_per_step.to_string();
    rates.measured_in = started.elapsed().as_secs_f64();
    // The less disturbed of the two (after the run, its workers may still be exiting): a
    // forecast's probe runs on a machine as idle as it finds it.
    rates.probe = probe_before.min(load_probe());
    rates.measured_at = crate::exec::unix_now();
    Ok(rates)
}

/// The seconds the one worker was busy: each request once. The members of a sibling group (the
/// `*_pair` steps) each report their request's whole time; summed, they counted a 0.45 s group
/// of four as 1.8 s, and the run's overhead came out below nothing.
fn busy_seconds(plan: &Plan, seconds: &BTreeMap<String, f64>) -> f64 {
    let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
    let mut alone = 0.0;
    for instance in plan.instances() {
        let Some(&time) = seconds.get(&instance.display_name()) else { continue };
        if instance.step_name.contains("_pair") {
            let longest = groups.entry(instance.step_name.as_str()).or_insert(0.0);
            *longest = longest.max(time);
        } else {
            alone += time;
        }
    }
    alone + groups.values().sum::<f64>()
}

/// Runs the calibration plan in a store under `folder` with `jobs` workers: each instance's
/// seconds, by name, and the run's wall time.
fn timed_run(
    session: &Session,
    plan: &Plan,
    spec: &Path,
    folder: &Path,
    jobs: usize,
) -> Result<(BTreeMap<String, f64>, f64), Failure> {
    let store = Store::open(&folder.join("store"))?;
    let mut options = session.options.clone();
    options.jobs = jobs;
    // Siblings in fours: only the calibration's `*_pair` sweeps have any.
    options.max_batch = 4;
    options.fail_fast = true;
    options.slurm = None;
    options.files = std::sync::Arc::new(crate::store::FileDigests::new(store.root()));
    let scratch_session = Session {
        config: ProjectConfig::defaults(folder),
        store,
        worker: session.worker.clone(),
        options,
    };
    let settings = RunSettings {
        spec,
        partial: None,
        fail_fast: true,
        slurm: None,
        max_memory: None,
        reports: folder.join("reports"),
    };
    let mut timings = Timings(BTreeMap::new());
    let started = Instant::now();
    let outcome = run(plan, &scratch_session, &settings, &mut timings)?;
    let wall = started.elapsed().as_secs_f64();
    if let Some(failed) = outcome.summary.failed.first() {
        return Err(Failure::environment(format!(
            "the cost calibration failed at {}: {}",
            failed.instance, failed.error
        ))
        .with_hint("`devspec run` of a small spec shows whether the worker works here"));
    }
    Ok((timings.0, wall))
}

/// A defect of the calibration's own spec.
fn internal(what: &str) -> Failure {
    Failure::new(
        crate::failure::FailureClass::Internal,
        format!("the cost calibration's spec {what}"),
    )
}

fn calibration_plan(spec: &Path) -> Result<Plan, Failure> {
    let mut sources = crate::source::SourceMap::new();
    let program = crate::compile::check_path(spec, &[], &mut sources)
        .map_err(|_| internal("does not check"))?;
    plan::plan(&program).map_err(|_| internal("does not plan"))
}

/// Fits each phase and family's costs to the measured instances: the fixed part is the time of
/// the cheapest request (a loss at a checkpoint) plus the phase and family's own setup, which
/// with the parts per step, per FLOP and per activation is a least-squares fit, none
/// negative, of the rest.
fn fit(plan: &Plan, seconds: &BTreeMap<String, f64>) -> Rates {
    let mut points: BTreeMap<(Phase, Family), Vec<(Work, f64)>> = BTreeMap::new();
    // The sibling groups, apart: each member's work and the request's seconds.
    let mut pairs: BTreeMap<(Phase, Family), Vec<(Work, f64)>> = BTreeMap::new();
    let mut detect = 0.0;
    let mut report = 0.0;
    for instance in plan.instances() {
        let Some(&time) = seconds.get(&instance.display_name()) else { continue };
        let Ok(work) = work::of_instance(instance) else { continue };
        match (work.phase, work.family) {
            (Phase::Detect, _) => detect = time,
            (Phase::Report, _) => report = time,
            (phase, Some(family)) if instance.step_name.contains("_pair") => {
                pairs.entry((phase, family)).or_default().push((work, time));
            }
            (phase, Some(family)) => points.entry((phase, family)).or_default().push((work, time)),
            (_, None) => {}
        }
    }
    let mut models = BTreeMap::new();
    // A request's fixed part, whatever its model: the cheapest measurement's time (a loss at
    // a checkpoint), so it holds no pass of a model that happens to be expensive.
    let fixed = points
        .iter()
        .filter(|((phase, _), _)| *phase == Phase::Measure)
        .flat_map(|(_, measured)| measured.iter().map(|(_, t)| *t))
        .reduce(f64::min)
        .unwrap_or(0.0);
    for family in Family::ALL {
        let mut train = (0.0, 0.0);
        for phase in [Phase::Train, Phase::Sample] {
            let Some(measured) = points.get(&(phase, family)) else { continue };
            // Training is calibrated at the studies' batch sizes, where activations add nothing
            // the FLOPs do not: fitted there, their cost only fits noise.
            let values = |w: &Work| if phase == Phase::Train { 0.0 } else { w.values };
            let rows: Vec<([f64; fit::FEATURES], f64)> = measured
                .iter()
                .map(|(w, t)| {
                    ([1.0, w.steps * w.depth, w.flops, values(w), w.fresh], (t - fixed).max(0.0))
                })
                .collect();
            // The constant: what this phase and family's request costs beyond the cheapest
            // one whatever its length (building the model, drawing the data, writing
            // checkpoints); without it, the n- and 2n-step instances charged it to every step
            // and forecast long trainings 40% too slow.
            let [setup, per_step, per_flop, per_value, per_fresh] =
                fit::nonnegative_least_squares(&rows);
            if phase == Phase::Train {
                train = (per_flop, per_value);
            }
            let mut cost = Cost {
                fixed: fixed + setup,
                per_step,
                per_flop,
                per_value,
                per_fresh,
                marginal: 1.0,
            };
            if let Some(pair) = pairs.get(&(phase, family)) {
                cost.marginal = marginal(&cost, pair);
            }
            models.insert(cost_name(phase, family), cost);
        }
        // Other observables: a pass or two over the data, at training's price per FLOP.
        models.insert(
            cost_name(Phase::Measure, family),
            Cost {
                fixed,
                per_step: 0.0,
                per_flop: train.0,
                per_value: train.1,
                per_fresh: 0.0,
                marginal: 1.0,
            },
        );
    }
    Rates {
        version: RATES_VERSION,
        device: String::new(),
        device_name: String::new(),
        threads_per_step: String::new(),
        jobs: 0,
        contention: 1.0,
        models,
        detect,
        report,
        overhead: 0.0,
        probe: 0.0,
        measured_in: 0.0,
        measured_at: 0.0,
    }
}

/// What each member beyond the first adds to a request, from a group sent as one: the
/// request's variable part beyond its longest member's, as a fraction of the others' (the
/// schedule's rule, [`crate::plan::cost::schedule`]), within [0.1, 1] (noise on a sub-second
/// request must not make a group free; and the executor groups siblings only where that is no
/// slower than one after another, so a group dearer than its members is noise too).
fn marginal(cost: &Cost, group: &[(Work, f64)]) -> f64 {
    if group.len() < 2 {
        return 1.0;
    }
    // Every member ends with the request; each reports its seconds from the request's start.
    let request = group.iter().map(|(_, t)| *t).fold(0.0, f64::max) - cost.fixed;
    let variables: Vec<f64> = group.iter().map(|(work, _)| cost.variable(work)).collect();
    let longest = variables.iter().copied().fold(0.0, f64::max);
    let others = variables.iter().sum::<f64>() - longest;
    if longest <= 0.0 || others <= 0.0 {
        return 1.0;
    }
    ((request - longest) / others).clamp(0.1, 1.0)
}

/// Seconds a fixed piece of arithmetic takes on one thread now (the median of 5 tries of about
/// 20 ms each on an idle core): on a machine shared with other work, the share of it a step
/// gets. A forecast scales the rates by this against its value at calibration.
pub fn load_probe() -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let mut x = 1.0_f64;
            for i in 0..4_000_000_u32 {
                x = std::hint::black_box(x * 1.000_000_1 + f64::from(i & 7) * 1e-9);
            }
            std::hint::black_box(x);
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}
