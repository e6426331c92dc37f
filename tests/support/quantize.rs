//! Quantisation per the ggml block definitions. Each quantiser returns the packed bytes and the
//! values the format defines for those bytes, computed from the integer codes (not by decoding the
//! bytes), so the reader's unpacking is checked against an independent packing.
use half::{bf16, f16};
use rlvr::model::gguf::GgmlType;

fn h(x: f32) -> (u16, f32) {
    let v = f16::from_f32(x);
    (v.to_bits(), v.to_f32())
}

fn amax_signed(x: &[f32]) -> f32 {
    x.iter()
        .copied()
        .fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m })
}

fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)))
}

/// Q8_0: d f16 | qs[32] i8; y = d * q.
fn quant_q8_0(x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(32) {
        let amax = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let (dbits, d) = h(amax / 127.0);
        out.extend(dbits.to_le_bytes());
        for &v in b {
            let q = if d == 0.0 {
                0
            } else {
                (v / d).round().clamp(-127.0, 127.0) as i8
            };
            out.push(q as u8);
            y.push(d * q as f32);
        }
    }
    (out, y)
}

/// Q4_0 / Q5_0: d = max / -2^(bits-1); q = x/d + offset; low nibbles of value j and j+16 share
/// byte j; Q5_0 puts bit 4 of value j in bit j of a u32 `qh` placed after d.
fn quant_q4_0_q5_0(x: &[f32], bits: u32) -> (Vec<u8>, Vec<f32>) {
    let levels = 1i32 << bits;
    let offset = levels / 2;
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(32) {
        let (dbits, d) = h(amax_signed(b) / -(offset as f32));
        let q: Vec<i32> = b
            .iter()
            .map(|&v| {
                let id = if d == 0.0 { 0.0 } else { 1.0 / d };
                ((v * id + offset as f32 + 0.5) as i32).clamp(0, levels - 1)
            })
            .collect();
        out.extend(dbits.to_le_bytes());
        if bits == 5 {
            let qh = (0..32).fold(0u32, |acc, j| acc | ((((q[j] >> 4) & 1) as u32) << j));
            out.extend(qh.to_le_bytes());
        }
        for j in 0..16 {
            out.push(((q[j] & 15) | ((q[j + 16] & 15) << 4)) as u8);
        }
        y.extend(q.iter().map(|&qi| (qi - offset) as f32 * d));
    }
    (out, y)
}

/// Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min; y = d * q + m.
fn quant_q4_1_q5_1(x: &[f32], bits: u32) -> (Vec<u8>, Vec<f32>) {
    let top = (1i32 << bits) - 1;
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(32) {
        let (lo, hi) = min_max(b);
        let (dbits, d) = h((hi - lo) / top as f32);
        let (mbits, m) = h(lo);
        let q: Vec<i32> = b
            .iter()
            .map(|&v| {
                if d == 0.0 {
                    0
                } else {
                    ((v - m) / d).round().clamp(0.0, top as f32) as i32
                }
            })
            .collect();
        out.extend(dbits.to_le_bytes());
        out.extend(mbits.to_le_bytes());
        if bits == 5 {
            let qh = (0..32).fold(0u32, |acc, j| acc | ((((q[j] >> 4) & 1) as u32) << j));
            out.extend(qh.to_le_bytes());
        }
        for j in 0..16 {
            out.push(((q[j] & 15) | ((q[j + 16] & 15) << 4)) as u8);
        }
        y.extend(q.iter().map(|&qi| d * qi as f32 + m));
    }
    (out, y)
}

