//! `devspec._native.Study`: a spec checked and planned, and what can be read about it without a
//! worker: its instances' statuses, its results as Arrow tables, its stored checkpoints, its
//! reports. The public API (`devspec.Study`, python/devspec/__init__.py) wraps it.

use std::path::{Path, PathBuf};

use devspec::compile::{self, CompileError};
use devspec::diagnostic::Diagnostic;
use devspec::exec::{InstanceStatus, survey};
use devspec::ops::checkout::{self, Selection};
use devspec::ops::{self, Observer, Session};
use devspec::plan::{self, Plan};
use devspec::source::SourceMap;
use devspec::store::Lookup;
use devspec::tables;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::errors;
use crate::python_value::to_python;

/// A tensor as Python receives it: name, numpy type, shape, bytes.
type TensorTuple<'py> = (String, &'static str, Vec<usize>, Bound<'py, PyByteArray>);

/// Stored checkpoints as Python receives them: rows, instances not run, damaged entries.
type StoredCheckpoints<'py> = (Vec<Bound<'py, PyAny>>, Vec<String>, Vec<String>);

/// A spec, checked and planned when opened (and again by `check`).
#[pyclass(module = "devspec._native", name = "Study")]
pub struct NativeStudy {
    spec: PathBuf,
    sets: Vec<String>,
    /// `NAME=VALUE` bindings of the spec's open parameters (as `devspec --bind` reads them).
    binds: Vec<String>,
    store: Option<PathBuf>,
    /// The worker beside the `devspec` binary `run` would use, if any: what decides the keys
    /// when nothing else can (see `session`).
    worker: Option<PathBuf>,
    plan: Plan,
}

/// A spec checked and planned, or its diagnostics; the warnings of a spec that checks.
fn planned(
    py: Python<'_>,
    spec: &Path,
    sets: &[String],
    binds: &[String],
) -> PyResult<(Plan, Vec<Py<PyAny>>)> {
    let mut sources = SourceMap::new();
    let fail = |sources: &SourceMap, diagnostics: &[Diagnostic]| {
        errors::spec_error(py, sources, diagnostics)
    };
    let bindings =
        compile::Bindings::parse(binds, None).map_err(|failure| errors::failure(py, &failure))?;
    let program = match compile::check_path_bound(spec, sets, &bindings, &mut sources) {
        Ok(program) => program,
        Err(CompileError::Unreadable(failure)) => return Err(errors::failure(py, &failure)),
        Err(CompileError::Diagnostics(diagnostics)) => return Err(fail(&sources, &diagnostics)),
    };
    // As `devspec check`: a spec that checks may still be too large to plan.
    let limits = plan::check_limits(&program);
    if errors::has_errors(&limits) {
        return Err(fail(&sources, &limits));
    }
    let plan = plan::plan(&program).map_err(|diagnostics| fail(&sources, &diagnostics))?;
    let warnings = limits
        .iter()
        .map(|d| errors::diagnostic(py, &sources, d).map(Bound::unbind))
        .collect::<PyResult<_>>()?;
    Ok((plan, warnings))
}

/// A coordinate as Python should see it: a number where the value is one (`seed` 0, `lr`
/// 0.001), else its text as names write it.
fn coordinate(value: &devspec::compile::value::Value) -> serde_json::Value {
    coordinate_text(&value.to_string())
}

fn coordinate_text(text: &str) -> serde_json::Value {
    if let Ok(whole) = text.parse::<i64>() {
        return whole.into();
    }
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => number.into(),
        _ => text.into(),
    }
}

/// Damaged entries found while reading (already set aside), as the warnings Python shows.
fn damaged_notes(damaged: &[ops::DamagedEntry]) -> Vec<String> {
    damaged.iter().map(ToString::to_string).collect()
}

/// Collects an operation's notes, which Python shows as warnings.
#[derive(Default)]
struct Notes(Vec<String>);

impl Observer for Notes {
    fn event(&mut self, _: &devspec::exec::RunEvent) {}
    fn note(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
}

impl NativeStudy {
    /// The settings results are read under: the caller's store, else as `devspec show`
    /// resolves them; no worker needed (`Session::for_reading`). Where that finds neither a
    /// worker nor a report cached in the store (nothing has run yet), the worker beside the
    /// `devspec` binary, when there is one, says what the keys will be.
    fn session(&self, py: Python<'_>) -> PyResult<Session> {
        let settings = ops::Settings { store: self.store.clone(), ..ops::Settings::default() };
        let first = Session::for_reading(&self.spec, &settings);
        let session = match (first, &self.worker) {
            (Err(_), Some(worker)) => Session::for_reading(
                &self.spec,
                &ops::Settings { worker: Some(worker.clone()), ..settings },
            ),
            (first, _) => first,
        };
        session.map_err(|failure| errors::failure(py, &failure))
    }

