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
        // Only an estimate that diagnoses itself records `diagnostics` (empty when clean).
        let records = plan.order.iter().filter_map(|&node| {
            let instance = &plan.graph[node];
            if instance.kind != StepKind::Estimate {
                return None;
            }
            let names = results.get(node)?.metrics.get("diagnostics")?.as_str()?;
            Some((instance.step_name.as_str(), names))
        });
        FlaggedEstimates::from_records(records)
    }

    /// From each diagnosing estimate's step and its `diagnostics` metric (names, space
    /// separated), in plan order.
    fn from_records<'a>(records: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut found = FlaggedEstimates::default();
        let mut by_first: BTreeMap<DiagnosticName, usize> = BTreeMap::new();
        for (step, names) in records {
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
            if !found.steps.iter().any(|s| s == step) {
                found.steps.push(step.to_owned());
            }
        }
        found.by_first = DiagnosticName::PRIORITY
            .into_iter()
            .filter_map(|name| by_first.get(&name).map(|&n| (name, n)))
            .collect();
        found
    }

    /// The warning, or `None` when no estimate is flagged: `warning: 12 of 24 estimates have
    /// diagnostics (poor_mixing 10, negative 2): devspec show FILE llc` (a `devspec show` per
    /// step with flagged instances, `; `-separated), then a line per diagnostic with its fix.
    pub fn warning(&self, spec: &Path) -> Option<String> {
        if self.flagged == 0 {
            return None;
        }
        let counts: Vec<String> =
            self.by_first.iter().map(|(name, n)| format!("{} {n}", name.name())).collect();
        let show: Vec<String> = self
            .steps
            .iter()
            .map(|step| format!("devspec show {} {step}", spec.display()))
            .collect();
        let show = show.join("; ");
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::FlaggedEstimates;

    #[test]
    fn each_flagged_estimate_is_counted_once_by_the_fix_to_try_first() {
        let records = [
            ("llc", "not_stationary negative"),
            ("llc", "poor_mixing"),
            ("llc", ""),
            ("llc", "poor_mixing not_stationary"),
            ("late", "poor_mixing"),
            ("late", ""),
        ];
        let flagged = FlaggedEstimates::from_records(records);
        assert_eq!((flagged.flagged, flagged.estimates), (4, 6));
        let warning = flagged.warning(Path::new("s.dev")).unwrap();
        // `negative` before `not_stationary`: the first instance is told to lower the lr only.
        assert_eq!(
            warning,
            "warning: 4 of 6 estimates have diagnostics (negative 1, not_stationary 1, \
             poor_mixing 2): devspec show s.dev llc; devspec show s.dev late\n  \
             negative (1): estimate at a trained checkpoint, or lower the sampler's lr\n  \
             not_stationary (1): raise burnin and draws, or raise the sampler's lr\n  \
             poor_mixing (2): raise draws, or raise the sampler's lr\n"
        );
        assert_eq!(FlaggedEstimates::from_records([("llc", "")]).warning(Path::new("s")), None);
    }
}
