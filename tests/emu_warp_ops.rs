//! The emulator's warp intrinsics follow the CUDA Programming Guide semantics (width segments,
//! out-of-range sources return the caller's own value, votes and reductions over the mask).
use rlvr::backend::cuda::device::{download, filled, KernelArgs, KernelDevice, LaunchCfg};
use rlvr::backend::emu::EmuDevice;

#[test]
fn warp_intrinsics_match_the_cuda_definitions() {
    if !rlvr::backend::emu::emu_built() && std::env::var("REQUIRE_NVCC").as_deref() != Ok("1") {
        eprintln!("skipped: the emulator was not built");
        return;
    }
    let dev = EmuDevice::new(11).unwrap();
    let out = filled(&dev, 320, u32::MAX).unwrap();
    let mut a = KernelArgs::new();
    a.buf(&out);
    dev.launch("emu_probe_warp_ops", &LaunchCfg::linear(1, 32, 0), &mut a)
        .unwrap();
    let got = download(&dev, &out).unwrap();
    let row = |k: usize| &got[k * 32..(k + 1) * 32];
    for lane in 0..32u32 {
        let l = lane as usize;
        // __shfl_sync(v, lane + 3, width 8): source lane (lane + 3) % 8 within the 8-lane segment
        assert_eq!(
            row(0)[l],
            ((lane & !7) + ((lane + 3) & 7)) * 10,
            "shfl idx lane {lane}"
        );
        // __shfl_up_sync(v, 3, width 16): lanes with lane % 16 < 3 keep their own value
        let up = if lane % 16 >= 3 { lane - 3 } else { lane };
        assert_eq!(row(1)[l], up * 10, "shfl up lane {lane}");
        // __shfl_down_sync(v, 5): lanes 27..31 keep their own value
        let down = if lane + 5 < 32 { lane + 5 } else { lane };
        assert_eq!(row(2)[l], down * 10, "shfl down lane {lane}");
        // __shfl_xor_sync(v, 4, width 8): stays inside the 8-lane segment
        assert_eq!(row(3)[l], (lane ^ 4) * 10, "shfl xor lane {lane}");
        let ballot: u32 = (0..32).filter(|i| i % 3 == 0).map(|i| 1u32 << i).sum();
        assert_eq!(row(4)[l], ballot);
        assert_eq!(row(5)[l], 1);
        assert_eq!(row(6)[l], 0);
        assert_eq!(row(7)[l], (0..32).sum::<u32>());
        assert_eq!(row(8)[l], 31); // (lane * 7) % 32 is a permutation of 0..32
        assert_eq!(row(9)[l] as i32, -16);
    }
}
