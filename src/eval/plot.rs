//! Line plots as SVG and PNG, drawn with `plotters`: Pass@k against k on a log2 axis (the paper's
//! Figure 1 layout, one curve per model) and training curves on linear axes.
//!
//! Both files come from the same drawing code, so they show the same picture. Points with a
//! non-finite coordinate, or x ≤ 0 on a log2 axis, are skipped and break the line there.

mod axes;
mod font;

use crate::util::write_atomic;
use anyhow::{anyhow, bail, Context, Result};
use axes::{Axis, Corner};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One named curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What the plot says and how its axes map data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotSpec {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// x on a log2 scale with ticks at powers of two (Pass@k against k).
    pub log2_x: bool,
    /// Fixed y range; `None` fits the data and rounds out to tick steps.
    pub y_range: Option<(f64, f64)>,
}

impl PlotSpec {
    /// The paper's Figure 1 layout: Pass@k against k on a log2 axis, y fitted to the data.
    pub fn passk(title: &str) -> Self {
        PlotSpec {
            title: title.to_string(),
            x_label: "k".into(),
            y_label: "Pass@k".into(),
            log2_x: true,
            y_range: None,
        }
    }
}

/// Smallest and largest plot sides in pixels: below, axes and labels leave no room for the data;
/// above, the PNG's pixel buffer alone would take hundreds of megabytes.
pub const MIN_SIZE: (usize, usize) = (160, 100);
pub const MAX_SIDE: usize = 8192;

/// Write `<stem>.svg` and `<stem>.png`, both `width`×`height` pixels, each atomically.
pub fn write_plot(
    stem: &Path,
    spec: &PlotSpec,
    series: &[Series],
    width: usize,
    height: usize,
) -> Result<()> {
    let with_ext = |ext: &str| {
        let mut name = stem.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (svg_path, png_path) = (with_ext(".svg"), with_ext(".png"));
    let svg = render_svg(spec, series, width, height)
        .with_context(|| format!("drawing {}", svg_path.display()))?;
    let png = render_png(spec, series, width, height)
        .with_context(|| format!("drawing {}", png_path.display()))?;
    write_atomic(&svg_path, svg.as_bytes())?;
    write_atomic(&png_path, &png)
}

/// Matplotlib's "tab10" cycle: distinct hues that survive greyscale printing reasonably.
pub const PALETTE: [[u8; 3]; 10] = [
    [0x1f, 0x77, 0xb4],
    [0xff, 0x7f, 0x0e],
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
    [0xbc, 0xbd, 0x22],
    [0x17, 0xbe, 0xcf],
];

/// Colour of the `i`-th series.
pub fn series_color(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

/// Colour of the grid lines at the ticks.
pub const GRID: [u8; 3] = [0xe4, 0xe4, 0xe4];

/// Series with at most this many points get a marker on each point.
const MARKER_MAX_POINTS: usize = 40;

/// The plot as a standalone SVG document of `width`×`height` user units.
pub fn render_svg(
    spec: &PlotSpec,
    series: &[Series],
    width: usize,
    height: usize,
) -> Result<String> {
    let plot = Prepared::new(spec, series, width, height)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, plot.size).into_drawing_area();
        plot.draw(&root, Text::Svg).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(svg)
}

/// The plot as an RGB PNG file of `width`×`height` pixels.
pub fn render_png(
    spec: &PlotSpec,
    series: &[Series],
    width: usize,
    height: usize,
) -> Result<Vec<u8>> {
    let plot = Prepared::new(spec, series, width, height)?;
    let (w, h) = plot.size;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, plot.size).into_drawing_area();
        plot.draw(&root, Text::Raster).map_err(|e| anyhow!("{e}"))?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Pixel sizes that scale with the image: text, strokes, markers and the label areas.
struct Sizes {
    text: f64,
    title: f64,
    line: u32,
    marker: u32,
    margin: u32,
    x_area: u32,
    y_area: u32,
    /// Length of the line sample in front of each legend entry.
    legend_line: u32,
}

/// Who renders the text. SVG viewers centre a label on its anchor themselves; plotters' raster
/// text puts the baseline of a vertically centred label about a fifth of the font size too high
/// (its layout box is the font size / 1.24, its glyphs hang from half the font size), so PNG
/// tick labels on the y axis are moved down by that much to sit level with their grid lines.
#[derive(Debug, Clone, Copy)]
enum Text {
    Svg,
    Raster,
}

/// What one series puts on the plot, in axis units.
struct Drawn {
    lines: Vec<Vec<(f64, f64)>>,
    markers: Vec<(f64, f64)>,
}

/// Everything the drawing needs, computed before any backend is opened.
struct Prepared<'a> {
    spec: PlotSpec,
    series: &'a [Series],
    size: (u32, u32),
    sizes: Sizes,
    x: Axis,
    y: Axis,
    drawn: Vec<Drawn>,
    legend: Option<Corner>,
}

