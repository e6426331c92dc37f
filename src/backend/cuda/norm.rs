//! Launchers for kernels/norm.cu: RMSNorm forward and backward (with the deterministic
//! reduction of the weight gradient's per-block partials), each a ladder: rung 1 strides a row
//! one element per thread, rung 2 gives each thread eight consecutive columns in registers
//! (16-byte accesses; rows of a multiple of 8 up to 8192 elements).
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{check_rows, elementwise_cfg, row_block, same_len};
use anyhow::{bail, Result};
use half::bf16;

/// The widest row rung 2 takes: one 8-column run per thread of a 1024-thread block.
const X8_MAX_HIDDEN: usize = 8 * 1024;

/// The best RMSNorm rung for rows of `hidden`.
pub fn rmsnorm_rung(hidden: usize) -> u32 {
    if hidden.is_multiple_of(8) && (8..=X8_MAX_HIDDEN).contains(&hidden) {
        2
    } else {
        1
    }
}

/// (kernel, threads per block) of rung `rung` of the forward (`fwd`) or backward at `hidden`.
fn rmsnorm_kernel(fwd: bool, rung: u32, hidden: usize) -> Result<(&'static str, u32)> {
    Ok(match (rung, fwd) {
        (1, true) => ("rmsnorm_fwd_bf16", row_block(hidden)),
        (1, false) => ("rmsnorm_bwd_bf16", row_block(hidden)),
        (2, _) if rmsnorm_rung(hidden) != 2 => {
            bail!("rmsnorm rung 2: rows of {hidden}, not a multiple of 8 in 8..={X8_MAX_HIDDEN}")
        }
        (2, true) => ("rmsnorm_fwd_x8_bf16", x8_block(hidden)),
        (2, false) => ("rmsnorm_bwd_x8_bf16", x8_block(hidden)),
        _ => bail!("rmsnorm: no rung {rung} (rungs 1 and 2)"),
    })
}

/// Rung 2's block: one thread per 8 columns, in whole warps.
fn x8_block(hidden: usize) -> u32 {
    ((hidden / 8).div_ceil(32) * 32) as u32
}

/// RMSNorm forward: y = x * rstd * w per row; writes rstd (f32 per row) for the backward. On the
/// best rung.
pub fn rmsnorm_fwd_bf16(
    dev: &dyn KernelDevice,
    y: &DevBuf<bf16>,
    rstd: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    eps: f32,
) -> Result<()> {
    rmsnorm_fwd_rung(dev, rmsnorm_rung(w.len()), y, rstd, x, w, eps)
}

/// [`rmsnorm_fwd_bf16`] on a given rung.
pub fn rmsnorm_fwd_rung(
    dev: &dyn KernelDevice,
    rung: u32,
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
    let (kernel, block) = rmsnorm_kernel(true, rung, hidden)?;
    let mut a = KernelArgs::new();
    a.buf(y).buf(rstd).buf(x).buf(w).i32(hidden as i32).f32(eps);
    dev.launch(kernel, &LaunchCfg::linear(rows as u32, block, 0), &mut a)
}

/// Blocks of the RMSNorm backward: a fixed function of `rows`, so the dw sum order (and result)
/// does not depend on the device.
pub fn rmsnorm_bwd_blocks(rows: usize) -> (usize, usize) {
    const MAX_BLOCKS: usize = 256;
    let rows_per_block = rows.div_ceil(MAX_BLOCKS).max(1);
    (rows.div_ceil(rows_per_block), rows_per_block)
}

/// RMSNorm backward: dx (bf16) and dw (f32; added to `dw` when `accumulate`). On the best rung.
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
    let rung = rmsnorm_rung(w.len());
    rmsnorm_bwd_rung(dev, rung, dx, dw, dy, x, w, rstd, accumulate)
}

/// [`rmsnorm_bwd_bf16`] on a given rung.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_bwd_rung(
    dev: &dyn KernelDevice,
    rung: u32,
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
    let (kernel, block) = rmsnorm_kernel(false, rung, hidden)?;
    let (blocks, rows_per_block) = rmsnorm_bwd_blocks(rows);
    let partial = alloc::<f32>(dev, blocks * hidden)?;
    let mut a = KernelArgs::new();
    a.buf(dx).buf(&partial).buf(dy).buf(x).buf(w).buf(rstd);
    a.i32(rows as i32)
        .i32(hidden as i32)
        .i32(rows_per_block as i32);
    // Rung 1 accumulates dw in shared memory; rung 2 in registers.
    let smem = if rung == 1 { (hidden * 4) as u32 } else { 0 };
    dev.launch(
        kernel,
        &LaunchCfg::linear(blocks as u32, block, smem),
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
    fn rung_2_takes_rows_of_whole_runs_up_to_one_per_thread() {
        for (hidden, rung) in [(8, 2), (576, 2), (3584, 2), (8192, 2), (100, 1), (8200, 1)] {
            assert_eq!(rmsnorm_rung(hidden), rung, "{hidden}");
        }
        assert_eq!(x8_block(8), 32);
        assert_eq!(x8_block(576), 96);
        assert_eq!(x8_block(8192), 1024);
        assert!(rmsnorm_kernel(true, 2, 100).is_err());
        assert!(rmsnorm_kernel(false, 3, 64).is_err());
    }

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
