//! Launcher for kernels/fill.cu: set every element of a device buffer to one value.
use super::device::{DevBuf, KernelArgs, KernelDevice};
use super::launch::elementwise_cfg;
use anyhow::Result;

/// out[i] = value for every i.
pub fn fill_f32(dev: &dyn KernelDevice, out: &DevBuf<f32>, value: f32) -> Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf(out).f32(value).i64(out.len() as i64);
    dev.launch("fill_f32", &elementwise_cfg(out.len()), &mut a)
}
