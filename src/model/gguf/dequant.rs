//! Dequantisation of ggml blocks to f32, one small function per block layout.
//!
//! Each function takes exactly one block (`GgmlType::block_bytes` bytes) and fills exactly
//! `GgmlType::block_elems` outputs. All multi-byte fields are little-endian. `f16` fields are IEEE
//! half precision.
use super::ggml_type::GgmlType;
use half::{bf16, f16};
use rayon::prelude::*;

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// block_q4_0 (18 B, 32 values): d: f16 | qs[16].
/// Low nibbles hold values 0..16, high nibbles values 16..32; y = (q - 8) * d.
pub fn block_q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// block_q4_1 (20 B, 32 values): d: f16 | m: f16 | qs[16]. Nibbles as in Q4_0; y = q * d + m.
pub fn block_q4_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qs = &b[4..20];
    for j in 0..16 {
        y[j] = (qs[j] & 0x0F) as f32 * d + m;
        y[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// The 5th bit of value j (0..32) of a Q5 block: bit j of the little-endian u32 `qh`.
fn q5_high_bit(qh: u32, j: usize) -> u8 {
    (((qh >> j) & 1) as u8) << 4
}

/// block_q5_0 (22 B, 32 values): d: f16 | qh[4] (u32, bit j = 5th bit of value j) | qs[16].
/// Low 4 bits as in Q4_0; y = (q - 16) * d.
pub fn block_q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for j in 0..16 {
        let q0 = (qs[j] & 0x0F) | q5_high_bit(qh, j);
        let q1 = (qs[j] >> 4) | q5_high_bit(qh, j + 16);
        y[j] = (q0 as i32 - 16) as f32 * d;
        y[j + 16] = (q1 as i32 - 16) as f32 * d;
    }
}

/// block_q5_1 (24 B, 32 values): d: f16 | m: f16 | qh[4] | qs[16]. As Q5_0 with y = q * d + m.
pub fn block_q5_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for j in 0..16 {
        let q0 = (qs[j] & 0x0F) | q5_high_bit(qh, j);
        let q1 = (qs[j] >> 4) | q5_high_bit(qh, j + 16);
        y[j] = q0 as f32 * d + m;
        y[j + 16] = q1 as f32 * d + m;
    }
}

/// block_q8_0 (34 B, 32 values): d: f16 | qs[32] (i8); y = q * d.
pub fn block_q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// The 6-bit scale and min of sub-block j (0..8) from the 12 packed bytes of a Q4_K/Q5_K block
/// (ggml's `get_scale_min_k4`): sub-blocks 0..4 use the low 6 bits of bytes j and j+4; sub-blocks
/// 4..8 take their low 4 bits from byte j+4 (scale: low nibble, min: high nibble) and their top
/// 2 bits from the top bits of bytes j-4 (scale) and j (min).
pub fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        let sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (sc, m)
    }
}

/// block_q4_K (144 B, 256 values): d: f16 | dmin: f16 | scales[12] (8 packed 6-bit scale/min
/// pairs) | qs[128]. Eight sub-blocks of 32; each 32-byte chunk of `qs` holds two sub-blocks:
/// low nibbles = sub-block 2i, high nibbles = 2i+1. y = d * sc * q - dmin * m.
pub fn block_q4_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
        let out = &mut y[chunk * 64..chunk * 64 + 64];
        for l in 0..32 {
            out[l] = d1 * (q[l] & 0x0F) as f32 - min1;
            out[l + 32] = d2 * (q[l] >> 4) as f32 - min2;
        }
    }
}

/// block_q5_K (176 B, 256 values): d: f16 | dmin: f16 | scales[12] | qh[32] | qs[128].
/// As Q4_K, plus a 5th bit: for sub-block s (0..8), bit s of qh[l] is the high bit of value l.
pub fn block_q5_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
        let (bit1, bit2) = (1u8 << (2 * chunk), 1u8 << (2 * chunk + 1));
        let out = &mut y[chunk * 64..chunk * 64 + 64];
        for l in 0..32 {
            let h1 = if qh[l] & bit1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & bit2 != 0 { 16 } else { 0 };
            out[l] = d1 * ((q[l] & 0x0F) + h1) as f32 - min1;
            out[l + 32] = d2 * ((q[l] >> 4) + h2) as f32 - min2;
        }
    }
}

