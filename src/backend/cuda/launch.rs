//! One thin launcher per kernel: computes grid, block and shared memory and marshals the
//! arguments in the kernel's parameter order. Used unchanged by the CUDA device and the emulator.
use super::device::{DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use anyhow::{bail, Result};
use half::bf16;

/// Blocks for a grid-stride element-wise kernel: enough to fill the GPU, capped for tiny inputs.
fn elementwise_cfg(n: usize) -> LaunchCfg {
    const BLOCK: u32 = 256;
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 4096) as u32;
    LaunchCfg::linear(blocks, BLOCK, 0)
}

fn same_len(what: &str, lens: &[usize]) -> Result<()> {
    if lens.windows(2).any(|w| w[0] != w[1]) {
        bail!("{what}: buffer lengths differ: {lens:?}");
    }
    Ok(())
}

pub fn cast_f32_to_bf16(dev: &dyn KernelDevice, out: &DevBuf<bf16>, x: &DevBuf<f32>) -> Result<()> {
    same_len("cast_f32_to_bf16", &[out.len(), x.len()])?;
    let mut a = KernelArgs::new();
    a.buf(out).buf(x).i64(x.len() as i64);
    dev.launch("cast_f32_to_bf16", &elementwise_cfg(x.len()), &mut a)
}

pub fn cast_bf16_to_f32(dev: &dyn KernelDevice, out: &DevBuf<f32>, x: &DevBuf<bf16>) -> Result<()> {
    same_len("cast_bf16_to_f32", &[out.len(), x.len()])?;
    let mut a = KernelArgs::new();
    a.buf(out).buf(x).i64(x.len() as i64);
    dev.launch("cast_bf16_to_f32", &elementwise_cfg(x.len()), &mut a)
}

/// out = a + b (bf16, f32 math). `out` may be the same buffer as `a`.
pub fn residual_add_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
) -> Result<()> {
    same_len("residual_add_bf16", &[out.len(), a.len(), b.len()])?;
    let mut args = KernelArgs::new();
    args.buf(out).buf(a).buf(b).i64(a.len() as i64);
    dev.launch("residual_add_bf16", &elementwise_cfg(a.len()), &mut args)
}

/// Threads per block for row kernels: a multiple of 32, no more than the row needs, at most 1024.
fn row_block(width: usize) -> u32 {
    (width.div_ceil(32) * 32).clamp(32, 256) as u32
}

fn check_rows(what: &str, len: usize, hidden: usize) -> Result<usize> {
    if hidden == 0 || !len.is_multiple_of(hidden) {
        bail!("{what}: {len} elements are not whole rows of {hidden}");
    }
    Ok(len / hidden)
}

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
    let partial = super::device::alloc::<f32>(dev, blocks * hidden)?;
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
    let mut r = KernelArgs::new();
    r.buf(dw)
        .buf(&partial)
        .i32(blocks as i32)
        .i32(hidden as i32)
        .i32(accumulate as i32);
    dev.launch("rmsnorm_dw_reduce_f32", &elementwise_cfg(hidden), &mut r)
}

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

pub fn swiglu_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    gate: &DevBuf<bf16>,
    up: &DevBuf<bf16>,
) -> Result<()> {
    same_len("swiglu_fwd_bf16", &[out.len(), gate.len(), up.len()])?;
    let mut a = KernelArgs::new();
    a.buf(out).buf(gate).buf(up).i64(gate.len() as i64);
    dev.launch("swiglu_fwd_bf16", &elementwise_cfg(gate.len()), &mut a)
}

pub fn swiglu_bwd_bf16(
    dev: &dyn KernelDevice,
    dgate: &DevBuf<bf16>,
    dup: &DevBuf<bf16>,
    dout: &DevBuf<bf16>,
    gate: &DevBuf<bf16>,
    up: &DevBuf<bf16>,
) -> Result<()> {
    same_len(
        "swiglu_bwd_bf16",
        &[dgate.len(), dup.len(), dout.len(), gate.len(), up.len()],
    )?;
    let mut a = KernelArgs::new();
    a.buf(dgate)
        .buf(dup)
        .buf(dout)
        .buf(gate)
        .buf(up)
        .i64(gate.len() as i64);
    dev.launch("swiglu_bwd_bf16", &elementwise_cfg(gate.len()), &mut a)
}

