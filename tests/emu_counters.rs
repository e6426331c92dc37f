//! The emulator's efficiency counters on kernels whose counts are known by hand
//! (kernels/emu/planted/counters.cu): every counter is checked exactly, those not named must be 0.
mod emu_common;

use half::bf16;
use rlvr::backend::cuda::device::{alloc, download, upload, KernelArgs, KernelDevice, LaunchCfg};
use rlvr::backend::emu::{CountPolicy, EmuDevice, LaunchCount};
use serde_json::{json, Value};

fn counted(dev: &EmuDevice, kernel: &str, cfg: LaunchCfg, args: &mut KernelArgs) -> LaunchCount {
    dev.start_counting(CountPolicy::exact());
    dev.launch(kernel, &cfg, args).expect("launch");
    let counts = dev.finish_counting().expect("session");
    assert_eq!(counts.launches.len(), 1);
    counts.launches[0].clone()
}

/// Every counter of `c` equals the value named in `want`, or 0 when `want` does not name it.
fn assert_counters(kernel: &str, c: &LaunchCount, want: Value) {
    let got = serde_json::to_value(c.counters).expect("serialise");
    let want = want.as_object().expect("object");
    for k in want.keys() {
        assert!(got.get(k).is_some(), "{kernel}: no counter named {k}");
    }
    for (k, v) in got.as_object().expect("object") {
        let expect = want.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        assert_eq!(v.as_f64(), Some(expect), "{kernel}: counter {k}");
    }
}

/// Buffers whose size is a multiple of 32 bytes start on a sector (the emulator places them
/// against their guard page, 16-byte aligned); the hand counts assume it.
fn sector_aligned<T: rlvr::backend::cuda::device::DevElem>(
    b: &rlvr::backend::cuda::device::DevBuf<T>,
) {
    assert_eq!(b.raw().device_ptr() % 32, 0, "buffer not sector-aligned");
}

#[test]
fn coalesced_16_byte_copy() {
    let Some(dev) = emu_common::emu_or_skip(1) else {
        return;
    };
    // 4 blocks x 64 threads, one float4 each: 8 warps, each one load and one store of 512
    // contiguous bytes = 16 sectors.
    let n = 256;
    let host: Vec<f32> = (0..4 * n).map(|i| i as f32).collect();
    let input = upload(&dev, &host).unwrap();
    let out = alloc::<f32>(&dev, 4 * n).unwrap();
    sector_aligned(&input);
    sector_aligned(&out);
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&input);
    let c = counted(&dev, "count_copy16", LaunchCfg::linear(4, 64, 0), &mut a);
    assert_counters(
        "count_copy16",
        &c,
        json!({
            "blocks": 4, "warps": 8, "threads": 256,
            "global_load_requests": 8, "global_load_bytes": 4096, "global_load_used_bytes": 4096,
            "global_load_sectors": 128,
            "global_store_requests": 8, "global_store_bytes": 4096, "global_store_used_bytes": 4096,
            "global_store_sectors": 128,
        }),
    );
    assert_eq!(c.counters.global_sector_efficiency(), Some(1.0));
    assert_eq!(c.footprint.unique_bytes, 8192.0);
    assert!(c.footprint.exact);
    assert_eq!(download(&dev, &out).unwrap(), host);
}

#[test]
fn strided_2_byte_gather() {
    let Some(dev) = emu_common::emu_or_skip(2) else {
        return;
    };
    // 2 blocks x 64 threads read every 16th bf16 (32 bytes apart): per warp one load request of
    // 64 bytes over 32 sectors, one store of 64 contiguous bytes over 2 sectors.
    let (n, stride) = (128usize, 16usize);
    let host: Vec<bf16> = (0..n * stride).map(|i| bf16::from_f32(i as f32)).collect();
    let input = upload(&dev, &host).unwrap();
    let out = alloc::<bf16>(&dev, n).unwrap();
    sector_aligned(&input);
    sector_aligned(&out);
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&input).i32(stride as i32);
    let c = counted(
        &dev,
        "count_gather_strided",
        LaunchCfg::linear(2, 64, 0),
        &mut a,
    );
    assert_counters(
        "count_gather_strided",
        &c,
        json!({
            "blocks": 2, "warps": 4, "threads": 128,
            "global_load_requests": 4, "global_load_bytes": 256, "global_load_used_bytes": 256,
            "global_load_sectors": 128,
            "global_store_requests": 4, "global_store_bytes": 256, "global_store_used_bytes": 256,
            "global_store_sectors": 8,
        }),
    );
    // 512 distinct bytes needed, 136 sectors moved.
    assert_eq!(
        c.counters.global_sector_efficiency(),
        Some(512.0 / (136.0 * 32.0))
    );
    // 128 distinct sectors of the input, 8 of the output.
    assert_eq!(c.footprint.unique_bytes, 136.0 * 32.0);
    let got = download(&dev, &out).unwrap();
    assert!((0..n).all(|i| got[i] == host[i * stride]));
}

