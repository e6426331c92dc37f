//! Launchers for kernels/optim.cu: the fused AdamW step on f32 master weights, per tensor and
//! for every tensor of a model in one launch.
use super::device::{upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{elementwise_cfg, same_len};
use anyhow::{bail, Result};
use half::bf16;

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
    let mut a = KernelArgs::new();
    a.buf(param).buf(m).buf(v).opt_buf(param_bf16).buf(grad);
    grad_scale_arg(&mut a, grad_scale)?;
    a.i64(param.len() as i64);
    hyper_args(&mut a, h);
    dev.launch("adamw_step_f32", &elementwise_cfg(param.len()), &mut a)
}

/// The optional device scalar the gradient is multiplied by (`nullptr`: none).
fn grad_scale_arg(a: &mut KernelArgs, grad_scale: Option<(&DevBuf<f32>, usize)>) -> Result<()> {
    match grad_scale {
        Some((s, i)) => a.buf_at(s, i)?,
        None => a.opt_buf::<f32>(None),
    };
    Ok(())
}

/// lr, β1, β2, ε, weight decay and the two bias corrections, in the kernels' order.
fn hyper_args(a: &mut KernelArgs, h: &AdamW) {
    let (c1, c2) = h.bias_corrections();
    a.f32(h.lr)
        .f32(h.beta1)
        .f32(h.beta2)
        .f32(h.eps)
        .f32(h.weight_decay)
        .f32(c1)
        .f32(c2);
}

/// Elements per block of `adamw_multi_f32` (ADAMW_CHUNK in kernels/optim.cu).
pub const ADAMW_CHUNK: usize = 8192;

/// One tensor of a multi-tensor AdamW step.
pub struct AdamwTensor<'a> {
    pub param: &'a DevBuf<f32>,
    pub m: &'a DevBuf<f32>,
    pub v: &'a DevBuf<f32>,
    pub param_bf16: Option<&'a DevBuf<bf16>>,
    pub grad: &'a DevBuf<f32>,
}

/// The device table of `adamw_multi_f32`: each tensor's addresses and length, and the chunks
/// the blocks take. It holds addresses, not the buffers: [`AdamwTable::matches`] tells whether
/// it still describes a given set of buffers (rebuild it otherwise).
pub struct AdamwTable {
    words: Vec<u64>,
    tensors: DevBuf<u64>,
    chunks: DevBuf<u64>,
    blocks: usize,
}

fn table_words(parts: &[AdamwTensor<'_>]) -> Result<Vec<u64>> {
    let mut words = Vec::with_capacity(6 * parts.len());
    for (i, t) in parts.iter().enumerate() {
        same_len(
            &format!("adamw_multi_f32 tensor {i}"),
            &[t.param.len(), t.m.len(), t.v.len(), t.grad.len()],
        )?;
        if let Some(b) = t.param_bf16 {
            same_len(
                &format!("adamw_multi_f32 tensor {i} bf16 copy"),
                &[b.len(), t.param.len()],
            )?;
        }
        words.extend([
            t.param.raw().ptr,
            t.m.raw().ptr,
            t.v.raw().ptr,
            t.param_bf16.map_or(0, |b| b.raw().ptr),
            t.grad.raw().ptr,
            t.param.len() as u64,
        ]);
    }
    Ok(words)
}

impl AdamwTable {
    pub fn new(dev: &dyn KernelDevice, parts: &[AdamwTensor<'_>]) -> Result<AdamwTable> {
        let words = table_words(parts)?;
        let mut chunks = Vec::new();
        for (i, t) in parts.iter().enumerate() {
            for first in (0..t.param.len()).step_by(ADAMW_CHUNK) {
                chunks.extend([i as u64, first as u64]);
            }
        }
        let blocks = chunks.len() / 2;
        if blocks > i32::MAX as usize {
            bail!("adamw_multi_f32: {blocks} chunks exceed one launch's grid");
        }
        // An empty model still gets valid (unused) buffers.
        let tensors = upload(dev, if words.is_empty() { &[0] } else { &words })?;
        let chunks = upload(dev, if chunks.is_empty() { &[0, 0] } else { &chunks })?;
        Ok(AdamwTable {
            words,
            tensors,
            chunks,
            blocks,
        })
    }

    /// Whether the table describes exactly these buffers.
    pub fn matches(&self, parts: &[AdamwTensor<'_>]) -> bool {
        table_words(parts).is_ok_and(|w| w == self.words)
    }

    /// Blocks of one launch (one per chunk of at most [`ADAMW_CHUNK`] elements of a tensor).
    pub fn blocks(&self) -> usize {
        self.blocks
    }
}

/// [`adamw_step_f32`] on every tensor of `table` in one launch (the same bits).
pub fn adamw_multi_f32(
    dev: &dyn KernelDevice,
    table: &AdamwTable,
    grad_scale: Option<(&DevBuf<f32>, usize)>,
    h: &AdamW,
) -> Result<()> {
    if h.step == 0 {
        bail!("adamw_multi_f32: the step count starts at 1");
    }
    if table.blocks == 0 {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf(&table.tensors).buf(&table.chunks);
    grad_scale_arg(&mut a, grad_scale)?;
    hyper_args(&mut a, h);
    dev.launch(
        "adamw_multi_f32",
        &LaunchCfg::linear(table.blocks as u32, 256, 0),
        &mut a,
    )
}
