//! Decode-attention entries: one query per sequence over a KV cache (batch 64, 2048 cached keys
//! on a GPU) at each model's head layout, rung 1 (`attn_decode_bf16`), rung 2 (flash-decoding) and
//! rung 3 (flash-decoding over the training forward's tiles) in the same run, each against the
//! copy bandwidth (bytes: K/V once, q, out, lse; the split rungs' partial states are extra
//! traffic they must hide), rungs 2 and 3 also against rung 1; the decode step's
//! KV append of one row per sequence against the bandwidth; the step's RoPE + KV append, rung 1
//! the separate launches (`rope_fwd_bf16` on q and k, then the append) and rung 2 the fused
//! `attn_decode_rope_append_bf16`.
use super::attention::EMU_WIDE_HEADS;
use super::counts::{attn_decode_bytes, attn_decode_flops};
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{random_bf16, Roofs};
use crate::backend::cpu::attention::AttnDims;
use crate::backend::cuda::attention::AttnSeqs;
use crate::backend::cuda::attn_decode::{
    attn_decode_append_bf16, attn_decode_bf16, attn_decode_rope_append_bf16, attn_decode_split,
    attn_decode_tiles, attn_decode_tiles_fold, tiles_fold_kernel, tiles_kernel, Rung, SplitScratch,
    StepQkv,
};
use crate::backend::cuda::device::{alloc, upload};
use crate::backend::cuda::rope::rope_fwd_bf16;
use anyhow::Result;
use half::bf16;

