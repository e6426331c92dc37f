//! Launcher for kernels/sum_parts.cu: the ordered (left-fold) sum of gradient shards.
use super::device::{DevBuf, KernelArgs, KernelDevice};
use super::launch::elementwise_cfg;
use anyhow::{bail, Result};

/// out[i] = ((parts[i] + parts[stride + i]) + parts[2·stride + i]) + … over `nparts` parts of
/// `out.len()` elements. `out` may be a view of part 0.
pub fn sum_parts_f32(
    dev: &dyn KernelDevice,
    out: &DevBuf<f32>,
    parts: &DevBuf<f32>,
    nparts: usize,
    stride: usize,
) -> Result<()> {
    let n = out.len();
    if n == 0 {
        return Ok(());
    }
    if nparts == 0 || stride < n || (nparts - 1) * stride + n > parts.len() {
        bail!(
            "sum_parts: {nparts} parts of {n} elements at stride {stride} do not fit a buffer of {}",
            parts.len()
        );
    }
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(parts)
        .i32(i32::try_from(nparts)?)
        .i64(n as i64)
        .i64(stride as i64);
    dev.launch("sum_parts_f32", &elementwise_cfg(n), &mut a)
}
