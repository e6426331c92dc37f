//! Plots: `write_plot` writes an SVG that parses as XML and holds the title, axis labels, ticks,
//! legend and one coloured line per series, and a PNG that decodes to the requested size with
//! every series colour, text and the data where the axes put it; bad input is a clear error.

use rlvr::eval::plot::{render_png, render_svg, series_color, write_plot, PlotSpec, Series, GRID};
use std::path::Path;

fn passk_spec() -> PlotSpec {
    PlotSpec {
        title: "Pass@k on MATH <test> & more".into(),
        x_label: "k".into(),
        y_label: "Pass@k".into(),
        log2_x: true,
        y_range: Some((0.0, 1.0)),
    }
}

fn passk_series() -> Vec<Series> {
    let curve = |p1: f64| {
        (0..=8)
            .map(|e| (2f64.powi(e), 1.0 - (1.0 - p1).powi(1 << e)))
            .collect()
    };
    ["base", "NSR", "PSR"]
        .iter()
        .zip([0.3, 0.4, 0.5])
        .map(|(name, p1)| Series {
            name: name.to_string(),
            points: curve(p1),
        })
        .collect()
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// What the tests read from an SVG: its size, every text, and the elements by stroke/fill colour.
struct Svg {
    size: (String, String),
    texts: Vec<String>,
    /// (tag, colour in lower-case hex) of every polyline and circle.
    shapes: Vec<(String, String)>,
}

impl Svg {
    fn parse(doc: &str) -> Svg {
        let xml = roxmltree::Document::parse(doc).unwrap_or_else(|e| panic!("invalid SVG: {e}"));
        let root = xml.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let attr = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or("").to_lowercase();
        Svg {
            size: (attr(root, "width"), attr(root, "height")),
            texts: root
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .map(|n| n.text().unwrap_or("").trim().to_string())
                .collect(),
            shapes: root
                .descendants()
                .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("circle"))
                .map(|n| {
                    let colour = if n.has_tag_name("circle") {
                        attr(n, "fill")
                    } else {
                        attr(n, "stroke")
                    };
                    (n.tag_name().name().to_string(), colour)
                })
                .collect(),
        }
    }

    fn has_text(&self, t: &str) -> bool {
        self.texts.iter().any(|x| x == t)
    }

    fn count(&self, tag: &str, colour: [u8; 3]) -> usize {
        let c = hex(colour);
        self.shapes
            .iter()
            .filter(|(t, k)| t == tag && *k == c)
            .count()
    }
}

struct Png {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Png {
    fn decode(bytes: &[u8]) -> Png {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("PNG header");
        let mut rgb = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut rgb).expect("PNG data");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        rgb.truncate(info.buffer_size());
        Png {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixels of exactly `c` in rows `rows` (anti-aliased edges are blends, line centres exact).
    fn count_in_rows(&self, c: [u8; 3], rows: std::ops::Range<usize>) -> usize {
        rows.flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.px(x, y) == c)
            .count()
    }

    fn count(&self, c: [u8; 3]) -> usize {
        self.count_in_rows(c, 0..self.height)
    }

    /// Rows in which most pixels are black: the top and bottom of the plot frame.
    fn frame_rows(&self) -> (usize, usize) {
        let rows: Vec<usize> = (0..self.height)
            .filter(|&y| self.count_in_rows([0, 0, 0], y..y + 1) > self.width / 2)
            .collect();
        assert!(rows.len() >= 2, "no plot frame found: {rows:?}");
        (rows[0], *rows.last().unwrap())
    }
}

fn written(dir: &Path, stem: &str) -> (Svg, Png) {
    let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).expect("SVG written");
    let png = std::fs::read(dir.join(format!("{stem}.png"))).expect("PNG written");
    (Svg::parse(&svg), Png::decode(&png))
}

#[test]
fn passk_plot_has_labels_ticks_legend_and_one_line_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let series = passk_series();
    write_plot(
        &dir.path().join("out/passk"),
        &passk_spec(),
        &series,
        800,
        500,
    )
    .unwrap();
    let (svg, png) = written(&dir.path().join("out"), "passk");

    assert_eq!(svg.size, ("800".into(), "500".into()));
    for label in [
        "Pass@k on MATH <test> & more",
        "k",
        "Pass@k",
        "1",
        "2",
        "16",
        "256",
        "0.0",
        "0.4",
        "1.0",
        "base",
        "NSR",
        "PSR",
    ] {
        assert!(
            svg.has_text(label),
            "missing text {label:?} in {:?}",
            svg.texts
        );
    }
    for i in 0..3 {
        // The curve, plus the sample line in the legend; a marker on each of the 9 points.
        assert_eq!(svg.count("polyline", series_color(i)), 2, "series {i}");
        assert_eq!(svg.count("circle", series_color(i)), 9, "series {i}");
    }

    assert_eq!((png.width, png.height), (800, 500));
    for i in 0..3 {
        let n = png.count(series_color(i));
        assert!(n > 300, "series {i}: {n} pixels of its colour");
    }
    assert!(png.count(GRID) > 1000, "grid lines");
    let (top, _) = png.frame_rows();
    let title_ink = (0..top)
        .flat_map(|y| (0..png.width).map(move |x| (x, y)))
        .filter(|&(x, y)| png.px(x, y).iter().all(|&c| c < 96))
        .count();
    assert!(title_ink > 100, "{title_ink} dark pixels above the plot");
}

