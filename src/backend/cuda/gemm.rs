//! Launchers for kernels/gemm.cu: the batched, strided tensor-core GEMM (bf16 operands, f32
//! accumulation) and the choice between its pipelined and general kernels.
use super::device::{DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use anyhow::{bail, Result};
use half::bf16;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_strides_extent() {
        assert_eq!(Strides::rows(3, 5).extent(2, 3, 5), 30);
        assert_eq!(Strides::cols(3, 5).extent(1, 3, 5), 15);
    }
}
