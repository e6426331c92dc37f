//! RMSNorm: `y = x / sqrt(mean(x²) + eps) · w`, per row.
use super::ROW_BLOCK;
use rayon::prelude::*;

/// Returns (y, rstd per row). `rstd` is what the backward needs.
pub fn rmsnorm_fwd(x: &[f32], w: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let d = w.len();
    let rows = x.len() / d;
    let mut y = vec![0.0f32; x.len()];
    let mut rstd = vec![0.0f32; rows];
    y.par_chunks_mut(d * ROW_BLOCK)
        .zip(rstd.par_chunks_mut(ROW_BLOCK))
        .zip(x.par_chunks(d * ROW_BLOCK))
        .for_each(|((yb, rb), xb)| {
            for ((yr, r), xr) in yb.chunks_mut(d).zip(rb.iter_mut()).zip(xb.chunks(d)) {
                let ms = xr.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / d as f64;
                let rs = (1.0 / (ms + eps as f64).sqrt()) as f32;
                *r = rs;
                for ((o, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
                    *o = v * rs * g;
                }
            }
        });
    (y, rstd)
}

/// Returns (dx, dw). dw is reduced over fixed row blocks in order, so it is deterministic.
pub fn rmsnorm_bwd(dy: &[f32], x: &[f32], w: &[f32], rstd: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let d = w.len();
    let mut dx = vec![0.0f32; x.len()];
    let partial_dw: Vec<Vec<f64>> = dx
        .par_chunks_mut(d * ROW_BLOCK)
        .zip(dy.par_chunks(d * ROW_BLOCK))
        .zip(x.par_chunks(d * ROW_BLOCK))
        .zip(rstd.par_chunks(ROW_BLOCK))
        .map(|(((dxb, dyb), xb), rb)| {
            let mut dw = vec![0.0f64; d];
            for (((dxr, dyr), xr), &rs) in dxb
                .chunks_mut(d)
                .zip(dyb.chunks(d))
                .zip(xb.chunks(d))
                .zip(rb)
            {
                let mut dot = 0.0f64;
                for j in 0..d {
                    dot += (dyr[j] * w[j]) as f64 * xr[j] as f64;
                    dw[j] += (dyr[j] * xr[j] * rs) as f64;
                }
                let c = (dot / d as f64) as f32 * rs * rs * rs;
                for j in 0..d {
                    dxr[j] = dyr[j] * w[j] * rs - xr[j] * c;
                }
            }
            dw
        })
        .collect();
    let mut dw = vec![0.0f64; d];
    for p in partial_dw {
        for (a, b) in dw.iter_mut().zip(p) {
            *a += b;
        }
    }
    (dx, dw.into_iter().map(|v| v as f32).collect())
}