#[test]
fn thirty_two_way_bank_conflict() {
    let Some(dev) = emu_common::emu_or_skip(3) else {
        return;
    };
    // Column store s[t * 32]: 32 distinct words in bank 0 = 32 wavefronts; the column load again
    // 32; the row load s[t] 1; the broadcast s[0] 1.
    let out = alloc::<f32>(&dev, 32).unwrap();
    sector_aligned(&out);
    let mut a = KernelArgs::new();
    a.buf(&out);
    let c = counted(
        &dev,
        "count_bank_conflict",
        LaunchCfg::linear(1, 32, 0),
        &mut a,
    );
    assert_counters(
        "count_bank_conflict",
        &c,
        json!({
            "blocks": 1, "warps": 1, "threads": 32,
            "shared_store_requests": 1, "shared_store_bytes": 128, "shared_store_wavefronts": 32,
            "shared_load_requests": 3, "shared_load_bytes": 384, "shared_load_wavefronts": 34,
            "global_store_requests": 1, "global_store_bytes": 128, "global_store_used_bytes": 128,
            "global_store_sectors": 4,
            "warp_syncs": 1,
        }),
    );
    assert_eq!(c.counters.smem_wavefronts_per_request(), Some(66.0 / 4.0));
    let got = download(&dev, &out).unwrap();
    // column t holds t at row 0 only for t = 0; s[t] for t > 0 is poison-free only where written.
    assert_eq!(got[0], 0.0 + 0.0 + 0.0);
}

fn ldmatrix_counts(kernel: &str, seed: u64) -> LaunchCount {
    let dev = emu_common::emu_or_skip(seed).expect("emulator");
    let out = alloc::<u32>(&dev, 128).unwrap();
    sector_aligned(&out);
    let mut a = KernelArgs::new();
    a.buf(&out);
    let c = counted(&dev, kernel, LaunchCfg::linear(1, 32, 0), &mut a);
    // Lane l of register j holds row l / 4, columns 2 (l % 4) and +1 of matrix j: element
    // (row, col) of the tile holds (row * 32 + col) mod 256.
    let got = download(&dev, &out).unwrap();
    for j in 0..4 {
        for l in 0..32 {
            let row = l / 4 + 8 * (j & 1);
            let col = 2 * (l % 4) + 8 * (j >> 1);
            let v = got[j * 32 + l];
            let lo = bf16::from_bits((v & 0xFFFF) as u16).to_f32();
            let hi = bf16::from_bits((v >> 16) as u16).to_f32();
            let e = row * 32 + col;
            assert_eq!((lo, hi), ((e % 256) as f32, ((e + 1) % 256) as f32));
        }
    }
    c
}

#[test]
fn ldmatrix_with_and_without_padding() {
    if !emu_common::emu_available() {
        return;
    }
    // Common to both: 16 fill stores of 64 contiguous bytes (1 wavefront each), one ldmatrix.x4
    // (512 bytes), four 128-byte output stores.
    let common = |wavefronts: u64| {
        json!({
            "blocks": 1, "warps": 1, "threads": 32,
            "shared_store_requests": 16, "shared_store_bytes": 1024, "shared_store_wavefronts": 16,
            "ldmatrix_instructions": 1, "ldmatrix_bytes": 512, "ldmatrix_wavefronts": wavefronts,
            "global_store_requests": 4, "global_store_bytes": 512, "global_store_used_bytes": 512,
            "global_store_sectors": 16,
            "warp_syncs": 1,
        })
    };
    // 64-byte rows: rows 0, 2, 4, 6 of a matrix start in bank 0 and 1, 3, 5, 7 in bank 16, so
    // each 8 x 8 matrix takes 4 wavefronts: 16 for the four.
    let c = ldmatrix_counts("count_ldmatrix_unpadded", 4);
    assert_counters("count_ldmatrix_unpadded", &c, common(16));
    // 80-byte rows start in banks 0, 20, 8, 28, 16, 4, 24, 12: no conflict, 1 per matrix.
    let c = ldmatrix_counts("count_ldmatrix_padded", 5);
    assert_counters("count_ldmatrix_padded", &c, common(4));
}

