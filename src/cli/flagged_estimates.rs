//! The estimates a run ended with that have diagnostics, said at the end of `devspec run` so
//! a study whose estimates are all flagged cannot pass for a clean one: how many of how many,
//! counted by the one diagnostic whose fix to try first (`DiagnosticName::recommended`), that
//! fix once per diagnostic, and the `devspec show` that lists them. `--strict` makes any of
//! them exit 1.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use devspec_protocol::StepKind;
use devspec_protocol::results::DiagnosticName;

use crate::exec::Results;
use crate::plan::Plan;

/// What the estimates of a run say about themselves.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FlaggedEstimates {
    /// Estimates with a record that diagnose themselves (the LLC's).
    pub estimates: usize,
    /// Those with at least one diagnostic.
    pub flagged: usize,
    /// The flagged ones by the diagnostic whose fix to try first, in that priority's order.
    by_first: Vec<(DiagnosticName, usize)>,
    /// The estimate steps with a flagged instance, in plan order.
    steps: Vec<String>,
}

impl FlaggedEstimates {
    /// The diagnosing estimates among `results` (what the run ended with).
    pub fn of(plan: &Plan, results: &Results) -> FlaggedEstimates {
        let mut found = FlaggedEstimates::default();
        let mut by_first: BTreeMap<DiagnosticName, usize> = BTreeMap::new();
        for &node in &plan.order {
            let instance = &plan.graph[node];
            if instance.kind != StepKind::Estimate {
                continue;
            }
            // Only an estimate that diagnoses itself records `diagnostics` (empty when clean).
            let Some(names) = results
                .get(node)
                .and_then(|manifest| manifest.metrics.get("diagnostics"))
                .and_then(serde_json::Value::as_str)
            else {
                continue;
            };
            found.estimates += 1;
            let names: Vec<DiagnosticName> =
                names.split_whitespace().filter_map(DiagnosticName::from_name).collect();
            if names.is_empty() {
                continue;
            }
            found.flagged += 1;
            if let Some(first) = DiagnosticName::recommended(names) {
                *by_first.entry(first).or_default() += 1;
            }
            if !found.steps.contains(&instance.step_name) {
                found.steps.push(instance.step_name.clone());
            }
        }
        found.by_first = DiagnosticName::PRIORITY
            .into_iter()
            .filter_map(|name| by_first.get(&name).map(|&n| (name, n)))
            .collect();
        found
    }

    /// The warning, or `None` when no estimate is flagged: `warning: 12 of 24 estimates have
    /// diagnostics (poor_mixing 10, negative 2): devspec show FILE llc`, then a line per
    /// diagnostic with its fix.
    pub fn warning(&self, spec: &Path) -> Option<String> {
        if self.flagged == 0 {
            return None;
        }
        let counts: Vec<String> =
            self.by_first.iter().map(|(name, n)| format!("{} {n}", name.name())).collect();
        let show = match self.steps.as_slice() {
            [step] => format!("devspec show {} {step}", spec.display()),
            steps => {
                format!("devspec show {} STEP for STEP in {}", spec.display(), steps.join(", "))
            }
        };
        let mut out = format!(
            "warning: {} of {} estimate{} {} diagnostics ({}): {show}\n",
            self.flagged,
            self.estimates,
            if self.estimates == 1 { "" } else { "s" },
            if self.flagged == 1 { "has" } else { "have" },
            counts.join(", "),
        );
        for (name, n) in &self.by_first {
            let _ = writeln!(out, "  {} ({n}): {}", name.name(), name.fix());
        }
        Some(out)
    }
}
