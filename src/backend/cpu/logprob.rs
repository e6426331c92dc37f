//! Token log-probabilities and entropies of temperature-scaled softmax, and their gradient —
//! both from a logits matrix (the unfused reference) and fused with the LM-head GEMM, tile by
//! tile, so that at most a budget of logits exists at once (never T×V).
//!
//! Per token with logits z, u = z/τ, p = softmax(u):
//!   logp = u_y − lse(u),   H = lse(u) − Σ_v p_v u_v.
//! Given upstream gradients g_lp (on logp) and g_H (on H):
//!   ∂L/∂z_v = (g_lp·(1[v=y] − p_v) − g_H·p_v·(log p_v + H)) / τ.
use super::exp::{exp_f32, flush_subnormal};
use super::gemm::{gemm, gemm_uninit};
use rayon::prelude::*;

/// Lanes of the partial sums in [`row_stats`]; blocks of `SUM_BLOCK` elements are added to
/// the f64 totals so each f32 lane sums at most SUM_BLOCK / LANES terms.
const LANES: usize = 8;
const SUM_BLOCK: usize = 256;

/// Statistics of one row: (logp of target, entropy, log-sum-exp of u).
pub fn row_stats(z: &[f32], target: usize, inv_temp: f32) -> (f32, f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { row_stats_avx2(z, target, inv_temp) };
    }
    row_stats_body(z, target, inv_temp)
}

/// [`row_stats_body`] compiled for AVX2: the same IEEE operations per lane (Rust never
/// contracts a·b+c into an FMA), so bit-identical results at twice the vector width.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_stats_avx2(z: &[f32], target: usize, inv_temp: f32) -> (f32, f32, f32) {
    row_stats_body(z, target, inv_temp)
}

#[inline(always)]
fn row_stats_body(z: &[f32], target: usize, inv_temp: f32) -> (f32, f32, f32) {
    let m = lane_max(z) * inv_temp;
    let (s, su) = exp_sums(z, inv_temp, m);
    let lse = m as f64 + s.ln();
    let logp = z[target] as f64 * inv_temp as f64 - lse;
    let h = lse - su / s;
    (logp as f32, h as f32, lse as f32)
}

/// Largest element, lane-wise so it vectorises (max is exact: the order does not matter).
#[inline(always)]
fn lane_max(z: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut it = z.chunks_exact(LANES);
    for c in &mut it {
        for l in 0..LANES {
            lanes[l] = lanes[l].max(c[l]);
        }
    }
    lanes
        .iter()
        .chain(it.remainder())
        .cloned()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// (Σ e^(u−m), Σ e^(u−m)·u) over u = z·inv_temp: f32 lanes within blocks, f64 across them.
#[inline(always)]
fn exp_sums(z: &[f32], inv_temp: f32, m: f32) -> (f64, f64) {
    let mut s = 0.0f64;
    let mut su = 0.0f64;
    for blk in z.chunks(SUM_BLOCK) {
        let mut bs = [0.0f32; LANES];
        let mut bsu = [0.0f32; LANES];
        let mut it = blk.chunks_exact(LANES);
        for c in &mut it {
            for l in 0..LANES {
                let u = c[l] * inv_temp;
                let e = exp_f32(u - m);
                bs[l] += e;
                bsu[l] += e * u;
            }
        }
        for &x in it.remainder() {
            let u = x * inv_temp;
            let e = exp_f32(u - m);
            bs[0] += e;
            bsu[0] += e * u;
        }
        s += bs.iter().map(|&v| v as f64).sum::<f64>();
        su += bsu.iter().map(|&v| v as f64).sum::<f64>();
    }
    (s, su)
}

/// One row's softmax statistics accumulated over vocabulary tiles (online log-sum-exp): the
/// running max of u, Σ e^(u−m) and Σ e^(u−m)·u (rescaled when the max grows), the target's
/// logit. One tile covering the whole vocabulary gives exactly [`row_stats`].
#[derive(Clone, Copy, Debug)]
struct RowAcc {
    m: f32,
    s: f64,
    su: f64,
    z_target: f32,
}

impl RowAcc {
    const EMPTY: RowAcc = RowAcc {
        m: f32::NEG_INFINITY,
        s: 0.0,
        su: 0.0,
        z_target: 0.0,
    };

    /// Adds the logits `z` of one tile.
    fn add_tile(&mut self, z: &[f32], inv_temp: f32) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { add_tile_avx2(self, z, inv_temp) };
            return;
        }
        add_tile_body(self, z, inv_temp)
    }

    /// (logp, entropy, lse) as [`row_stats`] returns them.
    fn finish(&self, inv_temp: f32) -> (f32, f32, f32) {
        let lse = self.m as f64 + self.s.ln();
        let logp = self.z_target as f64 * inv_temp as f64 - lse;
        let h = lse - self.su / self.s;
        (logp as f32, h as f32, lse as f32)
    }
}