#[test]
fn simt_gemm_tile() {
    let Some(dev) = emu_common::emu_or_skip(6) else {
        return;
    };
    // Block (16, 16) = 8 warps, each 2 rows of C. Per k and warp: A load (2 addresses: 2 sectors,
    // 128 bytes asked, 8 distinct), B load (16 consecutive floats: 2 sectors, 128 bytes asked, 64
    // distinct); then one store of 2 rows x 64 bytes (4 sectors). No tensor-core instruction.
    let k: usize = 32;
    let a_host: Vec<f32> = (0..16 * k).map(|i| (i % 7) as f32).collect();
    let b_host: Vec<f32> = (0..k * 16).map(|i| (i % 5) as f32 - 2.0).collect();
    let (da, db) = (
        upload(&dev, &a_host).unwrap(),
        upload(&dev, &b_host).unwrap(),
    );
    let dc = alloc::<f32>(&dev, 256).unwrap();
    for b in [&da, &db, &dc] {
        sector_aligned(b);
    }
    let mut a = KernelArgs::new();
    a.buf(&dc).buf(&da).buf(&db).i32(k as i32);
    let cfg = LaunchCfg {
        grid: [1, 1, 1],
        block: [16, 16, 1],
        smem_bytes: 0,
    };
    let c = counted(&dev, "count_simt_gemm", cfg, &mut a);
    let k = k as u64;
    assert_counters(
        "count_simt_gemm",
        &c,
        json!({
            "blocks": 1, "warps": 8, "threads": 256,
            "global_load_requests": 8 * 2 * k, "global_load_bytes": 8 * 256 * k,
            "global_load_used_bytes": 8 * 72 * k, "global_load_sectors": 8 * 4 * k,
            "global_store_requests": 8, "global_store_bytes": 1024, "global_store_used_bytes": 1024,
            "global_store_sectors": 32,
        }),
    );
    let got = download(&dev, &dc).unwrap();
    for (i, j) in [(0, 0), (5, 11), (15, 15)] {
        let want: f32 = (0..k as usize)
            .map(|kk| a_host[i * k as usize + kk] * b_host[kk * 16 + j])
            .sum();
        assert_eq!(got[i * 16 + j], want);
    }
}

#[test]
fn mma_gemm_tile() {
    let Some(dev) = emu_common::emu_or_skip(7) else {
        return;
    };
    // One warp, K = 64: 4 k-steps, each 6 fragment loads (8 rows x 16 contiguous bytes = 8
    // sectors, 128 bytes asked) and one mma (4096 FLOPs = 2 * 16 * 8 * 16); then 4 stores of 8
    // rows x 4 floats within one sector each (8 sectors, 128 bytes).
    let k = 64usize;
    let a_host: Vec<bf16> = (0..16 * k)
        .map(|i| bf16::from_f32((i % 9) as f32 - 4.0))
        .collect();
    let b_host: Vec<bf16> = (0..8 * k)
        .map(|i| bf16::from_f32((i % 5) as f32 - 2.0))
        .collect();
    let (da, db) = (
        upload(&dev, &a_host).unwrap(),
        upload(&dev, &b_host).unwrap(),
    );
    let dc = alloc::<f32>(&dev, 128).unwrap();
    for b in [da.raw(), db.raw(), dc.raw()] {
        assert_eq!(b.device_ptr() % 32, 0);
    }
    let mut a = KernelArgs::new();
    a.buf(&dc).buf(&da).buf(&db).i32(k as i32);
    let c = counted(&dev, "count_mma_gemm", LaunchCfg::linear(1, 32, 0), &mut a);
    assert_counters(
        "count_mma_gemm",
        &c,
        json!({
            "blocks": 1, "warps": 1, "threads": 32,
            "global_load_requests": 24, "global_load_bytes": 3072, "global_load_used_bytes": 3072,
            "global_load_sectors": 192,
            "global_store_requests": 4, "global_store_bytes": 512, "global_store_used_bytes": 512,
            "global_store_sectors": 32,
            "mma_instructions": 4, "mma_flops": 16384,
        }),
    );
    let got = download(&dev, &dc).unwrap();
    for (i, j) in [(0, 0), (7, 3), (15, 7)] {
        let want: f32 = (0..k)
            .map(|kk| a_host[i * k + kk].to_f32() * b_host[j * k + kk].to_f32())
            .sum();
        assert_eq!(got[i * 8 + j], want);
    }
}