    fn has_step(&self, py: Python<'_>, step: &str) -> PyResult<()> {
        ops::step_kind(&self.plan, step)
            .map(|_| ())
            .map_err(|failure| errors::failure(py, &failure))
    }
}

#[pymethods]
impl NativeStudy {
    #[new]
    #[pyo3(signature = (spec, sets = Vec::new(), store = None, worker = None, binds = Vec::new()))]
    fn new(
        py: Python<'_>,
        spec: PathBuf,
        sets: Vec<String>,
        store: Option<PathBuf>,
        worker: Option<PathBuf>,
        binds: Vec<String>,
    ) -> PyResult<Self> {
        let (plan, _) = planned(py, &spec, &sets, &binds)?;
        Ok(NativeStudy { spec, sets, binds, store, worker, plan })
    }

    /// Reads, checks and plans the spec again (it may have been edited); the warnings.
    fn check(&mut self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let (plan, warnings) = planned(py, &self.spec, &self.sets, &self.binds)?;
        self.plan = plan;
        Ok(warnings)
    }

    /// Every instance's display name, in plan order (`tms_run[seed=0]`, `llc[seed=0]@100`).
    fn instances(&self) -> Vec<String> {
        self.plan.instances().map(devspec::plan::Instance::display_name).collect()
    }

    /// The spec's steps in plan order: `(name, kind)`.
    fn steps(&self) -> Vec<(String, &'static str)> {
        let mut steps: Vec<(String, &'static str)> = Vec::new();
        for instance in self.plan.instances() {
            if !steps.iter().any(|(name, _)| *name == instance.step_name) {
                steps.push((instance.step_name.clone(), instance.kind.name()));
            }
        }
        steps
    }

    /// Every instance, in plan order: `instance`, `step`, `kind`, `coords` (axis -> value),
    /// `checkpoint`, `status` (`cached`, `will run`, `waits for inputs`, `damaged`), as
    /// `devspec status` says them.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let session = self.session(py)?;
        let statuses = survey(&self.plan, &session.store, &session.options);
        let mut rows = Vec::new();
        for &node in &self.plan.order {
            let instance = &self.plan.graph[node];
            let status = match &statuses[node.index()] {
                // What a lookup sees damaged will run again: said so, as `devspec status` does.
                InstanceStatus::WillRun(key) => match session.store.lookup(&key.digest()) {
                    Lookup::Damaged(_) => "damaged",
                    Lookup::Hit(_) | Lookup::Miss => "will run",
                },
                other => other.label(),
            };
            let coords: serde_json::Map<String, serde_json::Value> =
                instance.coords.iter().map(|c| (c.axis.clone(), coordinate(&c.value))).collect();
            let row = serde_json::json!({
                "instance": instance.display_name(),
                "step": instance.step_name,
                "kind": instance.kind.name(),
                "coords": coords,
                "checkpoint": instance.checkpoint,
                "status": status,
            });
            rows.push(to_python(py, &row)?);
        }
        Ok(rows)
    }

    /// The sweep axes of `step`'s instances, inherited ones first.
    fn axes(&self, py: Python<'_>, step: &str) -> PyResult<Vec<String>> {
        self.has_step(py, step)?;
        let mut axes: Vec<String> = Vec::new();
        for instance in self.plan.instances().filter(|i| i.step_name == step) {
            for coordinate in &instance.coords {
                if !axes.contains(&coordinate.axis) {
                    axes.push(coordinate.axis.clone());
                }
            }
        }
        Ok(axes)
    }

    /// `step`'s results as an Arrow IPC stream (`long`: a row per instance and training step;
    /// docs/results.md lists the columns), and the damaged entries found (set aside) on the way.
    fn table<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        long: bool,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<String>)> {
        self.has_step(py, step)?;
        let session = self.session(py)?;
        let results = ops::step_results(&self.plan, &session, step)
            .map_err(|failure| errors::failure(py, &failure))?;
        let shape = if long { tables::Shape::Long } else { tables::Shape::Wide };
        let bytes = tables::ipc_stream(&tables::step_table(&results, shape));
        Ok((PyBytes::new(py, &bytes), damaged_notes(&results.damaged)))
    }

    /// The planned sweep points of `step`'s instances, each as (axis, value text as names
    /// write it): what a selection's Python values are matched against.
    fn points(&self, py: Python<'_>, step: &str) -> PyResult<Vec<Vec<(String, String)>>> {
        self.has_step(py, step)?;
        Ok(self
            .plan
            .instances()
            .filter(|i| i.step_name == step)
            .map(|i| i.coords.iter().map(|c| (c.axis.clone(), c.value.to_string())).collect())
            .collect())
    }

