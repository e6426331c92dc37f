//! Launchers for kernels/cast.cu: f32 ↔ bf16 casts and the bf16 residual add.
use super::device::{DevBuf, KernelArgs, KernelDevice};
use super::launch::{elementwise_cfg, same_len};
use anyhow::Result;
use half::bf16;

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
