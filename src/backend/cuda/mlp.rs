//! Launchers for kernels/mlp.cu: the SwiGLU activation of the MLP and its backward.
use super::device::{DevBuf, KernelArgs, KernelDevice};
use super::launch::{elementwise_cfg, same_len};
use anyhow::Result;
use half::bf16;

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
