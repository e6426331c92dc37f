//! The products of blocked attention on the GEMM micro-kernels, with each head's operands
//! prepared once: a block of rows read in place against packed Kᵀ (or Vᵀ) panels, and a block of
//! probabilities read in place against K's or V's rows used directly as B. Each element is one
//! FMA chain scaled once at the end, as in [`super::gemm::gemm`], so the numbers are the GEMM's.
use super::gemm_kernel::{
    panels_per_tile, row_major_halves, row_tiles, tile_rows, ARows, Epilogue, NR,
};
use super::gemm_pack::{PackedB, View};
use super::simd::Isa;
use std::borrow::Cow;

fn scaled(alpha: f32) -> Epilogue {
    Epilogue {
        resume: false,
        finish: true,
        alpha,
        beta: 0.0,
    }
}

/// `x` [t, d] transposed into packed panels: the B operand of `rows · xᵀ`.
pub fn packed_transpose(x: &[f32], t: usize, d: usize) -> PackedB<f32> {
    PackedB::pack(View::transposed(x, d), d, t)
}

/// Rows of `x` [t, d] `stride` = d rounded up to a multiple of 16 apart (zeros between), so a
/// micro-kernel can read whole 16-wide rows; borrowed when d already is a multiple.
pub fn padded_rows(x: &[f32], d: usize) -> (Cow<'_, [f32]>, usize) {
    let stride = d.next_multiple_of(NR);
    if stride == d || d == 0 {
        return (Cow::Borrowed(x), d);
    }
    let rows = x
        .chunks(d)
        .flat_map(|r| {
            r.iter()
                .copied()
                .chain(std::iter::repeat_n(0.0, stride - d))
        })
        .collect();
    (Cow::Owned(rows), stride)
}

/// `c[rows, vis] = alpha · a[rows, d] · bt[:, :vis]` (a's rows d apart, c's vis apart).
#[allow(clippy::too_many_arguments)]
pub fn rows_times_packed(
    isa: Isa,
    a: &[f32],
    rows: usize,
    d: usize,
    bt: &PackedB<f32>,
    vis: usize,
    alpha: f32,
    c: &mut [f32],
) {
    assert!(a.len() >= rows * d && c.len() >= rows * vis && bt.k() == d && bt.n() >= vis);
    let (panels, pw) = (vis.div_ceil(NR), panels_per_tile(isa));
    for p in (0..panels).step_by(pw) {
        let np = pw.min(panels - p);
        let cols = (np * NR).min(vis - p * NR);
        let bs = [bt.panel_ptr(p, 0), bt.panel_ptr(p + np - 1, 0)];
        for (i, r) in row_tiles(0, rows) {
            // SAFETY: rows i..i+r of a (d floats each) and of c (columns p·NR..+cols) are in
            // bounds (asserted above); a panel holds d·NR floats.
            unsafe {
                tile_rows(
                    isa,
                    r,
                    d,
                    row_major_halves(a.as_ptr().add(i * d), d),
                    ARows::RowMajor(d),
                    bs,
                    NR,
                    c.as_mut_ptr().add(i * vis + p * NR),
                    vis,
                    cols,
                    scaled(alpha),
                )
            }
        }
    }
}

/// `c[rows, d] = alpha · a[rows, vis] · b[:vis, :d]` with b's rows `stride` apart (a multiple of
/// 16 at least d: see [`padded_rows`]); a's rows vis apart, c's d apart.
#[allow(clippy::too_many_arguments)]
pub fn rows_times_rows(
    isa: Isa,
    a: &[f32],
    rows: usize,
    vis: usize,
    b: &[f32],
    stride: usize,
    d: usize,
    alpha: f32,
    c: &mut [f32],
) {
    assert!(a.len() >= rows * vis && c.len() >= rows * d);
    assert!(stride.is_multiple_of(NR) && stride >= d && b.len() >= vis * stride);
    let width = panels_per_tile(isa) * NR;
    for j0 in (0..d).step_by(width) {
        let cols = width.min(d - j0);
        let bs = [
            b.as_ptr().wrapping_add(j0),
            b.as_ptr().wrapping_add(j0 + NR),
        ];
        for (i, r) in row_tiles(0, rows) {
            // SAFETY: rows i..i+r of a (vis floats each) and of c (columns j0..j0+cols) are in
            // bounds; b has vis rows of `stride` floats, and stride, a multiple of NR, is at
            // least j0 + 2·NR whenever the tile has columns past j0 + NR (asserted above).
            unsafe {
                tile_rows(
                    isa,
                    r,
                    vis,
                    row_major_halves(a.as_ptr().add(i * vis), vis),
                    ARows::RowMajor(vis),
                    bs,
                    stride,
                    c.as_mut_ptr().add(i * d + j0),
                    d,
                    cols,
                    scaled(alpha),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::gemm::gemm;
    use crate::backend::cpu::simd::supported;

    fn vals(len: usize, salt: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + salt * 104_729) % 2003) as f32 - 1001.0) * 1e-3)
            .collect()
    }

    #[test]
    fn both_products_are_the_gemms_bits() {
        for (isa, (rows, vis, d)) in supported().into_iter().flat_map(|isa| {
            [
                (1, 1, 1),
                (7, 33, 24),
                (64, 100, 64),
                (13, 17, 40),
                (9, 70, 48),
            ]
            .map(|s| (isa, s))
        }) {
            let a = vals(rows * d, 1);
            let k = vals(vis * d, 2);
            let mut want = vec![0.0; rows * vis];
            gemm(rows, vis, d, 0.3, &a, false, &k, true, 0.0, &mut want);
            let mut got = vec![0.0; rows * vis];
            rows_times_packed(
                isa,
                &a,
                rows,
                d,
                &packed_transpose(&k, vis, d),
                vis,
                0.3,
                &mut got,
            );
            assert_eq!(got, want, "{isa:?} {rows}x{vis}x{d}");
            let p = vals(rows * vis, 3);
            let mut want = vec![0.0; rows * d];
            gemm(rows, d, vis, 1.0, &p, false, &k, false, 0.0, &mut want);
            let (b, stride) = padded_rows(&k, d);
            let mut got = vec![0.0; rows * d];
            rows_times_rows(isa, &p, rows, vis, &b, stride, d, 1.0, &mut got);
            assert_eq!(got, want, "{isa:?} {rows}x{vis}x{d}");
        }
    }
}
