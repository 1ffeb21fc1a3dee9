//! What hovering an estimate says, the same on every figure: the instance, where it was
//! measured, the LLC ± its standard error, and its diagnostics with the action to try first
//! (`DiagnosticName::recommended` and its `fix`).

use std::fmt::Write;

use devspec_protocol::results::DiagnosticName;

use super::style::number_label;

/// `at`: where it was measured (`step 1200`, `truth`).
pub fn estimate(
    instance: &str,
    at: &str,
    mean: Option<f64>,
    se: Option<f64>,
    diagnostics: &[String],
) -> String {
    let value = mean.map_or_else(|| "none".to_owned(), number_label);
    let se = se.map_or_else(String::new, |se| format!(" ± {} (standard error)", number_label(se)));
    let mut tip = format!("{instance}\n{at}: LLC {value}{se}");
    if diagnostics.is_empty() {
        tip.push_str("\nno diagnostics");
    } else {
        let _ = write!(tip, "\ndiagnostics: {}", diagnostics.join(", "));
        let names = diagnostics.iter().filter_map(|d| DiagnosticName::from_name(d));
        if let Some(first) = DiagnosticName::recommended(names) {
            let _ = write!(tip, "\nrecommended ({}): {}", first.name(), first.fix());
        }
    }
    tip
}
