//! What a plot shows before anything is drawn: axis ranges and ticks (1-2-5 steps on linear axes,
//! powers of two on a log2 axis), each series as polylines in axis units (split where a point
//! cannot be drawn, clipped to the axis ranges), and the corner the legend hides least in.

use super::{PlotSpec, Series};

/// One axis in axis units (log2 of the data on a log2 axis).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub range: (f64, f64),
    /// (position in axis units, label).
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    pub fn x(spec: &PlotSpec, series: &[Series]) -> Self {
        let xs: Vec<f64> = drawable(spec, series).map(|p| p.0).collect();
        let range =
            widen(min_max(&xs).unwrap_or(if spec.log2_x { (0.0, 3.0) } else { (0.0, 1.0) }));
        let ticks = if spec.log2_x {
            log2_ticks(range)
        } else {
            linear_ticks(range, 6, false).1
        };
        Axis { range, ticks }
    }

    pub fn y(spec: &PlotSpec, series: &[Series]) -> Self {
        let (range, ticks) = match spec.y_range {
            Some(r) if r.0.is_finite() && r.1.is_finite() && r.1 > r.0 => {
                (r, linear_ticks(r, 6, false).1)
            }
            _ => {
                let ys: Vec<f64> = drawable(spec, series).map(|p| p.1).collect();
                linear_ticks(widen(min_max(&ys).unwrap_or((0.0, 1.0))), 6, true)
            }
        };
        Axis { range, ticks }
    }

    /// The label of the tick nearest to `v` (plotters asks for labels by position).
    pub fn label(&self, v: f64) -> String {
        self.ticks
            .iter()
            .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }

    pub fn positions(&self) -> Vec<f64> {
        self.ticks.iter().map(|t| t.0).collect()
    }

    fn contains(&self, v: f64) -> bool {
        v >= self.range.0 && v <= self.range.1
    }
}

/// A point in axis units, or `None` when it cannot be drawn (non-finite, or x ≤ 0 on a log2 axis).
pub fn to_axis(log2_x: bool, (x, y): (f64, f64)) -> Option<(f64, f64)> {
    let ok = x.is_finite() && y.is_finite() && (!log2_x || x > 0.0);
    ok.then(|| (if log2_x { x.log2() } else { x }, y))
}

fn drawable<'a>(spec: &'a PlotSpec, series: &'a [Series]) -> impl Iterator<Item = (f64, f64)> + 'a {
    series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|&p| to_axis(spec.log2_x, p))
}

/// The drawn pieces of a series in axis units: a point that cannot be drawn breaks the line, and
/// segments are clipped to the axes' ranges (which only a fixed y range can cut).
pub fn polylines(log2_x: bool, s: &Series, x: &Axis, y: &Axis) -> Vec<Vec<(f64, f64)>> {
    let lo = (x.range.0, y.range.0);
    let hi = (x.range.1, y.range.1);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut prev: Option<(f64, f64)> = None;
    for &p in &s.points {
        let Some(p) = to_axis(log2_x, p) else {
            prev = None;
            continue;
        };
        match prev {
            None if x.contains(p.0) && y.contains(p.1) => {
                out.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
                current.push(p);
            }
            None => {}
            Some(a) => {
                if let Some((c0, c1)) = clip_segment(a, p, lo, hi) {
                    if current.last() != Some(&c0) {
                        out.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
                        current.push(c0);
                    }
                    current.push(c1);
                }
            }
        }
        prev = Some(p);
    }
    out.extend((!current.is_empty()).then_some(current));
    out
}

/// The data points of a series that lie inside the axes' ranges, in axis units (for markers).
pub fn markers(log2_x: bool, s: &Series, x: &Axis, y: &Axis) -> Vec<(f64, f64)> {
    s.points
        .iter()
        .filter_map(|&p| to_axis(log2_x, p))
        .filter(|p| x.contains(p.0) && y.contains(p.1))
        .collect()
}