/// out[t, :] = table[ids[t], :]; `table` is vocab x hidden.
pub fn embedding_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    table: &DevBuf<bf16>,
    ids: &DevBuf<i32>,
    hidden: usize,
) -> Result<()> {
    let vocab = check_rows("embedding_fwd_bf16 table", table.len(), hidden)?;
    same_len("embedding_fwd_bf16 out", &[out.len(), ids.len() * hidden])?;
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(table)
        .buf(ids)
        .i32(hidden as i32)
        .i32(vocab as i32);
    dev.launch(
        "embedding_fwd_bf16",
        &LaunchCfg::linear(ids.len() as u32, row_block(hidden), 0),
        &mut a,
    )
}

/// Host-side grouping of token positions by id for the deterministic embedding backward:
/// for the k-th distinct id `rows[k]`, its positions are `token_idx[offsets[k]..offsets[k+1]]`
/// in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingGradIndex {
    pub rows: Vec<i32>,
    pub offsets: Vec<i32>,
    pub token_idx: Vec<i32>,
}

impl EmbeddingGradIndex {
    pub fn build(ids: &[i32], vocab: usize) -> Result<Self> {
        let mut order: Vec<(i32, i32)> = Vec::with_capacity(ids.len());
        for (t, &id) in ids.iter().enumerate() {
            if id < 0 || id as usize >= vocab {
                bail!("token id {id} at position {t} is outside the vocabulary of {vocab}");
            }
            order.push((id, t as i32));
        }
        order.sort_unstable();
        let (mut rows, mut offsets, mut token_idx) =
            (Vec::new(), Vec::new(), Vec::with_capacity(ids.len()));
        for (k, &(id, t)) in order.iter().enumerate() {
            if k == 0 || order[k - 1].0 != id {
                rows.push(id);
                offsets.push(k as i32);
            }
            token_idx.push(t);
        }
        offsets.push(order.len() as i32);
        Ok(EmbeddingGradIndex {
            rows,
            offsets,
            token_idx,
        })
    }
}

/// dtable[ids[t], :] += dout[t, :] (f32 dtable, vocab x hidden), deterministic.
pub fn embedding_bwd_f32(
    dev: &dyn KernelDevice,
    dtable: &DevBuf<f32>,
    dout: &DevBuf<bf16>,
    ids: &[i32],
    hidden: usize,
) -> Result<()> {
    let vocab = check_rows("embedding_bwd_f32 dtable", dtable.len(), hidden)?;
    same_len("embedding_bwd_f32 dout", &[dout.len(), ids.len() * hidden])?;
    let idx = EmbeddingGradIndex::build(ids, vocab)?;
    if idx.rows.is_empty() {
        return Ok(());
    }
    let rows = super::device::upload(dev, &idx.rows)?;
    let offsets = super::device::upload(dev, &idx.offsets)?;
    let token_idx = super::device::upload(dev, &idx.token_idx)?;
    let mut a = KernelArgs::new();
    a.buf(dtable)
        .buf(dout)
        .buf(&rows)
        .buf(&offsets)
        .buf(&token_idx)
        .i32(hidden as i32);
    dev.launch(
        "embedding_bwd_f32",
        &LaunchCfg::linear(idx.rows.len() as u32, row_block(hidden), 0),
        &mut a,
    )
}

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
    let partial = super::device::alloc::<f32>(dev, total)?;
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
    let out = super::device::alloc::<f32>(dev, 2)?;
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

/// AdamW hyper-parameters for one step (t starts at 1).
#[derive(Clone, Copy, Debug)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub step: u32,
}

impl AdamW {
    pub fn bias_corrections(&self) -> (f32, f32) {
        (
            1.0 - self.beta1.powi(self.step as i32),
            1.0 - self.beta2.powi(self.step as i32),
        )
    }
}