/// Pack 8 six-bit scales and mins into the 12 bytes of a Q4_K/Q5_K block: bytes 0..4 hold
/// scales 0..4 (low 6 bits) and the top 2 bits of scales 4..8; bytes 4..8 the same for mins;
/// bytes 8..12 the low nibbles of scale (low) and min (high) 4..8.
fn pack_scales_k4(sc: &[u8; 8], mn: &[u8; 8]) -> [u8; 12] {
    let mut p = [0u8; 12];
    for j in 0..4 {
        p[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        p[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        p[j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
    }
    p
}

/// Q4_K / Q5_K: per 32-value sub-block s, y = d*sc[s]*q - dmin*mn[s] with 6-bit sc/mn.
fn quant_q4_k_q5_k(x: &[f32], bits: u32) -> (Vec<u8>, Vec<f32>) {
    let top = ((1u32 << bits) - 1) as f32;
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(256) {
        let mut scales = [0f32; 8];
        let mut mins = [0f32; 8];
        for (s, sub) in b.chunks(32).enumerate() {
            let (lo, hi) = min_max(sub);
            let lo = lo.min(0.0);
            scales[s] = (hi - lo) / top;
            mins[s] = -lo;
        }
        let (dbits, d) = h(scales.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
        let (mbits, dmin) = h(mins.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
        let mut sc = [0u8; 8];
        let mut mn = [0u8; 8];
        for s in 0..8 {
            sc[s] = if d == 0.0 {
                0
            } else {
                (scales[s] / d).round().clamp(0.0, 63.0) as u8
            };
            mn[s] = if dmin == 0.0 {
                0
            } else {
                (mins[s] / dmin).round().clamp(0.0, 63.0) as u8
            };
        }
        let q: Vec<u8> = b
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = i / 32;
                let step = d * sc[s] as f32;
                if step == 0.0 {
                    0
                } else {
                    ((v + dmin * mn[s] as f32) / step).round().clamp(0.0, top) as u8
                }
            })
            .collect();
        out.extend(dbits.to_le_bytes());
        out.extend(mbits.to_le_bytes());
        out.extend(pack_scales_k4(&sc, &mn));
        if bits == 5 {
            // qh[l]: bit 2c = bit 4 of value 64c + l, bit 2c+1 = bit 4 of value 64c + 32 + l.
            for l in 0..32 {
                let mut byte = 0u8;
                for c in 0..4 {
                    byte |= ((q[64 * c + l] >> 4) & 1) << (2 * c);
                    byte |= ((q[64 * c + 32 + l] >> 4) & 1) << (2 * c + 1);
                }
                out.push(byte);
            }
        }
        for c in 0..4 {
            for l in 0..32 {
                out.push((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4));
            }
        }
        y.extend(q.iter().enumerate().map(|(i, &qi)| {
            let s = i / 32;
            d * sc[s] as f32 * qi as f32 - dmin * mn[s] as f32
        }));
    }
    (out, y)
}

/// Q6_K: ql[128] | qh[64] | scales[16] i8 | d f16; y = d * scales[i/16] * (q - 32).
fn quant_q6_k(x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(256) {
        let sub_scale: Vec<f32> = b.chunks(16).map(|s| amax_signed(s) / -32.0).collect();
        let (dbits, d) = h(amax_signed(&sub_scale).abs() / 127.0);
        let sc: Vec<i8> = sub_scale
            .iter()
            .map(|&s| {
                if d == 0.0 {
                    0
                } else {
                    (s / d).round().clamp(-128.0, 127.0) as i8
                }
            })
            .collect();
        let q: Vec<u8> = b
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let step = d * sc[i / 16] as f32;
                if step == 0.0 {
                    32
                } else {
                    ((v / step).round() + 32.0).clamp(0.0, 63.0) as u8
                }
            })
            .collect();
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for half in 0..2 {
            for l in 0..32 {
                let v = |k: usize| q[128 * half + 32 * k + l];
                ql[64 * half + l] = (v(0) & 15) | ((v(2) & 15) << 4);
                ql[64 * half + l + 32] = (v(1) & 15) | ((v(3) & 15) << 4);
                qh[32 * half + l] =
                    (v(0) >> 4) | ((v(1) >> 4) << 2) | ((v(2) >> 4) << 4) | ((v(3) >> 4) << 6);
            }
        }
        out.extend(ql);
        out.extend(qh);
        out.extend(sc.iter().map(|&s| s as u8));
        out.extend(dbits.to_le_bytes());
        y.extend(
            q.iter()
                .enumerate()
                .map(|(i, &qi)| d * sc[i / 16] as f32 * (qi as i32 - 32) as f32),
        );
    }
    (out, y)
}

/// Quantise `x` as `ty`: (bytes, values defined by the format for those bytes).
pub fn quantize(ty: GgmlType, x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    match ty {
        GgmlType::F32 => (x.iter().flat_map(|v| v.to_le_bytes()).collect(), x.to_vec()),
        GgmlType::F16 => (
            x.iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
            x.iter().map(|&v| f16::from_f32(v).to_f32()).collect(),
        ),
        GgmlType::BF16 => (
            x.iter()
                .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                .collect(),
            x.iter().map(|&v| bf16::from_f32(v).to_f32()).collect(),
        ),
        GgmlType::Q8_0 => quant_q8_0(x),
        GgmlType::Q4_0 => quant_q4_0_q5_0(x, 4),
        GgmlType::Q5_0 => quant_q4_0_q5_0(x, 5),
        GgmlType::Q4_1 => quant_q4_1_q5_1(x, 4),
        GgmlType::Q5_1 => quant_q4_1_q5_1(x, 5),
        GgmlType::Q4K => quant_q4_k_q5_k(x, 4),
        GgmlType::Q5K => quant_q4_k_q5_k(x, 5),
        GgmlType::Q6K => quant_q6_k(x),
    }
}

/// Deterministic test values in [-1, 1] with varied magnitudes per block.
pub fn test_values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 * 0.37 + seed as f32;
            let scale = 0.2 + 0.8 * ((i / 32) as f32 * 0.71).sin().abs();
            scale * (t.sin() * 0.7 + (t * 2.3).cos() * 0.3)
        })
        .collect()
}

/// How far a quantised value may sit from its source (a loose bound per bit width; the exact
/// check is against the format-defined values).
pub fn quant_tolerance(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 1e-3,
        GgmlType::BF16 => 8e-3,
        GgmlType::Q8_0 => 0.01,
        GgmlType::Q6K => 0.05,
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5K => 0.07,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4K => 0.14,
    }
}
