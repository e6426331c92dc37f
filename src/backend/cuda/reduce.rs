//! Launchers for kernels/reduce.cu: the global L2 norm of the gradients with its clip
//! coefficient (a fixed two-stage sum; its first stage one launch for every tensor, or one per
//! tensor as the first rung), and the scale by a device scalar.
use super::device::{alloc, upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::elementwise_cfg;
use anyhow::{bail, Result};

/// Blocks per tensor in the first grad-norm stage (fixed, so the sum order is fixed).
fn sumsq_blocks(n: usize) -> usize {
    n.div_ceil(256 * 8).clamp(1, 512)
}

/// The device table of `sumsq_multi_f32`: each gradient's address and length, and the
/// (tensor, block, blocks of that tensor) of every block of the one launch. It holds addresses,
/// not the buffers: [`SumsqTable::matches`] tells whether it still describes a set of buffers.
pub struct SumsqTable {
    words: Vec<u64>,
    tensors: DevBuf<u64>,
    blocks: DevBuf<u64>,
    n_blocks: usize,
}

fn sumsq_words(grads: &[&DevBuf<f32>]) -> Vec<u64> {
    grads
        .iter()
        .flat_map(|g| [g.raw().ptr, g.len() as u64])
        .collect()
}

impl SumsqTable {
    pub fn new(dev: &dyn KernelDevice, grads: &[&DevBuf<f32>]) -> Result<SumsqTable> {
        let words = sumsq_words(grads);
        let mut blocks = Vec::new();
        for (t, g) in grads.iter().enumerate() {
            let nb = sumsq_blocks(g.len());
            for b in 0..nb {
                blocks.extend([t as u64, b as u64, nb as u64]);
            }
        }
        let n_blocks = blocks.len() / 3;
        if n_blocks > i32::MAX as usize {
            bail!("sumsq_multi_f32: {n_blocks} blocks exceed one launch's grid");
        }
        Ok(SumsqTable {
            tensors: upload(dev, if words.is_empty() { &[0] } else { &words })?,
            blocks: upload(dev, if blocks.is_empty() { &[0] } else { &blocks })?,
            words,
            n_blocks,
        })
    }

    /// Whether the table describes exactly these buffers.
    pub fn matches(&self, grads: &[&DevBuf<f32>]) -> bool {
        sumsq_words(grads) == self.words
    }
}

/// Global L2 norm over `grads` and the clip coefficient min(1, max_norm / (norm + 1e-6)), both
/// left on the device as [norm, coef] (max_norm <= 0 gives coef 1).
pub fn grad_norm_f32(
    dev: &dyn KernelDevice,
    grads: &[&DevBuf<f32>],
    max_norm: f32,
) -> Result<DevBuf<f32>> {
    grad_norm_multi_f32(dev, &SumsqTable::new(dev, grads)?, max_norm)
}

/// [`grad_norm_f32`] over the gradients a table describes: stage 1 of every tensor in one
/// launch (`sumsq_multi_f32`), then the same final sum.
pub fn grad_norm_multi_f32(
    dev: &dyn KernelDevice,
    table: &SumsqTable,
    max_norm: f32,
) -> Result<DevBuf<f32>> {
    let partial = alloc::<f32>(dev, table.n_blocks.max(1))?;
    if table.n_blocks > 0 {
        let mut a = KernelArgs::new();
        a.buf(&partial).buf(&table.tensors).buf(&table.blocks);
        dev.launch(
            "sumsq_multi_f32",
            &LaunchCfg::linear(table.n_blocks as u32, 256, 0),
            &mut a,
        )?;
    }
    finalize(dev, &partial, table.n_blocks, max_norm)
}

/// The first rung of [`grad_norm_f32`]: stage 1 as one `sumsq_partial_f32` launch per tensor
/// (the same partials, the same result).
pub fn grad_norm_per_tensor_f32(
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
    finalize(dev, &partial, off, max_norm)
}

fn finalize(
    dev: &dyn KernelDevice,
    partial: &DevBuf<f32>,
    parts: usize,
    max_norm: f32,
) -> Result<DevBuf<f32>> {
    let out = alloc::<f32>(dev, 2)?;
    let mut a = KernelArgs::new();
    a.buf(&out).buf(partial).i32(parts as i32).f32(max_norm);
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