#[test]
fn copies_synchronisations_and_an_uncounted_launch() {
    let Some(dev) = emu_common::emu_or_skip(8) else {
        return;
    };
    let out = alloc::<f32>(&dev, 32).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out);
    // Without a session nothing is counted and the plain kernel runs.
    dev.launch("count_bank_conflict", &LaunchCfg::linear(1, 32, 0), &mut a)
        .unwrap();
    assert!(dev.finish_counting().is_none());
    dev.start_counting(CountPolicy::exact());
    let x = upload(&dev, &[1.0f32; 8]).unwrap();
    let _ = download(&dev, &x).unwrap();
    let _ = download(&dev, &out).unwrap();
    dev.synchronize().unwrap();
    let c = dev.finish_counting().unwrap();
    assert_eq!((c.htod_copies, c.htod_bytes), (1, 32));
    assert_eq!((c.dtoh_copies, c.dtoh_bytes), (2, 32 + 128));
    assert_eq!(c.synchronizations, 1);
    assert!(c.launches.is_empty());
}

#[test]
fn efficiency_record_of_a_gemm_tile_grid() {
    use rlvr::backend::cuda::gemm::{gemm_bf16_with, Gemm, GemmOpts, GemmRung, Strides};
    use rlvr::bench::efficiency::{entry, measure, OpCost};
    let Some(dev) = emu_common::emu_or_skip(9) else {
        return;
    };
    // C[128, 128] = A[128, 64] B[128, 64]^T on the cp.async + ldmatrix path: 2 x 2 blocks of
    // 64 x 64. Each block reads its A and B tiles whole in 16-byte chunks (every A and B byte
    // twice over the grid: 65536 sector bytes); each f32 store of a warp covers 8 rows x 4
    // floats 8 bytes apart (8 sectors for 128 bytes: 131072 sector bytes for 65536 of C).
    // Compulsory: A 16384 + B 16384 + C 65536 = 98304 bytes; sector bytes 196608 = 2x.
    let (m, n, k) = (128usize, 128usize, 64usize);
    let a = upload(&dev, &vec![bf16::from_f32(0.5); m * k]).unwrap();
    let b = upload(&dev, &vec![bf16::from_f32(0.25); n * k]).unwrap();
    let c = alloc::<f32>(&dev, m * n).unwrap();
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
    let counts = measure(&dev, CountPolicy::exact(), |d| {
        // rung 1's k-contiguous kernel, the one these counts were made by hand for
        let rung1 = GemmOpts {
            rung: GemmRung::Strided,
            ..GemmOpts::default()
        };
        gemm_bf16_with(d, Some(&c), None, &a, &b, &g, &rung1)
    })
    .unwrap();
    let cost = OpCost {
        matrix_flops: Some((2 * m * n * k) as f64),
        compulsory_bytes: Some(98304.0),
    };
    let r = entry("gemm", &counts, cost);
    assert_eq!(r.kernels, vec!["gemm_bf16_mma_kc".to_string()]);
    assert_eq!(r.launches, 1);
    assert_eq!(r.tc_flop_share, Some(1.0));
    assert_eq!(r.global_bytes_over_compulsory, Some(2.0));
    assert_eq!(r.unique_bytes_over_compulsory, Some(1.0));
    // Loads use whole sectors (65536 bytes), stores half of each (65536 of 131072).
    assert_eq!(r.global_sector_efficiency, Some(131072.0 / 196608.0));
    // ldmatrix.x4 of 80-byte rows: 4 wavefronts each, no conflict; cp.async 16-byte stores in
    // four phases of 8 lanes.
    assert_eq!(
        r.counters.ldmatrix_wavefronts,
        4.0 * r.counters.ldmatrix_instructions
    );
    assert_eq!(r.counters.cp_async_bytes, 2.0 * 16384.0 + 2.0 * 16384.0);
    assert!(r.est_h100_us > 0.0 && r.est_a100_us >= r.est_h100_us);
    assert_eq!(download(&dev, &c).unwrap()[0], 0.5 * 0.25 * k as f32);
}