impl<'a> Prepared<'a> {
    fn new(spec: &PlotSpec, series: &'a [Series], width: usize, height: usize) -> Result<Self> {
        if width < MIN_SIZE.0 || height < MIN_SIZE.1 || width > MAX_SIDE || height > MAX_SIDE {
            bail!(
                "plot size {width}x{height} is out of range: at least {}x{}, at most {MAX_SIDE} \
                 on each side",
                MIN_SIZE.0,
                MIN_SIZE.1
            );
        }
        font::ensure_registered()?;
        let spec = PlotSpec {
            title: printable(&spec.title),
            x_label: printable(&spec.x_label),
            y_label: printable(&spec.y_label),
            ..spec.clone()
        };
        let (x, y) = (Axis::x(&spec, series), Axis::y(&spec, series));
        let text = (height as f64 / 26.0).clamp(9.0, 26.0);
        let widest_y_tick = widest(y.ticks.iter().map(|t| t.1.as_str()), text)?;
        let axis_label = |label: &str| if label.is_empty() { 0.0 } else { 1.3 * text };
        let sizes = Sizes {
            text,
            title: text * 1.25,
            line: if height >= 300 { 2 } else { 1 },
            marker: if height >= 300 { 4 } else { 2 },
            margin: text.round() as u32,
            x_area: (1.6 * text + axis_label(&spec.x_label)).round() as u32,
            y_area: (widest_y_tick + (0.8 * text + axis_label(&spec.y_label)).round() as u32)
                .min(width as u32 / 3),
            legend_line: (2.0 * text).round() as u32,
        };
        let drawn: Vec<_> = series
            .iter()
            .map(|s| {
                let markers = if s.points.len() <= MARKER_MAX_POINTS {
                    axes::markers(spec.log2_x, s, &x, &y)
                } else {
                    Vec::new()
                };
                Drawn {
                    lines: axes::polylines(spec.log2_x, s, &x, &y),
                    markers,
                }
            })
            .collect();
        let names: Vec<String> = series
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| printable(&s.name))
            .collect();
        let legend = if names.is_empty() {
            None
        } else {
            // The legend box as a fraction of the plot area, for choosing its corner.
            let box_w =
                (widest(names.iter().map(String::as_str), text)? + sizes.legend_line + 30) as f64;
            let box_h = names.len() as f64 * text * 1.3 + 20.0;
            let plot_w = width as f64 - (sizes.y_area + 3 * sizes.margin) as f64;
            let title_h = if spec.title.is_empty() {
                0.0
            } else {
                sizes.title + 10.0
            };
            let plot_h = height as f64 - sizes.x_area as f64 - 2.0 * sizes.margin as f64 - title_h;
            let lines: Vec<&[(f64, f64)]> = drawn
                .iter()
                .flat_map(|d| d.lines.iter().map(Vec::as_slice))
                .collect();
            Some(axes::legend_corner(
                &lines,
                &x,
                &y,
                (box_w / plot_w.max(1.0), box_h / plot_h.max(1.0)),
            ))
        };
        Ok(Prepared {
            spec,
            series,
            size: (width as u32, height as u32),
            sizes,
            x,
            y,
            drawn,
            legend,
        })
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text_kind: Text,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (s, spec) = (&self.sizes, &self.spec);
        root.fill(&WHITE)?;
        let text = (font::FAMILY, s.text).into_font();
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(s.margin)
            .margin_right(2 * s.margin)
            .x_label_area_size(s.x_area)
            .y_label_area_size(s.y_area);
        if !spec.title.is_empty() {
            builder.caption(&spec.title, (font::FAMILY, s.title));
        }
        let (x, y) = (&self.x, &self.y);
        let mut chart = builder.build_cartesian_2d(TickedAxis::new(x), TickedAxis::new(y))?;
        let x_label = |v: &f64| x.label(*v);
        let y_label = |v: &f64| y.label(*v);
        let mut mesh = chart.configure_mesh();
        mesh.bold_line_style(rgb(GRID))
            .axis_style(BLACK)
            .label_style(text.clone())
            .axis_desc_style(text.clone())
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .y_label_offset(match text_kind {
                Text::Svg => 0,
                Text::Raster => (0.22 * s.text).round() as i32,
            });
        if !spec.x_label.is_empty() {
            mesh.x_desc(spec.x_label.as_str());
        }
        if !spec.y_label.is_empty() {
            mesh.y_desc(spec.y_label.as_str());
        }
        mesh.draw()?;
        chart.plotting_area().draw(&Rectangle::new(
            [(x.range.0, y.range.0), (x.range.1, y.range.1)],
            BLACK,
        ))?;