/// [`add_tile_body`] compiled for AVX2 (bit-identical, see [`row_stats_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_tile_avx2(acc: &mut RowAcc, z: &[f32], inv_temp: f32) {
    add_tile_body(acc, z, inv_temp)
}

#[inline(always)]
fn add_tile_body(acc: &mut RowAcc, z: &[f32], inv_temp: f32) {
    let m = acc.m.max(lane_max(z) * inv_temp);
    let (s, su) = exp_sums(z, inv_temp, m);
    if acc.s == 0.0 {
        (acc.s, acc.su) = (s, su);
    } else {
        let scale = (acc.m as f64 - m as f64).exp();
        acc.s = acc.s * scale + s;
        acc.su = acc.su * scale + su;
    }
    acc.m = m;
}

/// Overwrite row `z` with ∂L/∂z (see module docs). `lse`, `h` from [`row_stats`].
#[allow(clippy::too_many_arguments)]
pub fn row_grad_in_place(
    z: &mut [f32],
    target: usize,
    inv_temp: f32,
    lse: f32,
    h: f32,
    g_lp: f32,
    g_h: f32,
) {
    softmax_grad_in_place(z, inv_temp, lse, h, g_lp, g_h);
    z[target] += g_lp * inv_temp;
}

/// [`row_grad_in_place`] without the target's term, for any slice of a row's logits.
fn softmax_grad_in_place(z: &mut [f32], inv_temp: f32, lse: f32, h: f32, g_lp: f32, g_h: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { softmax_grad_avx512(z, inv_temp, lse, h, g_lp, g_h) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { softmax_grad_avx2(z, inv_temp, lse, h, g_lp, g_h) };
    }
    softmax_grad_body(z, inv_temp, lse, h, g_lp, g_h)
}

/// [`softmax_grad_body`] compiled for AVX-512: each element on its own, so sixteen lanes give
/// the same bits as eight or one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
unsafe fn softmax_grad_avx512(z: &mut [f32], inv_temp: f32, lse: f32, h: f32, g_lp: f32, g_h: f32) {
    softmax_grad_body(z, inv_temp, lse, h, g_lp, g_h)
}

/// [`softmax_grad_body`] compiled for AVX2 (bit-identical, see [`row_stats_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn softmax_grad_avx2(z: &mut [f32], inv_temp: f32, lse: f32, h: f32, g_lp: f32, g_h: f32) {
    softmax_grad_body(z, inv_temp, lse, h, g_lp, g_h)
}

#[inline(always)]
fn softmax_grad_body(z: &mut [f32], inv_temp: f32, lse: f32, h: f32, g_lp: f32, g_h: f32) {
    for x in z.iter_mut() {
        let logp_v = *x * inv_temp - lse;
        let p = exp_f32(logp_v);
        *x = flush_subnormal((-g_lp * p - g_h * p * (logp_v + h)) * inv_temp);
    }
}

/// Per-token outputs of the log-prob forward.
#[derive(Clone, Debug, Default)]
pub struct LogprobOut {
    pub logp: Vec<f32>,
    pub entropy: Vec<f32>,
    pub lse: Vec<f32>,
}

