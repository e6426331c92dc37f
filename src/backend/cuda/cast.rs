//! Launchers for kernels/cast.cu: f32 ↔ bf16 casts and the bf16 residual add, each a ladder:
//! rung 1 one element per thread, rung 2 four (the casts: 16-byte f32 and 8-byte bf16 accesses)
//! or eight (the residual add: 16-byte accesses), for lengths that are multiples of that, with
//! the same bits. The plain launchers take the best rung for the length.
use super::device::{DevBuf, KernelArgs, KernelDevice};
use super::launch::{elementwise_cfg, same_len, vec_rung, vec_step};
use anyhow::Result;
use half::bf16;

/// Launches `kernel` (rung 1) or `wide` (rung 2, `width` elements per thread step) over `n`
/// elements with `args` followed by the number of thread steps.
fn launch_vec(
    dev: &dyn KernelDevice,
    (kernel, wide, width): (&str, &str, usize),
    rung: u32,
    n: usize,
    args: &mut KernelArgs,
) -> Result<()> {
    let per = vec_step(kernel, rung, n, width)?;
    let steps = n / per;
    args.i64(steps as i64);
    let name = if per == 1 { kernel } else { wide };
    dev.launch(name, &elementwise_cfg(steps), args)
}

/// Elements per thread step of the casts' rung 2.
pub const CAST_WIDTH: usize = 4;

pub fn cast_f32_to_bf16(dev: &dyn KernelDevice, out: &DevBuf<bf16>, x: &DevBuf<f32>) -> Result<()> {
    cast_f32_to_bf16_rung(dev, vec_rung(x.len(), CAST_WIDTH), out, x)
}

/// [`cast_f32_to_bf16`] on a given rung.
pub fn cast_f32_to_bf16_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    out: &DevBuf<bf16>,
    x: &DevBuf<f32>,
) -> Result<()> {
    same_len("cast_f32_to_bf16", &[out.len(), x.len()])?;
    let mut a = KernelArgs::new();
    a.buf(out).buf(x);
    let names = ("cast_f32_to_bf16", "cast_f32_to_bf16_x4", CAST_WIDTH);
    launch_vec(dev, names, rung, x.len(), &mut a)
}

pub fn cast_bf16_to_f32(dev: &dyn KernelDevice, out: &DevBuf<f32>, x: &DevBuf<bf16>) -> Result<()> {
    cast_bf16_to_f32_rung(dev, vec_rung(x.len(), CAST_WIDTH), out, x)
}

/// [`cast_bf16_to_f32`] on a given rung.
pub fn cast_bf16_to_f32_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    out: &DevBuf<f32>,
    x: &DevBuf<bf16>,
) -> Result<()> {
    same_len("cast_bf16_to_f32", &[out.len(), x.len()])?;
    let mut a = KernelArgs::new();
    a.buf(out).buf(x);
    let names = ("cast_bf16_to_f32", "cast_bf16_to_f32_x4", CAST_WIDTH);
    launch_vec(dev, names, rung, x.len(), &mut a)
}

/// out = a + b (bf16, f32 math). `out` may be the same buffer as `a`.
pub fn residual_add_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
) -> Result<()> {
    residual_add_rung(dev, vec_rung(a.len(), 8), out, a, b)
}

/// [`residual_add_bf16`] on a given rung.
pub fn residual_add_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    out: &DevBuf<bf16>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
) -> Result<()> {
    same_len("residual_add_bf16", &[out.len(), a.len(), b.len()])?;
    let mut args = KernelArgs::new();
    args.buf(out).buf(a).buf(b);
    let names = ("residual_add_bf16", "residual_add_x8_bf16", 8);
    launch_vec(dev, names, rung, a.len(), &mut args)
}
