//! Plots: the SVG is well-formed XML with the expected elements; the PNG decodes (chunk CRCs,
//! zlib Adler-32, deflate stream, IHDR size) and lines land on the expected pixels.

use rlvr::eval::plot::{
    png_layout, render_png, render_svg, series_color, svg_layout, PlotSpec, Series,
};

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
    vec![
        Series {
            name: "base".into(),
            points: curve(0.3),
        },
        Series {
            name: "NSR".into(),
            points: curve(0.4),
        },
        Series {
            name: "PSR".into(),
            points: curve(0.5),
        },
    ]
}

// ---------------------------------------------------------------- XML well-formedness

/// Checks tags nest and close, attributes are quoted, and text has no raw '<' or stray '&'.
/// Returns the element names in document order.
fn check_xml(doc: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = doc;
    let mut seen_root = false;
    while !rest.is_empty() {
        match rest.find('<') {
            None => {
                assert!(rest.trim().is_empty(), "text after the root element");
                break;
            }
            Some(i) => {
                check_text(&rest[..i]);
                assert!(
                    !stack.is_empty() || rest[..i].trim().is_empty(),
                    "text outside the root"
                );
                rest = &rest[i + 1..];
            }
        }
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "bad name {name:?}"
        );
        check_attributes(&body[name.len()..]);
        assert!(
            !(stack.is_empty() && seen_root),
            "second root element <{name}>"
        );
        seen_root = true;
        names.push(name.clone());
        if !self_closing {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    names
}

fn check_attributes(mut s: &str) {
    let mut seen = std::collections::HashSet::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return;
        }
        let eq = s.find('=').expect("attribute without value");
        let key = s[..eq].trim();
        assert!(seen.insert(key.to_string()), "duplicate attribute {key}");
        s = &s[eq + 1..];
        assert!(s.starts_with('"'), "unquoted attribute {key}");
        let close = s[1..].find('"').expect("unterminated attribute") + 1;
        check_text(&s[1..close]);
        s = &s[close + 1..];
    }
}

fn check_text(t: &str) {
    assert!(!t.contains('<'));
    for (i, _) in t.match_indices('&') {
        let ent = &t[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| ent.starts_with(e)),
            "bare & in {t:?}"
        );
    }
}

#[test]
fn svg_is_well_formed_with_one_polyline_per_series() {
    let svg = render_svg(&passk_spec(), &passk_series());
    let names = check_xml(&svg);
    assert_eq!(names[0], "svg");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 3);
    assert_eq!(names.iter().filter(|n| *n == "circle").count(), 27);
    assert!(svg.contains("Pass@k on MATH &lt;test&gt; &amp; more"));
    for label in ["1", "16", "256", "0.0", "1.0", "base", "NSR", "PSR"] {
        assert!(
            svg.contains(&format!(">{label}</text>")),
            "missing label {label}"
        );
    }
    for i in 0..3 {
        let c = series_color(i);
        assert!(svg.contains(&format!("stroke=\"#{:02x}{:02x}{:02x}\"", c[0], c[1], c[2])));
    }
    // The first point of the first series sits at the plot's left edge.
    let l = svg_layout(&passk_spec(), &passk_series());
    let (x, _) = l.to_px(1.0, 0.3).unwrap();
    assert!((x - l.left).abs() < 1e-9);
}

#[test]
fn svg_of_nothing_is_still_well_formed() {
    let svg = render_svg(&PlotSpec::default(), &[]);
    check_xml(&svg);
    let svg = render_svg(
        &PlotSpec::default(),
        &[Series {
            name: String::new(),
            points: vec![(f64::NAN, 1.0)],
        }],
    );
    check_xml(&svg);
}

// ---------------------------------------------------------------- PNG decoding

fn crc32(bytes: &[u8]) -> u32 {
    // Table-driven, unlike the encoder's bitwise loop.
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8)
    })
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u64, 0u64);
    for &x in bytes {
        a = (a + x as u64) % 65521;
        b = (b + a) % 65521;
    }
    ((b << 16) | a) as u32
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        let b = (self.data[self.pos / 8] >> (self.pos % 8)) & 1;
        self.pos += 1;
        b as u32
    }
    fn bits(&mut self, n: u32) -> u32 {
        (0..n).fold(0, |v, i| v | self.bit() << i)
    }
}

/// Decode a fixed-Huffman literal/length symbol by walking code lengths 7, 8, 9 (RFC 1951 3.2.6).
fn fixed_litlen(r: &mut Bits) -> u32 {
    let mut code = 0;
    for len in 1..=9 {
        code = code << 1 | r.bit();
        match len {
            7 if code <= 0b0010111 => return code + 256,
            8 if (0b00110000..=0b10111111).contains(&code) => return code - 0b00110000,
            8 if (0b11000000..=0b11000111).contains(&code) => return code - 0b11000000 + 280,
            9 if code >= 0b110010000 => return code - 0b110010000 + 144,
            _ => {}
        }
    }
    panic!("invalid fixed code");
}