/// The kernel name an entry of `rung` is filed under at `head_dim`.
pub fn rung_kernel(rung: Rung, head_dim: usize) -> &'static str {
    match rung {
        Rung::PerHead => "attn_decode_bf16",
        Rung::Split => "attn_decode_split_bf16",
        Rung::Tiles => tiles_kernel(head_dim),
        Rung::TilesFold => tiles_fold_kernel(head_dim),
    }
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    // The emulator's tiny model only reaches rung 3's 64 bucket; its wide layout adds the 128 one.
    let mut models = plan.models.clone();
    if !b.is_gpu() && !b.dev.is_count_only() {
        models.push(EMU_WIDE_HEADS);
    }
    let rungs: Vec<Rung> = Rung::all()
        .into_iter()
        .filter(|&r| models.iter().any(|m| b.wants(rung_kernel(r, m.head_dim))))
        .collect();
    let append = b.wants("attn_decode_append_bf16");
    let rope_append = b.wants("attn_decode_rope_append_bf16");
    if rungs.is_empty() && !append && !rope_append {
        return Ok(());
    }
    for m in &models {
        let dims = AttnDims {
            n_q_heads: m.n_q_heads,
            n_kv_heads: m.n_kv_heads,
            head_dim: m.head_dim,
        };
        let (hq, hkv, d) = (m.n_q_heads, m.n_kv_heads, m.head_dim);
        let (batch, clen) = (plan.decode_batch, plan.decode_len);
        let cache: Vec<(usize, usize)> = (0..batch).map(|i| (i * clen, clen)).collect();
        let cache = AttnSeqs::upload(&b.dev, &cache)?;
        let kc = random_bf16(b, batch * clen * hkv * d)?;
        let vc = random_bf16(b, batch * clen * hkv * d)?;
        let q = random_bf16(b, batch * hq * d)?;
        let o = alloc::<bf16>(&b.dev, batch * hq * d)?;
        let lse = alloc::<f32>(&b.dev, batch * hq)?;
        let scratch = SplitScratch::alloc(&b.dev, batch, clen, dims)?;
        let tiles = SplitScratch::alloc_for(&b.dev, Rung::Tiles, batch, clen, dims)?;
        let lens = vec![clen; batch];
        let shape = format!("{} batch {batch} cache {clen} {hq}/{hkv}x{d}", m.short);
        if append {
            // K and V: one new row per sequence read, and written into the cache.
            let kn = random_bf16(b, batch * hkv * d)?;
            let vn = random_bf16(b, batch * hkv * d)?;
            b.dev.take_launched();
            let t = b.time(&mut || {
                attn_decode_append_bf16(&b.dev, &kc, &vc, &kn, &vn, &cache, hkv * d)
            })?;
            let bytes = (2 * 2 * batch * hkv * d * 2) as u64;
            let mut r = Record::new("attn_decode", "attn_decode_append_bf16", shape.clone())
                .timed(t, None, Some(bytes))
                .goal("(no issue goal; one launch for the batch)");
            r.launches = b.dev.take_launched();
            out.push(roofs.vs_bandwidth(r, false));
        }
        if rope_append {
            let kn = random_bf16(b, batch * hkv * d)?;
            let vn = random_bf16(b, batch * hkv * d)?;
            let pos = upload(&b.dev, &vec![clen as i32 - 1; batch])?;
            let inv: Vec<f32> = (0..d / 2)
                .map(|i| 1e6f32.powf(-2.0 * i as f32 / d as f32))
                .collect();
            let inv = upload(&b.dev, &inv)?;
            // q read and written in place; K and V rows read and written into the cache.
            let bytes = (2 * 2 * batch * (hq + 2 * hkv) * d) as u64;
            let mut rung1_ms = None;
            for rung in [1u32, 2] {
                b.dev.take_launched();
                let t = b.time(&mut || {
                    if rung == 1 {
                        rope_fwd_bf16(&b.dev, &q, &q, &pos, &inv, hq)?;
                        rope_fwd_bf16(&b.dev, &kn, &kn, &pos, &inv, hkv)?;
                        attn_decode_append_bf16(&b.dev, &kc, &vc, &kn, &vn, &cache, hkv * d)
                    } else {
                        let qkv = StepQkv::Separate {
                            q: &q,
                            k: &kn,
                            v: &vn,
                        };
                        attn_decode_rope_append_bf16(&b.dev, qkv, &kc, &vc, &cache, &inv, dims)
                    }
                })?;
                let median_ms = t.median_ms;
                let mut r =
                    Record::new("attn_decode", "attn_decode_rope_append_bf16", shape.clone())
                        .timed(t, None, Some(bytes))
                        .goal(if rung == 1 {
                            "(rung 1: rope q, rope k and the append, three launches)"
                        } else {
                            "(no issue goal; one launch for the step's RoPE and append)"
                        });
                r.rung = Some(rung);
                r.launches = b.dev.take_launched();
                let mut r = roofs.vs_bandwidth(r, false);
                match rung1_ms {
                    None => rung1_ms = Some(median_ms),
                    Some(r1) => r.note = format!("rung 2: {:.2}x rung 1", r1 / median_ms),
                }
                out.push(r);
            }
        }
        let mut rung1_ms = None;
        for &rung in &rungs {
            if !rung.supports(dims) || !b.wants(rung_kernel(rung, d)) {
                continue;
            }
            b.dev.take_launched();
            let t = b.time(&mut || match rung {
                Rung::PerHead => attn_decode_bf16(&b.dev, &o, &lse, &q, &kc, &vc, &cache, dims),
                Rung::Split => {
                    attn_decode_split(&b.dev, &o, &lse, &q, &kc, &vc, &cache, &scratch, dims)
                }
                Rung::Tiles => {
                    attn_decode_tiles(&b.dev, &o, &lse, &q, &kc, &vc, &cache, &tiles, dims)
                }
                Rung::TilesFold => {
                    attn_decode_tiles_fold(&b.dev, &o, &lse, &q, &kc, &vc, &cache, &tiles, dims)
                }
            })?;
            let median_ms = t.median_ms;
            let mut r = Record::new("attn_decode", rung_kernel(rung, d), shape.clone())
                .timed(
                    t,
                    Some(attn_decode_flops(&lens, hq, d)),
                    Some(attn_decode_bytes(&lens, hq, hkv, d)),
                )
                .goal(if rung == Rung::PerHead {
                    "(rung 1: the baseline)"
                } else {
                    "≥ 0.80 of d2d bandwidth"
                });
            r.launches = b.dev.take_launched();
            let mut r = roofs.vs_bandwidth(r, rung != Rung::PerHead);
            match (rung, rung1_ms) {
                (Rung::PerHead, _) => rung1_ms = Some(median_ms),
                (r2, Some(r1)) => {
                    r.note = format!(
                        "rung {}: {:.2}x rung 1; partial states {} B extra",
                        r2 as u32,
                        r1 / median_ms,
                        SplitScratch::traffic_bytes(dims, &lens, r2.part_keys())
                    )
                }
                _ => {}
            }
            out.push(r);
        }
    }
    Ok(())
}
