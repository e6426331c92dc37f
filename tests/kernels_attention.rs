//! Attention kernels (kernels/attention.cu) on the emulator against `backend::cpu::attention`:
//! packed sequences with odd lengths, GQA groups 1, 3 and 7, head dims 16 to 128, every rung.
mod emu_common;
use emu_common::*;
use rlvr::backend::cpu::attention::AttnDims;
use rlvr::backend::cuda::attention::{attn_fwd_bf16, AttnRung, AttnSeqs};
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
            assert_all_pass(&rows, if twice { 7 } else { 6 });
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
