//! Every kernel passes its parity check on the emulator (the CI form of `rlvr selftest --device emu`),
//! with more than one thread/block order.
use rlvr::backend::cuda::parity::{run_all, ShapeSet};
use rlvr::backend::emu::EmuDevice;

#[test]
fn every_kernel_matches_its_reference_on_the_emulator() {
    for seed in [0u64, 12345] {
        let dev = EmuDevice::new(seed).expect("the emulator is built (scripts/setup-cuda.sh)");
        let rows = run_all(&dev, ShapeSet::Small, seed, None);
        assert!(rows.len() > 100, "only {} checks ran", rows.len());
        let failed: Vec<String> = rows
            .iter()
            .filter(|r| !r.pass)
            .map(|r| format!("{} {}: abs {} rel {} {}", r.kernel, r.shape, r.max_abs, r.max_rel, r.note))
            .collect();
        assert!(failed.is_empty(), "seed {seed}: {failed:#?}");
    }
}

#[test]
fn every_launcher_kernel_is_exercised() {
    let dev = EmuDevice::new(3).unwrap();
    let rows = run_all(&dev, ShapeSet::Small, 3, None);
    for (kernel, _) in rlvr::backend::cuda::kernels::KERNEL_FILES {
        // rmsnorm_dw_reduce_f32 / sumsq_partial_f32 run inside the rmsnorm / grad_norm checks
        let covered = rows.iter().any(|r| r.kernel.starts_with(kernel))
            || matches!(*kernel, "rmsnorm_dw_reduce_f32" | "sumsq_partial_f32");
        assert!(covered, "kernel {kernel} has no parity check");
    }
}