/// From a logits matrix [rows, V].
pub fn logprob_from_logits(
    logits: &[f32],
    vocab: usize,
    targets: &[u32],
    inv_temp: f32,
) -> LogprobOut {
    let stats: Vec<(f32, f32, f32)> = logits
        .par_chunks(vocab)
        .zip(targets.par_iter())
        .map(|(z, &y)| row_stats(z, y as usize, inv_temp))
        .collect();
    unzip3(stats)
}

fn unzip3(stats: Vec<(f32, f32, f32)>) -> LogprobOut {
    let mut o = LogprobOut::default();
    for (a, b, c) in stats {
        o.logp.push(a);
        o.entropy.push(b);
        o.lse.push(c);
    }
    o
}

/// Gradient w.r.t. the logits matrix.
#[allow(clippy::too_many_arguments)]
pub fn logprob_from_logits_bwd(
    logits: &[f32],
    vocab: usize,
    targets: &[u32],
    inv_temp: f32,
    fwd: &LogprobOut,
    g_lp: &[f32],
    g_h: &[f32],
) -> Vec<f32> {
    let mut dz = logits.to_vec();
    dz.par_chunks_mut(vocab).enumerate().for_each(|(t, z)| {
        row_grad_in_place(
            z,
            targets[t] as usize,
            inv_temp,
            fwd.lse[t],
            fwd.entropy[t],
            g_lp[t],
            g_h[t],
        );
    });
    dz
}

/// Rows per chunk so a chunk of logits stays under `budget_floats`.
pub fn chunk_rows(vocab: usize, rows: usize, budget_floats: usize) -> usize {
    (budget_floats / vocab.max(1)).clamp(1, rows.max(1))
}

/// Default logits budget for the fused path on the CPU: 4M floats (16 MiB).
pub const FUSED_BUDGET_FLOATS: usize = 1 << 22;

/// Rows per tile of the fused forward: enough that the LM head's weight is streamed (and packed
/// by the GEMM) once per this many rows, not once per small row chunk.
const FWD_ROW_TILE: usize = 1024;

/// (rows, vocabulary columns) of one logits tile of the fused forward, at most `budget` floats.
pub fn fwd_tile(vocab: usize, rows: usize, budget: usize) -> (usize, usize) {
    let r = rows.clamp(1, FWD_ROW_TILE).min(budget.max(1));
    (r, (budget / r).clamp(1, vocab.max(1)))
}

/// Default budget for logits the fused forward keeps for its backward on the CPU: 64M floats
/// (256 MiB). The backward reads kept logits instead of recomputing them — three
/// vocabulary-sized products for those rows instead of four — and gets the same bits (the
/// recomputation is the same product on the same operands). The forward keeps whole row blocks
/// while they fit and the backward recomputes the rest tile by tile, so memory stays bounded
/// whatever the vocabulary and the micro-batch.
pub const KEEP_LOGITS_FLOATS: usize = 1 << 26;

/// How many leading rows of a [rows, vocab] logits matrix the fused forward keeps within
/// `keep_floats` when its row blocks are `r` rows (whole blocks only; the last may be short).
pub fn kept_rows(rows: usize, vocab: usize, r: usize, keep_floats: usize) -> usize {
    let fit = keep_floats / vocab.max(1);
    if fit >= rows {
        rows
    } else {
        fit / r.max(1) * r.max(1)
    }
}

/// Where tile (row block `start` of `n` rows, vocabulary columns `v0..v0+w`) of the kept logits
/// lies: each row block is stored whole, its tiles one after another as [n, w] matrices.
fn kept_range(start: usize, n: usize, v0: usize, w: usize, vocab: usize) -> std::ops::Range<usize> {
    let at = start * vocab + n * v0;
    at..at + n * w
}

/// The logits tiles of a fused pass: slices of the kept rows' buffer, else one scratch tile.
struct Tiles<'a> {
    kept: Option<&'a mut [f32]>,
    keep_rows: usize,
    vocab: usize,
    scratch: Vec<f32>,
}

