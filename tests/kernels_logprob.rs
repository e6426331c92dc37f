//! Fused LM-head log-prob kernels on the emulator against `backend::cpu::logprob` at odd shapes
//! (every combination of rows {1, 7, 33}, d {24, 64}, V {50, 301, 1000}), several chunks each,
//! on the rungs of the log-prob ladder.
mod emu_common;
use emu_common::*;
use rlvr::backend::cuda::logprob::LogprobRung;
use rlvr::backend::cuda::selftest::input_rng;
use rlvr::backend::cuda::selftest::logprob::{check_fused_logprob, check_logprob_rows};

#[test]
fn fused_logprob_matches_cpu_at_odd_shapes() {
    let Some(dev) = emu_or_skip(5) else { return };
    let mut rng = input_rng(5);
    let mut failed = Vec::new();
    for rung in LogprobRung::ALL {
        for rows in [1usize, 7, 33] {
            for d in [24usize, 64] {
                for vocab in [50usize, 301, 1000] {
                    let shape = format!("r{} t{rows} d{d} v{vocab}", rung.number());
                    let checks =
                        check_fused_logprob(&dev, &mut rng, (rows, d, vocab), rung, &shape)
                            .unwrap_or_else(|e| panic!("{shape}: {e:#}"));
                    // logp, entropy, lse, dH, dW (+ a fresh dW for the forward + backward)
                    let fresh = usize::from(rung == LogprobRung::FusedBackward);
                    assert_eq!(checks.len(), 5 + fresh);
                    failed.extend(checks.iter().filter(|c| !c.pass).map(|c| {
                        format!("{} {}: rel {} {}", c.kernel, c.shape, c.max_rel, c.note)
                    }));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn row_kernels_match_cpu_rows_including_underflow() {
    let Some(dev) = emu_or_skip(6) else { return };
    let mut rng = input_rng(6);
    for vector in [false, true] {
        for (rows, vocab) in [(1usize, 2usize), (2, 33), (4, 777), (3, 1024)] {
            let shape = format!("{rows}x{vocab}");
            for c in check_logprob_rows(&dev, &mut rng, (rows, vocab), vector, &shape).unwrap() {
                assert!(c.pass, "{c:?}");
            }
        }
    }
}

#[test]
fn fused_path_rejects_mismatched_shapes() {
    use rlvr::backend::cuda::device::upload;
    use rlvr::backend::cuda::logprob::fused_logprob_fwd;
    let Some(dev) = emu_or_skip(7) else { return };
    let h = upload(&dev, &[half::bf16::ZERO; 10]).unwrap();
    let w = upload(&dev, &[half::bf16::ZERO; 12]).unwrap();
    let t = upload(&dev, &[0i32, 1]).unwrap();
    let e = fused_logprob_fwd(&dev, &h, &w, 4, &t, 1.0, 100)
        .err()
        .expect("10 hidden values are not 2 tokens x d = 4");
    assert!(e.to_string().contains("hidden has 10 elements"), "{e}");
}
