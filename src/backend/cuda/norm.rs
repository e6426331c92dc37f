//! Launchers for kernels/norm.cu: RMSNorm forward and backward (with the deterministic
//! reduction of the weight gradient's per-block partials).
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{check_rows, elementwise_cfg, row_block, same_len};
use anyhow::Result;
use half::bf16;

/// RMSNorm forward: y = x * rstd * w per row; writes rstd (f32 per row) for the backward.
pub fn rmsnorm_fwd_bf16(
    dev: &dyn KernelDevice,
    y: &DevBuf<bf16>,
    rstd: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    eps: f32,
) -> Result<()> {
    let hidden = w.len();
    let rows = check_rows("rmsnorm_fwd_bf16", x.len(), hidden)?;
    same_len("rmsnorm_fwd_bf16 y/x", &[y.len(), x.len()])?;
    same_len("rmsnorm_fwd_bf16 rstd/rows", &[rstd.len(), rows])?;
    let mut a = KernelArgs::new();
    a.buf(y).buf(rstd).buf(x).buf(w).i32(hidden as i32).f32(eps);
    dev.launch(
        "rmsnorm_fwd_bf16",
        &LaunchCfg::linear(rows as u32, row_block(hidden), 0),
        &mut a,
    )
}

/// Blocks of the RMSNorm backward: a fixed function of `rows`, so the dw sum order (and result)
/// does not depend on the device.
pub fn rmsnorm_bwd_blocks(rows: usize) -> (usize, usize) {
    const MAX_BLOCKS: usize = 256;
    let rows_per_block = rows.div_ceil(MAX_BLOCKS).max(1);
    (rows.div_ceil(rows_per_block), rows_per_block)
}

/// RMSNorm backward: dx (bf16) and dw (f32; added to `dw` when `accumulate`).
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_bwd_bf16(
    dev: &dyn KernelDevice,
    dx: &DevBuf<bf16>,
    dw: &DevBuf<f32>,
    dy: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    rstd: &DevBuf<f32>,
    accumulate: bool,
) -> Result<()> {
    let hidden = w.len();
    let rows = check_rows("rmsnorm_bwd_bf16", x.len(), hidden)?;
    same_len("rmsnorm_bwd_bf16 dx/dy/x", &[dx.len(), dy.len(), x.len()])?;
    same_len("rmsnorm_bwd_bf16 rstd/rows", &[rstd.len(), rows])?;
    same_len("rmsnorm_bwd_bf16 dw/w", &[dw.len(), hidden])?;
    let (blocks, rows_per_block) = rmsnorm_bwd_blocks(rows);
    let partial = alloc::<f32>(dev, blocks * hidden)?;
    let mut a = KernelArgs::new();
    a.buf(dx).buf(&partial).buf(dy).buf(x).buf(w).buf(rstd);
    a.i32(rows as i32)
        .i32(hidden as i32)
        .i32(rows_per_block as i32);
    let smem = (hidden * 4) as u32;
    dev.launch(
        "rmsnorm_bwd_bf16",
        &LaunchCfg::linear(blocks as u32, row_block(hidden), smem),
        &mut a,
    )?;
    reduce_parts_f32(dev, dw, &partial, blocks, accumulate)
}

/// out[c] (+)= Σ_p partial[p, c] over `nparts` rows of `out.len()` partial sums, in order p = 0,
/// 1, … (deterministic); adds to `out` when `accumulate`. The last stage of the RMSNorm weight
/// gradient and of the bias gradient (`bias::colsum_bf16_f32`).
pub fn reduce_parts_f32(
    dev: &dyn KernelDevice,
    out: &DevBuf<f32>,
    partial: &DevBuf<f32>,
    nparts: usize,
    accumulate: bool,
) -> Result<()> {
    let cols = out.len();
    let mut r = KernelArgs::new();
    r.buf(out)
        .buf(partial)
        .i32(nparts as i32)
        .i32(cols as i32)
        .i32(accumulate as i32);
    dev.launch("rmsnorm_dw_reduce_f32", &elementwise_cfg(cols), &mut r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmsnorm_backward_partition_covers_every_row_once() {
        for rows in [1usize, 3, 255, 256, 257, 1000, 100_000] {
            let (blocks, per) = rmsnorm_bwd_blocks(rows);
            assert!(
                blocks <= 256 && blocks * per >= rows && (blocks - 1) * per < rows,
                "{rows}"
            );
        }
    }
}
