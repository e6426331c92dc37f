//! Decode attention (kernels/attn_decode.cu) on the emulator against
//! `backend::cpu::attention::attend_head`: both rungs over a slot-pool KV cache (slots out of
//! order, unused rows between them), GQA groups 1 to 9, head dims 8 to 128, caches of one key
//! to several chunks; rungs 2 and 3 also bit-identical for a sequence alone and inside a batch,
//! rung 3 also to the training forward (attention rung 5) and not to rung 3's online softmax; the KV
//! append writes exactly the new rows (16-byte and element-wise paths); the fused RoPE + append
//! matches the CPU reference and the unfused launches bit for bit.
mod emu_common;
use emu_common::*;
use rlvr::backend::cpu::attention::AttnDims;
use rlvr::backend::cuda::attention::{AttnRung, AttnSeqs};
use rlvr::backend::cuda::attn_decode::{
    attn_decode_bf16, attn_decode_rope_append_bf16, attn_decode_split, attn_decode_tiles,
    split_supports, Rung, SplitScratch, StepQkv, CHUNK, TILE,
};
use rlvr::backend::cuda::device::{filled, upload};
use rlvr::backend::cuda::selftest::attn_decode::{
    check_append, check_case, check_rope_append, tiles_vs_forward, DecodeCase,
};
use rlvr::backend::cuda::selftest::{input_rng, CheckRow};

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
fn both_rungs_match_the_cpu_reference() {
    let Some(dev) = emu_or_skip(8) else { return };
    let mut rng = input_rng(8);
    let c = CHUNK;
    for case in [
        DecodeCase::new(&[1, 3, 17, 65], 4, 4, 16),
        DecodeCase::new(&[33, c + 5], 6, 2, 64),
        DecodeCase::new(&[2, 40], 9, 3, 128),
        DecodeCase::new(&[70], 7, 1, 33),
        DecodeCase::new(&[c, 2 * c + 1, 9], 18, 2, 8),
        // a GQA group of 72 query heads: two head slices per kv head, each with its own count
        DecodeCase::new(&[3, 70], 72, 1, 16),
    ] {
        assert_all_pass(
            &check_case(&dev, &mut rng, &case, Rung::PerHead).unwrap(),
            2,
        );
        if split_supports(case.dims) {
            assert_all_pass(&check_case(&dev, &mut rng, &case, Rung::Split).unwrap(), 3);
        }
        assert_all_pass(&check_case(&dev, &mut rng, &case, Rung::Tiles).unwrap(), 4);
        assert_all_pass(
            &check_case(&dev, &mut rng, &case, Rung::TilesFold).unwrap(),
            4,
        );
        assert_all_pass(&check_append(&dev, &mut rng, &case).unwrap(), 2);
    }
}

/// The bitwise check has teeth: the device model's forward (attention rung 5) gives decode rung
/// 3's bits at every last position, the FlashAttention-2 forward with its online softmax (rung 3,
/// the same tiles and products but a running max) does not.
#[test]
fn decode_rung_3_is_the_training_forward_bit_for_bit() {
    let Some(dev) = emu_or_skip(5) else { return };
    let mut rng = input_rng(5);
    let t = TILE;
    let (mut fa2_diff, mut total) = (0, 0);
    for case in [
        DecodeCase::new(&[3 * t + 5, t, 1, 2 * t - 1], 6, 2, 64),
        DecodeCase::new(&[4 * t + 1, 2 * t + 9], 4, 1, 128),
        DecodeCase::new(&[5 * t + 3], 9, 3, 40),
    ] {
        assert_eq!(AttnRung::FORWARD, AttnRung::Fa2Merge);
        let (diff, n) = tiles_vs_forward(&dev, &mut rng, &case, AttnRung::FORWARD).unwrap();
        assert_eq!(diff, 0, "{}: {diff} of {n} differ", case.label());
        let (diff, n) = tiles_vs_forward(&dev, &mut rng, &case, AttnRung::Fa2).unwrap();
        fa2_diff += diff;
        total += n;
    }
    assert!(
        fa2_diff > 0,
        "rung 3's online softmax matched decode in all {total} outputs"
    );
    eprintln!("online-softmax forward vs decode: {fa2_diff} of {total} outputs differ");
}

