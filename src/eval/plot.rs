//! Dependency-free line plots as SVG and PNG: Pass@k against k on a log2 axis (the paper's
//! Figure 1 layout, one curve per model) and training curves on linear axes.
//!
//! Both renderers share one [`Layout`] (ranges, ticks, plot rectangle, legend corner), so the
//! two files show the same picture. Points with a non-finite coordinate, or x ≤ 0 on a log2
//! axis, are skipped and break the line there.

mod canvas;
pub mod font;
pub mod png;

use crate::util::write_atomic;
use anyhow::Result;
use canvas::{Canvas, Clip, Rgb};
use std::fmt::Write as _;
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

/// Write `<stem>.svg` and `<stem>.png` (`width`×`height`), each atomically.
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
    write_atomic(&with_ext(".svg"), render_svg(spec, series).as_bytes())?;
    write_atomic(&with_ext(".png"), &render_png(spec, series, width, height))
}

/// Matplotlib's "tab10" cycle: distinct hues that survive greyscale printing reasonably.
pub const PALETTE: [Rgb; 10] = [
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
pub fn series_color(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [0xe4, 0xe4, 0xe4];
/// Series with at most this many points get a marker on each point.
const MARKER_MAX_POINTS: usize = 40;

/// Size of text in pixels for layout purposes.
#[derive(Debug, Clone, Copy)]
pub struct TextMetrics {
    pub char_w: f64,
    pub char_h: f64,
}

/// Where each legend sits inside the plot area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    BottomRight,
    TopLeft,
    TopRight,
    BottomLeft,
}

/// Everything both renderers need: pixel geometry, axis ranges (x in log2 units when `log2_x`),
/// ticks with their labels, and the legend box.
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub text: TextMetrics,
    /// Plot rectangle in pixels.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub log2_x: bool,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// (position in axis units, label).
    pub x_ticks: Vec<(f64, String)>,
    pub y_ticks: Vec<(f64, String)>,
    /// Legend box (x, y, w, h) in pixels; `None` without named series.
    pub legend: Option<(f64, f64, f64, f64)>,
    pub legend_row_h: f64,
}

impl Layout {
    /// Compute the layout of `series` on a `width`×`height` canvas.
    pub fn new(
        spec: &PlotSpec,
        series: &[Series],
        width: f64,
        height: f64,
        text: TextMetrics,
    ) -> Self {
        let xs: Vec<f64> = series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter_map(|&(x, _)| axis_x(spec.log2_x, x))
            .collect();
        let ys: Vec<f64> = series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| point_ok(spec.log2_x, **p))
            .map(|p| p.1)
            .collect();

        let (x_range, x_ticks) = if spec.log2_x {
            let r = widen(min_max(&xs).unwrap_or((0.0, 3.0)), 1.0);
            (r, log2_ticks(r))
        } else {
            let r = widen(min_max(&xs).unwrap_or((0.0, 1.0)), 1.0);
            (r, linear_ticks(r, 6, false).1)
        };
        let (y_range, y_ticks) = match spec.y_range {
            Some(r) if r.0.is_finite() && r.1.is_finite() && r.1 > r.0 => {
                (r, linear_ticks(r, 6, false).1)
            }
            _ => linear_ticks(widen(min_max(&ys).unwrap_or((0.0, 1.0)), 1.0), 6, true),
        };

        let (cw, ch) = (text.char_w, text.char_h);
        let pad = ch;
        let max_y_label = y_ticks
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(1) as f64;
        let left =
            pad + if spec.y_label.is_empty() {
                0.0
            } else {
                ch + pad
            } + max_y_label * cw
                + pad;
        let right = width - 2.0 * pad;
        let top = pad + if spec.title.is_empty() { 0.0 } else { ch + pad };
        let bottom = height
            - (pad
                + ch
                + pad
                + if spec.x_label.is_empty() {
                    0.0
                } else {
                    ch + pad * 0.7
                });