/// Liang–Barsky: the part of segment a→b inside the rectangle lo..hi, if any.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    lo: (f64, f64),
    hi: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - lo.0),
        (dx, hi.0 - a.0),
        (-dy, a.1 - lo.1),
        (dy, hi.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    (t0 <= t1).then(|| (at(t0), at(t1)))
}

/// A corner of the plot area for the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    LowerRight,
    UpperLeft,
    UpperRight,
    LowerLeft,
}

/// The corner whose legend box (`size` as fractions of the plot area) covers the fewest samples
/// along the curves; ties go to the earlier corner of [`Corner`] (Pass@k curves leave the lower
/// right empty, falling loss curves the upper right).
pub fn legend_corner(lines: &[&[(f64, f64)]], x: &Axis, y: &Axis, size: (f64, f64)) -> Corner {
    let unit = |(px, py): (f64, f64)| {
        (
            (px - x.range.0) / (x.range.1 - x.range.0),
            (py - y.range.0) / (y.range.1 - y.range.0),
        )
    };
    let samples: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|line| {
            let mut pts: Vec<(f64, f64)> = line
                .windows(2)
                .flat_map(|w| {
                    (0..16).map(move |i| {
                        let t = i as f64 / 16.0;
                        (
                            w[0].0 + (w[1].0 - w[0].0) * t,
                            w[0].1 + (w[1].1 - w[0].1) * t,
                        )
                    })
                })
                .collect();
            pts.extend(line.last().copied());
            pts
        })
        .map(unit)
        .collect();
    let (w, h) = (size.0.min(1.0), size.1.min(1.0));
    let covered = |x0: f64, y0: f64| {
        samples
            .iter()
            .filter(|p| p.0 >= x0 && p.0 <= x0 + w && p.1 >= y0 && p.1 <= y0 + h)
            .count()
    };
    [
        (Corner::LowerRight, (1.0 - w, 0.0)),
        (Corner::UpperLeft, (0.0, 1.0 - h)),
        (Corner::UpperRight, (1.0 - w, 1.0 - h)),
        (Corner::LowerLeft, (0.0, 0.0)),
    ]
    .into_iter()
    .min_by_key(|(_, (x0, y0))| covered(*x0, *y0))
    .map_or(Corner::LowerRight, |(c, _)| c)
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo <= hi).then_some((lo, hi))
}

/// A degenerate range becomes `centre ± 1`; huge magnitudes are capped so ticks stay finite.
fn widen((lo, hi): (f64, f64)) -> (f64, f64) {
    const LIMIT: f64 = 1e300;
    let (lo, hi) = (lo.clamp(-LIMIT, LIMIT), hi.clamp(-LIMIT, LIMIT));
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
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
    // Very large or small steps would make labels of dozens of digits.
    let scientific = !(1e-4..1e6).contains(&step);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // The step keeps the count near `target`; the cap only guards against float breakdown at
    // extreme magnitudes.
    let ticks = (first..=last)
        .take(64)
        .map(|i| {
            let v = i as f64 * step;
            let mut label = if scientific {
                short_scientific(v)
            } else {
                format!("{v:.decimals$}")
            };
            if label.starts_with('-') && label[1..].chars().all(|c| c == '0' || c == '.') {
                label.remove(0);
            }
            (v, label)
        })
        .collect();
    ((lo, hi), ticks)
}

