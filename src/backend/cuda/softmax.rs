//! Launchers for kernels/softmax.cu: row softmax and log-softmax of bf16 logits.
use super::device::{DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{check_rows, row_block, same_len};
use anyhow::Result;
use half::bf16;

fn softmax_launch(
    dev: &dyn KernelDevice,
    kernel: &str,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    cols: usize,
) -> Result<()> {
    let rows = check_rows(kernel, x.len(), cols)?;
    same_len(kernel, &[out.len(), x.len()])?;
    let mut a = KernelArgs::new();
    a.buf(out).buf(x).i32(cols as i32);
    dev.launch(
        kernel,
        &LaunchCfg::linear(rows as u32, row_block(cols), 0),
        &mut a,
    )
}

/// Row softmax of bf16 logits into f32 probabilities.
pub fn softmax_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    cols: usize,
) -> Result<()> {
    softmax_launch(dev, "softmax_fwd_bf16", out, x, cols)
}

/// Row log-softmax of bf16 logits into f32 log-probabilities.
pub fn log_softmax_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
    cols: usize,
) -> Result<()> {
    softmax_launch(dev, "log_softmax_fwd_bf16", out, x, cols)
}
