//! Launchers for kernels/bias.cu: the bias add of a linear layer and its gradient (a
//! deterministic column sum over tokens), each a ladder: rung 1 one element (column) per thread,
//! rung 2 eight (16-byte accesses; the bias length a multiple of 8), with the same bits. The add
//! runs rung 2, the column sum rung 1 (see [`COLSUM_BEST_RUNG`]).
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{check_rows, elementwise_cfg, vec_rung, vec_step};
use super::norm::reduce_parts_f32;
use anyhow::{bail, Result};
use half::bf16;

/// Threads per block of the column-sum partials (one thread per column of a block of columns).
const BLOCK: u32 = 256;

/// x[r, :] += bias in place (x is [rows, bias.len()] bf16), on the best rung.
pub fn bias_add_bf16(dev: &dyn KernelDevice, x: &DevBuf<bf16>, bias: &DevBuf<bf16>) -> Result<()> {
    bias_add_rung(dev, vec_rung(bias.len(), 8), x, bias)
}

/// [`bias_add_bf16`] on a given rung.
pub fn bias_add_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    x: &DevBuf<bf16>,
    bias: &DevBuf<bf16>,
) -> Result<()> {
    let cols = bias.len();
    check_rows("bias_add_bf16", x.len(), cols)?;
    let per = vec_step("bias_add_bf16", rung, cols, 8)?;
    if x.is_empty() {
        return Ok(());
    }
    let (kernel, steps) = if per == 8 {
        ("bias_add_x8_bf16", x.len() / 8)
    } else {
        ("bias_add_bf16", x.len())
    };
    let mut a = KernelArgs::new();
    a.buf(x)
        .buf(bias)
        .i64(steps as i64)
        .i32((cols / per) as i32);
    dev.launch(kernel, &elementwise_cfg(steps), &mut a)
}

/// Row parts of the column sum: a fixed function of `rows` (the sum order never depends on the
/// device), at most 64 parts of at least 64 rows.
pub fn colsum_parts(rows: usize) -> (usize, usize) {
    let per = rows.div_ceil(64).max(64);
    (rows.div_ceil(per).max(1), per)
}

/// The column sum's rung for the model: rung 1. Rung 2 runs one thread per 8 columns (192 per
/// row part for a 1536-wide bias), too few to keep loads in flight: the emulator's counted
/// estimate for an H100 is slower than rung 1's at every model shape.
pub const COLSUM_BEST_RUNG: u32 = 1;

/// out[c] (+)= Σ_r x[r, c] for x [rows, out.len()] bf16 (the gradient of a bias), f32 result;
/// adds to `out` when `accumulate`. On [`COLSUM_BEST_RUNG`].
pub fn colsum_bf16_f32(
    dev: &dyn KernelDevice,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    accumulate: bool,
) -> Result<()> {
    colsum_rung(dev, COLSUM_BEST_RUNG, out, x, accumulate)
}

/// [`colsum_bf16_f32`] on a given rung (of its partial sums; the reduction is the same).
pub fn colsum_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    accumulate: bool,
) -> Result<()> {
    let cols = out.len();
    let rows = check_rows("colsum_bf16_f32", x.len(), cols)?;
    let cols_per_thread = vec_step("colsum_partial_bf16", rung, cols, 8)?;
    if rows > i32::MAX as usize || cols > i32::MAX as usize {
        bail!("colsum_bf16_f32: {rows} x {cols} exceeds int32 sizes");
    }
    let (parts, per) = colsum_parts(rows);
    let partial = alloc::<f32>(dev, parts * cols)?;
    let mut a = KernelArgs::new();
    a.buf(&partial)
        .buf(x)
        .i32(rows as i32)
        .i32(cols as i32)
        .i32(per as i32);
    let cfg = LaunchCfg {
        grid: [
            (cols / cols_per_thread).div_ceil(BLOCK as usize) as u32,
            parts as u32,
            1,
        ],
        block: [BLOCK, 1, 1],
        smem_bytes: 0,
    };
    let kernel = if cols_per_thread == 8 {
        "colsum_partial_x8_bf16"
    } else {
        "colsum_partial_bf16"
    };
    dev.launch(kernel, &cfg, &mut a)?;
    reduce_parts_f32(dev, out, &partial, parts, accumulate)
}

#[cfg(test)]
mod tests {
    use super::colsum_parts;

    #[test]
    fn colsum_parts_cover_every_row_once() {
        for rows in [0usize, 1, 63, 64, 65, 4095, 4096, 4097, 100_000] {
            let (parts, per) = colsum_parts(rows);
            assert!((1..=64).contains(&parts) && parts * per >= rows, "{rows}");
            assert!(rows == 0 || (parts - 1) * per < rows, "{rows}");
        }
    }
}