/// `v` as mantissa and exponent with at most three decimals and no trailing zeros ("2.5e7").
fn short_scientific(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.3e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if mantissa.contains('.') => {
            format!(
                "{}e{exp}",
                mantissa.trim_end_matches('0').trim_end_matches('.')
            )
        }
        _ => s,
    }
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
            let label = match e {
                0..=19 => format!("{}", 1u64 << e),
                -6..=-1 => format!("{}", 2f64.powi(e as i32)),
                _ => format!("2^{e}"),
            };
            (e as f64, label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axes(spec: &PlotSpec, s: &Series) -> (Axis, Axis) {
        let one = std::slice::from_ref(s);
        (Axis::x(spec, one), Axis::y(spec, one))
    }

    fn slices(lines: &[Vec<(f64, f64)>]) -> Vec<&[(f64, f64)]> {
        lines.iter().map(Vec::as_slice).collect()
    }

    fn series(points: Vec<(f64, f64)>) -> Series {
        Series {
            name: "a".into(),
            points,
        }
    }

    #[test]
    fn linear_ticks_are_nice() {
        let (r, t) = linear_ticks((0.03, 0.97), 6, true);
        assert_eq!(r, (0.0, 1.0));
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let (_, t) = linear_ticks((-3.0, 1234.0), 6, true);
        assert!(t.iter().any(|(_, l)| l == "0"));
        assert!(t.iter().all(|(_, l)| !l.contains('.')));
        let (_, t) = linear_ticks((0.0, 3e7), 6, true);
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "5e6", "1e7", "1.5e7", "2e7", "2.5e7", "3e7"]);
        let (_, t) = linear_ticks((-1e300, 7.0), 6, true);
        assert!(t.iter().all(|(_, l)| l.len() <= 8), "{t:?}");
    }

    #[test]
    fn log2_ticks_at_powers() {
        let t = log2_ticks((0.0, 8.0));
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1", "2", "4", "8", "16", "32", "64", "128", "256"]);
        assert!(log2_ticks((0.0, 40.0)).len() <= 12);
        let labels: Vec<String> = log2_ticks((-2.0, 100.0)).into_iter().map(|t| t.1).collect();
        assert_eq!(labels[..4], ["0.25", "128", "65536", "2^25"]);
        let spec = PlotSpec::passk("t");
        let x = Axis::x(&spec, &[series(vec![(1.0, 0.1), (64.0, 0.9)])]);
        assert_eq!(x.range, (0.0, 6.0));
        assert_eq!(x.label(3.0), "8");
    }

    #[test]
    fn gaps_split_lines() {
        let spec = PlotSpec::passk("t");
        let s = series(vec![
            (1.0, 0.1),
            (2.0, 0.2),
            (0.0, 0.3),
            (4.0, f64::NAN),
            (8.0, 0.5),
            (16.0, 0.6),
        ]);
        let (x, y) = axes(&spec, &s);
        let lines = polylines(true, &s, &x, &y);
        assert_eq!(
            lines,
            vec![vec![(0.0, 0.1), (1.0, 0.2)], vec![(3.0, 0.5), (4.0, 0.6)]]
        );
    }

    #[test]
    fn a_fixed_y_range_clips_lines_and_markers() {
        let spec = PlotSpec {
            y_range: Some((0.0, 1.0)),
            ..Default::default()
        };
        let s = series(vec![(0.0, 0.5), (1.0, 1.5), (2.0, 0.5)]);
        let (x, y) = axes(&spec, &s);
        let lines = polylines(false, &s, &x, &y);
        assert_eq!(
            lines,
            vec![vec![(0.0, 0.5), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.5)]]
        );
        assert_eq!(markers(false, &s, &x, &y), vec![(0.0, 0.5), (2.0, 0.5)]);
    }

    #[test]
    fn legend_avoids_the_curves() {
        let spec = PlotSpec {
            log2_x: true,
            y_range: Some((0.0, 1.0)),
            ..Default::default()
        };
        let rising = series(
            (0..9)
                .map(|e| (2f64.powi(e), 0.5 + 0.05 * e as f64))
                .collect(),
        );
        let (x, y) = axes(&spec, &rising);
        let lines = polylines(true, &rising, &x, &y);
        assert_eq!(
            legend_corner(&slices(&lines), &x, &y, (0.3, 0.3)),
            Corner::LowerRight
        );
        let spec = PlotSpec::default();
        let falling = series(
            (0..50)
                .map(|i| (i as f64, (-(i as f64) / 10.0).exp()))
                .collect(),
        );
        let (x, y) = axes(&spec, &falling);
        let lines = polylines(false, &falling, &x, &y);
        assert_eq!(
            legend_corner(&slices(&lines), &x, &y, (0.3, 0.3)),
            Corner::UpperRight
        );
    }
}