/// block_q6_K (210 B, 256 values): ql[128] (low 4 bits) | qh[64] (high 2 bits) | scales[16] (i8,
/// one per 16 values) | d: f16. Two halves of 128 values; in half h, with ql = ql[64h..],
/// qh = qh[32h..], for l in 0..32 the four values l, l+32, l+64, l+96 take their low nibbles from
/// ql[l] low, ql[l+32] low, ql[l] high, ql[l+32] high, and their high bits from bits 0-1, 2-3,
/// 4-5, 6-7 of qh[l]. y = d * scale[16-value group] * (q - 32).
pub fn block_q6_k(b: &[u8], y: &mut [f32]) {
    let ql_all = &b[0..128];
    let qh_all = &b[128..192];
    let sc_all = &b[192..208];
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &ql_all[64 * half..64 * half + 64];
        let qh = &qh_all[32 * half..32 * half + 32];
        let sc = &sc_all[8 * half..8 * half + 8];
        let out = &mut y[128 * half..128 * half + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            out[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            out[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            out[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            out[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

/// Dequantise one block of `ty`. `b` must be exactly one block and `y` exactly one block's values.
pub fn dequantize_block(ty: GgmlType, b: &[u8], y: &mut [f32]) {
    match ty {
        GgmlType::F32 => y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => y[0] = f16_at(b, 0),
        GgmlType::BF16 => y[0] = bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
        GgmlType::Q4_0 => block_q4_0(b, y),
        GgmlType::Q4_1 => block_q4_1(b, y),
        GgmlType::Q5_0 => block_q5_0(b, y),
        GgmlType::Q5_1 => block_q5_1(b, y),
        GgmlType::Q8_0 => block_q8_0(b, y),
        GgmlType::Q4K => block_q4_k(b, y),
        GgmlType::Q5K => block_q5_k(b, y),
        GgmlType::Q6K => block_q6_k(b, y),
    }
}

/// Dequantise a whole tensor. Errors when `bytes` is not exactly the size of `n_elems` values.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elems: usize) -> Result<Vec<f32>, String> {
    match ty.bytes_for(n_elems as u64) {
        Some(need) if need == bytes.len() as u64 => {}
        Some(need) => {
            return Err(format!(
                "{} tensor of {n_elems} values needs {need} bytes, got {}",
                ty.name(),
                bytes.len()
            ))
        }
        None => {
            return Err(format!(
                "{n_elems} values is not a whole number of {}-value {} blocks",
                ty.block_elems(),
                ty.name()
            ))
        }
    }
    let mut out = vec![0f32; n_elems];
    let (be, bb) = (ty.block_elems(), ty.block_bytes());
    // Group blocks into tasks of about 8k values so rayon's per-task cost stays small.
    let blocks_per_task = (8192 / be).max(1);
    out.par_chunks_mut(be * blocks_per_task)
        .zip(bytes.par_chunks(bb * blocks_per_task))
        .for_each(|(ys, bs)| {
            for (y, b) in ys.chunks_exact_mut(be).zip(bs.chunks_exact(bb)) {
                dequantize_block(ty, b, y);
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_known_block() {
        // d = 0.5, nibble pairs (lo=j mod 16, hi=15 - j mod 16).
        let mut b = f16::from_f32(0.5).to_le_bytes().to_vec();
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        let y = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
        for j in 0..16 {
            assert_eq!(y[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(y[j + 16], ((15 - j) as f32 - 8.0) * 0.5);
        }
    }

    #[test]
    fn scale_min_k4_unpacks_high_sub_blocks() {
        // Sub-block 5: low nibbles from byte 9, top bits from byte 1 (scale) and byte 5 (min).
        let mut q = [0u8; 12];
        q[9] = 0xA3; // scale low 3, min low 0xA
        q[1] = 0b1100_0000; // scale high bits 3
        q[5] = 0b0100_0000; // min high bits 1
        assert_eq!(scale_min_k4(5, &q), (3 | (3 << 4), 0xA | (1 << 4)));
    }

    #[test]
    fn wrong_size_is_an_error() {
        assert!(dequantize(GgmlType::Q8_0, &[0u8; 33], 32).is_err());
        assert!(dequantize(GgmlType::Q8_0, &[0u8; 34], 31).is_err());
        assert!(dequantize(GgmlType::F32, &[0u8; 8], 2).is_ok());
    }
}
