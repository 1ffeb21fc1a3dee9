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
    /// Hover targets with their text, added to the SVG (not the PNG) by `canvas::render`.
    #[serde(skip)]
    pub tips: Vec<Tip>,
}

/// A point a reader can hover to read what it is: the step, the value and its standard
/// error, the instance, the diagnostics and the action recommended for them.
#[derive(Debug, Clone)]
pub struct Tip {
    pub x: i32,
    pub y: i32,
    pub text: String,
    /// The estimate has diagnostics.
    pub flagged: bool,
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
    /// The boundaries drawn, each a thin band over its checkpoint interval (in a strip under
    /// the axes, or across the plotting area where that panel's stages are shaded).
    pub bands: Vec<BandDrawn>,
    /// The stages drawn, each from its first checkpoint to its last.
    #[serde(default)]
    pub stages: Vec<StageDrawn>,
}

/// A stage: which detection found it, its label on the figure (`S1`), its kind in words for
/// its series, its interval and where it was drawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageDrawn {
    pub point: String,
    pub detect: String,
    pub label: String,
    pub kind: String,
    /// `development (LLC rises)`, `test_accuracy falls`.
    pub meaning: String,
    /// `#rrggbb`, its fill.
    pub colour: String,
    pub interval: [i64; 2],
    pub pixels: [i32; 2],
    /// Drawn as a strip under the axes (true) or shaded across the plotting area.
    pub strip: bool,
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
    /// The steps whose estimate has diagnostics, drawn as hollow red markers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<f64>,
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
