//! Attention kernels (kernels/attention.cu) on the emulator against `backend::cpu::attention`:
//! packed sequences with odd lengths, GQA groups 1, 3 and 7, head dims 16 to 128, every rung
//! (rungs 4 to 6 have a forward of their own only; rung 6, the sm_90a kernel, runs at d 64 and
//! 128 and launches rung 5 elsewhere).
mod emu_common;
use emu_common::*;
use rlvr::backend::cpu::attention::AttnDims;
use rlvr::backend::cuda::attention::{attn_fwd_bf16, delta_rung, AttnRung, AttnSeqs};
use rlvr::backend::cuda::device::{filled, upload};
use rlvr::backend::cuda::selftest::attention::{check_fwd_bwd, AttnCase};
use rlvr::backend::cuda::selftest::{input_rng, CheckRow};

/// The emulator, or None (test skipped) when this build has none; REQUIRE_NVCC=1 (CI) fails instead.
fn assert_all_pass(rows: &[CheckRow], expect: usize) {
    assert_eq!(rows.len(), expect, "{rows:#?}");
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| {
            format!(
                "{} {}: abs {} rel {} {}",
                r.kernel, r.shape, r.max_abs, r.max_rel, r.note
            )
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn forward_and_backward_match_the_cpu_reference() {
    let Some(dev) = emu_or_skip(7) else { return };
    let mut rng = input_rng(7);
    let cases = [
        AttnCase::new(&[1, 3, 17, 33, 65], 4, 4, 16),
        AttnCase::new(&[17, 1, 33], 6, 2, 64),
        AttnCase::new(&[3, 33], 9, 3, 128),
        AttnCase::new(&[65, 1], 7, 1, 24),
    ];
    for case in &cases {
        for rung in AttnRung::ALL {
            // the second (bitwise) backward run: the emulator shuffles the block order
            let twice = case.dims.head_dim == 24;
            let rows = check_fwd_bwd(&dev, &mut rng, case, rung, twice).unwrap();
            // (+1 where the row statistic's rung 2 runs too)
            let delta2 = usize::from(delta_rung(case.dims.head_dim) == 2);
            let expect = match (rung.own_backward(), twice) {
                (false, _) => 2,
                (true, true) => 7 + delta2,
                (true, false) => 6 + delta2,
            };
            assert_all_pass(&rows, expect);
        }
    }
}

#[test]
fn launcher_rejects_bad_shapes() {
    let Some(dev) = emu_or_skip(9) else { return };
    let dims = AttnDims {
        n_q_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
    };
    let seqs = AttnSeqs::upload(&dev, &[(0, 5)]).unwrap();
    let q = upload(&dev, &vec![half::bf16::ZERO; 4 * 4 * 16]).unwrap();
    let kv = upload(&dev, &vec![half::bf16::ZERO; 4 * 2 * 16]).unwrap();
    let o = filled(&dev, 4 * 4 * 16, half::bf16::NAN).unwrap();
    let lse = filled(&dev, 4 * 4, f32::NAN).unwrap();
    // 5-token sequence but only 4 rows
    let err = attn_fwd_bf16(&dev, &o, &lse, &q, &kv, &kv, &seqs, dims).unwrap_err();
    assert!(format!("{err}").contains("row 5"), "{err}");
    let bad = AttnDims {
        n_kv_heads: 3,
        ..dims
    };
    let seqs = AttnSeqs::upload(&dev, &[(0, 4)]).unwrap();
    assert!(attn_fwd_bf16(&dev, &o, &lse, &q, &kv, &kv, &seqs, bad).is_err());
}

/// Rung 4 carries P exactly, so its output is rung 1's up to f32 summation order:
/// almost every element rounds to the same bf16 and none is more than one bf16 step away. Rung
/// 3 (P rounded to bf16) moves many elements by several steps.
#[test]
fn split_p_forward_matches_the_simt_forward_to_a_bf16_step() {
    use rlvr::backend::cuda::attention::attn_fwd_bf16_rung;
    use rlvr::backend::cuda::selftest::{bf16_inputs, download_bf16};
    let Some(dev) = emu_or_skip(11) else { return };
    let mut rng = input_rng(11);
    let case = AttnCase::new(&[100, 29], 4, 2, 16);
    let dims = case.dims;
    let (hq, hkv, d, n) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim, case.rows());
    let seqs = AttnSeqs::upload(&dev, &case.seqs()).unwrap();
    let (_, qh) = bf16_inputs(&mut rng, n * hq * d, -2.0, 2.0);
    let (_, kh) = bf16_inputs(&mut rng, n * hkv * d, -2.0, 2.0);
    let (_, vh) = bf16_inputs(&mut rng, n * hkv * d, -1.0, 1.0);
    let (q, k, v) = (
        upload(&dev, &qh).unwrap(),
        upload(&dev, &kh).unwrap(),
        upload(&dev, &vh).unwrap(),
    );
    let out = |rung: AttnRung| {
        let o = filled(&dev, n * hq * d, half::bf16::NAN).unwrap();
        let lse = filled(&dev, n * hq, f32::NAN).unwrap();
        attn_fwd_bf16_rung(rung, &dev, &o, &lse, &q, &k, &v, &seqs, dims).unwrap();
        download_bf16(&dev, &o).unwrap()
    };
    let base = out(AttnRung::Simt);
    // (elements that differ, largest difference in bf16 steps of the rung-1 value)
    let steps = |o: &[f32]| {
        let mut worst = 0f32;
        let mut differ = 0;
        for (a, b) in o.iter().zip(&base) {
            let step = (b.abs().max(1e-30)).log2().floor().exp2() / 128.0;
            worst = worst.max((a - b).abs() / step);
            differ += usize::from(a != b);
        }
        (differ, worst)
    };
    let (d4, w4) = steps(&out(AttnRung::Fa2Split));
    let (d3, w3) = steps(&out(AttnRung::Fa2));
    eprintln!(
        "vs rung 1 ({} elements): rung 4 {d4} differ, at most {w4} bf16 steps; rung 3 {d3} differ, at most {w3}",
        base.len()
    );
    assert!(w4 <= 1.0, "rung 4 moves an element by {w4} bf16 steps");
    assert!(d4 * 50 <= base.len(), "rung 4: {d4} elements differ");
    assert!(w3 > 1.0, "rung 3 should show bf16 P's error ({w3} steps)");
}
