//! The emulated Hopper instructions (kernels/hopper.cuh, kernels/emu/hopper.cpp) on the probe
//! kernels of kernels/emu/planted/hopper.cu: wgmma with shared-memory and register A operands
//! for every swizzle mode, TMA loads and stores through emulated tensor maps, mbarrier phases,
//! setmaxnreg, the counters; and planted bugs (wrong swizzle, missing wgmma.wait_group, missing
//! mbarrier wait, wrong expect-tx bytes, missing fences) caught by a wrong result or an error.
mod emu_common;

use half::bf16;
use rlvr::backend::cuda::device::KernelDevice;
use rlvr::backend::cuda::device::{download, filled, upload, DevBuf, KernelArgs, LaunchCfg};
use rlvr::backend::cuda::selftest::{compare, input_rng, TOL_GEMM};
use rlvr::backend::emu::hopper::{encode_tiled, TensorMapSpec, TmaSwizzle, TMA_DTYPE_BF16};
use rlvr::backend::emu::{CountPolicy, EmuDevice};

const SPANS: [TmaSwizzle; 4] = [
    TmaSwizzle::None,
    TmaSwizzle::B32,
    TmaSwizzle::B64,
    TmaSwizzle::B128,
];
/// Dynamic shared memory of the GEMM probe: A and B tiles, the mbarrier, 1024 bytes of alignment.
const GEMM_SMEM: u32 = 64 * 128 + 256 * 128 + 64 + 1024;

