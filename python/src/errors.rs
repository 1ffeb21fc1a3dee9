//! Failures as the Python exceptions of `devspec.errors` (defined in Python, with their
//! docstrings and attributes; raised from here by name), so nothing reaches Python as a panic
//! or an untyped error.

use devspec::diagnostic::{Diagnostic, Severity, render};
use devspec::failure::Failure;
use devspec::source::SourceMap;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// An exception of `devspec.errors` by class name, built with `args`.
pub fn raise<'py>(py: Python<'py>, class: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    let built = py
        .import("devspec.errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1(args));
    match built {
        Ok(error) => PyErr::from_value(error),
        Err(error) => error,
    }
}

/// A [`Failure`] as `devspec.Error(message, hint)`.
pub fn failure(py: Python<'_>, failure: &Failure) -> PyErr {
    raise(py, "Error", (failure.message.clone(), failure.hint.clone()))
}

/// A diagnostic as `devspec.Diagnostic`: the fields of `devspec check --format json`, and the
/// text `devspec check` prints, both from the one renderer.
pub fn diagnostic<'py>(
    py: Python<'py>,
    sources: &SourceMap,
    diagnostic: &Diagnostic,
) -> PyResult<Bound<'py, PyAny>> {
    let fields: serde_json::Value =
        serde_json::from_str(&render::to_json_line(sources, diagnostic)).map_err(|e| {
            raise(
                py,
                "Error",
                (format!("internal: a diagnostic did not render: {e}"), None::<String>),
            )
        })?;
    let kwargs = PyDict::new(py);
    for name in ["file", "line", "column", "end_line", "end_column", "severity", "message", "hint"]
    {
        kwargs.set_item(name, crate::python_value::to_python(py, &fields[name])?)?;
    }
    kwargs.set_item("text", render::to_text(sources, diagnostic))?;
    py.import("devspec.errors")?.getattr("Diagnostic")?.call((), Some(&kwargs))
}

/// Diagnostics with an error among them as `devspec.SpecError`.
pub fn spec_error(py: Python<'_>, sources: &SourceMap, diagnostics: &[Diagnostic]) -> PyErr {
    let converted: PyResult<Vec<Bound<'_, PyAny>>> =
        diagnostics.iter().map(|d| diagnostic(py, sources, d)).collect();
    match converted {
        Ok(list) => raise(py, "SpecError", (list,)),
        Err(error) => error,
    }
}

/// Whether any of `diagnostics` is an error (the rest are warnings).
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| matches!(d.severity, Severity::Error))
}