        for (i, (ser, drawn)) in self.series.iter().zip(&self.drawn).enumerate() {
            let color = rgb(series_color(i));
            let stroke = color.stroke_width(s.line);
            if !ser.name.is_empty() {
                // An empty series that carries the legend entry, so curves split by gaps are
                // listed once (and curves with nothing to draw are still listed).
                let entry = chart.draw_series(LineSeries::new(Vec::<(f64, f64)>::new(), stroke))?;
                let sample = s.legend_line as i32;
                entry.label(printable(&ser.name)).legend(move |(px, py)| {
                    PathElement::new(vec![(px, py), (px + sample, py)], stroke)
                });
            }
            for line in &drawn.lines {
                chart.draw_series(LineSeries::new(line.iter().copied(), stroke))?;
            }
            chart.draw_series(
                drawn
                    .markers
                    .iter()
                    .map(|&p| Circle::new(p, s.marker, color.filled())),
            )?;
        }

        if let Some(corner) = self.legend {
            chart
                .configure_series_labels()
                .position(match corner {
                    Corner::LowerRight => SeriesLabelPosition::LowerRight,
                    Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                    Corner::UpperRight => SeriesLabelPosition::UpperRight,
                    Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
                })
                .legend_area_size(s.legend_line + 10)
                .background_style(WHITE.mix(0.9))
                .border_style(rgb([0x99, 0x99, 0x99]))
                .label_font(text)
                .draw()?;
        }
        root.present()
    }
}

/// A linear plotters axis with our ticks: grid lines and labels exactly at [`Axis::ticks`].
struct TickedAxis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    fn new(axis: &Axis) -> Self {
        TickedAxis {
            linear: (axis.range.0..axis.range.1).into(),
            ticks: axis.positions(),
        }
    }
}

impl Ranged for TickedAxis {
    // Labels come from the mesh's label formatters, which need this formatting option.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Only bold points: one grid line per tick and no finer lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
    }
}

/// Width in pixels of the widest of `texts` in the plot font at `size`.
fn widest<'t>(mut texts: impl Iterator<Item = &'t str>, size: f64) -> Result<u32> {
    let font = (font::FAMILY, size).into_font();
    texts.try_fold(0, |widest, t| {
        let (w, _) = font
            .box_size(t)
            .map_err(|e| anyhow!("measuring plot text {t:?}: {e:?}"))?;
        Ok(widest.max(w))
    })
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Control characters (not allowed in XML, invisible in a PNG) become spaces.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
