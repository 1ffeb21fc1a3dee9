//! Reports: the figures and the self-contained HTML page drawn from a report step's
//! [`ReportData`](data::ReportData), with `manifest.json` describing every figure. Drawing is
//! pure: the same data and spec give the same files, so `devspec run` skips writing a report
//! whose manifest has not changed and `devspec report` redraws from the store alone.
//!
//! - `data`: what the report step gathers (cached in the store);
//! - `canvas`: one [`Plot`](canvas::Plot) drawn as SVG and PNG, with the built-in font;
//! - `time_panel`, `trace_plot`, `calibration_map`, `dynamics_plot`, `theory_plot`: the kinds
//!   of figure;
//! - `tooltip`: what hovering an estimate says;
//! - `gallery`: which figures a report has; `html`: the page; `files`: writing them out.

mod calibration_map;
// Public for the benches' figures (`benches/llc_scaling.rs`), drawn with the report's font, text
// sizes and colours.
pub mod canvas;
pub mod data;
mod draw_error;
mod dynamics_plot;
pub mod figure;
mod files;
mod gallery;
mod html;
pub mod style;
#[cfg(test)]
mod tests;
mod theory_plot;
mod time_panel;
mod tooltip;
mod trace_plot;
#[cfg(test)]
mod truth_tests;

pub use draw_error::DrawError;
pub use files::{Context, ResolvedStep, Written, write_report};
