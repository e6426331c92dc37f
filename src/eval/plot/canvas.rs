//! An RGB raster with the few drawing operations plots need: rectangles, anti-aliased thick
//! polylines and discs (coverage from the distance of each pixel centre to the shape), and
//! bitmap text from [`super::font`].

use super::font::{ink, ADVANCE, GLYPH_H, GLYPH_W};

pub type Rgb = [u8; 3];

/// Axis-aligned clip rectangle in pixels, `x0..x1` × `y0..y1` (exclusive ends).
#[derive(Debug, Clone, Copy)]
pub struct Clip {
    pub x0: i64,
    pub y0: i64,
    pub x1: i64,
    pub y1: i64,
}

pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend(background);
        }
        Canvas {
            width,
            height,
            pixels,
        }
    }

    #[cfg(test)]
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Mix `color` over pixel (x, y) with opacity `alpha` in [0, 1]; outside the canvas is a no-op.
    pub fn blend(&mut self, x: i64, y: i64, color: Rgb, alpha: f64) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let i = (y as usize * self.width + x as usize) * 3;
        for (dst, &src) in self.pixels[i..i + 3].iter_mut().zip(&color) {
            let old = *dst as f64;
            *dst = (old + (src as f64 - old) * a).round() as u8;
        }
    }

    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb) {
        for y in y0.max(0)..y1.min(self.height as i64) {
            for x in x0.max(0)..x1.min(self.width as i64) {
                self.blend(x, y, color, 1.0);
            }
        }
    }

    fn full_clip(&self) -> Clip {
        Clip {
            x0: 0,
            y0: 0,
            x1: self.width as i64,
            y1: self.height as i64,
        }
    }

    /// Stroke connected segments through `points` (pixel coordinates) with line `width`.
    /// Coverage is the maximum over segments, so joints are not painted twice.
    pub fn polyline(&mut self, points: &[(f64, f64)], width: f64, color: Rgb, clip: Option<Clip>) {
        let clip = clip.unwrap_or_else(|| self.full_clip());
        let half = width / 2.0;
        let mut cover: std::collections::HashMap<(i64, i64), f64> =
            std::collections::HashMap::new();
        let segments: Vec<((f64, f64), (f64, f64))> = if points.len() == 1 {
            vec![(points[0], points[0])]
        } else {
            points.windows(2).map(|w| (w[0], w[1])).collect()
        };
        for (a, b) in segments {
            let x0 = (a.0.min(b.0) - half - 1.0).floor() as i64;
            let x1 = (a.0.max(b.0) + half + 1.0).ceil() as i64;
            let y0 = (a.1.min(b.1) - half - 1.0).floor() as i64;
            let y1 = (a.1.max(b.1) + half + 1.0).ceil() as i64;
            for y in y0.max(clip.y0)..=y1.min(clip.y1 - 1) {
                for x in x0.max(clip.x0)..=x1.min(clip.x1 - 1) {
                    let d = dist_to_segment((x as f64 + 0.5, y as f64 + 0.5), a, b);
                    let c = (half + 0.5 - d).clamp(0.0, 1.0);
                    if c > 0.0 {
                        let e = cover.entry((x, y)).or_insert(0.0);
                        *e = e.max(c);
                    }
                }
            }
        }
        for ((x, y), c) in cover {
            self.blend(x, y, color, c);
        }
    }

    /// A filled disc of radius `r` centred at (cx, cy).
    pub fn disc(&mut self, cx: f64, cy: f64, r: f64, color: Rgb, clip: Option<Clip>) {
        self.polyline(&[(cx, cy)], 2.0 * r, color, clip);
    }

    /// Draw `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` block.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, color: Rgb) {
        let s = scale as i64;
        for (i, ch) in text.chars().enumerate() {
            let gx = x + (i * ADVANCE) as i64 * s;
            for row in 0..GLYPH_H {
                for col in 0..GLYPH_W {
                    if ink(ch, col, row) {
                        let px = gx + col as i64 * s;
                        let py = y + row as i64 * s;
                        self.fill_rect(px, py, px + s, py + s, color);
                    }
                }
            }
        }
    }

    /// Draw `text` rotated 90° counter-clockwise (reading bottom to top); (x, y) is the top-left
    /// of its bounding box, which is `GLYPH_H·scale` wide and `text_width` tall.
    pub fn text_up(&mut self, x: i64, y: i64, text: &str, scale: usize, color: Rgb) {
        let s = scale as i64;
        let len = super::font::text_width(text, scale) as i64;
        for (i, ch) in text.chars().enumerate() {
            for row in 0..GLYPH_H {
                for col in 0..GLYPH_W {
                    if ink(ch, col, row) {
                        // Unrotated (u, v) → rotated (v, len − 1 − u).
                        let u = (i * ADVANCE + col) as i64 * s;
                        let v = row as i64 * s;
                        let px = x + v;
                        let py = y + len - u - s;
                        self.fill_rect(px, py, px + s, py + s, color);
                    }
                }
            }
        }
    }
}

fn dist_to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - qx).powi(2) + (p.1 - qy).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_covers_its_pixels_only() {
        let mut c = Canvas::new(40, 20, [255, 255, 255]);
        c.polyline(&[(5.0, 10.0), (35.0, 10.0)], 2.0, [0, 0, 255], None);
        assert_eq!(c.get(20, 9), [0, 0, 255]);
        assert_eq!(c.get(20, 10), [0, 0, 255]);
        assert_eq!(c.get(20, 5), [255, 255, 255]);
        assert_eq!(c.get(38, 10), [255, 255, 255]);
    }

    #[test]
    fn clip_limits_stroke() {
        let mut c = Canvas::new(40, 20, [255, 255, 255]);
        let clip = Clip {
            x0: 0,
            y0: 0,
            x1: 20,
            y1: 20,
        };
        c.polyline(&[(5.0, 10.0), (35.0, 10.0)], 2.0, [0, 0, 0], Some(clip));
        assert_eq!(c.get(10, 10), [0, 0, 0]);
        assert_eq!(c.get(25, 10), [255, 255, 255]);
    }

    #[test]
    fn text_up_is_rotated_text() {
        let mut flat = Canvas::new(30, 30, [255, 255, 255]);
        let mut up = Canvas::new(30, 30, [255, 255, 255]);
        flat.text(0, 0, "Lg", 1, [0, 0, 0]);
        up.text_up(0, 0, "Lg", 1, [0, 0, 0]);
        let w = super::super::font::text_width("Lg", 1);
        for v in 0..GLYPH_H {
            for u in 0..w {
                assert_eq!(flat.get(u, v), up.get(v, w - 1 - u), "at ({u},{v})");
            }
        }
    }
}
