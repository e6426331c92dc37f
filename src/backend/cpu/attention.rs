//! Causal grouped-query attention over packed variable-length sequences.
//!
//! Rows of q/k/v are tokens of several sequences laid end to end (`seqs` gives each sequence's
//! first row and length); a token attends only to earlier tokens of its own sequence. Query head
//! h reads key/value head h / (n_q_heads / n_kv_heads). The softmax statistic (log-sum-exp) is
//! kept per (token, head) so the backward recomputes probabilities instead of storing T×T.
use super::attention_blocks::{packed_transpose, padded_rows, rows_times_packed, rows_times_rows};
use super::exp::{exp_f32, flush_subnormal};
use super::gemm::gemm;
use super::simd::{isa, Isa};
use rayon::prelude::*;

/// Shapes shared by the forward and backward.
#[derive(Clone, Copy, Debug)]
pub struct AttnDims {
    pub n_q_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl AttnDims {
    pub fn group(&self) -> usize {
        self.n_q_heads / self.n_kv_heads
    }
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// Query rows per block of [`attend_head`].
const QUERY_BLOCK: usize = 64;

/// Copy head `h` of rows `start..start+len` of a [N, heads·D] matrix into a contiguous [len, D].
pub fn gather_head(
    x: &[f32],
    heads: usize,
    d: usize,
    h: usize,
    start: usize,
    len: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len * d);
    for t in start..start + len {
        let o = t * heads * d + h * d;
        out.extend_from_slice(&x[o..o + d]);
    }
    out
}

fn scatter_head(dst: &mut [f32], src: &[f32], heads: usize, d: usize, h: usize, start: usize) {
    for (i, r) in src.chunks(d).enumerate() {
        let o = (start + i) * heads * d + h * d;
        dst[o..o + d].copy_from_slice(r);
    }
}

/// One head of one sequence: queries [tq, D] against keys/values [tk, D]; query i sits at
/// position `tk − tq + i` and sees keys 0..=that position. Returns (out [tq, D], lse [tq]).
///
/// The products run on the GEMM micro-kernels with operands prepared once per head (see
/// [`super::attention_blocks`]): the numbers are the GEMM's, and those of the cached attention
/// of generation.
pub fn attend_head(
    qh: &[f32],
    kh: &[f32],
    vh: &[f32],
    tq: usize,
    tk: usize,
    d: usize,
    scale: f32,
) -> (Vec<f32>, Vec<f32>) {
    let offset = tk - tq;
    let isa = isa();
    let mut o = vec![0.0f32; tq * d];
    let mut lse = vec![0.0f32; tq];
    if tq == 0 || d == 0 {
        return (o, lse);
    }
    let keys = packed_transpose(kh, tk, d);
    let (values, stride) = padded_rows(vh, d);
    let mut s = vec![0.0f32; QUERY_BLOCK.min(tq) * tk];
    // A block of queries reads only the keys its last row sees: the masked triangle is never
    // computed (its terms would add exact zeros), and every kept number is unchanged.
    for i0 in (0..tq).step_by(QUERY_BLOCK) {
        let rows = QUERY_BLOCK.min(tq - i0);
        let vis = offset + i0 + rows;
        let s = &mut s[..rows * vis];
        rows_times_packed(isa, &qh[i0 * d..], rows, d, &keys, vis, scale, s);
        for (i, row) in s.chunks_mut(vis).enumerate() {
            lse[i0 + i] = softmax_visible(row, offset + i0 + i + 1);
        }
        let out = &mut o[i0 * d..(i0 + rows) * d];
        rows_times_rows(isa, s, rows, vis, &values, stride, d, 1.0, out);
    }
    (o, lse)
}

/// Softmax of the first `visible` entries of a score row in place, zeros after them; returns
/// the log-sum-exp. Shared with the cached attention of generation, so both give the same bits.
/// The exponentials are [`exp_f32`] (vectorised, the same bits on every instruction set) and
/// the normaliser an f64 sum in eight interleaved lanes added in a fixed order.
pub fn softmax_visible(row: &mut [f32], visible: usize) -> f32 {
    let m = row[..visible]
        .iter()
        .cloned()
        .fold(f32::NEG_INFINITY, f32::max);
    let sum = exp_shifted_sum(isa(), &mut row[..visible], m);
    let inv = (1.0 / sum) as f32;
    for x in row[..visible].iter_mut() {
        *x *= inv;
    }
    for x in row[visible..].iter_mut() {
        *x = 0.0;
    }
    m + (sum.ln() as f32)
}

/// `x ← exp(x − m)` in place; returns Σ x in f64 (lane j mod 8, lanes combined pairwise).
fn exp_shifted_sum(isa: Isa, x: &mut [f32], m: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() {
        // SAFETY: the processor has AVX-512F (that is what `Isa::avx512` means).
        return unsafe { exp_shifted_sum_avx512(x, m) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() {
        // SAFETY: the processor has AVX2 and FMA (that is what `Isa::avx2` means).
        return unsafe { exp_shifted_sum_avx2(x, m) };
    }
    let _ = isa;
    exp_shifted_sum_body(x, m)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn exp_shifted_sum_avx512(x: &mut [f32], m: f32) -> f64 {
    exp_shifted_sum_body(x, m)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_shifted_sum_avx2(x: &mut [f32], m: f32) -> f64 {
    exp_shifted_sum_body(x, m)
}

#[inline(always)]
fn exp_shifted_sum_body(x: &mut [f32], m: f32) -> f64 {
    for v in x.iter_mut() {
        *v = exp_f32(*v - m);
    }
    let mut lanes = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v as f64;
        }
    }
    for (l, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *l += v as f64;
    }
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6]))
        + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
}