/// One fused AdamW step on f32 master weights and moments; optionally writes the bf16 copy and
/// scales the gradient by a device scalar (the clip coefficient).
#[allow(clippy::too_many_arguments)]
pub fn adamw_step_f32(
    dev: &dyn KernelDevice,
    param: &DevBuf<f32>,
    m: &DevBuf<f32>,
    v: &DevBuf<f32>,
    param_bf16: Option<&DevBuf<bf16>>,
    grad: &DevBuf<f32>,
    grad_scale: Option<(&DevBuf<f32>, usize)>,
    h: &AdamW,
) -> Result<()> {
    same_len(
        "adamw_step_f32",
        &[param.len(), m.len(), v.len(), grad.len()],
    )?;
    if let Some(b) = param_bf16 {
        same_len("adamw_step_f32 bf16 copy", &[b.len(), param.len()])?;
    }
    if h.step == 0 {
        bail!("adamw_step_f32: the step count starts at 1");
    }
    let (c1, c2) = h.bias_corrections();
    let mut a = KernelArgs::new();
    a.buf(param).buf(m).buf(v).opt_buf(param_bf16).buf(grad);
    match grad_scale {
        Some((s, i)) => a.buf_at(s, i)?,
        None => a.opt_buf::<f32>(None),
    };
    a.i64(param.len() as i64)
        .f32(h.lr)
        .f32(h.beta1)
        .f32(h.beta2)
        .f32(h.eps)
        .f32(h.weight_decay)
        .f32(c1)
        .f32(c2);
    dev.launch("adamw_step_f32", &elementwise_cfg(param.len()), &mut a)
}

/// How a GEMM operand is laid out in memory, as element strides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    /// Stride of the outer index (m for A, n for B).
    pub outer: usize,
    /// Stride of k.
    pub k: usize,
    /// Stride between batch entries.
    pub batch: usize,
}

impl Strides {
    /// Row-major [outer, k] (A = x [M, K]; B = W [N, K], i.e. y = x W^T).
    pub fn rows(outer: usize, k: usize) -> Self {
        Strides {
            outer: k,
            k: 1,
            batch: outer * k,
        }
    }
    /// Stored transposed: row-major [k, outer] (A = dY^T from dY [K, M]; B = W [K, N]).
    pub fn cols(outer: usize, k: usize) -> Self {
        Strides {
            outer: 1,
            k: outer,
            batch: outer * k,
        }
    }
    /// Largest element index touched, plus one.
    fn extent(&self, batch: usize, outer: usize, k: usize) -> usize {
        if batch == 0 || outer == 0 || k == 0 {
            return 0;
        }
        (batch - 1) * self.batch + (outer - 1) * self.outer + (k - 1) * self.k + 1
    }
}

/// A batched GEMM problem: C[z] = alpha * A[z] B[z]^T + beta * C[z], C dense [batch, m, n].
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Strides,
    pub b: Strides,
    pub alpha: f32,
    /// Only with an f32 output: adds beta * the previous contents (gradient accumulation).
    pub beta: f32,
}

/// Tensor-core GEMM (mma.sync bf16 -> f32). Writes `c_f32` and/or `c_bf16`.
pub fn gemm_bf16(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
) -> Result<()> {
    let c_len = g.batch * g.m * g.n;
    for (what, len) in [
        ("c_f32", c_f32.map(|c| c.len())),
        ("c_bf16", c_bf16.map(|c| c.len())),
    ] {
        if let Some(len) = len {
            if len != c_len {
                bail!("gemm_bf16: {what} has {len} elements, the problem needs {c_len}");
            }
        }
    }
    gemm_bf16_at(dev, c_f32, c_bf16, a, b, g, GemmOffsets::default())
}

/// Element offsets into the operands of [`gemm_bf16_at`] (a sub-block of a larger buffer, e.g. one
/// token chunk of the hidden states).
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmOffsets {
    pub a: usize,
    pub b: usize,
    pub c: usize,
}

