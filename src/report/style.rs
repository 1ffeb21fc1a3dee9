//! The report's colours and number formats, in one place so every figure agrees: one colour per
//! sweep point (Okabe and Ito's palette, distinguishable with colour-blindness), one per
//! boundary kind.

use plotters::style::RGBColor;

const POINTS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 94, 40),
];

/// The colour of the `index`-th sweep point (or chain).
pub fn point_colour(index: usize) -> RGBColor {
    POINTS[index % POINTS.len()]
}

/// Across sweep points: the mean's line.
pub const MEAN: RGBColor = RGBColor(30, 30, 30);
/// An essential-dynamics milestone's circle.
pub const MILESTONE: RGBColor = RGBColor(204, 121, 167);
/// Diagnostics: a flagged trace plot's title and frame, a diverged chain.
pub const FLAGGED: RGBColor = RGBColor(200, 30, 30);

/// The colour of a stage of this kind, named by what it means for its series: an LLC that
/// rises (development) is orange and one that falls (refinement) blue, a loss that falls green
/// and one that rises vermilion, any other series rising purple and falling sky blue; flat
/// stretches of every series grey; a stretch between two transitions nearly white. A kind no
/// detection produces is dark grey.
pub fn stage_colour(kind: &str) -> RGBColor {
    match kind {
        "development" => RGBColor(230, 159, 0),
        "refinement" => RGBColor(0, 114, 178),
        "loss_falling" => RGBColor(0, 158, 115),
        "loss_rising" => RGBColor(213, 94, 0),
        "rising" => RGBColor(204, 121, 167),
        "falling" => RGBColor(86, 180, 233),
        "plateau" | "flat" => RGBColor(170, 170, 170),
        // Between two transitions: no direction, so nearly white; the boundaries say what
        // changed.
        "between" => RGBColor(236, 233, 226),
        _ => RGBColor(90, 90, 90),
    }
}

/// A stage's kind in words, with the series it is about: `development (LLC rises)`,
/// `test_accuracy falls`.
pub fn stage_name(kind: &str, series: &str) -> String {
    // Essential dynamics searches the outputs themselves: its stages are what lies between
    // milestones, with no direction.
    if series == "outputs" {
        return "between milestones (outputs)".into();
    }
    match kind {
        "development" => "development (LLC rises)".into(),
        "refinement" => "refinement (LLC falls)".into(),
        "loss_falling" | "falling" => format!("{series} falls"),
        "loss_rising" | "rising" => format!("{series} rises"),
        "plateau" | "flat" if series.starts_with("llc") => "plateau (LLC flat)".into(),
        "plateau" | "flat" => format!("{series} flat"),
        "between" => format!("between transitions ({series})"),
        other => format!("{series} {other}"),
    }
}

/// A boundary (the checkpoint interval a change lies in): dark grey, whatever its kind, so it
/// reads as a place and not as a stage.
pub const BOUNDARY: RGBColor = RGBColor(60, 60, 60);

/// Halfway to white: a test loss beside its training loss.
pub fn lighter(colour: RGBColor) -> RGBColor {
    let half = |c: u8| u8::try_from(u16::midpoint(u16::from(c), 255)).unwrap_or(u8::MAX);
    RGBColor(half(colour.0), half(colour.1), half(colour.2))
}

/// Two thirds of the way to black: a group's mean beside its members.
pub fn darker(colour: RGBColor) -> RGBColor {
    let third = |c: u8| c / 3;
    RGBColor(third(colour.0), third(colour.1), third(colour.2))
}

/// `#rrggbb`, as the SVG writes it.
pub fn hex(colour: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
}

/// A training step on an axis: `300`, `2k`, `15k`.
pub fn step_label(step: f64) -> String {
    let thousands = step / 1000.0;
    if step >= 10_000.0 || (step >= 1000.0 && thousands.fract().abs() < 1e-9) {
        format!("{thousands:.0}k")
    } else {
        format!("{step:.0}")
    }
}

/// A value on an axis or in a table, to about three significant digits.
pub fn number_label(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&magnitude) {
        format!("{value:.1e}")
    } else {
        // Three significant digits: as many decimals as the magnitude leaves.
        let decimals = [100.0, 10.0, 1.0, 0.1, 0.01].iter().take_while(|&&m| magnitude < m).count();
        format!("{value:.decimals$}")
    }
}

/// A tick label: [`number_label`] without trailing zeros (`0.008`, not `0.00800`).
pub fn tick_label(value: f64) -> String {
    let text = number_label(value);
    if text.contains('.') && !text.contains('e') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}