#[test]
fn png_puts_the_data_where_the_axes_say() {
    // A flat line at y = 0.5 of a fixed 0..1 range runs through the middle of the frame.
    let spec = PlotSpec {
        y_range: Some((0.0, 1.0)),
        ..Default::default()
    };
    let series = [Series {
        name: String::new(),
        points: (0..=100).map(|i| (i as f64, 0.5)).collect(),
    }];
    let png = Png::decode(&render_png(&spec, &series, 400, 300).unwrap());
    let (top, bottom) = png.frame_rows();
    let mid = (top + bottom) / 2;
    let colour = series_color(0);
    let near = png.count_in_rows(colour, mid - 2..mid + 3);
    assert!(near > 200, "{near} line pixels around row {mid}");
    assert_eq!(png.count(colour), near, "line pixels away from the middle");
}

#[test]
fn long_training_curves_have_no_markers() {
    let spec = PlotSpec {
        title: "reward".into(),
        x_label: "step".into(),
        y_label: "mean reward".into(),
        ..Default::default()
    };
    let series: Vec<Series> = [("PSR", 100.0, 1.0), ("NSR", 150.0, 0.8)]
        .iter()
        .map(|&(name, tau, top)| Series {
            name: name.into(),
            points: (0..500)
                .map(|i| (i as f64, top * (i as f64 / tau).tanh()))
                .collect(),
        })
        .collect();
    let svg = Svg::parse(&render_svg(&spec, &series, 640, 400).unwrap());
    assert_eq!(svg.size, ("640".into(), "400".into()));
    assert!(svg.has_text("step") && svg.has_text("mean reward") && svg.has_text("PSR"));
    assert_eq!(svg.shapes.iter().filter(|s| s.0 == "circle").count(), 0);
    let png = Png::decode(&render_png(&spec, &series, 640, 400).unwrap());
    assert_eq!((png.width, png.height), (640, 400));
}

#[test]
fn gaps_split_a_curve_but_not_its_legend_entry() {
    let series = [Series {
        name: "gappy".into(),
        points: vec![
            (1.0, 0.1),
            (2.0, 0.2),
            (0.0, 0.3),
            (4.0, f64::NAN),
            (8.0, 0.5),
            (16.0, 0.6),
        ],
    }];
    let svg = Svg::parse(&render_svg(&PlotSpec::passk("gaps"), &series, 800, 500).unwrap());
    assert_eq!(
        svg.count("polyline", series_color(0)),
        3,
        "two pieces and the legend"
    );
    assert_eq!(svg.count("circle", series_color(0)), 4);
    assert_eq!(svg.texts.iter().filter(|t| *t == "gappy").count(), 1);
}

#[test]
fn passk_reports_plot_to_svg_and_png_files() {
    use rlvr::eval::passk::PasskReport;
    let dir = tempfile::tempdir().unwrap();
    let base = PasskReport::new(&[(16, 2), (16, 0), (16, 9)], None);
    let nsr = PasskReport::new(&[(16, 3), (16, 1), (16, 9)], None);
    let series = [base.series("base"), nsr.series("NSR")];
    assert_eq!(series[0].points.len(), 5);
    assert_eq!(series[0].points[4].0, 16.0);
    write_plot(
        &dir.path().join("passk"),
        &PlotSpec::passk("MATH"),
        &series,
        640,
        400,
    )
    .unwrap();
    let (svg, png) = written(dir.path(), "passk");
    assert!(svg.has_text("MATH") && svg.has_text("base") && svg.has_text("NSR"));
    assert_eq!((png.width, png.height), (640, 400));
}

#[test]
fn odd_inputs_still_give_valid_files() {
    let series = [
        Series {
            name: "flat".into(),
            points: vec![(3.0, 0.5), (3.0, 0.5)],
        },
        Series {
            name: "wild é ü\u{7}".into(),
            points: vec![
                (f64::INFINITY, 1.0),
                (-1.0, f64::NAN),
                (1e300, -1e300),
                (2.0, 7.0),
            ],
        },
        Series {
            name: "empty".into(),
            points: vec![],
        },
    ];
    for log2_x in [false, true] {
        for y_range in [
            None,
            Some((1.0, 0.0)),
            Some((0.0, 1.0)),
            Some((f64::NAN, 1.0)),
        ] {
            let spec = PlotSpec {
                title: "t".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                log2_x,
                y_range,
            };
            let svg = Svg::parse(&render_svg(&spec, &series, 300, 200).unwrap());
            assert!(svg.has_text("wild é ü"), "{:?}", svg.texts);
            assert!(svg.has_text("empty"));
            for (w, h) in [(160, 100), (300, 200)] {
                let png = Png::decode(&render_png(&spec, &series, w, h).unwrap());
                assert_eq!((png.width, png.height), (w, h));
            }
        }
    }
    let svg = Svg::parse(&render_svg(&PlotSpec::default(), &[], 300, 200).unwrap());
    assert!(svg.shapes.iter().all(|s| s.0 != "circle"));
}

#[test]
fn bad_sizes_and_paths_are_clear_errors() {
    let series = passk_series();
    for (w, h) in [(0, 0), (159, 500), (800, 99), (100_000, 500)] {
        let e = render_png(&passk_spec(), &series, w, h)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("plot size {w}x{h}")), "{e}");
        let e = render_svg(&passk_spec(), &series, w, h)
            .unwrap_err()
            .to_string();
        assert!(e.contains("plot size"), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let stem = blocker.join("passk");
    let e = format!(
        "{:#}",
        write_plot(&stem, &passk_spec(), &series, 800, 500).unwrap_err()
    );
    assert!(e.contains(&blocker.display().to_string()), "{e}");
    let e = format!(
        "{:#}",
        write_plot(&dir.path().join("p"), &passk_spec(), &series, 10, 10).unwrap_err()
    );
    assert!(e.contains("p.svg") && e.contains("plot size 10x10"), "{e}");
}