impl<'a> Tiles<'a> {
    /// `kept`: the logits of the leading rows (whole row blocks of `r`), if any.
    fn new(kept: Option<&'a mut [f32]>, rows: usize, vocab: usize, r: usize, vt: usize) -> Self {
        let keep_rows = kept.as_ref().map_or(0, |k| k.len() / vocab.max(1));
        assert!(
            kept.as_ref().is_none_or(|k| k.len() == keep_rows * vocab)
                && (keep_rows == rows || keep_rows.is_multiple_of(r.max(1))),
            "fused log-prob: {keep_rows} kept rows of {rows} (vocabulary {vocab}, blocks of {r})"
        );
        let scratch = if keep_rows == rows {
            Vec::new()
        } else {
            vec![0.0f32; r * vt]
        };
        Tiles {
            kept,
            keep_rows,
            vocab,
            scratch,
        }
    }

    /// Tile (row block `start` of `n` rows, columns `v0..v0+w`), and whether it is kept.
    fn get(&mut self, start: usize, n: usize, v0: usize, w: usize) -> (&mut [f32], bool) {
        match self.kept.as_deref_mut() {
            Some(k) if start + n <= self.keep_rows => {
                (&mut k[kept_range(start, n, v0, w, self.vocab)], true)
            }
            _ => (&mut self.scratch[..n * w], false),
        }
    }
}

/// Fused LM head + log-prob: hidden [rows, d], weight [V, d] (HF layout). Logits are made one
/// [rows × vocabulary columns] tile at a time and folded into per-row online log-sum-exp
/// statistics while the tile is still in cache.
pub fn fused_logprob_fwd(
    hidden: &[f32],
    weight: &[f32],
    d: usize,
    targets: &[u32],
    inv_temp: f32,
    budget: usize,
) -> LogprobOut {
    fused_logprob_fwd_keep(hidden, weight, d, targets, inv_temp, budget, 0).0
}

/// [`fused_logprob_fwd`] that also returns the logits of the leading row blocks that fit in
/// `keep_floats` ([`kept_rows`] of them; see [`KEEP_LOGITS_FLOATS`]), for
/// [`fused_logprob_bwd_kept`]. `None` when not one row block fits.
#[allow(clippy::too_many_arguments)]
pub fn fused_logprob_fwd_keep(
    hidden: &[f32],
    weight: &[f32],
    d: usize,
    targets: &[u32],
    inv_temp: f32,
    budget: usize,
    keep_floats: usize,
) -> (LogprobOut, Option<Vec<f32>>) {
    let vocab = weight.len() / d;
    let rows = targets.len();
    let (r, vt) = fwd_tile(vocab, rows, budget);
    let keep_rows = kept_rows(rows, vocab, r, keep_floats);
    let mut kept = (keep_rows > 0).then(|| vec![0.0f32; keep_rows * vocab]);
    let mut tiles = Tiles::new(kept.as_deref_mut(), rows, vocab, r, vt);
    let mut out = LogprobOut::default();
    for start in (0..rows).step_by(r) {
        let n = r.min(rows - start);
        let ys = &targets[start..start + n];
        let mut acc = vec![RowAcc::EMPTY; n];
        for v0 in (0..vocab).step_by(vt) {
            let w = vt.min(vocab - v0);
            let (z, _) = tiles.get(start, n, v0, w);
            gemm(
                n,
                w,
                d,
                1.0,
                &hidden[start * d..(start + n) * d],
                false,
                &weight[v0 * d..(v0 + w) * d],
                true,
                0.0,
                z,
            );
            z.par_chunks(w)
                .zip(acc.par_iter_mut())
                .zip(ys.par_iter())
                .for_each(|((zr, a), &y)| {
                    a.add_tile(zr, inv_temp);
                    if (v0..v0 + w).contains(&(y as usize)) {
                        a.z_target = zr[y as usize - v0];
                    }
                });
        }
        for a in acc {
            let (lp, h, lse) = a.finish(inv_temp);
            out.logp.push(lp);
            out.entropy.push(h);
            out.lse.push(lse);
        }
    }
    drop(tiles);
    (out, kept)
}