/// Inflate stored and fixed-Huffman blocks (all this encoder may produce).
fn inflate(data: &[u8]) -> Vec<u8> {
    const LB: [usize; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LE: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DB: [usize; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DE: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    let mut r = Bits { data, pos: 0 };
    let mut out = Vec::new();
    loop {
        let last = r.bit();
        match r.bits(2) {
            0 => {
                r.pos = r.pos.div_ceil(8) * 8;
                let len = r.bits(16) as usize;
                assert_eq!(r.bits(16) as usize, !len & 0xFFFF);
                let start = r.pos / 8;
                out.extend(&data[start..start + len]);
                r.pos += len * 8;
            }
            1 => loop {
                let sym = fixed_litlen(&mut r);
                if sym < 256 {
                    out.push(sym as u8);
                } else if sym == 256 {
                    break;
                } else {
                    let i = sym as usize - 257;
                    let len = LB[i] + r.bits(LE[i]) as usize;
                    let dcode = (0..5).fold(0, |c, _| c << 1 | r.bit()) as usize;
                    let dist = DB[dcode] + r.bits(DE[dcode]) as usize;
                    assert!(dist <= out.len(), "distance before start");
                    for _ in 0..len {
                        out.push(out[out.len() - dist]);
                    }
                }
            },
            t => panic!("block type {t} not expected from this encoder"),
        }
        if last == 1 {
            return out;
        }
    }
}

struct Decoded {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Decoded {
    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

fn decode_png(png: &[u8]) -> Decoded {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let mut pos = 8;
    let (mut width, mut height) = (0, 0);
    let mut idat = Vec::new();
    let mut kinds = Vec::new();
    while pos < png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &png[pos + 4..pos + 8];
        let body = &png[pos + 8..pos + 8 + len];
        let crc = u32::from_be_bytes(png[pos + 8 + len..pos + 12 + len].try_into().unwrap());
        assert_eq!(
            crc,
            crc32(&png[pos + 4..pos + 8 + len]),
            "bad CRC on {}",
            String::from_utf8_lossy(kind)
        );
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!(&body[8..13], &[8, 2, 0, 0, 0]);
            }
            b"IDAT" => idat.extend(body),
            _ => {}
        }
        kinds.push(String::from_utf8_lossy(kind).into_owned());
        pos += 12 + len;
    }
    assert_eq!(pos, png.len());
    assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
    assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
    assert_eq!(
        (idat[0] as u32 * 256 + idat[1] as u32) % 31,
        0,
        "zlib header check"
    );
    assert_eq!(idat[0] & 0x0F, 8, "deflate");
    let raw = inflate(&idat[2..idat.len() - 4]);
    let adler = u32::from_be_bytes(idat[idat.len() - 4..].try_into().unwrap());
    assert_eq!(adler, adler32(&raw));
    assert_eq!(raw.len(), height * (1 + 3 * width));
    let mut rgb = Vec::with_capacity(width * height * 3);
    for row in raw.chunks(1 + 3 * width) {
        assert_eq!(row[0], 0, "only filter None is written");
        rgb.extend(&row[1..]);
    }
    Decoded { width, height, rgb }
}

fn near(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (*x as i32 - y as i32).abs() <= tol)
}

#[test]
fn inflater_decodes_stored_blocks() {
    // A hand-made zlib payload: one final stored block holding "abc".
    let data = [0x01, 0x03, 0x00, 0xFC, 0xFF, b'a', b'b', b'c'];
    assert_eq!(inflate(&data), b"abc");
}

#[test]
fn png_decodes_and_lines_are_where_expected() {
    let spec = passk_spec();
    let series = passk_series();
    let (w, h) = (800, 500);
    let png = render_png(&spec, &series, w, h);
    let img = decode_png(&png);
    assert_eq!((img.width, img.height), (w, h));
    assert!(png.len() < 200_000, "PNG is {} bytes", png.len());
    let l = png_layout(&spec, &series, w, h);
    for (i, s) in series.iter().enumerate() {
        // Midpoints of segments lie on the drawn line (the legend sits bottom right, clear of them).
        for pair in s.points.windows(2).take(3) {
            let a = l.to_px(pair[0].0, pair[0].1).unwrap();
            let b = l.to_px(pair[1].0, pair[1].1).unwrap();
            let (x, y) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
            let hit = (-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    near(
                        img.px((x as i64 + dx) as usize, (y as i64 + dy) as usize),
                        series_color(i),
                        8,
                    )
                })
            });
            assert!(hit, "series {i} not drawn near ({x:.1}, {y:.1})");
        }
    }
    // Away from all curves, inside the plot, the background is white or a grid line.
    let (x, y) = l.to_px(2.0, 0.95).unwrap();
    let p = img.px(x as usize, y as usize);
    assert!(p == [255, 255, 255] || p == [0xe4, 0xe4, 0xe4], "{p:?}");
    // The frame is black at the plot's corners and every series colour appears in the legend box.
    assert_eq!(
        img.px(l.left.round() as usize, l.bottom.round() as usize),
        [0, 0, 0]
    );
    let (lx, ly, lw, lh) = l.legend.unwrap();
    for i in 0..3 {
        let found = (ly as usize..(ly + lh) as usize)
            .any(|y| (lx as usize..(lx + lw) as usize).any(|x| img.px(x, y) == series_color(i)));
        assert!(found, "legend lacks series {i}");
    }
    // Text is drawn: the title row above the plot has dark pixels.
    let dark = (0..l.top as usize)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| img.px(x, y) == [0, 0, 0])
        .count();
    assert!(dark > 50, "{dark} title pixels");
}