        let mut layout = Layout {
            width,
            height,
            text,
            left,
            right: right.max(left + 1.0),
            top,
            bottom: bottom.max(top + 1.0),
            log2_x: spec.log2_x,
            x_range,
            y_range,
            x_ticks,
            y_ticks,
            legend: None,
            legend_row_h: ch * 1.6,
        };
        layout.legend = layout.place_legend(series);
        layout
    }

    /// Pixel position of a data point, or `None` when it cannot be drawn.
    pub fn to_px(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if !point_ok(self.log2_x, (x, y)) {
            return None;
        }
        let ax = axis_x(self.log2_x, x)?;
        Some((self.axis_to_px_x(ax), self.axis_to_px_y(y)))
    }

    fn axis_to_px_x(&self, ax: f64) -> f64 {
        self.left
            + (ax - self.x_range.0) / (self.x_range.1 - self.x_range.0) * (self.right - self.left)
    }

    fn axis_to_px_y(&self, y: f64) -> f64 {
        self.bottom
            - (y - self.y_range.0) / (self.y_range.1 - self.y_range.0) * (self.bottom - self.top)
    }

    /// Pixel polylines of a series, split where a point cannot be drawn.
    pub fn polylines(&self, s: &Series) -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current = Vec::new();
        for &(x, y) in &s.points {
            match self.to_px(x, y) {
                Some(p) => current.push(p),
                None if !current.is_empty() => out.push(std::mem::take(&mut current)),
                None => {}
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// The legend goes in the corner its box hides the fewest curve samples in (Pass@k curves
    /// leave the bottom right empty; falling loss curves the top right).
    fn place_legend(&self, series: &[Series]) -> Option<(f64, f64, f64, f64)> {
        let named: Vec<&Series> = series.iter().filter(|s| !s.name.is_empty()).collect();
        if named.is_empty() {
            return None;
        }
        let (cw, ch) = (self.text.char_w, self.text.char_h);
        let longest = named
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0) as f64;
        let w = ch * 0.8 + 3.0 * ch + ch * 0.6 + longest * cw + ch * 0.8;
        let h = named.len() as f64 * self.legend_row_h + ch * 0.6;
        let m = ch * 0.8;
        let boxes = [
            (
                Corner::BottomRight,
                (self.right - m - w, self.bottom - m - h),
            ),
            (Corner::TopLeft, (self.left + m, self.top + m)),
            (Corner::TopRight, (self.right - m - w, self.top + m)),
            (Corner::BottomLeft, (self.left + m, self.bottom - m - h)),
        ];
        let samples: Vec<(f64, f64)> = series
            .iter()
            .flat_map(|s| self.polylines(s))
            .flat_map(|line| {
                let segs: Vec<(f64, f64)> = line
                    .windows(2)
                    .flat_map(|w| (0..16).map(move |i| lerp(w[0], w[1], i as f64 / 16.0)))
                    .chain(line.last().copied())
                    .collect();
                segs
            })
            .collect();
        let hidden = |x: f64, y: f64| {
            samples
                .iter()
                .filter(|p| p.0 >= x && p.0 <= x + w && p.1 >= y && p.1 <= y + h)
                .count()
        };
        let mut best = boxes[0].1;
        let mut best_hidden = usize::MAX;
        for (_, (x, y)) in boxes {
            let n = hidden(x, y);
            if n < best_hidden {
                (best, best_hidden) = ((x, y), n);
            }
        }
        Some((best.0, best.1, w, h))
    }
}

fn lerp(a: (f64, f64), b: (f64, f64), t: f64) -> (f64, f64) {
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

fn point_ok(log2_x: bool, (x, y): (f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && (!log2_x || x > 0.0)
}

fn axis_x(log2_x: bool, x: f64) -> Option<f64> {
    if !x.is_finite() || (log2_x && x <= 0.0) {
        None
    } else if log2_x {
        Some(x.log2())
    } else {
        Some(x)
    }
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo <= hi).then_some((lo, hi))
}

/// A degenerate range becomes `centre ± half`.
fn widen((lo, hi): (f64, f64), half: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        (lo - half, hi + half)
    }
}

/// Ticks at 1, 2 or 5 × 10^e aiming for about `target` intervals. With `extend`, the range grows
/// to the enclosing tick steps.
fn linear_ticks(
    (lo, hi): (f64, f64),
    target: usize,
    extend: bool,
) -> ((f64, f64), Vec<(f64, String)>) {
    let raw = (hi - lo) / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = mag
        * match raw / mag {
            r if r < 1.5 => 1.0,
            r if r < 3.0 => 2.0,
            r if r < 7.0 => 5.0,
            _ => 10.0,
        };
    let (lo, hi) = if extend {
        ((lo / step).floor() * step, (hi / step).ceil() * step)
    } else {
        (lo, hi)
    };
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // The step keeps the count near `target`; the cap only guards against float breakdown at
    // extreme magnitudes.
    let ticks = (first..=last)
        .take(64)
        .map(|i| {
            let v = i as f64 * step;
            let mut label = format!("{v:.decimals$}");
            if label.starts_with('-') && label[1..].chars().all(|c| c == '0' || c == '.') {
                label.remove(0);
            }
            (v, label)
        })
        .collect();
    ((lo, hi), ticks)
}