fn bf16_vec(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

/// Uploads a tensor map so a kernel can read it through a pointer.
fn upload_map(dev: &EmuDevice, spec: &TensorMapSpec) -> DevBuf<u8> {
    let map = encode_tiled(spec).expect("valid tensor map");
    upload(dev, &map.0).unwrap()
}

struct GemmCase {
    n: usize,
    k: usize,
    swizzle: TmaSwizzle,
    a_from_regs: bool,
}

/// Runs `kernel` on C[64][n] = A[64][k] B[n][k]^T; returns (launch result, C, reference).
fn run_gemm(
    dev: &EmuDevice,
    kernel: &str,
    c: &GemmCase,
) -> (anyhow::Result<()>, Vec<f32>, Vec<f32>) {
    let mut rng = input_rng(c.n as u64 * 1000 + c.k as u64);
    let a = bf16_vec(&rng.uniform_f32_vec(64 * c.k, -1.0, 1.0));
    let b = bf16_vec(&rng.uniform_f32_vec(c.n * c.k, -1.0, 1.0));
    let (da, db) = (upload(dev, &a).unwrap(), upload(dev, &b).unwrap());
    let out = filled(dev, 64 * c.n, f32::NAN).unwrap();
    let cols = if c.swizzle == TmaSwizzle::None {
        8
    } else {
        c.swizzle.span() / 2
    };
    let spec = |buf: &DevBuf<bf16>, rows: usize| {
        TensorMapSpec::row_major(
            TMA_DTYPE_BF16,
            buf.raw().device_ptr(),
            rows as u64,
            c.k as u64,
            2,
            rows as u32,
            cols,
            c.swizzle,
        )
    };
    let (ma, mb) = (
        upload_map(dev, &spec(&da, 64)),
        upload_map(dev, &spec(&db, c.n)),
    );
    let mut args = KernelArgs::new();
    args.buf(&out)
        .buf(&ma)
        .buf(&mb)
        .buf(&da)
        .i32(c.n as i32)
        .i32(c.k as i32)
        .i32(c.swizzle.span() as i32)
        .i32(c.a_from_regs as i32);
    let r = dev.launch(kernel, &LaunchCfg::linear(1, 128, GEMM_SMEM), &mut args);
    let got = download(dev, &out).unwrap();
    let mut want = vec![0f32; 64 * c.n];
    for i in 0..64 {
        for j in 0..c.n {
            let mut s = 0f32;
            for kk in 0..c.k {
                s += a[i * c.k + kk].to_f32() * b[j * c.k + kk].to_f32();
            }
            want[i * c.n + j] = s;
        }
    }
    (r, got, want)
}

fn gemm_passes(dev: &EmuDevice, kernel: &str, c: &GemmCase) -> bool {
    let (r, got, want) = run_gemm(dev, kernel, c);
    r.is_ok() && compare(kernel, "", &got, &want, TOL_GEMM).pass
}

fn gemm_error(dev: &EmuDevice, kernel: &str, c: &GemmCase) -> String {
    let (r, _, _) = run_gemm(dev, kernel, c);
    format!("{:#}", r.expect_err("the planted bug must stop the launch"))
}

#[test]
fn wgmma_gemm_matches_the_reference_for_every_swizzle_n_and_a_source() {
    let Some(dev) = emu_common::emu_or_skip(3) else {
        return;
    };
    for swizzle in SPANS {
        for n in [8, 24, 64, 128, 256] {
            for a_from_regs in [false, true] {
                let c = GemmCase {
                    n,
                    k: 128,
                    swizzle,
                    a_from_regs,
                };
                let (r, got, want) = run_gemm(&dev, "emu_probe_wgmma_gemm", &c);
                r.unwrap_or_else(|e| panic!("swizzle {swizzle:?} n {n} regs {a_from_regs}: {e:#}"));
                let row = compare("emu_probe_wgmma_gemm", "", &got, &want, TOL_GEMM);
                assert!(
                    row.pass,
                    "swizzle {swizzle:?} n {n} regs {a_from_regs}: max rel {}",
                    row.max_rel
                );
            }
        }
    }
}

#[test]
fn a_wrong_swizzle_in_the_descriptor_gives_wrong_results() {
    let Some(dev) = emu_common::emu_or_skip(4) else {
        return;
    };
    for swizzle in [TmaSwizzle::B64, TmaSwizzle::B128] {
        let c = GemmCase {
            n: 64,
            k: 128,
            swizzle,
            a_from_regs: false,
        };
        assert!(gemm_passes(&dev, "emu_probe_wgmma_gemm", &c));
        assert!(
            !gemm_passes(&dev, "planted_wgmma_wrong_swizzle", &c),
            "wrong swizzle not caught at {swizzle:?}"
        );
    }
}

#[test]
fn a_missing_wgmma_wait_reads_poison_and_is_reported() {
    let Some(dev) = emu_common::emu_or_skip(5) else {
        return;
    };
    let c = GemmCase {
        n: 64,
        k: 64,
        swizzle: TmaSwizzle::B128,
        a_from_regs: false,
    };
    let (r, got, _) = run_gemm(&dev, "planted_wgmma_missing_wait", &c);
    // The epilogue stored the accumulators before the (missing) wait: all poison.
    assert!(
        got.iter().all(|v| v.is_nan()),
        "accumulators read before the wait must be NaN"
    );
    let e = format!("{:#}", r.expect_err("exit with wgmma in flight"));
    assert!(e.contains("wgmma.wait_group"), "{e}");
}

#[test]
fn a_missing_wgmma_fence_is_an_error() {
    let Some(dev) = emu_common::emu_or_skip(6) else {
        return;
    };
    let c = GemmCase {
        n: 64,
        k: 64,
        swizzle: TmaSwizzle::B128,
        a_from_regs: true,
    };
    let e = gemm_error(&dev, "planted_wgmma_missing_fence", &c);
    assert!(e.contains("without a wgmma.fence"), "{e}");
}

#[test]
fn a_missing_mbarrier_wait_reads_poison() {
    let Some(dev) = emu_common::emu_or_skip(7) else {
        return;
    };
    for swizzle in [TmaSwizzle::None, TmaSwizzle::B128] {
        let c = GemmCase {
            n: 64,
            k: 128,
            swizzle,
            a_from_regs: false,
        };
        let (r, got, _) = run_gemm(&dev, "planted_tma_missing_mbarrier_wait", &c);
        r.expect("the launch itself completes");
        assert!(
            got.iter().all(|v| v.is_nan()),
            "tiles read without the mbarrier wait must be poison at {swizzle:?}"
        );
    }
}

#[test]
fn a_wrong_expect_tx_byte_count_is_an_error() {
    let Some(dev) = emu_common::emu_or_skip(8) else {
        return;
    };
    let c = GemmCase {
        n: 64,
        k: 64,
        swizzle: TmaSwizzle::B64,
        a_from_regs: false,
    };
    let e = gemm_error(&dev, "planted_tma_expect_tx_short", &c);
    assert!(e.contains("wrong expect-tx byte count"), "{e}");
    let e = gemm_error(&dev, "planted_tma_expect_tx_long", &c);
    assert!(
        e.contains("deadlock") && e.contains("announced more bytes"),
        "{e}"
    );
}

/// What [`round_trip`] returns: (launch result, box as read, Y, X, (box rows, box cols)).
type RoundTrip = (
    anyhow::Result<()>,
    Vec<f32>,
    Vec<f32>,
    Vec<f32>,
    (usize, usize),
);

/// TMA load of the box at (c0, c1) of a rows x cols tensor, read back through the swizzle,
/// doubled and stored with a TMA store.
fn round_trip(
    dev: &EmuDevice,
    kernel: &str,
    swizzle: TmaSwizzle,
    (c0, c1): (i32, i32),
) -> RoundTrip {
    let (rows, cols) = (40usize, 72usize);
    let box_cols = if swizzle == TmaSwizzle::None {
        24
    } else {
        swizzle.span() as usize / 2
    };
    let box_rows = 16usize;
    let x: Vec<f32> = (0..rows * cols).map(|i| (i % 251) as f32 - 100.0).collect();
    let dx = upload(dev, &bf16_vec(&x)).unwrap();
    let dy = filled(dev, rows * cols, bf16::NAN).unwrap();
    let plain = filled(dev, box_rows * box_cols, bf16::NAN).unwrap();
    let spec = |b: &DevBuf<bf16>| {
        TensorMapSpec::row_major(
            TMA_DTYPE_BF16,
            b.raw().device_ptr(),
            rows as u64,
            cols as u64,
            2,
            box_rows as u32,
            box_cols as u32,
            swizzle,
        )
    };
    let (mx, my) = (upload_map(dev, &spec(&dx)), upload_map(dev, &spec(&dy)));
    let mut a = KernelArgs::new();
    a.buf(&plain)
        .buf(&mx)
        .buf(&my)
        .i32(c0)
        .i32(c1)
        .i32(box_cols as i32)
        .i32(box_rows as i32)
        .i32(swizzle.span() as i32);
    let r = dev.launch(
        kernel,
        &LaunchCfg::linear(1, 32, 256 * 128 + 64 + 1024),
        &mut a,
    );
    let widen = |v: Vec<bf16>| v.iter().map(|b| b.to_f32()).collect::<Vec<f32>>();
    (
        r,
        widen(download(dev, &plain).unwrap()),
        widen(download(dev, &dy).unwrap()),
        x,
        (box_rows, box_cols),
    )
}

#[test]
fn tma_load_and_store_place_boxes_with_swizzle_and_bounds() {
    let Some(dev) = emu_common::emu_or_skip(9) else {
        return;
    };
    let (rows, cols) = (40i32, 72i32);
    for swizzle in SPANS {
        for (c0, c1) in [(8, 4), (cols - 5, rows - 3), (-8, -2)] {
            let (r, plain, y, x, (br, bc)) =
                round_trip(&dev, "emu_probe_tma_round_trip", swizzle, (c0, c1));
            r.unwrap_or_else(|e| panic!("{swizzle:?} at ({c0}, {c1}): {e:#}"));
            for by in 0..br as i32 {
                for bx in 0..bc as i32 {
                    let (gx, gy) = (c0 + bx, c1 + by);
                    let inside = (0..cols).contains(&gx) && (0..rows).contains(&gy);
                    let want = if inside {
                        x[(gy * cols + gx) as usize]
                    } else {
                        0.0
                    };
                    let got = plain[(by * bc as i32 + bx) as usize];
                    assert_eq!(
                        got, want,
                        "{swizzle:?} box ({c0}, {c1}) element ({by}, {bx})"
                    );
                }
            }
            for gy in 0..rows {
                for gx in 0..cols {
                    let in_box =
                        (c0..c0 + bc as i32).contains(&gx) && (c1..c1 + br as i32).contains(&gy);
                    let got = y[(gy * cols + gx) as usize];
                    if in_box {
                        assert_eq!(
                            got,
                            2.0 * x[(gy * cols + gx) as usize],
                            "{swizzle:?} Y ({gy}, {gx})"
                        );
                    } else {
                        assert!(
                            got.is_nan(),
                            "{swizzle:?}: the store wrote ({gy}, {gx}) outside its box"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_tma_store_without_fence_proxy_async_is_an_error() {
    let Some(dev) = emu_common::emu_or_skip(10) else {
        return;
    };
    let (r, ..) = round_trip(
        &dev,
        "planted_tma_store_missing_fence",
        TmaSwizzle::B128,
        (0, 0),
    );
    let e = format!("{:#}", r.expect_err("missing fence"));
    assert!(e.contains("fence.proxy.async"), "{e}");
}

#[test]
fn producer_and_consumer_warpgroups_track_mbarrier_phases_around_a_ring() {
    if !emu_common::emu_available() {
        return;
    }
    // Tiles of 64 x 64 bf16 whose rows hold their row index; 5 tiles go twice around the 2-stage
    // ring and once more, under three thread orders.
    let tiles = 5usize;
    let x: Vec<f32> = (0..tiles * 64 * 64).map(|i| (i / 64) as f32).collect();
    for seed in 0..3 {
        let dev = EmuDevice::new(seed).unwrap();
        let out = filled(&dev, tiles * 64, f32::NAN).unwrap();
        let dx = upload(&dev, &bf16_vec(&x)).unwrap();
        let spec = TensorMapSpec::row_major(
            TMA_DTYPE_BF16,
            dx.raw().device_ptr(),
            (tiles * 64) as u64,
            64,
            2,
            64,
            64,
            TmaSwizzle::B128,
        );
        let m = upload_map(&dev, &spec);
        let mut a = KernelArgs::new();
        a.buf(&out).buf(&m).i32(tiles as i32);
        dev.launch(
            "emu_probe_tma_ring",
            &LaunchCfg::linear(1, 256, 2 * 64 * 128 + 64 + 1024),
            &mut a,
        )
        .unwrap();
        let got = download(&dev, &out).unwrap();
        // Row indices above 256 round in bf16 as they did in X.
        let want: Vec<f32> = (0..tiles * 64)
            .map(|r| bf16::from_f32(r as f32).to_f32())
            .collect();
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn tensor_map_encoding_checks_the_driver_requirements() {
    if !emu_common::emu_available() {
        return;
    }
    let ok = TensorMapSpec::row_major(TMA_DTYPE_BF16, 4096, 64, 64, 2, 64, 64, TmaSwizzle::B128);
    encode_tiled(&ok).expect("valid");
    let bad = |f: &dyn Fn(&mut TensorMapSpec), what: &str| {
        let mut s = ok.clone();
        f(&mut s);
        let e = match encode_tiled(&s) {
            Ok(_) => panic!("{what}: an invalid tensor map was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(what), "{what}: {e}");
    };
    bad(&|s| s.global_address = 4104, "globalAddress");
    bad(&|s| s.box_dim[1] = 257, "boxDim[1]");
    bad(&|s| s.global_strides[0] = 136, "globalStrides[0]");
    bad(&|s| s.box_dim[0] = 72, "swizzle span");
    bad(&|s| s.box_dim[0] = 4, "multiple of 16");
    bad(&|s| s.element_strides[0] = 2, "elementStrides[0]");
}

#[test]
fn counters_count_wgmma_flops_and_tma_bytes() {
    let Some(dev) = emu_common::emu_or_skip(13) else {
        return;
    };
    let c = GemmCase {
        n: 128,
        k: 128,
        swizzle: TmaSwizzle::B128,
        a_from_regs: false,
    };
    dev.start_counting(CountPolicy::exact());
    let (r, got, want) = run_gemm(&dev, "emu_probe_wgmma_gemm", &c);
    r.unwrap();
    assert!(compare("emu_probe_wgmma_gemm", "", &got, &want, TOL_GEMM).pass);
    let counts = dev.finish_counting().expect("session");
    assert_eq!(counts.launches.len(), 1);
    let k = &counts.launches[0].counters;
    // K = 128 in 2 tiles of 64: 8 wgmma m64n128k16 (2 * 64 * 128 * 16 FLOPs each), 2 TMA loads per
    // tile of (64 + 128) rows x 128 bytes.
    assert_eq!(k.wgmma_instructions, 8.0);
    assert_eq!(k.wgmma_flops, 8.0 * 2.0 * 64.0 * 128.0 * 16.0);
    assert_eq!(k.mma_instructions, 0.0);
    assert_eq!(k.tma_load_requests, 4.0);
    assert_eq!(k.tma_load_bytes, 2.0 * (64.0 + 128.0) * 128.0);
    assert_eq!(k.tma_store_requests, 0.0);
    // Each TMA row of 128 bytes is one global request of 4 sectors.
    assert_eq!(k.global_load_requests, 2.0 * (64.0 + 128.0));
    assert_eq!(k.global_load_sectors, 2.0 * (64.0 + 128.0) * 4.0);
    assert_eq!(k.tensor_flops(), k.wgmma_flops);
}

/// The probes are written against the same spelling nvcc compiles: for sm_90a they must assemble
/// to the Hopper instructions (HGMMA, UTMALDG, UTMASTG, SYNCS). Skipped without $NVCC.
#[test]
fn the_probes_compile_for_sm_90a_to_hopper_instructions() {
    let Some(nvcc) = std::env::var_os("NVCC").map(std::path::PathBuf::from) else {
        eprintln!("skipped: NVCC is not set");
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let cubin = dir.path().join("hopper.cubin");
    let out = std::process::Command::new(&nvcc)
        .args(["-arch=sm_90a", "-cubin", "-O3", "-std=c++17", "-I"])
        .arg(root.join("kernels"))
        .arg(root.join("kernels/emu/planted/hopper.cu"))
        .arg("-o")
        .arg(&cubin)
        .output()
        .expect("run nvcc");
    assert!(
        out.status.success(),
        "nvcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cuobjdump = nvcc.with_file_name("cuobjdump");
    if !cuobjdump.exists() {
        eprintln!("cuobjdump not next to nvcc: compiled, SASS not inspected");
        return;
    }
    let sass = std::process::Command::new(&cuobjdump)
        .arg("-sass")
        .arg(&cubin)
        .output()
        .expect("run cuobjdump");
    let sass = String::from_utf8_lossy(&sass.stdout);
    for op in [
        "HGMMA.64x64x16.F32.BF16",
        "HGMMA.64x128x16.F32.BF16",
        "HGMMA.64x256x16.F32.BF16",
        "UTMALDG.2D",
        "UTMASTG.2D",
        "SYNCS.ARRIVE.TRANS64",
        "SYNCS.PHASECHK.TRANS64.TRYWAIT",
    ] {
        assert!(
            sass.contains(op),
            "no {op} in the sm_90a SASS of the probes"
        );
    }
}