/// [`gemm_bf16`] on operands that start `off` elements into their buffers; C may be a prefix of a
/// larger buffer.
pub fn gemm_bf16_at(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
    off: GemmOffsets,
) -> Result<()> {
    let c_len = g.batch * g.m * g.n;
    if c_f32.is_none() && c_bf16.is_none() {
        bail!("gemm_bf16: no output buffer");
    }
    for (what, len) in [
        ("c_f32", c_f32.map(|c| c.len())),
        ("c_bf16", c_bf16.map(|c| c.len())),
    ] {
        if let Some(len) = len {
            if off.c + c_len > len {
                bail!(
                    "gemm_bf16: {what} has {len} elements, the problem needs {c_len} from offset {}",
                    off.c
                );
            }
        }
    }
    if off.a + g.a.extent(g.batch, g.m, g.k) > a.len()
        || off.b + g.b.extent(g.batch, g.n, g.k) > b.len()
    {
        bail!(
            "gemm_bf16: operand strides reach past the end of A ({}) or B ({})",
            a.len(),
            b.len()
        );
    }
    if c_len == 0 {
        return Ok(());
    }
    if g.m > i32::MAX as usize
        || g.n > i32::MAX as usize
        || g.k > i32::MAX as usize
        || g.batch > 65535
    {
        bail!("gemm_bf16: problem {g:?} exceeds the launch limits");
    }
    let cfg = LaunchCfg {
        grid: [
            g.n.div_ceil(64) as u32,
            g.m.div_ceil(64) as u32,
            g.batch as u32,
        ],
        block: [128, 1, 1],
        smem_bytes: 0,
    };
    let kernel = gemm_kernel_at(g, a, b, off);
    let mut args = KernelArgs::new();
    match c_f32 {
        Some(c) => args.buf_at(c, off.c)?,
        None => args.opt_buf::<f32>(None),
    };
    match c_bf16 {
        Some(c) => args.buf_at(c, off.c)?,
        None => args.opt_buf::<bf16>(None),
    };
    args.buf_at(a, off.a)?.buf_at(b, off.b)?;
    args.i32(g.m as i32).i32(g.n as i32).i32(g.k as i32);
    if kernel == "gemm_bf16_mma_kc" {
        args.i64(g.a.outer as i64).i64(g.b.outer as i64);
    } else {
        args.i64(g.a.outer as i64)
            .i64(g.a.k as i64)
            .i64(g.b.outer as i64)
            .i64(g.b.k as i64);
    }
    args.i64(g.n as i64)
        .i64(g.a.batch as i64)
        .i64(g.b.batch as i64)
        .i64((g.m * g.n) as i64);
    args.f32(g.alpha)
        .f32(if c_f32.is_some() { g.beta } else { 0.0 });
    dev.launch(kernel, &cfg, &mut args)
}

/// Which GEMM kernel `gemm_bf16` runs: the cp.async + ldmatrix pipeline when both operands are
/// contiguous in k with 16-byte aligned rows and bases, else the general strided kernel.
pub fn gemm_kernel_for(g: &Gemm, a: &DevBuf<bf16>, b: &DevBuf<bf16>) -> &'static str {
    gemm_kernel_at(g, a, b, GemmOffsets::default())
}

fn gemm_kernel_at(g: &Gemm, a: &DevBuf<bf16>, b: &DevBuf<bf16>, off: GemmOffsets) -> &'static str {
    let aligned = |x: usize| x.is_multiple_of(8);
    let fast = g.a.k == 1
        && g.b.k == 1
        && aligned(g.k)
        && aligned(g.a.outer)
        && aligned(g.b.outer)
        && (g.batch == 1 || (aligned(g.a.batch) && aligned(g.b.batch)))
        && (a.raw().device_ptr() + 2 * off.a as u64).is_multiple_of(16)
        && (b.raw().device_ptr() + 2 * off.b as u64).is_multiple_of(16);
    if fast {
        "gemm_bf16_mma_kc"
    } else {
        "gemm_bf16_mma"
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_grad_index_groups_positions_by_id_in_order() {
        let idx = EmbeddingGradIndex::build(&[4, 1, 4, 0, 1, 4], 5).unwrap();
        assert_eq!(idx.rows, vec![0, 1, 4]);
        assert_eq!(idx.offsets, vec![0, 1, 3, 6]);
        assert_eq!(idx.token_idx, vec![3, 1, 4, 0, 2, 5]);
        let e = EmbeddingGradIndex::build(&[0, 7], 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("token id 7 at position 1"), "{e}");
    }

    #[test]
    fn kernel_args_are_marshalled_in_order_with_their_sizes() {
        let mut a = KernelArgs::new();
        a.i32(-3).i64(1 << 40).f32(0.5).u32(7);
        assert_eq!(a.sizes(), &[4, 8, 4, 4]);
        let p = a.param_ptrs();
        // SAFETY: each pointer addresses an 8-byte slot holding the value written above.
        unsafe {
            assert_eq!(*(p[0] as *const i32), -3);
            assert_eq!(*(p[1] as *const i64), 1 << 40);
            assert_eq!(*(p[2] as *const f32), 0.5);
            assert_eq!(*(p[3] as *const u32), 7);
        }
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

    #[test]
    fn gemm_strides_extent() {
        assert_eq!(Strides::rows(3, 5).extent(2, 3, 5), 30);
        assert_eq!(Strides::cols(3, 5).extent(1, 3, 5), 15);
    }
}