/// Ticks at the powers of two inside a log2 range, thinned to at most 12.
fn log2_ticks((lo, hi): (f64, f64)) -> Vec<(f64, String)> {
    let first = (lo - 1e-9).ceil() as i64;
    let last = (hi + 1e-9).floor() as i64;
    let count = (last - first + 1).max(0) as usize;
    let stride = count.div_ceil(12).max(1);
    (first..=last)
        .step_by(stride)
        .map(|e| {
            let v = 2f64.powi(e as i32);
            let label = if e >= 0 {
                format!("{}", v as u64)
            } else {
                format!("{v}")
            };
            (e as f64, label)
        })
        .collect()
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// SVG canvas size and font size.
pub const SVG_WIDTH: f64 = 800.0;
pub const SVG_HEIGHT: f64 = 500.0;
const SVG_FONT_PX: f64 = 13.0;

/// The layout [`render_svg`] uses.
pub fn svg_layout(spec: &PlotSpec, series: &[Series]) -> Layout {
    let text = TextMetrics {
        char_w: SVG_FONT_PX * 0.6,
        char_h: SVG_FONT_PX,
    };
    Layout::new(spec, series, SVG_WIDTH, SVG_HEIGHT, text)
}

/// The plot as a standalone SVG document (800×500 user units).
pub fn render_svg(spec: &PlotSpec, series: &[Series]) -> String {
    let l = svg_layout(spec, series);
    let ch = l.text.char_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{f}">"#,
        w = l.width,
        h = l.height,
        f = SVG_FONT_PX
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#,
        l.width, l.height
    );
    let (pw, ph) = (l.right - l.left, l.bottom - l.top);
    let _ = writeln!(
        s,
        r#"<defs><clipPath id="plot-area"><rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}"/></clipPath></defs>"#,
        l.left, l.top, pw, ph
    );
    for (v, label) in &l.x_ticks {
        let x = l.axis_to_px_x(*v);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.2}" y1="{:.2}" x2="{x:.2}" y2="{:.2}" stroke="{}"/>"#,
            l.top,
            l.bottom,
            hex(GRID)
        );
        let _ = writeln!(
            s,
            r#"<line x1="{x:.2}" y1="{:.2}" x2="{x:.2}" y2="{:.2}" stroke="black"/>"#,
            l.bottom,
            l.bottom + ch * 0.4
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
            l.bottom + ch * 1.6,
            xml_escape(label)
        );
    }
    for (v, label) in &l.y_ticks {
        let y = l.axis_to_px_y(*v);
        let _ = writeln!(
            s,
            r#"<line x1="{:.2}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="{}"/>"#,
            l.left,
            l.right,
            hex(GRID)
        );
        let _ = writeln!(
            s,
            r#"<line x1="{:.2}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="black"/>"#,
            l.left - ch * 0.4,
            l.left
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="end">{}</text>"#,
            l.left - ch * 0.6,
            y + ch * 0.35,
            xml_escape(label)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{:.2}" y="{:.2}" width="{pw:.2}" height="{ph:.2}" fill="none" stroke="black"/>"#,
        l.left, l.top
    );
    if !spec.title.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="middle" font-size="{}" font-weight="bold">{}</text>"#,
            (l.left + l.right) / 2.0,
            l.top - ch * 0.8,
            SVG_FONT_PX * 1.2,
            xml_escape(&spec.title)
        );
    }
    if !spec.x_label.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
            (l.left + l.right) / 2.0,
            l.height - ch * 0.7,
            xml_escape(&spec.x_label)
        );
    }
    if !spec.y_label.is_empty() {
        let (x, y) = (ch * 1.8, (l.top + l.bottom) / 2.0);
        let _ = writeln!(
            s,
            r#"<text x="{x:.2}" y="{y:.2}" text-anchor="middle" transform="rotate(-90 {x:.2} {y:.2})">{}</text>"#,
            xml_escape(&spec.y_label)
        );
    }
    for (i, ser) in series.iter().enumerate() {
        let color = hex(series_color(i));
        let markers = ser.points.len() <= MARKER_MAX_POINTS;
        let _ = writeln!(s, r#"<g clip-path="url(#plot-area)">"#);
        for line in l.polylines(ser) {
            let pts: Vec<String> = line.iter().map(|(x, y)| format!("{x:.2},{y:.2}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round" points="{}"/>"#,
                pts.join(" ")
            );
            if markers {
                for (x, y) in &line {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{x:.2}" cy="{y:.2}" r="3" fill="{color}"/>"#
                    );
                }
            }
        }
        let _ = writeln!(s, "</g>");
    }
    if let Some((x, y, w, h)) = l.legend {
        let _ = writeln!(
            s,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="white" fill-opacity="0.9" stroke="{}"/>"#,
            hex([0x99, 0x99, 0x99])
        );
        for (row, (i, ser)) in series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .enumerate()
        {
            let cy = y + ch * 0.3 + (row as f64 + 0.5) * l.legend_row_h;
            let x0 = x + ch * 0.8;
            let x1 = x0 + 3.0 * ch;
            let _ = writeln!(
                s,
                r#"<line x1="{x0:.2}" y1="{cy:.2}" x2="{x1:.2}" y2="{cy:.2}" stroke="{}" stroke-width="2"/>"#,
                hex(series_color(i))
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.2}" y="{:.2}">{}</text>"#,
                x1 + ch * 0.6,
                cy + ch * 0.35,
                xml_escape(&ser.name)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Text scale of the PNG bitmap font: 5×7 glyphs are doubled on plots 640 pixels wide or more.
fn png_text_scale(width: usize) -> usize {
    if width >= 640 {
        2
    } else {
        1
    }
}

/// The layout [`render_png`] uses for a `width`×`height` image.
pub fn png_layout(spec: &PlotSpec, series: &[Series], width: usize, height: usize) -> Layout {
    let s = png_text_scale(width) as f64;
    let text = TextMetrics {
        char_w: font::ADVANCE as f64 * s,
        char_h: font::GLYPH_H as f64 * s,
    };
    Layout::new(spec, series, width as f64, height as f64, text)
}

/// The plot as a PNG file of `width`×`height` pixels (each at least 1).
pub fn render_png(spec: &PlotSpec, series: &[Series], width: usize, height: usize) -> Vec<u8> {
    let canvas = rasterize(spec, series, width.max(1), height.max(1));
    png::encode_rgb(canvas.width as u32, canvas.height as u32, &canvas.pixels)
}

fn rasterize(spec: &PlotSpec, series: &[Series], width: usize, height: usize) -> Canvas {
    let l = png_layout(spec, series, width, height);
    let scale = png_text_scale(width);
    let ch = l.text.char_h;
    let mut c = Canvas::new(width, height, WHITE);
    let (left, right, top, bottom) = (
        l.left.round() as i64,
        l.right.round() as i64,
        l.top.round() as i64,
        l.bottom.round() as i64,
    );
    let tw = |t: &str| font::text_width(t, scale) as i64;
    let tick = (ch * 0.4).round() as i64;

    for (v, label) in &l.x_ticks {
        let x = l.axis_to_px_x(*v).round() as i64;
        c.fill_rect(x, top, x + 1, bottom, GRID);
        c.fill_rect(x, bottom, x + 1, bottom + tick, BLACK);
        c.text(
            x - tw(label) / 2,
            bottom + tick + (ch * 0.4) as i64,
            label,
            scale,
            BLACK,
        );
    }
    for (v, label) in &l.y_ticks {
        let y = l.axis_to_px_y(*v).round() as i64;
        c.fill_rect(left, y, right, y + 1, GRID);
        c.fill_rect(left - tick, y, left, y + 1, BLACK);
        c.text(
            left - tick - (ch * 0.3) as i64 - tw(label),
            y - ch as i64 / 2,
            label,
            scale,
            BLACK,
        );
    }
    // Frame.
    c.fill_rect(left, top, right + 1, top + 1, BLACK);
    c.fill_rect(left, bottom, right + 1, bottom + 1, BLACK);
    c.fill_rect(left, top, left + 1, bottom + 1, BLACK);
    c.fill_rect(right, top, right + 1, bottom + 1, BLACK);

    if !spec.title.is_empty() {
        let x = ((l.left + l.right) / 2.0) as i64 - tw(&spec.title) / 2;
        c.text(
            x,
            (l.top - 1.8 * ch).round() as i64,
            &spec.title,
            scale,
            BLACK,
        );
    }
    if !spec.x_label.is_empty() {
        let x = ((l.left + l.right) / 2.0) as i64 - tw(&spec.x_label) / 2;
        c.text(
            x,
            (l.height - 1.7 * ch).round() as i64,
            &spec.x_label,
            scale,
            BLACK,
        );
    }
    if !spec.y_label.is_empty() {
        let y = ((l.top + l.bottom) / 2.0) as i64 - tw(&spec.y_label) / 2;
        c.text_up(ch as i64, y, &spec.y_label, scale, BLACK);
    }

    let clip = Clip {
        x0: left + 1,
        y0: top + 1,
        x1: right,
        y1: bottom,
    };
    let line_w = scale as f64 + 0.5;
    for (i, ser) in series.iter().enumerate() {
        let color = series_color(i);
        let markers = ser.points.len() <= MARKER_MAX_POINTS;
        for line in l.polylines(ser) {
            c.polyline(&line, line_w, color, Some(clip));
            if markers {
                for &(x, y) in &line {
                    c.disc(x, y, 1.5 * scale as f64 + 0.5, color, Some(clip));
                }
            }
        }
    }

    if let Some((x, y, w, h)) = l.legend {
        let (x, y, w, h) = (
            x.round() as i64,
            y.round() as i64,
            w.round() as i64,
            h.round() as i64,
        );
        c.fill_rect(x, y, x + w, y + h, WHITE);
        let border = [0x99, 0x99, 0x99];
        c.fill_rect(x, y, x + w, y + 1, border);
        c.fill_rect(x, y + h - 1, x + w, y + h, border);
        c.fill_rect(x, y, x + 1, y + h, border);
        c.fill_rect(x + w - 1, y, x + w, y + h, border);
        for (row, (i, ser)) in series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .enumerate()
        {
            let cy = y as f64 + ch * 0.3 + (row as f64 + 0.5) * l.legend_row_h;
            let x0 = x as f64 + ch * 0.8;
            let x1 = x0 + 3.0 * ch;
            c.polyline(&[(x0, cy), (x1, cy)], line_w, series_color(i), None);
            c.text(
                (x1 + ch * 0.6) as i64,
                (cy - ch / 2.0).round() as i64,
                &ser.name,
                scale,
                BLACK,
            );
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_nice() {
        let (r, t) = linear_ticks((0.03, 0.97), 6, true);
        assert_eq!(r, (0.0, 1.0));
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let (_, t) = linear_ticks((-3.0, 1234.0), 6, true);
        assert!(t.iter().any(|(_, l)| l == "0"));
        assert!(t.iter().all(|(_, l)| !l.contains('.')));
    }

    #[test]
    fn log2_ticks_at_powers() {
        let t = log2_ticks((0.0, 8.0));
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1", "2", "4", "8", "16", "32", "64", "128", "256"]);
        assert!(log2_ticks((0.0, 40.0)).len() <= 12);
    }

    #[test]
    fn gaps_split_lines() {
        let spec = PlotSpec {
            log2_x: true,
            ..Default::default()
        };
        let s = Series {
            name: "a".into(),
            points: vec![
                (1.0, 0.1),
                (2.0, 0.2),
                (0.0, 0.3),
                (4.0, f64::NAN),
                (8.0, 0.5),
                (16.0, 0.6),
            ],
        };
        let l = svg_layout(&spec, std::slice::from_ref(&s));
        let lines = l.polylines(&s);
        assert_eq!(lines.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
    }

    #[test]
    fn legend_avoids_rising_curve() {
        let spec = PlotSpec {
            log2_x: true,
            y_range: Some((0.0, 1.0)),
            ..Default::default()
        };
        let s = Series {
            name: "base".into(),
            points: (0..9)
                .map(|e| (2f64.powi(e), 0.5 + 0.05 * e as f64))
                .collect(),
        };
        let l = svg_layout(&spec, std::slice::from_ref(&s));
        let (x, y, _, _) = l.legend.unwrap();
        assert!(
            x > (l.left + l.right) / 2.0 && y > (l.top + l.bottom) / 2.0,
            "{:?}",
            l.legend
        );
    }
}
