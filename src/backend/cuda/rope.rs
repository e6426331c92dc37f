//! Launchers for kernels/rope.cu: rotary position embedding and its inverse (the backward).
use super::device::{DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{row_block, same_len};
use anyhow::Result;
use half::bf16;

fn rope_launch(
    dev: &dyn KernelDevice,
    kernel: &str,
    out: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    heads: usize,
) -> Result<()> {
    let head_dim = inv_freq.len() * 2;
    let tokens = pos.len();
    same_len(kernel, &[out.len(), x.len(), tokens * heads * head_dim])?;
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(x)
        .buf(pos)
        .buf(inv_freq)
        .i32(heads as i32)
        .i32(head_dim as i32);
    dev.launch(
        kernel,
        &LaunchCfg::linear(tokens as u32, row_block(heads * head_dim / 2), 0),
        &mut a,
    )
}

/// RoPE forward on [tokens, heads, head_dim] (head_dim = 2 * inv_freq.len()); `out` may be `x`.
pub fn rope_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    heads: usize,
) -> Result<()> {
    rope_launch(dev, "rope_fwd_bf16", out, x, pos, inv_freq, heads)
}

/// RoPE backward (the inverse rotation of dy).
pub fn rope_bwd_bf16(
    dev: &dyn KernelDevice,
    dx: &DevBuf<bf16>,
    dy: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    heads: usize,
) -> Result<()> {
    rope_launch(dev, "rope_bwd_bf16", dx, dy, pos, inv_freq, heads)
}
