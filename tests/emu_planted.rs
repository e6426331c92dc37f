//! Kernels with planted bugs (kernels/emu/planted/planted.cu, compiled only into
//! the emulator) are caught by the emulated parity check or by a guard page, while the correct
//! kernels pass the same check with the same launch.
use half::bf16;
use rlvr::backend::cpu::cast::round_bf16;
use rlvr::backend::cpu::norm::rmsnorm_fwd;
use rlvr::backend::cuda::device::{download, filled, upload, KernelArgs, KernelDevice, LaunchCfg};
use rlvr::backend::cuda::selftest::{compare, input_rng, TOL_BF16, TOL_F32};
use rlvr::backend::emu::EmuDevice;

fn emu(seed: u64) -> EmuDevice {
    EmuDevice::new(seed)
        .expect("the emulator is built (scripts/setup-cuda.sh provides the CUDA headers)")
}

fn bf16s(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

fn widen(v: &[bf16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

/// Runs an rmsnorm-forward-shaped kernel and returns whether its output matches the reference.
fn rmsnorm_passes(kernel: &str, seed: u64) -> bool {
    let dev = emu(seed);
    let (rows, hidden) = (8, 576);
    let mut rng = input_rng(seed);
    let x = widen(&bf16s(&rng.uniform_f32_vec(rows * hidden, -2.0, 2.0)));
    let w = widen(&bf16s(&rng.uniform_f32_vec(hidden, 0.5, 1.5)));
    let (dx, dw) = (
        upload(&dev, &bf16s(&x)).unwrap(),
        upload(&dev, &bf16s(&w)).unwrap(),
    );
    let y = filled(&dev, rows * hidden, bf16::NAN).unwrap();
    let rstd = filled(&dev, rows, f32::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&y)
        .buf(&rstd)
        .buf(&dx)
        .buf(&dw)
        .i32(hidden as i32)
        .f32(1e-6);
    dev.launch(kernel, &LaunchCfg::linear(rows as u32, 256, 0), &mut a)
        .unwrap();
    let (y_ref, _) = rmsnorm_fwd(&x, &w, 1e-6);
    compare(
        kernel,
        "8x576",
        &widen(&download(&dev, &y).unwrap()),
        &y_ref,
        TOL_BF16,
    )
    .pass
}

#[test]
fn missing_syncthreads_is_caught_by_shuffled_thread_order() {
    if skip() {
        return;
    }
    for seed in 0..4 {
        assert!(
            rmsnorm_passes("rmsnorm_fwd_bf16", seed),
            "correct kernel fails with seed {seed}"
        );
        assert!(
            !rmsnorm_passes("planted_rmsnorm_missing_sync", seed),
            "missing barrier not caught with seed {seed}"
        );
    }
}

fn cast_passes(kernel: &str, n: usize) -> bool {
    let dev = emu(7);
    let x = input_rng(3).uniform_f32_vec(n, -10.0, 10.0);
    let dx = upload(&dev, &x).unwrap();
    let out = filled(&dev, n, bf16::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&dx).i64(n as i64);
    dev.launch(
        kernel,
        &LaunchCfg::linear(n.div_ceil(256).min(4096) as u32, 256, 0),
        &mut a,
    )
    .unwrap();
    let want: Vec<f32> = x.iter().map(|&v| round_bf16(v)).collect();
    compare(
        kernel,
        "",
        &widen(&download(&dev, &out).unwrap()),
        &want,
        0.0,
    )
    .pass
}

#[test]
fn off_by_one_tile_bound_is_caught_by_nan_prefilled_outputs() {
    if skip() {
        return;
    }
    for n in [1000, 4099] {
        assert!(cast_passes("cast_f32_to_bf16", n));
        assert!(
            !cast_passes("planted_cast_tile_off_by_one", n),
            "tile bound bug not caught at n={n}"
        );
    }
    // with a whole number of tiles the bug is invisible: the check is about inputs, not luck
    assert!(cast_passes("planted_cast_tile_off_by_one", 1024));
}

fn row_sum_passes(kernel: &str) -> bool {
    let dev = emu(1);
    let (rows, cols) = (5, 100);
    let x = input_rng(9).uniform_f32_vec(rows * cols, -1.0, 1.0);
    let dx = upload(&dev, &x).unwrap();
    let out = filled(&dev, rows, f32::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&dx).i32(cols as i32);
    dev.launch(kernel, &LaunchCfg::linear(rows as u32, 32, 0), &mut a)
        .unwrap();
    let want: Vec<f32> = x.chunks(cols).map(|c| c.iter().sum()).collect();
    compare(
        kernel,
        "5x100",
        &download(&dev, &out).unwrap(),
        &want,
        TOL_F32,
    )
    .pass
}

#[test]
fn wrong_shuffle_offset_is_caught() {
    if skip() {
        return;
    }
    assert!(row_sum_passes("planted_row_sum_ok"));
    assert!(!row_sum_passes("planted_row_sum_wrong_shuffle"));
}

fn residual_oob(n: usize) -> anyhow::Result<()> {
    let dev = emu(2);
    let a = upload(&dev, &bf16s(&vec![1.0; n]))?;
    let b = upload(&dev, &bf16s(&vec![2.0; n]))?;
    let out = filled(&dev, n, bf16::NAN)?;
    let mut args = KernelArgs::new();
    args.buf(&out).buf(&a).buf(&b).i64(n as i64);
    dev.launch(
        "planted_residual_add_oob_store",
        &LaunchCfg::linear(n.div_ceil(256) as u32, 256, 0),
        &mut args,
    )
}

#[test]
fn out_of_bounds_store_hits_the_guard_page_with_kernel_block_and_thread_named() {
    if skip() {
        return;
    }
    // 1000 bf16 = 2000 bytes, a multiple of 16: the allocation ends exactly at its guard page
    let e = residual_oob(1000)
        .expect_err("store past the end must fault")
        .to_string();
    assert!(e.contains("planted_residual_add_oob_store"), "{e}");
    assert!(
        e.contains("block (3,0,0)") && e.contains("thread (231,0,0)"),
        "{e}"
    );
    assert!(
        e.contains("SIGSEGV") && e.contains("0 bytes past the end of a 2000-byte"),
        "{e}"
    );
    // 999 bf16 leaves alignment slack before the guard page: the canary check catches it
    let e = residual_oob(999)
        .expect_err("store into the slack must be reported")
        .to_string();
    assert!(e.contains("past the end of a 1998-byte"), "{e}");
    // and the emulator keeps working after a fault
    assert!(cast_passes("cast_f32_to_bf16", 1000));
}

#[test]
fn shuffle_with_exited_lanes_is_reported() {
    if skip() {
        return;
    }
    let dev = emu(0);
    let x = upload(&dev, &[1.0f32; 32]).unwrap();
    let out = filled(&dev, 32, f32::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&x);
    let e = dev
        .launch(
            "planted_shuffle_after_exit",
            &LaunchCfg::linear(1, 32, 0),
            &mut a,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("which has exited"), "{e}");
}

#[test]
fn argument_marshalling_is_checked_against_the_kernel_signature() {
    if skip() {
        return;
    }
    let dev = emu(0);
    let x = upload(&dev, &[1.0f32; 4]).unwrap();
    let out = filled(&dev, 4, bf16::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&x).i32(4); // the kernel takes int64_t n
    let e = dev
        .launch("cast_f32_to_bf16", &LaunchCfg::linear(1, 32, 0), &mut a)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sizes [8,8,8]") && e.contains("[8,8,4]"), "{e}");
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&x).i64(4);
    let e = dev
        .launch("cast_f32_to_bf16", &LaunchCfg::linear(1, 2048, 0), &mut a)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid launch configuration"), "{e}");
}

/// Skip (return true) when this build has no emulator, unless REQUIRE_NVCC=1 (as in CI).
fn skip() -> bool {
    if !rlvr::backend::emu::emu_built() && std::env::var("REQUIRE_NVCC").as_deref() != Ok("1") {
        eprintln!("skipped: the emulator was not built (run scripts/setup-cuda.sh)");
        return true;
    }
    false
}

#[test]
fn barrier_in_divergent_code_is_reported() {
    if skip() {
        return;
    }
    let dev = emu(0);
    let out = filled(&dev, 64, f32::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out);
    let e = dev
        .launch(
            "planted_divergent_barrier",
            &LaunchCfg::linear(1, 64, 0),
            &mut a,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("different __syncthreads"), "{e}");
}

fn cp_async_passes(kernel: &str) -> bool {
    let dev = emu(5);
    let x: Vec<f32> = input_rng(4)
        .uniform_f32_vec(256, -1.0, 1.0)
        .iter()
        .map(|&v| round_bf16(v))
        .collect();
    let dx = upload(&dev, &bf16s(&x)).unwrap();
    let out = filled(&dev, 256, f32::NAN).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out).buf(&dx);
    dev.launch(kernel, &LaunchCfg::linear(1, 32, 0), &mut a)
        .unwrap();
    let want: Vec<f32> = (0..256)
        .map(|i| x[((i / 8 + 1) % 32) * 8 + i % 8])
        .collect();
    compare(kernel, "256", &download(&dev, &out).unwrap(), &want, 0.0).pass
}

#[test]
fn missing_cp_async_wait_is_caught() {
    if skip() {
        return;
    }
    assert!(cp_async_passes("planted_cp_async_ok"));
    assert!(!cp_async_passes("planted_cp_async_missing_wait"));
}