    /// The stored checkpoints of a train or checkpoint step (`ops::checkout`: served, each blob
    /// checked against its digest), a dict each (`instance`, `coords`, `step`, `key`, `digest`,
    /// `path`); the instances with none stored yet; the damaged entries found (set aside).
    fn checkpoints<'py>(&self, py: Python<'py>, step: &str) -> PyResult<StoredCheckpoints<'py>> {
        let session = self.session(py)?;
        let found = checkout::stored_checkpoints(&self.plan, &session, step, &Selection::all())
            .map_err(|error| errors::failure(py, &error.into()))?;
        let rows = found
            .checkpoints
            .iter()
            .map(|c| {
                let coords: serde_json::Map<String, serde_json::Value> =
                    c.coords.iter().map(|(a, v)| (a.clone(), coordinate_text(v))).collect();
                to_python(
                    py,
                    &serde_json::json!({
                        "instance": c.instance,
                        "coords": coords,
                        "step": c.training_step,
                        "key": c.key,
                        "digest": c.digest,
                        "path": c.store_path.display().to_string(),
                    }),
                )
            })
            .collect::<PyResult<_>>()?;
        Ok((rows, found.missing, damaged_notes(&found.damaged)))
    }

    /// The tensors of the one checkpoint of `step` at `point` (axis, value text) and
    /// `training_step` (`None`: the instance's last), read and checked against its digest:
    /// `(name, numpy type, shape, bytes)` each; and the damaged entries found (set aside).
    /// Errors name what would choose between several instances, or what there is.
    #[pyo3(signature = (step, point, training_step = None))]
    fn checkpoint<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        point: Vec<(String, String)>,
        training_step: Option<u64>,
    ) -> PyResult<(Vec<TensorTuple<'py>>, Vec<String>)> {
        let session = self.session(py)?;
        let selection = Selection { point, training_step };
        let found = checkout::stored_checkpoints(&self.plan, &session, step, &selection)
            .map_err(|error| errors::failure(py, &error.into()))?;
        let notes = damaged_notes(&found.damaged);
        let mut instances: Vec<&str> =
            found.checkpoints.iter().map(|c| c.instance.as_str()).collect();
        instances.extend(found.missing.iter().map(String::as_str));
        instances.dedup();
        if instances.len() > 1 {
            let axes: Vec<String> = found.checkpoints.first().map_or_else(Vec::new, |c| {
                c.coords.iter().map(|(axis, value)| format!("{axis}={value}")).collect()
            });
            return Err(errors::raise(
                py,
                "Error",
                (
                    format!(
                        "{} instances of `{step}` match: {}",
                        instances.len(),
                        instances.join(", ")
                    ),
                    Some(format!(
                        "choose one by its axes, e.g. checkpoint({step:?}, {})",
                        axes.join(", ")
                    )),
                ),
            ));
        }
        let Some(chosen) = found.checkpoints.iter().max_by_key(|c| c.training_step) else {
            let (class, message, hint) = match found.missing.first() {
                Some(instance) => (
                    "MissingResult",
                    format!("{instance} has no stored checkpoints yet"),
                    "run the study first: Study.run()",
                ),
                None => (
                    "Error",
                    format!("the checkpoint of `{step}` asked for is damaged: set aside"),
                    "Study.run() computes it again",
                ),
            };
            return Err(errors::raise(py, class, (message, Some(hint.to_owned()))));
        };
        let bytes = session.store.read_blob(&chosen.digest).map_err(|error| {
            errors::raise(
                py,
                "Error",
                (
                    format!("{} of {}: {error}", chosen.output_name(), chosen.instance),
                    Some("set aside; Study.run() computes it again".to_owned()),
                ),
            )
        })?;
        let tensors = crate::checkpoint_tensors::parse(&bytes).map_err(|error| {
            let what =
                format!("{} of {} cannot be read: {error}", chosen.output_name(), chosen.instance);
            errors::raise(py, "Error", (what, None::<String>))
        })?;
        let tensors = tensors
            .into_iter()
            .map(|t| (t.name, t.dtype, t.shape, PyByteArray::new(py, &t.bytes)))
            .collect();
        Ok((tensors, notes))
    }

    /// Draws the spec's reports (computing the report steps when their inputs have results) into
    /// `out` (default `reports/<spec>/` in the project): the HTML pages, and the notes said.
    #[pyo3(signature = (out = None))]
    fn report(&self, py: Python<'_>, out: Option<PathBuf>) -> PyResult<(Vec<String>, Vec<String>)> {
        let session = self.session(py)?;
        let out =
            out.unwrap_or_else(|| ops::report::default_folder(&session.config.root, &self.spec));
        let mut notes = Notes::default();
        let outcome = ops::report::report(&self.plan, &session, &self.spec, &out, &mut notes)
            .map_err(|failure| errors::failure(py, &failure))?;
        if let Some(failed) = outcome.failed.first() {
            return Err(errors::raise(
                py,
                "Error",
                (format!("report {} failed: {}", failed.instance, failed.error), None::<String>),
            ));
        }
        let mut pages = Vec::new();
        for drawn in outcome.drawn {
            match drawn {
                ops::report::Drawn::Page(path) => pages.push(path.display().to_string()),
                ops::report::Drawn::Failed { report, error } => {
                    return Err(errors::raise(
                        py,
                        "Error",
                        (format!("report {report} could not be drawn: {error}"), None::<String>),
                    ));
                }
            }
        }
        Ok((pages, notes.0))
    }

    /// The spec's path as given.
    #[getter]
    fn spec(&self) -> PathBuf {
        self.spec.clone()
    }

    fn __repr__(&self) -> String {
        format!("Study({:?}, {} instances)", self.spec.display().to_string(), self.plan.order.len())
    }
}
