//! Drawing one figure twice, as SVG text and as PNG bytes, from the same code: a [`Plot`] draws
//! on any plotters backend. The font is built into the binary (`DejaVu Sans`, measured by
//! `ab_glyph`), so a figure's layout does not depend on the fonts a machine happens to have.

use super::draw_error::DrawError;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::figure::{Drawn, Tip};
use super::style::tick_label;
use std::fmt::Write;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family every figure's text uses.
pub const FAMILY: &str = "sans-serif";

/// Text sizes as plotters takes them. Its SVG writes `font-size` as the size over 1.24 (points
/// from pixels), so 15 is 12.1 CSS px on the page: the smallest text, readable at 100% zoom
/// (ticks, legends, labels, cells). The PNG draws the sizes as pixels.
pub const TEXT: f64 = 15.0;
/// Axis descriptions.
pub const AXIS_TEXT: f64 = 16.0;
/// Figure titles.
pub const TITLE_TEXT: f64 = 19.0;

/// Something that draws itself on a drawing area and says where it put what.
pub trait Plot {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Drawn, DrawError>;
}

/// A figure drawn: its SVG, its PNG, and where its parts landed (in pixels, the same in both).
pub struct Rendered {
    pub svg: String,
    pub png: Vec<u8>,
    pub drawn: Drawn,
}

pub fn render(plot: &impl Plot, size: (u32, u32)) -> Result<Rendered, DrawError> {
    register_font();
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = plot.draw(&root)?;
        root.present().map_err(fail)?;
        drawn
    };
    let mut pixels = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        plot.draw(&root)?;
        root.present().map_err(fail)?;
    }
    with_tips(&mut svg, &drawn.tips);
    Ok(Rendered { svg, png: encode_png(&pixels, size)?, drawn })
}

/// Adds a hover target over each tip's point: an invisible circle whose `<title>` the browser
/// shows as a tooltip (no script: the page stays static). Flagged ones say so in a class, so a
/// program can find them.
fn with_tips(svg: &mut String, tips: &[Tip]) {
    let Some(end) = svg.rfind("</svg>") else { return };
    let mut group = String::from("<g class=\"tips\">\n");
    for tip in tips {
        let class = if tip.flagged { "tip flagged" } else { "tip" };
        let _ = writeln!(
            group,
            "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"7\" fill=\"#000\" \
             fill-opacity=\"0\"><title>{}</title></circle>",
            tip.x,
            tip.y,
            escape(&tip.text)
        );
    }
    group.push_str("</g>\n");
    svg.insert_str(end, &group);
}

/// Text made safe inside SVG elements.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Any drawing error as text (plotters' errors are generic over the backend).
pub fn fail(error: impl std::fmt::Display) -> DrawError {
    DrawError::Figure(error.to_string())
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary: failing to read it is a build defect, not input.
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the built-in font")
            .expect("DejaVu Sans is a valid font");
    });
}

fn encode_png(rgb: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, DrawError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// The axes of a chart over two plain ranges: their descriptions, a light grid, ticks to three
/// significant digits.
pub fn draw_axes<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x_desc: &str,
    y_desc: &str,
) -> Result<(), DrawError> {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FAMILY, TEXT))
        .axis_desc_style((FAMILY, AXIS_TEXT))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()
        .map_err(fail)
}