#[test]
fn png_of_a_single_line_hits_exact_pixels() {
    // A horizontal line at y = 0.5 on a linear axis: in every column its anti-aliased coverage,
    // summed over the rows, equals the stroke width (1.5 px at this size), centred on the row
    // boundary that y = 0.5 maps to.
    let spec = PlotSpec {
        y_range: Some((0.0, 1.0)),
        ..Default::default()
    };
    let series = [Series {
        name: String::new(),
        points: (0..=100).map(|i| (i as f64, 0.5)).collect(),
    }];
    let img = decode_png(&render_png(&spec, &series, 300, 200));
    let l = png_layout(&spec, &series, 300, 200);
    let (_, y) = l.to_px(0.0, 0.5).unwrap();
    let color = series_color(0);
    // Opacity of the series colour over white, from the red channel.
    let alpha = |p: [u8; 3]| (255.0 - p[0] as f64) / (255.0 - color[0] as f64);
    let mut columns = 0;
    for x in l.left as usize + 3..l.right as usize - 3 {
        if img.px(x, y as usize + 8) != [255, 255, 255] {
            continue; // a vertical grid line crosses here
        }
        columns += 1;
        let rows = y as usize - 4..y as usize + 4;
        let total: f64 = rows.clone().map(|r| alpha(img.px(x, r))).sum();
        assert!((total - 1.5).abs() < 0.05, "column {x}: coverage {total}");
        let centre: f64 = rows
            .clone()
            .map(|r| alpha(img.px(x, r)) * (r as f64 + 0.5))
            .sum::<f64>()
            / total;
        assert!(
            (centre - y).abs() < 0.1,
            "column {x}: centre {centre} vs {y}"
        );
        for r in rows.clone() {
            let p = img.px(x, r);
            assert!(
                p == [255, 255, 255]
                    || near(
                        p,
                        [
                            255 - ((255 - color[0] as i32) as f64 * alpha(p)).round() as u8,
                            255 - ((255 - color[1] as i32) as f64 * alpha(p)).round() as u8,
                            255 - ((255 - color[2] as i32) as f64 * alpha(p)).round() as u8
                        ],
                        2
                    ),
                "{p:?} is not the series colour"
            );
        }
    }
    assert!(columns > 150, "{columns} columns checked");
    assert!(l.legend.is_none());
}

#[test]
fn training_curve_with_many_points() {
    let spec = PlotSpec {
        title: "reward".into(),
        x_label: "step".into(),
        y_label: "mean reward".into(),
        ..Default::default()
    };
    let series = vec![
        Series {
            name: "PSR".into(),
            points: (0..500)
                .map(|i| (i as f64, (i as f64 / 100.0).tanh()))
                .collect(),
        },
        Series {
            name: "NSR".into(),
            points: (0..500)
                .map(|i| (i as f64, 0.8 * (i as f64 / 150.0).tanh()))
                .collect(),
        },
    ];
    let img = decode_png(&render_png(&spec, &series, 640, 400));
    assert_eq!((img.width, img.height), (640, 400));
    let svg = render_svg(&spec, &series);
    let names = check_xml(&svg);
    assert_eq!(
        names.iter().filter(|n| *n == "circle").count(),
        0,
        "no markers on long series"
    );
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
    let stem = dir.path().join("out/passk");
    rlvr::eval::plot::write_plot(&stem, &PlotSpec::passk("MATH"), &series, 640, 400).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("out/passk.svg")).unwrap();
    check_xml(&svg);
    assert!(svg.contains(">MATH</text>"));
    let img = decode_png(&std::fs::read(dir.path().join("out/passk.png")).unwrap());
    assert_eq!((img.width, img.height), (640, 400));
}

#[test]
fn odd_inputs_do_not_panic() {
    let flat = Series {
        name: "flat".into(),
        points: vec![(3.0, 0.5), (3.0, 0.5)],
    };
    let wild = Series {
        name: "wild é ü".into(),
        points: vec![
            (f64::INFINITY, 1.0),
            (-1.0, f64::NAN),
            (1e300, -1e300),
            (2.0, 7.0),
        ],
    };
    let empty = Series {
        name: "empty".into(),
        points: vec![],
    };
    let series = [flat, wild, empty];
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
            check_xml(&render_svg(&spec, &series));
            for (w, h) in [(1, 1), (40, 30), (300, 200)] {
                let img = decode_png(&render_png(&spec, &series, w, h));
                assert_eq!((img.width, img.height), (w, h));
            }
        }
    }
}