/// Head dims 24/64/128, GQA groups 1 to 4, rows at different positions and at position 0.
#[test]
fn fused_rope_append_matches_the_reference_and_the_unfused_launches() {
    let Some(dev) = emu_or_skip(10) else { return };
    let mut rng = input_rng(10);
    for case in [
        DecodeCase::new(&[1, 17, 3], 6, 2, 24),
        DecodeCase::new(&[33, 1, 5, 2], 8, 2, 64),
        DecodeCase::new(&[2, 1, 9], 4, 1, 128),
        DecodeCase::new(&[1], 3, 3, 24),
    ] {
        assert_all_pass(&check_rope_append(&dev, &mut rng, &case).unwrap(), 9);
    }
}

#[test]
fn launchers_reject_bad_shapes() {
    let Some(dev) = emu_or_skip(9) else { return };
    let dims = AttnDims {
        n_q_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
    };
    let q = upload(&dev, &[half::bf16::ZERO; 4 * 16]).unwrap();
    let kv = upload(&dev, &vec![half::bf16::ZERO; 4 * 2 * 16]).unwrap();
    let o = filled(&dev, 4 * 16, half::bf16::NAN).unwrap();
    let lse = filled(&dev, 4, f32::NAN).unwrap();
    // a 5-key sequence in a 4-row cache
    let seqs = AttnSeqs::upload(&dev, &[(0, 5)]).unwrap();
    let err = attn_decode_bf16(&dev, &o, &lse, &q, &kv, &kv, &seqs, dims).unwrap_err();
    assert!(format!("{err}").contains("row 5"), "{err}");
    // an empty sequence (the new token must be cached)
    let empty = AttnSeqs::upload(&dev, &[(0, 0)]).unwrap();
    assert!(attn_decode_bf16(&dev, &o, &lse, &q, &kv, &kv, &empty, dims).is_err());
    // a sequence longer than the scratch's chunks
    let scratch = SplitScratch::alloc(&dev, 1, 2, dims).unwrap();
    let long = AttnSeqs::upload(&dev, &[(0, CHUNK + 1)]).unwrap();
    let err = attn_decode_split(&dev, &o, &lse, &q, &kv, &kv, &long, &scratch, dims).unwrap_err();
    assert!(format!("{err}").contains("chunks"), "{err}");
    // rung 3: a sequence past its scratch's tiles, and rung 2's scratch (chunks of another size)
    let tiles = SplitScratch::alloc_for(&dev, Rung::Tiles, 1, 2, dims).unwrap();
    let long = AttnSeqs::upload(&dev, &[(0, TILE + 1)]).unwrap();
    let err = attn_decode_tiles(&dev, &o, &lse, &q, &kv, &kv, &long, &tiles, dims).unwrap_err();
    assert!(format!("{err}").contains("chunks of 64"), "{err}");
    let one = AttnSeqs::upload(&dev, &[(0, 1)]).unwrap();
    let err = attn_decode_tiles(&dev, &o, &lse, &q, &kv, &kv, &one, &scratch, dims).unwrap_err();
    assert!(format!("{err}").contains("keys per chunk"), "{err}");
    // the fused RoPE + append: a q/k/v row short, or inverse frequencies of another head dim
    let seqs1 = AttnSeqs::upload(&dev, &[(0, 1)]).unwrap();
    let inv = upload(&dev, &[1.0f32; 8]).unwrap();
    let kv1 = upload(&dev, &[half::bf16::ZERO; 2 * 16]).unwrap();
    let half_row = upload(&dev, &[half::bf16::ZERO; 16]).unwrap();
    let short = StepQkv::Separate {
        q: &q,
        k: &half_row,
        v: &half_row,
    };
    let err = attn_decode_rope_append_bf16(&dev, short, &kv, &kv, &seqs1, &inv, dims).unwrap_err();
    assert!(format!("{err}").contains("rows of 4/2 heads"), "{err}");
    let q1 = upload(&dev, &[half::bf16::ZERO; 4 * 16]).unwrap();
    let one = StepQkv::Separate {
        q: &q1,
        k: &kv1,
        v: &kv1,
    };
    let inv4 = upload(&dev, &[1.0f32; 4]).unwrap();
    let err = attn_decode_rope_append_bf16(&dev, one, &kv, &kv, &seqs1, &inv4, dims).unwrap_err();
    assert!(format!("{err}").contains("inverse frequencies"), "{err}");
    // rung 2 needs 16-byte rows
    let odd = AttnDims {
        head_dim: 12,
        ..dims
    };
    assert!(!split_supports(odd));
}