/// Fused backward over the forward's tiles: recomputes each [rows × vocabulary columns] tile
/// of logits, turns it into ∂L/∂z with the per-token coefficients folded in, then
/// dH += ∂z·W_tile and dW_tile += ∂zᵀ·H. Returns (d_hidden, d_weight).
#[allow(clippy::too_many_arguments)]
pub fn fused_logprob_bwd(
    hidden: &[f32],
    weight: &[f32],
    d: usize,
    targets: &[u32],
    inv_temp: f32,
    fwd: &LogprobOut,
    g_lp: &[f32],
    g_h: &[f32],
    budget: usize,
) -> (Vec<f32>, Vec<f32>) {
    fused_logprob_bwd_kept(
        hidden, weight, d, targets, inv_temp, fwd, g_lp, g_h, budget, None,
    )
}

/// [`fused_logprob_bwd`] reading the logits the forward kept ([`fused_logprob_fwd_keep`], same
/// `budget`) instead of recomputing them, and recomputing the rows it did not keep; the kept
/// logits are overwritten with ∂L/∂z. Same bits either way.
#[allow(clippy::too_many_arguments)]
pub fn fused_logprob_bwd_kept(
    hidden: &[f32],
    weight: &[f32],
    d: usize,
    targets: &[u32],
    inv_temp: f32,
    fwd: &LogprobOut,
    g_lp: &[f32],
    g_h: &[f32],
    budget: usize,
    kept: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let vocab = weight.len() / d;
    let rows = targets.len();
    let (r, vt) = fwd_tile(vocab, rows, budget);
    let mut tiles = Tiles::new(kept, rows, vocab, r, vt);
    if rows == 0 {
        return (Vec::new(), vec![0.0; vocab * d]);
    }
    let mut dh = vec![0.0f32; rows * d];
    // The first row block writes dW tile by tile (beta = 0, nothing zeroed or read first);
    // later row blocks add to it.
    let mut dw: Vec<f32> = Vec::with_capacity(vocab * d);
    for start in (0..rows).step_by(r) {
        let n = r.min(rows - start);
        let h = &hidden[start * d..(start + n) * d];
        for v0 in (0..vocab).step_by(vt) {
            let w = vt.min(vocab - v0);
            let wt = &weight[v0 * d..(v0 + w) * d];
            let (z, is_kept) = tiles.get(start, n, v0, w);
            if !is_kept {
                gemm(n, w, d, 1.0, h, false, wt, true, 0.0, z);
            }
            z.par_chunks_mut(w).enumerate().for_each(|(i, zr)| {
                let t = start + i;
                softmax_grad_in_place(zr, inv_temp, fwd.lse[t], fwd.entropy[t], g_lp[t], g_h[t]);
                let y = targets[t] as usize;
                if (v0..v0 + w).contains(&y) {
                    zr[y - v0] += g_lp[t] * inv_temp;
                }
            });
            let beta = if v0 == 0 { 0.0 } else { 1.0 };
            let dh_rows = &mut dh[start * d..(start + n) * d];
            gemm(n, d, w, 1.0, z, false, wt, false, beta, dh_rows);
            if start == 0 {
                let dw_tile = &mut dw.spare_capacity_mut()[v0 * d..(v0 + w) * d];
                gemm_uninit(w, d, n, 1.0, z, true, h, false, dw_tile);
            } else {
                gemm(
                    w,
                    d,
                    n,
                    1.0,
                    z,
                    true,
                    h,
                    false,
                    1.0,
                    &mut dw[v0 * d..(v0 + w) * d],
                );
            }
        }
        if start == 0 {
            // SAFETY: the first row block's tiles wrote every row of dW (the tiles cover the
            // vocabulary).
            unsafe { dw.set_len(vocab * d) };
        }
    }
    (dh, dw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_row_kernels_are_bit_identical_to_the_baseline_build() {
        for len in [1usize, 7, 8, 255, 256, 1001, 4099] {
            let z: Vec<f32> = (0..len)
                .map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 0.031)
                .collect();
            let t = len / 3;
            assert_eq!(row_stats(&z, t, 0.7), row_stats_body(&z, t, 0.7), "{len}");
            let (_, h, lse) = row_stats_body(&z, t, 0.7);
            let (mut a, mut b) = (z.clone(), z.clone());
            row_grad_in_place(&mut a, t, 0.7, lse, h, 0.3, -0.2);
            softmax_grad_body(&mut b, 0.7, lse, h, 0.3, -0.2);
            b[t] += 0.3 * 0.7;
            assert_eq!(a, b, "{len}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // The narrower build where the dispatch picks AVX-512.
                let mut c = z.clone();
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { softmax_grad_avx2(&mut c, 0.7, lse, h, 0.3, -0.2) };
                c[t] += 0.3 * 0.7;
                assert_eq!(c, b, "{len}");
            }
        }
    }

    /// Hidden states [6, 5], an LM head [300, 5] and targets for the fused-path tests.
    fn small_head() -> (usize, usize, usize, Vec<f32>, Vec<f32>, Vec<u32>) {
        let (rows, d, vocab) = (6, 5, 300);
        let h: Vec<f32> = (0..rows * d)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.3)
            .collect();
        let w: Vec<f32> = (0..vocab * d)
            .map(|i| ((i * 29 % 23) as f32 - 11.0) * 0.2)
            .collect();
        let y: Vec<u32> = (0..rows as u32).map(|t| t * 47 % 300).collect();
        (rows, d, vocab, h, w, y)
    }

    #[test]
    fn one_vocabulary_tile_is_exactly_row_stats_and_many_tiles_are_close() {
        let (rows, d, vocab, h, w, y) = small_head();
        let mut logits = vec![0.0; rows * vocab];
        gemm(rows, vocab, d, 1.0, &h, false, &w, true, 0.0, &mut logits);
        let a = logprob_from_logits(&logits, vocab, &y, 1.3);
        let one = fused_logprob_fwd(&h, &w, d, &y, 1.3, rows * vocab);
        assert_eq!(
            (&a.logp, &a.entropy, &a.lse),
            (&one.logp, &one.entropy, &one.lse)
        );
        for budget in [7, 64, 600, 1000] {
            let b = fused_logprob_fwd(&h, &w, d, &y, 1.3, budget);
            for t in 0..rows {
                assert!((a.logp[t] - b.logp[t]).abs() < 2e-6, "{budget}");
                assert!((a.entropy[t] - b.entropy[t]).abs() < 2e-6, "{budget}");
                assert!((a.lse[t] - b.lse[t]).abs() < 2e-6, "{budget}");
            }
        }
    }

    #[test]
    fn kept_logits_give_the_same_bits_as_recomputed_ones() {
        let (rows, d, vocab, h, w, y) = small_head();
        let glp: Vec<f32> = (0..rows).map(|t| 0.3 - 0.1 * t as f32).collect();
        let gh: Vec<f32> = (0..rows).map(|t| 0.02 * t as f32 - 0.05).collect();
        // Tile budget 4 < rows: row blocks of 4 and 2 rows; 7: one-column tiles; 1000: three
        // tiles per row block. Keep budgets: everything, the first row block only, nothing.
        for budget in [4, 7, 64, 1000, rows * vocab] {
            let plain = fused_logprob_fwd(&h, &w, d, &y, 1.3, budget);
            let a = fused_logprob_bwd(&h, &w, d, &y, 1.3, &plain, &glp, &gh, budget);
            for keep in [rows * vocab, 5 * vocab, vocab - 1] {
                let (fwd, mut kept) = fused_logprob_fwd_keep(&h, &w, d, &y, 1.3, budget, keep);
                assert_eq!(
                    (&plain.logp, &plain.entropy, &plain.lse),
                    (&fwd.logp, &fwd.entropy, &fwd.lse)
                );
                let r = fwd_tile(vocab, rows, budget).0;
                let want = kept_rows(rows, vocab, r, keep);
                assert_eq!(kept.as_ref().map_or(0, |k| k.len()), want * vocab);
                let b = fused_logprob_bwd_kept(
                    &h,
                    &w,
                    d,
                    &y,
                    1.3,
                    &fwd,
                    &glp,
                    &gh,
                    budget,
                    kept.as_deref_mut(),
                );
                assert_eq!(a, b, "budget {budget}, keep {keep}");
            }
        }
        assert_eq!(kept_rows(6, 300, 4, 5 * 300), 4, "whole row blocks only");
        assert_eq!(kept_rows(6, 300, 4, 3 * 300), 0);
        assert_eq!(kept_rows(6, 300, 4, 6 * 300), 6);
    }

    #[test]
    fn row_gradients_never_hold_subnormals() {
        // Logits 90 apart: the far tail's probability is ~1e-39 and its gradient subnormal,
        // which every later product would pay a microcode assist for on Intel cores.
        let mut z: Vec<f32> = (0..64).map(|i| -(i as f32) * 1.5).collect();
        let (_, ent, lse) = row_stats(&z, 0, 1.0);
        row_grad_in_place(&mut z, 0, 1.0, lse, ent, 1e-3, 1e-3);
        assert!(z.iter().all(|x| !x.is_subnormal()), "{z:?}");
        assert!(z[63] == 0.0 && z[1] != 0.0);
    }

    #[test]
    fn row_stats_match_an_f64_reference() {
        let z: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.17)
            .collect();
        let it = 1.0 / 0.6;
        let u: Vec<f64> = z.iter().map(|&x| x as f64 * it as f64).collect();
        let m = u.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = u.iter().map(|&x| (x - m).exp()).sum();
        let lse = m + s.ln();
        let h = lse - u.iter().map(|&x| (x - m).exp() * x).sum::<f64>() / s;
        let (lp, ent, l) = row_stats(&z, 17, it);
        assert!((l as f64 - lse).abs() < 1e-5);
        assert!((lp as f64 - (u[17] - lse)).abs() < 1e-5);
        assert!((ent as f64 - h).abs() < 1e-5);
    }

    #[test]
    fn fused_matches_unfused_with_tiny_chunks() {
        let (rows, d, vocab) = (5, 3, 7);
        let h: Vec<f32> = (0..rows * d)
            .map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.3)
            .collect();
        let w: Vec<f32> = (0..vocab * d)
            .map(|i| ((i * 29 % 11) as f32 - 5.0) * 0.2)
            .collect();
        let y = vec![0u32, 6, 3, 3, 1];
        let it = 1.0 / 0.7;
        let mut logits = vec![0.0; rows * vocab];
        gemm(rows, vocab, d, 1.0, &h, false, &w, true, 0.0, &mut logits);
        let a = logprob_from_logits(&logits, vocab, &y, it);
        let b = fused_logprob_fwd(&h, &w, d, &y, it, 2 * vocab);
        for t in 0..rows {
            assert!((a.logp[t] - b.logp[t]).abs() < 1e-6);
            assert!((a.entropy[t] - b.entropy[t]).abs() < 1e-6);
        }
        let glp = vec![1.0, -0.5, 0.25, 0.0, 2.0];
        let gh = vec![0.1, 0.0, -0.3, 0.2, 0.0];
        let dz = logprob_from_logits_bwd(&logits, vocab, &y, it, &a, &glp, &gh);
        let mut dh_ref = vec![0.0; rows * d];
        gemm(rows, d, vocab, 1.0, &dz, false, &w, false, 0.0, &mut dh_ref);
        let mut dw_ref = vec![0.0; vocab * d];
        gemm(vocab, d, rows, 1.0, &dz, true, &h, false, 0.0, &mut dw_ref);
        let (dh, dw) = fused_logprob_bwd(&h, &w, d, &y, it, &b, &glp, &gh, 2 * vocab);
        for (x, r) in dh.iter().zip(&dh_ref).chain(dw.iter().zip(&dw_ref)) {
            assert!((x - r).abs() < 1e-5, "{x} vs {r}");
        }
    }
}
