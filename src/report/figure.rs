//! What `manifest.json` says about each figure: its files, and for each panel the series it
//! drew (with their points) and the boundary bands it shaded, in data and in pixels, so a
//! program (or the report test, in a browser) can check a figure against its data.

use serde::{Deserialize, Serialize};

/// One figure of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// Unique within the report; also the HTML element's id and the files' stem.
    pub id: String,
    /// `llc`, `loss`, `development`, `trace`, `calibration`, `dynamics`, `theory`.
    pub kind: String,
    pub title: String,
    pub svg: String,
    pub png: String,
    pub width: u32,
    pub height: u32,
    /// The sweep point it is about, for per-point figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// The checkpoint it is about, for trace plots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<i64>,
    /// Diagnostics shown on it (trace plots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    #[serde(flatten)]
    pub drawn: Drawn,
}

/// Where a figure's parts landed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Drawn {
    pub panels: Vec<Panel>,
}

/// One set of axes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Panel {
    pub name: String,
    /// The plotting area in pixels: left, top, right, bottom.
    pub area: [i32; 4],
    pub x_label: String,
    /// `log`, `linear`, or `categorical` (a calibration map's grid).
    pub x_scale: String,
    pub x_range: [f64; 2],
    pub y_label: String,
    pub y_scale: String,
    pub y_range: [f64; 2],
    pub series: Vec<SeriesDrawn>,
    pub bands: Vec<BandDrawn>,
}

/// A line: its label, colour and points (`null` where the value is missing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesDrawn {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// `#rrggbb`, as in the SVG's `stroke`.
    pub colour: String,
    /// The points drawn (empty for trace plots, whose draws stay in the store).
    pub points: Vec<(f64, Option<f64>)>,
    /// How many values the line has.
    pub count: usize,
}

/// A shaded boundary: the checkpoint interval it lies in, and its horizontal extent in pixels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BandDrawn {
    pub point: String,
    pub detect: String,
    pub kind: String,
    pub interval: [i64; 2],
    pub pixels: [i32; 2],
}