/// Forward over packed sequences (no cache). Returns (out [N, Hq·D], lse [N, Hq]).
pub fn attention_fwd(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    seqs: &[(usize, usize)],
    dims: AttnDims,
) -> (Vec<f32>, Vec<f32>) {
    let AttnDims {
        n_q_heads: hq,
        n_kv_heads: hkv,
        head_dim: d,
    } = dims;
    let n = q.len() / (hq * d);
    let tasks: Vec<(usize, usize)> = (0..seqs.len())
        .flat_map(|s| (0..hq).map(move |h| (s, h)))
        .collect();
    let results: Vec<(Vec<f32>, Vec<f32>)> = tasks
        .par_iter()
        .map(|&(s, h)| {
            let (start, len) = seqs[s];
            let g = h / dims.group();
            let qh = gather_head(q, hq, d, h, start, len);
            let kh = gather_head(k, hkv, d, g, start, len);
            let vh = gather_head(v, hkv, d, g, start, len);
            attend_head(&qh, &kh, &vh, len, len, d, dims.scale())
        })
        .collect();
    let mut out = vec![0.0f32; n * hq * d];
    let mut lse = vec![0.0f32; n * hq];
    for (&(s, h), (o, l)) in tasks.iter().zip(results) {
        let (start, _) = seqs[s];
        scatter_head(&mut out, &o, hq, d, h, start);
        for (i, x) in l.into_iter().enumerate() {
            lse[(start + i) * hq + h] = x;
        }
    }
    (out, lse)
}

