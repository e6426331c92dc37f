use half::bf16;
use rlvr::backend::cuda::device::{download, upload};
use rlvr::backend::cuda::launch;
use rlvr::backend::emu::EmuDevice;

/// The emulator device, or None (test skipped) when this build has no emulator; with
/// REQUIRE_NVCC=1 (as in CI) a missing emulator fails instead.
fn emu_or_skip(seed: u64) -> Option<EmuDevice> {
    if !rlvr::backend::emu::emu_built() && std::env::var("REQUIRE_NVCC").as_deref() != Ok("1") {
        eprintln!("skipped: the emulator was not built (run scripts/setup-cuda.sh)");
        return None;
    }
    Some(EmuDevice::new(seed).expect("the emulator is built"))
}

#[test]
fn cast_roundtrip_on_emulator() {
    let Some(dev) = emu_or_skip(1) else { return };
    let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.37 - 100.0).collect();
    let dx = upload(&dev, &x).unwrap();
    let db = rlvr::backend::cuda::device::alloc::<bf16>(&dev, x.len()).unwrap();
    launch::cast_f32_to_bf16(&dev, &db, &dx).unwrap();
    let got = download(&dev, &db).unwrap();
    for (g, w) in got.iter().zip(&x) {
        assert_eq!(*g, bf16::from_f32(*w));
    }
}
