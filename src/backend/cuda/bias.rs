//! Launchers for kernels/bias.cu: the bias add of a linear layer and its gradient (a
//! deterministic column sum over tokens).
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{check_rows, elementwise_cfg};
use super::norm::reduce_parts_f32;
use anyhow::{bail, Result};
use half::bf16;

/// Threads per block of the column-sum partials (one thread per column of a block of columns).
const BLOCK: u32 = 256;

/// x[r, :] += bias in place (x is [rows, bias.len()] bf16).
pub fn bias_add_bf16(dev: &dyn KernelDevice, x: &DevBuf<bf16>, bias: &DevBuf<bf16>) -> Result<()> {
    let cols = bias.len();
    check_rows("bias_add_bf16", x.len(), cols)?;
    if x.is_empty() {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf(x).buf(bias).i64(x.len() as i64).i32(cols as i32);
    dev.launch("bias_add_bf16", &elementwise_cfg(x.len()), &mut a)
}

/// Row parts of the column sum: a fixed function of `rows` (the sum order never depends on the
/// device), at most 64 parts of at least 64 rows.
pub fn colsum_parts(rows: usize) -> (usize, usize) {
    let per = rows.div_ceil(64).max(64);
    (rows.div_ceil(per).max(1), per)
}

/// out[c] (+)= Σ_r x[r, c] for x [rows, out.len()] bf16 (the gradient of a bias), f32 result;
/// adds to `out` when `accumulate`.
pub fn colsum_bf16_f32(
    dev: &dyn KernelDevice,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    accumulate: bool,
) -> Result<()> {
    let cols = out.len();
    let rows = check_rows("colsum_bf16_f32", x.len(), cols)?;
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
        grid: [cols.div_ceil(BLOCK as usize) as u32, parts as u32, 1],
        block: [BLOCK, 1, 1],
        smem_bytes: 0,
    };
    dev.launch("colsum_partial_bf16", &cfg, &mut a)?;
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
