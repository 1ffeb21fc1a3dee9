//! Catches, before anything runs, an estimate that needs data where there is none: `llc`,
//! `loss` and `hessian_trace` take their loss on the data of the step they are on unless given
//! their own, and a `checkpoint` step need not have any.

use devspec_protocol::StepKind;

use crate::diagnostic::Diagnostic;

use super::program::Program;
use super::value::ValueKind;

/// The observables whose loss needs data.
const NEED_DATA: &[&str] = &["llc", "loss", "gradient_norm", "hessian_trace"];

pub fn check(program: &Program) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for step in program.steps.iter().filter(|s| s.kind == StepKind::Estimate) {
        let Some(observable) = step.fields.get("observable") else { continue };
        let ValueKind::Ctor { name, args, .. } = &observable.kind else { continue };
        if !NEED_DATA.contains(name) || args.contains_key("data") {
            continue;
        }
        for &input in &step.inputs {
            let source = &program.steps[input];
            if source.fields.contains_key("data") {
                continue;
            }
            errors.push(
                Diagnostic::error(
                    observable.origin.file,
                    observable.origin.span,
                    format!("`{name}` needs data for its loss, and `{}` has none", source.name),
                )
                .also_at(source.origin.file, source.origin.span, "the step it is on")
                .with_hint(format!(
                    "give `{}` a `data = ...`, or `{name}` its own (`{name}(..., data = ...)`)",
                    source.name
                )),
            );
        }
    }
    errors
}
