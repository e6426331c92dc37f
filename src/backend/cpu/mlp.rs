//! SwiGLU: `silu(gate) · up`.
//!
//! The element loops run in chunks on the rayon pool; each chunk is one tight loop over slices
//! that the compiler vectorises (AVX-512 or AVX2 where the processor has it: the same operations per lane
//! as the scalar code, so the bits do not depend on the instruction set).
use super::exp::{exp_f32, flush_subnormal};
use super::simd::{isa, Isa};
use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 4096;

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `silu(g)·u` of one element (the forward's arithmetic, shared with generation).
#[inline(always)]
pub fn swiglu_one(g: f32, u: f32) -> f32 {
    g * sigmoid(g) * u
}

/// (d_gate, d_up) of one element.
#[inline(always)]
fn swiglu_grad_one(d: f32, g: f32, u: f32) -> (f32, f32) {
    let s = sigmoid(g);
    let silu = g * s;
    (
        flush_subnormal(d * u * s * (1.0 + g * (1.0 - s))),
        flush_subnormal(d * silu),
    )
}

#[inline(always)]
fn fwd_body(out: &mut [f32], gate: &[f32], up: &[f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = swiglu_one(g, u);
    }
}

#[inline(always)]
fn bwd_body(dg: &mut [f32], du: &mut [f32], dy: &[f32], gate: &[f32], up: &[f32]) {
    for ((((a, b), &d), &g), &u) in dg.iter_mut().zip(du.iter_mut()).zip(dy).zip(gate).zip(up) {
        (*a, *b) = swiglu_grad_one(d, g, u);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn fwd_avx512(out: &mut [f32], gate: &[f32], up: &[f32]) {
    fwd_body(out, gate, up)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bwd_avx512(dg: &mut [f32], du: &mut [f32], dy: &[f32], gate: &[f32], up: &[f32]) {
    bwd_body(dg, du, dy, gate, up)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fwd_avx2(out: &mut [f32], gate: &[f32], up: &[f32]) {
    fwd_body(out, gate, up)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bwd_avx2(dg: &mut [f32], du: &mut [f32], dy: &[f32], gate: &[f32], up: &[f32]) {
    bwd_body(dg, du, dy, gate, up)
}

fn fwd_chunk(isa: Isa, out: &mut [f32], gate: &[f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() {
        // SAFETY: the processor has AVX-512F (that is what `Isa::avx512` means).
        return unsafe { fwd_avx512(out, gate, up) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() {
        // SAFETY: the processor has AVX2 and FMA (that is what `Isa::avx2` means).
        return unsafe { fwd_avx2(out, gate, up) };
    }
    let _ = isa;
    fwd_body(out, gate, up)
}

fn bwd_chunk(isa: Isa, dg: &mut [f32], du: &mut [f32], dy: &[f32], gate: &[f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() {
        // SAFETY: as in `fwd_chunk`.
        return unsafe { bwd_avx512(dg, du, dy, gate, up) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() {
        // SAFETY: as in `fwd_chunk`.
        return unsafe { bwd_avx2(dg, du, dy, gate, up) };
    }
    let _ = isa;
    bwd_body(dg, du, dy, gate, up)
}

pub fn swiglu_fwd(gate: &[f32], up: &[f32]) -> Vec<f32> {
    swiglu_fwd_on(isa(), gate, up)
}

/// [`swiglu_fwd`] on a given instruction set (tests compare the two).
pub fn swiglu_fwd_on(isa: Isa, gate: &[f32], up: &[f32]) -> Vec<f32> {
    assert_eq!(
        gate.len(),
        up.len(),
        "swiglu_fwd: gate and up differ in length"
    );
    let mut out = vec![0.0f32; gate.len()];
    out.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .for_each(|(o, (g, u))| fwd_chunk(isa, o, g, u));
    out
}

/// Returns (d_gate, d_up).
pub fn swiglu_bwd(dy: &[f32], gate: &[f32], up: &[f32]) -> (Vec<f32>, Vec<f32>) {
    swiglu_bwd_on(isa(), dy, gate, up)
}

/// [`swiglu_bwd`] on a given instruction set.
pub fn swiglu_bwd_on(isa: Isa, dy: &[f32], gate: &[f32], up: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let n = dy.len();
    assert!(
        gate.len() == n && up.len() == n,
        "swiglu_bwd: lengths differ"
    );
    let (mut dg, mut du) = (vec![0.0f32; n], vec![0.0f32; n]);
    dg.par_chunks_mut(CHUNK)
        .zip(du.par_chunks_mut(CHUNK))
        .zip(
            dy.par_chunks(CHUNK)
                .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK))),
        )
        .for_each(|((a, b), (d, (g, u)))| bwd_chunk(isa, a, b, d, g, u));
    (dg, du)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::simd::{detected, supported};

    fn vals(n: usize, salt: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ salt) % 20_001) as f32 * 1e-3 - 10.0)
            .collect()
    }

    #[test]
    fn vector_and_portable_paths_are_bit_identical_and_match_f64() {
        // Odd length: a partial last chunk and a vector tail.
        let n = 3 * CHUNK + 13;
        let (g, u, d) = (vals(n, 1), vals(n, 2), vals(n, 3));
        let fv = swiglu_fwd_on(detected(), &g, &u);
        let bv = swiglu_bwd_on(detected(), &d, &g, &u);
        for level in supported() {
            assert_eq!(fv, swiglu_fwd_on(level, &g, &u), "{}", level.name());
            assert_eq!(bv, swiglu_bwd_on(level, &d, &g, &u), "{}", level.name());
        }
        for i in 0..n {
            let (g, u, d) = (g[i] as f64, u[i] as f64, d[i] as f64);
            let s = 1.0 / (1.0 + (-g).exp());
            let y = g * s * u;
            assert!(
                (fv[i] as f64 - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "fwd {i}"
            );
            let dgr = d * u * s * (1.0 + g * (1.0 - s));
            assert!(
                (bv.0[i] as f64 - dgr).abs() <= 1e-5 * (1.0 + dgr.abs()),
                "d_gate {i}"
            );
            assert!((bv.1[i] as f64 - d * g * s).abs() <= 1e-5 * (1.0 + (d * g * s).abs()));
        }
        // Saturation: no NaN or overflow at the ends of the range.
        let big = [-1e30f32, -100.0, 100.0, 1e30];
        for &x in &big {
            assert!(swiglu_one(x, 1.0).is_finite(), "silu({x})");
        }
    }
}
