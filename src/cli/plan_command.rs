//! `devspec plan FILE [--steps] [--format text|json|dot|mermaid]`: the instances a run would
//! execute, in order, with their status: cached, will run, or waits for an input that will be
//! computed first; with `--steps`, the steps instead, with their instances' statuses counted.
//! Pictures colour each node by its status. With `--cost`, the forecast of each step's and the
//! whole study's wall time on this machine (`plan::cost`, rates from `ops::cost_calibration`).

use std::path::PathBuf;

use super::args::PlanArgs;
use super::run_context::{ContextArgs, planned, session};
use crate::exec::{InstanceStatus, RunEvent, survey};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::ops::{Observer, Session, cost_calibration};
use crate::plan::{self, Plan, PlanFormat, cost};

pub fn run(args: &PlanArgs, worker: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let plan = match planned(&args.file, &args.sets, &args.bind)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    if args.cost {
        let mut context = ContextArgs::new(&args.file, &args.settings, worker);
        context.jobs = args.jobs;
        context.batch = args.batch;
        return forecast(&plan, &session(&context)?, args);
    }
    let render = if args.steps { plan::render_steps } else { plan::render };
    let context = session(&ContextArgs::new(&args.file, &args.settings, worker));
    let text = match context {
        Ok(context) => {
            let statuses = survey(&plan, &context.store, &context.options);
            render(&plan, args.format, &|node| statuses[node.index()].label())
        }
        Err(failure) => {
            // The plan itself does not need the store or a worker; only the cache status does.
            eoutln!("note: cache status unknown ({})", failure.message);
            render(&plan, args.format, &plan::status_without_store(&plan))
        }
    };
    out!("{text}");
    Ok(ExitCode::Success)
}

/// Notes of the calibration, printed as they come.
struct Notes;

impl Observer for Notes {
    fn event(&mut self, _: &RunEvent) {}
    fn note(&mut self, text: &str) {
        eoutln!("{text}");
    }
}

fn forecast(plan: &Plan, session: &Session, args: &PlanArgs) -> Result<ExitCode, Failure> {
    let render = match args.format {
        PlanFormat::Text => cost::render::render_text,
        PlanFormat::Json => cost::render::render_json,
        PlanFormat::Dot | PlanFormat::Mermaid => {
            return Err(Failure::bad_input("--cost prints text or JSON, not a picture".to_owned())
                .with_hint("use `--format text` or `--format json` with --cost"));
        }
    };
    let statuses = survey(plan, &session.store, &session.options);
    let cached: Vec<bool> =
        statuses.iter().map(|status| matches!(status, InstanceStatus::Cached(_))).collect();
    let calibrated = cost_calibration::rates(session, args.recalibrate, &mut Notes)?;
    // The machine's load now against at calibration (the same probe), within a factor of 4;
    // inside the probe's own noise on an idle machine (it varied by up to 30% between quiet
    // minutes), none: scaling by noise made forecasts worse, not better. Another process on
    // one of two cores slows the probe by 1.5x or more.
    let load = if calibrated.fresh || calibrated.rates.probe <= 0.0 {
        1.0
    } else {
        let ratio = cost_calibration::load_probe() / calibrated.rates.probe;
        if (0.7..=1.4).contains(&ratio) { 1.0 } else { ratio.clamp(0.25, 4.0) }
    };
    let rates = calibrated.rates.scaled(load);
    let forecast =
        cost::forecast(plan, &rates, &cached, session.options.jobs, session.options.max_batch);
    let source = cost::render::Provenance {
        fresh: calibrated.fresh,
        path: calibrated.path.display().to_string(),
        load,
    };
    out!("{}", render(plan, &forecast, &rates, &source));
    Ok(ExitCode::Success)
}
