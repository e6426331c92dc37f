mod emu_common;
use emu_common::*;
use half::bf16;
use rlvr::backend::cuda::cast;
use rlvr::backend::cuda::device::{download, upload};

/// The emulator device, or None (test skipped) when this build has no emulator; with
/// REQUIRE_NVCC=1 (as in CI) a missing emulator fails instead.
#[test]
fn cast_roundtrip_on_emulator() {
    let Some(dev) = emu_or_skip(1) else { return };
    let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.37 - 100.0).collect();
    let dx = upload(&dev, &x).unwrap();
    let db = rlvr::backend::cuda::device::alloc::<bf16>(&dev, x.len()).unwrap();
    cast::cast_f32_to_bf16(&dev, &db, &dx).unwrap();
    let got = download(&dev, &db).unwrap();
    for (g, w) in got.iter().zip(&x) {
        assert_eq!(*g, bf16::from_f32(*w));
    }
}
