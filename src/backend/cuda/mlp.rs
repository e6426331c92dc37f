//! Launchers for kernels/mlp.cu: the SwiGLU activation of the MLP and its backward, as a ladder:
//! rung 1 one element per thread (2-byte accesses), rung 2 eight (16-byte accesses, lengths that
//! are multiples of 8), with the same bits.
use super::device::{DevBuf, KernelArgs, KernelDevice};
use super::launch::{elementwise_cfg, same_len, vec_rung, vec_step};
use anyhow::Result;
use half::bf16;

/// The best SwiGLU rung for `n` elements.
pub fn swiglu_rung(n: usize) -> u32 {
    vec_rung(n, 8)
}

/// (kernel, elements per thread step) of a rung, checked against `n`.
fn swiglu_kernel(fwd: bool, rung: u32, n: usize) -> Result<(&'static str, usize)> {
    let what = if fwd {
        "swiglu_fwd_bf16"
    } else {
        "swiglu_bwd_bf16"
    };
    let per = vec_step(what, rung, n, 8)?;
    Ok(match (fwd, per) {
        (true, 1) => ("swiglu_fwd_bf16", 1),
        (false, 1) => ("swiglu_bwd_bf16", 1),
        (true, _) => ("swiglu_fwd_x8_bf16", 8),
        (false, _) => ("swiglu_bwd_x8_bf16", 8),
    })
}

/// out = silu(gate)·up on the best rung.
pub fn swiglu_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    gate: &DevBuf<bf16>,
    up: &DevBuf<bf16>,
) -> Result<()> {
    swiglu_fwd_rung(dev, swiglu_rung(gate.len()), out, gate, up)
}

/// [`swiglu_fwd_bf16`] on a given rung.
pub fn swiglu_fwd_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    out: &DevBuf<bf16>,
    gate: &DevBuf<bf16>,
    up: &DevBuf<bf16>,
) -> Result<()> {
    same_len("swiglu_fwd_bf16", &[out.len(), gate.len(), up.len()])?;
    let (kernel, per) = swiglu_kernel(true, rung, gate.len())?;
    let steps = gate.len() / per;
    let mut a = KernelArgs::new();
    a.buf(out).buf(gate).buf(up).i64(steps as i64);
    dev.launch(kernel, &elementwise_cfg(steps), &mut a)
}

/// (dgate, dup) of SwiGLU given dout, on the best rung.
pub fn swiglu_bwd_bf16(
    dev: &dyn KernelDevice,
    dgate: &DevBuf<bf16>,
    dup: &DevBuf<bf16>,
    dout: &DevBuf<bf16>,
    gate: &DevBuf<bf16>,
    up: &DevBuf<bf16>,
) -> Result<()> {
    swiglu_bwd_rung(dev, swiglu_rung(gate.len()), dgate, dup, dout, gate, up)
}

/// [`swiglu_bwd_bf16`] on a given rung.
pub fn swiglu_bwd_rung(
    dev: &dyn KernelDevice,
    rung: u32,
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
    let (kernel, per) = swiglu_kernel(false, rung, gate.len())?;
    let steps = gate.len() / per;
    let mut a = KernelArgs::new();
    a.buf(dgate)
        .buf(dup)
        .buf(dout)
        .buf(gate)
        .buf(up)
        .i64(steps as i64);
    dev.launch(kernel, &elementwise_cfg(steps), &mut a)
}
