//! GEMMs counted with their K loop shortened (two runs of 8 and 16 K tiles per block, extended
//! along the line through them) against the same GEMMs run whole: every counter agrees exactly
//! (the footprint within 0.1%), on the first rung's kernel, the pipelined one with operands
//! contiguous along K or along M, a K that is not a multiple of the tile, split-K, and the
//! persistent sm_90a kernel (TMA and wgmma counted per K tile; K a multiple of its 64-deep tile).
mod emu_common;

use half::bf16;
use rlvr::backend::cuda::device::{alloc, upload, DevBuf, KernelDevice};
use rlvr::backend::cuda::gemm::{gemm_bf16_with, Gemm, GemmOpts, GemmRung, Strides};
use rlvr::backend::emu::{CountPolicy, Counts, EmuDevice, LaunchCount};
use rlvr::bench::efficiency::measure;

type Work = dyn Fn(&dyn KernelDevice) -> anyhow::Result<()>;

fn product(dev: &EmuDevice, policy: CountPolicy, work: &Work) -> LaunchCount {
    let counts: Counts = measure(dev, policy, work).expect("counted run");
    counts.launches[0].clone()
}

fn bf16_buf(dev: &dyn KernelDevice, n: usize, seed: usize) -> anyhow::Result<DevBuf<bf16>> {
    let v: Vec<bf16> = (0..n)
        .map(|i| bf16::from_f32((((i * 29 + seed) % 13) as f32 - 6.0) / 8.0))
        .collect();
    upload(dev, &v)
}

/// Counts the GEMM's product kernel whole and shortened; they must agree exactly.
fn compare(seed: u64, g: Gemm, rung: GemmRung, split_k: bool) -> LaunchCount {
    let dev = emu_common::emu_or_skip(seed).expect("emulator");
    let work = move |d: &dyn KernelDevice| {
        let a = bf16_buf(d, g.m * g.k, 1)?;
        let b = bf16_buf(d, g.n * g.k, 2)?;
        let c = alloc::<f32>(d, g.m * g.n)?;
        let opts = GemmOpts {
            rung,
            split_k,
            ..GemmOpts::default()
        };
        gemm_bf16_with(d, Some(&c), None, &a, &b, &g, &opts)
    };
    let whole = product(&dev, CountPolicy::exact(), &work);
    let short = product(
        &dev,
        CountPolicy {
            shorten_loops: true,
            ..CountPolicy::exact()
        },
        &work,
    );
    assert!(!whole.shortened);
    assert!(
        short.shortened,
        "{}: the loop was not shortened",
        short.kernel
    );
    let w = serde_json::to_value(whole.counters).unwrap();
    let s = serde_json::to_value(short.counters).unwrap();
    for (k, v) in w.as_object().unwrap() {
        assert_eq!(v, &s[k], "{}: {k}", whole.kernel);
    }
    assert!(whole.counters.tensor_flops() > 0.0);
    // The footprint grows by the same sectors per K tile too, except where a full-length row of
    // an operand ends in the sector the next row starts in (rows of 2 · 648 bytes): there the
    // whole run touches that sector once, the extension twice.
    let (fw, fs) = (whole.footprint.unique_bytes, short.footprint.unique_bytes);
    assert!(
        ((fs - fw) / fw).abs() < 1e-3,
        "{}: footprint whole {fw}, shortened {fs}",
        whole.kernel
    );
    short
}

fn gemm(m: usize, n: usize, k: usize, a: Strides, b: Strides) -> Gemm {
    Gemm {
        batch: 1,
        m,
        n,
        k,
        a,
        b,
        alpha: 1.0,
        beta: 0.0,
    }
}

#[test]
fn k_contiguous_pipelined_gemm_with_a_partial_last_tile() {
    if !emu_common::emu_available() {
        return;
    }
    // 21 K tiles, the last one 8 deep; 2 x 2 tiles of 128 x 128 (rung 3), 4 x 3 of 64 x 64
    // (rung 7) or 4 x 5 of 64 x 32 (the best rung), the last row and column partial
    let (m, n, k) = (200, 136, 32 * 20 + 8);
    let g = gemm(m, n, k, Strides::rows(m, k), Strides::rows(n, k));
    for (seed, rung, kernel) in [
        (21, GemmRung::Tiles, "gemm_bf16_t128_kk"),
        (25, GemmRung::GridFill, "gemm_bf16_t64_kk"),
        (27, GemmRung::BEST, "gemm_bf16_t64x32_kk"),
    ] {
        assert_eq!(compare(seed, g, rung, false).kernel, kernel);
    }
}

#[test]
fn m_major_operand_and_split_k() {
    if !emu_common::emu_available() {
        return;
    }
    // A weight gradient's layout (both operands contiguous along their outer index): one tile,
    // split 4 ways over 75 K tiles (19, 19, 19, 18).
    let (m, n, k) = (64, 96, 2400);
    let l = compare(
        22,
        gemm(m, n, k, Strides::cols(m, k), Strides::cols(n, k)),
        GemmRung::BEST,
        true,
    );
    assert_eq!(l.kernel, "gemm_bf16_t128_mn");
    assert_eq!(l.args[16], 4, "splits");
}

#[test]
fn first_rung_gemm() {
    if !emu_common::emu_available() {
        return;
    }
    let (m, n, k) = (96, 72, 32 * 18);
    let l = compare(
        23,
        gemm(m, n, k, Strides::rows(m, k), Strides::rows(n, k)),
        GemmRung::Strided,
        false,
    );
    assert_eq!(l.kernel, "gemm_bf16_mma_kc");
}

#[test]
fn persistent_wgmma_gemm_with_partial_output_tiles() {
    if !emu_common::emu_available() {
        return;
    }
    // 21 K tiles of 64; 2 x 2 tiles of 128 x 128, the last row and column partial; one tile per
    // persistent block. K is a multiple of 64 here: the tensor maps keep the real K, so a
    // shortened run's last K tile is a whole one, and with a partial last tile the extension
    // misses its zero-filled rows (about 2% of the TMA row requests at K = 64 * 20 + 8).
    let (m, n, k) = (200, 136, 64 * 21);
    let l = compare(
        24,
        gemm(m, n, k, Strides::rows(m, k), Strides::cols(n, k)),
        GemmRung::Wgmma,
        false,
    );
    assert_eq!(l.kernel, "gemm_bf16_wgmma_n128_kn");
    assert_eq!(l.counters.mma_instructions, 0.0);
    assert_eq!(l.counters.tensor_flops(), l.counters.wgmma_flops);
}
