//! Launcher of kernels/gemm_sm90.cu, rung 5 of the GEMM ladder (`GemmRung::Wgmma`): TMA tensor
//! maps for both operands, one persistent launch (a block per SM) per batch entry.
//!
//! The kernel has never run on a GPU: the model uses it only when `RLVR_GEMM_WGMMA=1` asks for it
//! on a compute capability 9.0 device ([`wgmma_opted_in`]); the selftest runs it on the emulator
//! and, through scripts/gpu-check.sh, on the first sm_90 GPU session.
use super::device::{DevBuf, KernelArgs, KernelDevice, LaunchCfg, LoopArg};
use super::gemm::{Gemm, GemmOpts, Strides, TileCfg};
use crate::backend::emu::hopper::{TensorMapSpec, TmaSwizzle, TMA_DTYPE_BF16};
use anyhow::{bail, Context, Result};
use half::bf16;

/// The environment variable that lets the model's default GEMM rung be the wgmma kernel.
pub const WGMMA_ENV: &str = "RLVR_GEMM_WGMMA";

/// Whether `RLVR_GEMM_WGMMA=1` is set (read once).
pub fn wgmma_opted_in() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var(WGMMA_ENV).is_ok_and(|v| v == "1"))
}

/// Rows of a tile (two consumer warpgroups of 64) and K columns of a stage (one 128-byte row).
const BM: usize = 128;
const BK: usize = 64;

/// The tile of the kernel for `n` output columns: 128 x 256 (4 stages) when N has 256 columns,
/// else 128 x 128 (5 stages).
pub fn wgmma_tile(n: usize) -> TileCfg {
    let wide = n >= 256;
    TileCfg {
        bm: BM,
        bn: if wide { 256 } else { 128 },
        bk: BK,
        stages: if wide { 4 } else { 5 },
        swizzled: true,
        staged_epilogue: false,
        warps: 12,
    }
}

/// Dynamic shared memory of the kernel: the stages, 16 bytes of mbarriers per stage and the
/// slack that aligns the base to 1024 bytes (gemm_sm90.cuh, `Sm90Smem::TOTAL`).
pub fn wgmma_smem_bytes(t: &TileCfg) -> usize {
    t.stages * (BM + t.bn) * BK * 2 + 16 * t.stages + 1024
}

/// The kernel for a tile and the operand layouts (suffixes as kernels/gemm.cu names them).
pub fn wgmma_kernel(t: &TileCfg, a_k: bool, b_k: bool) -> &'static str {
    match (t.bn == 256, a_k, b_k) {
        (true, true, true) => "gemm_bf16_wgmma_n256_kk",
        (true, true, false) => "gemm_bf16_wgmma_n256_kn",
        (true, false, true) => "gemm_bf16_wgmma_n256_mk",
        (true, false, false) => "gemm_bf16_wgmma_n256_mn",
        (false, true, true) => "gemm_bf16_wgmma_n128_kk",
        (false, true, false) => "gemm_bf16_wgmma_n128_kn",
        (false, false, true) => "gemm_bf16_wgmma_n128_mk",
        (false, false, false) => "gemm_bf16_wgmma_n128_mn",
    }
}

/// Position of K among the kernel's arguments (the loop a counting emulator may shorten).
const ARG_K: usize = 8;

/// The tensor map of one operand of batch entry `z`: K-major ([outer, K] rows of K) as boxes of
/// 64 K x `rows`; outer-major ([K, outer] rows of the outer index) as boxes of 64 x 64 K rows.
fn operand_map(
    base: u64,
    s: &Strides,
    outer: usize,
    k: usize,
    k_major: bool,
    rows: usize,
) -> TensorMapSpec {
    let (dim_rows, dim_cols, ld, box_rows) = if k_major {
        (outer, k, s.outer, rows)
    } else {
        (k, outer, s.k, BK)
    };
    let mut spec = TensorMapSpec::row_major(
        TMA_DTYPE_BF16,
        base,
        dim_rows as u64,
        dim_cols as u64,
        2,
        box_rows as u32,
        BK as u32,
        TmaSwizzle::B128,
    );
    // The row pitch of a strided view (a sub-block of a wider matrix) is its stride, not its width.
    spec.global_strides = [2 * ld as u64];
    // Tiles are re-read by the neighbouring blocks of the grouped order: promote to L2 in 256-byte
    // lines, as CUTLASS does for its TMA loads.
    spec.l2_promotion = 3;
    spec
}

/// Runs rung 5: one launch per batch entry (each with exact tensor maps, so TMA's zero fill stops
/// every tile at its own entry's edges).
#[allow(clippy::too_many_arguments)]
pub fn launch_wgmma(
    dev: &dyn KernelDevice,
    kernel: &str,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
    o: &GemmOpts<'_>,
    (a_k, b_k): (bool, bool),
    t: &TileCfg,
) -> Result<()> {
    if !dev.has_sm90a() {
        bail!(
            "gemm_bf16: the wgmma kernel needs an sm_90 device; {} is not one",
            dev.name()
        );
    }
    if g.k == 0 {
        bail!("gemm_bf16: the wgmma kernel needs K >= 1");
    }
    let tiles = g.m.div_ceil(t.bm) * g.n.div_ceil(t.bn);
    let cfg = LaunchCfg {
        grid: [tiles.min(dev.sm_count()) as u32, 1, 1],
        block: [384, 1, 1],
        smem_bytes: wgmma_smem_bytes(t) as u32,
    };
    let mn = g.m * g.n;
    for z in 0..g.batch {
        let at = |buf: &DevBuf<bf16>, off: usize| buf.raw().device_ptr() + 2 * off as u64;
        let ma = operand_map(at(a, o.off.a + z * g.a.batch), &g.a, g.m, g.k, a_k, t.bm);
        let mb = operand_map(at(b, o.off.b + z * g.b.batch), &g.b, g.n, g.k, b_k, t.bn);
        let ma = dev
            .tensor_map(&ma)
            .with_context(|| format!("{kernel}: tensor map of A ({g:?})"))?;
        let mb = dev
            .tensor_map(&mb)
            .with_context(|| format!("{kernel}: tensor map of B ({g:?})"))?;
        let c_at = o.off.c + z * mn;
        let mut args = KernelArgs::new();
        args.tensor_map(&ma).tensor_map(&mb);
        match c_f32 {
            Some(c) => args.buf_at(c, c_at)?,
            None => args.opt_buf::<f32>(None),
        };
        match c_bf16 {
            Some(c) => args.buf_at(c, c_at)?,
            None => args.opt_buf::<bf16>(None),
        };
        args.opt_buf(o.bias);
        match o.residual {
            Some(r) => args.buf_at(r, c_at)?,
            None => args.opt_buf::<bf16>(None),
        };
        args.i32(g.m as i32).i32(g.n as i32).i32(g.k as i32);
        args.f32(g.alpha)
            .f32(if c_f32.is_some() { g.beta } else { 0.0 });
        // Each tile of a block loops over all K tiles.
        args.loop_over(LoopArg {
            index: ARG_K,
            step: BK as i64,
            min_trips: g.k.div_ceil(BK) as u64,
        })?;
        dev.launch(kernel, &cfg, &mut args)?;
    }
    Ok(())
}
