//! Attention entries: causal forward and backward of packed sequences (seq 4096 on a GPU) at each
//! model's head layout, against the card's bf16 peak.
use super::counts::{attn_bwd_flops, attn_fwd_flops};
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{random_bf16, Roofs};
use crate::backend::cpu::attention::AttnDims;
use crate::backend::cuda::attention::{attn_bwd_bf16, attn_fwd_bf16, AttnSeqs};
use crate::backend::cuda::device::alloc;
use anyhow::Result;
use half::bf16;

/// Goals: FlashAttention-2 level at head dim 128, seq 4096, causal.
pub const FWD_GOAL_TFLOPS: f64 = 300.0;
pub const BWD_GOAL_TFLOPS: f64 = 200.0;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    let gpu = b.is_gpu();
    for m in &plan.models {
        let dims = AttnDims {
            n_q_heads: m.n_q_heads,
            n_kv_heads: m.n_kv_heads,
            head_dim: m.head_dim,
        };
        let (hq, hkv, d) = (m.n_q_heads, m.n_kv_heads, m.head_dim);
        let (len, nseq) = (plan.attn_seq_len, plan.attn_seqs);
        let n = len * nseq;
        let lens = vec![len; nseq];
        let shape = format!("{} {nseq}x{len} causal {hq}/{hkv}x{d}", m.short);
        if b.wants("attn_fwd_bf16") || b.wants("attn_bwd_bf16") {
            let seqs: Vec<(usize, usize)> = (0..nseq).map(|i| (i * len, len)).collect();
            let seqs = AttnSeqs::upload(&b.dev, &seqs)?;
            let q = random_bf16(b, n * hq * d)?;
            let k = random_bf16(b, n * hkv * d)?;
            let v = random_bf16(b, n * hkv * d)?;
            let o = alloc::<bf16>(&b.dev, n * hq * d)?;
            let lse = alloc::<f32>(&b.dev, n * hq)?;
            b.dev.take_launched();
            let t = b.time(&mut || attn_fwd_bf16(&b.dev, &o, &lse, &q, &k, &v, &seqs, dims))?;
            let mut r = Record::new("attention", "attn_fwd_bf16", shape.clone()).timed(
                t,
                Some(attn_fwd_flops(&lens, hq, d)),
                None,
            );
            r.launches = b.dev.take_launched();
            if b.wants("attn_fwd_bf16") {
                out.push(roofs.vs_peak(r, FWD_GOAL_TFLOPS, gpu));
            }
            if b.wants("attn_bwd_bf16") {
                let dout = random_bf16(b, n * hq * d)?;
                let dq = alloc::<bf16>(&b.dev, n * hq * d)?;
                let dk = alloc::<bf16>(&b.dev, n * hkv * d)?;
                let dv = alloc::<bf16>(&b.dev, n * hkv * d)?;
                b.dev.take_launched();
                let t = b.time(&mut || {
                    attn_bwd_bf16(
                        &b.dev, &dq, &dk, &dv, &dout, &q, &k, &v, &o, &lse, &seqs, dims,
                    )
                })?;
                let mut r = Record::new("attention", "attn_bwd_bf16", shape).timed(
                    t,
                    Some(attn_bwd_flops(&lens, hq, d)),
                    None,
                );
                r.launches = b.dev.take_launched();
                out.push(roofs.vs_peak(r, BWD_GOAL_TFLOPS, gpu));
            }
        }
    }
    Ok(())
}
