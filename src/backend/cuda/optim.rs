//! Launcher for kernels/optim.cu: the fused AdamW step on f32 master weights.
use super::device::{DevBuf, KernelArgs, KernelDevice};
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