/// Backward over packed sequences. Returns (dq, dk, dv). One task per (sequence, kv head), so
/// the query heads sharing a kv head add into dk/dv in a fixed order (deterministic). Blocked
/// like the forward: a block of queries recomputes its probabilities from the saved
/// log-sum-exp against the keys it sees and adds its share to dK and dV, block after block.
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(
    dout: &[f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    seqs: &[(usize, usize)],
    dims: AttnDims,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let AttnDims {
        n_q_heads: hq,
        n_kv_heads: hkv,
        head_dim: d,
    } = dims;
    let n = q.len() / (hq * d);
    let scale = dims.scale();
    let isa = isa();
    let tasks: Vec<(usize, usize)> = (0..seqs.len())
        .flat_map(|s| (0..hkv).map(move |g| (s, g)))
        .collect();
    type HeadGrads = (Vec<(usize, Vec<f32>)>, Vec<f32>, Vec<f32>);
    let results: Vec<HeadGrads> = tasks
        .par_iter()
        .map(|&(s, g)| {
            let (start, t) = seqs[s];
            let kh = gather_head(k, hkv, d, g, start, t);
            let vh = gather_head(v, hkv, d, g, start, t);
            let mut dk = vec![0.0f32; t * d];
            let mut dv = vec![0.0f32; t * d];
            let mut dqs = Vec::new();
            if t == 0 || d == 0 {
                return (dqs, dk, dv);
            }
            let keys_t = packed_transpose(&kh, t, d);
            let values_t = packed_transpose(&vh, t, d);
            let (keys, stride) = padded_rows(&kh, d);
            let block = QUERY_BLOCK.min(t);
            let (mut p, mut dp) = (vec![0.0f32; block * t], vec![0.0f32; block * t]);
            for h in g * dims.group()..(g + 1) * dims.group() {
                let qh = gather_head(q, hq, d, h, start, t);
                let oh = gather_head(out, hq, d, h, start, t);
                let doh = gather_head(dout, hq, d, h, start, t);
                let mut dq = vec![0.0f32; t * d];
                for i0 in (0..t).step_by(QUERY_BLOCK) {
                    let rows = QUERY_BLOCK.min(t - i0);
                    let vis = i0 + rows;
                    let (p, dp) = (&mut p[..rows * vis], &mut dp[..rows * vis]);
                    let (qb, dob) = (&qh[i0 * d..(i0 + rows) * d], &doh[i0 * d..(i0 + rows) * d]);
                    // P from the saved log-sum-exp; dP = dO Vᵀ.
                    rows_times_packed(isa, qb, rows, d, &keys_t, vis, scale, p);
                    rows_times_packed(isa, dob, rows, d, &values_t, vis, 1.0, dp);
                    for (i, (pr, dpr)) in p.chunks_mut(vis).zip(dp.chunks_mut(vis)).enumerate() {
                        let row = i0 + i;
                        let l = lse[(start + row) * hq + h];
                        // dS = P ∘ (dP − rowsum(dO ∘ O))
                        let di: f64 = (0..d)
                            .map(|c| doh[row * d + c] as f64 * oh[row * d + c] as f64)
                            .sum();
                        for (x, y) in pr[..=row].iter_mut().zip(&mut dpr[..=row]) {
                            *x = exp_f32(*x - l);
                            *y = flush_subnormal(*x * (*y - di as f32));
                        }
                        pr[row + 1..].fill(0.0);
                        dpr[row + 1..].fill(0.0);
                    }
                    // dQ = scale · dS K ; dK += scale · dSᵀ Q ; dV += Pᵀ dO
                    let dqb = &mut dq[i0 * d..(i0 + rows) * d];
                    rows_times_rows(isa, dp, rows, vis, &keys, stride, d, scale, dqb);
                    gemm(
                        vis,
                        d,
                        rows,
                        scale,
                        dp,
                        true,
                        qb,
                        false,
                        1.0,
                        &mut dk[..vis * d],
                    );
                    gemm(
                        vis,
                        d,
                        rows,
                        1.0,
                        p,
                        true,
                        dob,
                        false,
                        1.0,
                        &mut dv[..vis * d],
                    );
                }
                dqs.push((h, dq));
            }
            (dqs, dk, dv)
        })
        .collect();
    let mut dq = vec![0.0f32; n * hq * d];
    let mut dk = vec![0.0f32; n * hkv * d];
    let mut dv = vec![0.0f32; n * hkv * d];
    for (&(s, g), (dqs, dkh, dvh)) in tasks.iter().zip(results) {
        let (start, _) = seqs[s];
        for (h, x) in dqs {
            scatter_head(&mut dq, &x, hq, d, h, start);
        }
        scatter_head(&mut dk, &dkh, hkv, d, g, start);
        scatter_head(&mut dv, &dvh, hkv, d, g, start);
    }
    (dq, dk, dv)
}
