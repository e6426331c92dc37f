//! Launchers for kernels/reduce.cu: the global L2 norm of the gradients with its clip
//! coefficient (a fixed two-stage sum), and the scale by a device scalar.
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::elementwise_cfg;
use anyhow::Result;

/// Blocks per tensor in the first grad-norm stage (fixed, so the sum order is fixed).
fn sumsq_blocks(n: usize) -> usize {
    n.div_ceil(256 * 8).clamp(1, 512)
}

/// Global L2 norm over `grads` and the clip coefficient min(1, max_norm / (norm + 1e-6)), both
/// left on the device as [norm, coef] (max_norm <= 0 gives coef 1).
pub fn grad_norm_f32(
    dev: &dyn KernelDevice,
    grads: &[&DevBuf<f32>],
    max_norm: f32,
) -> Result<DevBuf<f32>> {
    let blocks: Vec<usize> = grads.iter().map(|g| sumsq_blocks(g.len())).collect();
    let total: usize = blocks.iter().sum::<usize>().max(1);
    let partial = alloc::<f32>(dev, total)?;
    let mut off = 0;
    for (g, &b) in grads.iter().zip(&blocks) {
        let mut a = KernelArgs::new();
        a.buf_at(&partial, off)?.buf(*g).i64(g.len() as i64);
        dev.launch(
            "sumsq_partial_f32",
            &LaunchCfg::linear(b as u32, 256, 0),
            &mut a,
        )?;
        off += b;
    }
    let out = alloc::<f32>(dev, 2)?;
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&partial).i32(off as i32).f32(max_norm);
    dev.launch(
        "grad_norm_finalize_f32",
        &LaunchCfg::linear(1, 256, 0),
        &mut a,
    )?;
    Ok(out)
}

/// x *= coef[0] for a device scalar (e.g. element 1 of `grad_norm_f32`'s result).
pub fn scale_by_f32(
    dev: &dyn KernelDevice,
    x: &DevBuf<f32>,
    coef: &DevBuf<f32>,
    coef_index: usize,
) -> Result<()> {
    let mut a = KernelArgs::new();
    a.buf(x).buf_at(coef, coef_index)?.i64(x.len() as i64);
    dev.launch("scale_by_f32", &elementwise_cfg(x.len()), &mut a)
}
