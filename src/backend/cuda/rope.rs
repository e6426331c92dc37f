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

/// Heads each thread of the q+k kernels rotates with one set of sincos (more: fewer sincos,
/// fewer threads).
const QK_HEADS_PER_THREAD: usize = 4;
/// Threads per block of the q+k kernels (whole tokens per block).
const QK_BLOCK: usize = 128;

/// Whether the q+k kernels take this head dimension (eight pairs per thread, 16-byte rows).
pub fn rope_qk_fits(head_dim: usize) -> bool {
    head_dim > 0 && head_dim.is_multiple_of(16)
}

#[allow(clippy::too_many_arguments)]
fn rope_qk_launch(
    dev: &dyn KernelDevice,
    kernel: &str,
    q: &DevBuf<bf16>,
    k: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    hq: usize,
    hkv: usize,
) -> Result<()> {
    let head_dim = inv_freq.len() * 2;
    let tokens = pos.len();
    anyhow::ensure!(
        rope_qk_fits(head_dim),
        "{kernel}: head_dim {head_dim} is not a multiple of 16"
    );
    same_len(kernel, &[q.len(), tokens * hq * head_dim])?;
    same_len(kernel, &[k.len(), tokens * hkv * head_dim])?;
    if tokens == 0 {
        return Ok(());
    }
    let slices = (hq + hkv).div_ceil(QK_HEADS_PER_THREAD).max(1);
    let lanes = head_dim / 16 * slices;
    let per_block = (QK_BLOCK / lanes).max(1);
    let mut a = KernelArgs::new();
    a.buf(q)
        .buf(k)
        .buf(pos)
        .buf(inv_freq)
        .i32(tokens as i32)
        .i32(hq as i32)
        .i32(hkv as i32)
        .i32(head_dim as i32)
        .i32(slices as i32);
    let grid = tokens.div_ceil(per_block) as u32;
    dev.launch(
        kernel,
        &LaunchCfg::linear(grid, (per_block * lanes) as u32, 0),
        &mut a,
    )
}

/// RoPE forward on q [tokens, hq, head_dim] and k [tokens, hkv, head_dim] in place, in one
/// launch: the same bits as [`rope_fwd_bf16`] on each (rung 2 of the RoPE ladder; needs
/// [`rope_qk_fits`]).
pub fn rope_qk_fwd_bf16(
    dev: &dyn KernelDevice,
    q: &DevBuf<bf16>,
    k: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    hq: usize,
    hkv: usize,
) -> Result<()> {
    rope_qk_launch(dev, "rope_qk_fwd_bf16", q, k, pos, inv_freq, hq, hkv)
}

/// RoPE backward on dq and dk in place, in one launch: the same bits as [`rope_bwd_bf16`] on
/// each.
pub fn rope_qk_bwd_bf16(
    dev: &dyn KernelDevice,
    dq: &DevBuf<bf16>,
    dk: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    hq: usize,
    hkv: usize,
) -> Result<()> {
    rope_qk_launch(dev, "rope_qk_bwd_bf16", dq, dk, pos, inv_freq, hq, hkv)
}

/// Which way [`rope_q_and_k`] rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The forward rotation.
    Forward,
    /// Its inverse, the backward.
    Backward,
}

/// RoPE on q [tokens, hq, head_dim] and k [tokens, hkv, head_dim] (or on dq and dk) in place:
/// one launch where [`rope_qk_fits`] (rung 2), else one per tensor (rung 1); the same bits
/// either way.
#[allow(clippy::too_many_arguments)]
pub fn rope_q_and_k(
    dev: &dyn KernelDevice,
    rotation: Rotation,
    q: &DevBuf<bf16>,
    k: &DevBuf<bf16>,
    pos: &DevBuf<i32>,
    inv_freq: &DevBuf<f32>,
    hq: usize,
    hkv: usize,
) -> Result<()> {
    let (one, two) = match rotation {
        Rotation::Forward => ("rope_fwd_bf16", "rope_qk_fwd_bf16"),
        Rotation::Backward => ("rope_bwd_bf16", "rope_qk_bwd_bf16"),
    };
    if rope_qk_fits(inv_freq.len() * 2) {
        return rope_qk_launch(dev, two, q, k, pos, inv_freq, hq, hkv);
    }
    rope_launch(dev, one, q, q, pos, inv_freq, hq)?;
    rope_launch(dev, one, k, k, pos, inv_freq, hkv)
}
