//! Counting a sample of a grid's blocks and extrapolating, checked against running the whole grid
//! on shapes small enough: exact where blocks do equal work (row kernels, interior GEMM tiles),
//! within a few percent for causal attention, whose work grows along the query tiles (the
//! footprint, an estimate bounded by the span the sample touched, within 10%).
mod emu_common;

use half::bf16;
use rlvr::backend::cpu::attention::AttnDims;
use rlvr::backend::cuda::attention::{attn_fwd_bf16_rung, AttnRung, AttnSeqs};
use rlvr::backend::cuda::device::{alloc, upload, KernelDevice};
use rlvr::backend::cuda::gemm::{gemm_bf16_with, Gemm, GemmOpts, GemmRung, Strides};
use rlvr::backend::cuda::norm::rmsnorm_fwd_bf16;
use rlvr::backend::emu::{CountPolicy, Counts, EmuDevice, LaunchCount};
use rlvr::bench::efficiency::measure;

type Work = dyn Fn(&dyn KernelDevice) -> anyhow::Result<()>;

fn counted(dev: &EmuDevice, policy: CountPolicy, work: &Work) -> LaunchCount {
    let counts: Counts = measure(dev, policy, work).expect("counted run");
    assert_eq!(counts.launches.len(), 1);
    counts.launches[0].clone()
}

/// Runs `work` whole and with at most `max_blocks` blocks; every counter of the sample's
/// extrapolation is within `tol` (relative) of the whole grid's, and so is the footprint within
/// `footprint_tol`. Returns the largest relative error seen.
fn compare(seed: u64, max_blocks: usize, tol: f64, footprint_tol: f64, work: &Work) -> f64 {
    let dev = emu_common::emu_or_skip(seed).expect("emulator");
    let full = counted(&dev, CountPolicy::exact(), work);
    let sampled = counted(
        &dev,
        CountPolicy {
            max_blocks,
            reuse_identical: false,
            shorten_loops: false,
        },
        work,
    );
    assert!(!full.sampled());
    assert!(sampled.sampled(), "grid of {} blocks", full.blocks_total);
    assert!(sampled.blocks_run as usize <= max_blocks);
    let f = serde_json::to_value(full.counters).unwrap();
    let s = serde_json::to_value(sampled.counters).unwrap();
    let mut worst: f64 = 0.0;
    for (k, v) in f.as_object().unwrap() {
        let (want, got) = (v.as_f64().unwrap(), s[k].as_f64().unwrap());
        let err = if want == 0.0 {
            got.abs()
        } else {
            ((got - want) / want).abs()
        };
        assert!(
            err <= tol,
            "{}: {k}: whole grid {want}, sample {got}",
            full.kernel
        );
        worst = worst.max(err);
    }
    let (fw, fs) = (full.footprint.unique_bytes, sampled.footprint.unique_bytes);
    assert!(
        ((fs - fw) / fw).abs() <= footprint_tol,
        "{}: footprint whole {fw}, sample {fs}",
        full.kernel
    );
    worst
}

fn bf16_buf(
    dev: &dyn KernelDevice,
    n: usize,
    seed: usize,
) -> anyhow::Result<rlvr::backend::cuda::device::DevBuf<bf16>> {
    let v: Vec<bf16> = (0..n)
        .map(|i| bf16::from_f32((((i * 31 + seed) % 17) as f32 - 8.0) / 8.0))
        .collect();
    upload(dev, &v)
}

#[test]
fn row_kernel_extrapolates_exactly() {
    if !emu_common::emu_available() {
        return;
    }
    // 96 rows, one block each, all alike: 8 sampled blocks give every counter exactly; the
    // footprint is bounded by the span the first and last rows reach.
    let (rows, hidden) = (96, 200);
    let work = move |dev: &dyn KernelDevice| {
        let x = bf16_buf(dev, rows * hidden, 1)?;
        let w = bf16_buf(dev, hidden, 2)?;
        let y = alloc::<bf16>(dev, rows * hidden)?;
        let rstd = alloc::<f32>(dev, rows)?;
        rmsnorm_fwd_bf16(dev, &y, &rstd, &x, &w, 1e-6)
    };
    assert_eq!(compare(11, 8, 0.0, 0.02, &work), 0.0);
}

#[test]
fn gemm_tiles_extrapolate_exactly() {
    if !emu_common::emu_available() {
        return;
    }
    // 200 x 136 x 72: a 3 x 4 grid of 64 x 64 tiles whose last row and column are partial. With
    // 9 blocks the first and last tile of each dimension and one interior tile stand for the
    // rest, which do the same work.
    let (m, n, k) = (200, 136, 72);
    let work = move |dev: &dyn KernelDevice| {
        let a = bf16_buf(dev, m * k, 3)?;
        let b = bf16_buf(dev, n * k, 4)?;
        let c = alloc::<f32>(dev, m * n)?;
        let g = Gemm {
            batch: 1,
            m,
            n,
            k,
            a: Strides::rows(m, k),
            b: Strides::rows(n, k),
            alpha: 1.0,
            beta: 0.0,
        };
        // rung 1's 64 x 64 tiles (the grid described above)
        let rung1 = GemmOpts {
            rung: GemmRung::Strided,
            ..GemmOpts::default()
        };
        gemm_bf16_with(dev, Some(&c), None, &a, &b, &g, &rung1)
    };
    assert_eq!(compare(12, 9, 0.0, 0.05, &work), 0.0);
}

#[test]
fn causal_attention_extrapolates_within_a_few_percent() {
    if !emu_common::emu_available() {
        return;
    }
    // Two sequences (150 and 61 tokens), 4 query heads over 2 KV heads of 32: on rung 1's
    // 16-row tiles a grid of 10 query tiles x 4 heads x 2 sequences = 80 blocks; a tile's work
    // grows with its index and the short sequence's last tiles exit at once.
    let dims = AttnDims {
        n_q_heads: 4,
        n_kv_heads: 2,
        head_dim: 32,
    };
    let work = move |dev: &dyn KernelDevice| {
        let rows = 211;
        let seqs = AttnSeqs::upload(dev, &[(0, 150), (150, 61)])?;
        let q = bf16_buf(dev, rows * 4 * 32, 5)?;
        let k = bf16_buf(dev, rows * 2 * 32, 6)?;
        let v = bf16_buf(dev, rows * 2 * 32, 7)?;
        let out = alloc::<bf16>(dev, rows * 4 * 32)?;
        let lse = alloc::<f32>(dev, rows * 4)?;
        attn_fwd_bf16_rung(AttnRung::Simt, dev, &out, &lse, &q, &k, &v, &seqs, dims)
    };
    let worst = compare(13, 40, 0.05, 0.1, &work);
    eprintln!("causal attention: largest relative error of a counter {worst:.4}");
}
