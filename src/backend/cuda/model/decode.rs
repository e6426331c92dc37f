//! The device model's incremental forward for generation: one new token per row against a
//! bf16 KV cache ([`DeviceModel::decode_step`]), the packed prefill of prompts into cache slots
//! ([`DeviceModel::prefill`]) and the f32 logits of chosen hidden rows. The scheduling around
//! them (requests, samples, stop rule) is `generate::device`.
use super::super::attention::AttnSeqs;
use super::super::attn_decode::{
    attend, attn_decode_append_bf16, attn_decode_rope_append_bf16, StepQkv,
};
use super::super::device::{alloc, upload, DevBuf, KernelDevice};
use super::super::gemm::{
    gate_up_gemm, gemm_bf16_at, gemm_bf16_rows_swiglu, gemm_bf16_with, Gemm, GemmOffsets, GemmOpts,
    Strides,
};
use super::super::{embedding, mlp, norm, rope};
use super::kv_cache::KvCache;
use super::linear::{self, Lin};
use super::{DeviceBatch, DeviceModel};
use crate::model::Batch;
use anyhow::{bail, Result};
use half::bf16;

/// Which launches a decode step runs per layer; both give the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fusion {
    /// The separate launches: q, k and v products, RoPE on q and on k, the KV append, gate and up
    /// products.
    Unfused,
    /// One q/k/v product where the weights are packed (not with Qwen3's q/k norm), one launch for
    /// RoPE + KV append, one batched gate/up product where packed — with SwiGLU in the same launch
    /// where the product has few rows (`gemm_bf16_rows_swiglu`).
    Fused,
}

impl DeviceModel {
    /// Hidden states [rows, d] after the final norm for one new token per row: `tokens[i]` at
    /// position `pos[i]` of slot `slots[i]`; RoPE on q/k and the K/V append to the cache run
    /// first (one launch per layer for all rows), then the decode attention of `cache.rung`. The
    /// launches per step do not depend on the number of rows, and the step never waits for the
    /// device.
    pub fn decode_step(
        &self,
        dev: &dyn KernelDevice,
        cache: &KvCache,
        tokens: &[u32],
        pos: &[usize],
        slots: &[usize],
    ) -> Result<DevBuf<bf16>> {
        self.decode_step_with(dev, cache, tokens, pos, slots, Fusion::Fused)
    }

    /// [`DeviceModel::decode_step`] with the launches of `fusion` (both give the same bits).
    pub fn decode_step_with(
        &self,
        dev: &dyn KernelDevice,
        cache: &KvCache,
        tokens: &[u32],
        pos: &[usize],
        slots: &[usize],
        fusion: Fusion,
    ) -> Result<DevBuf<bf16>> {
        let c = &self.config;
        let (n, d, f) = (tokens.len(), c.hidden_size, c.intermediate_size);
        let qd = c.q_dim();
        let p = &self.params;
        let eps = c.rms_norm_eps;
        if n == 0 || pos.len() != n || slots.len() != n {
            bail!(
                "decode_step: {n} tokens, {} positions, {} slots",
                pos.len(),
                slots.len()
            );
        }
        if let Some(t) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            bail!(
                "decode_step: token {t} is outside the vocabulary of {}",
                c.vocab_size
            );
        }
        if let Some(i) = pos.iter().position(|&p| p >= cache.max_len) {
            bail!(
                "decode_step: row {i} at position {} overflows the {} cache rows reserved per sequence",
                pos[i],
                cache.max_len
            );
        }
        let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        let ids = upload(dev, &ids)?;
        let seqs: Vec<(usize, usize)> = slots
            .iter()
            .zip(pos)
            .map(|(&s, &p)| (s * cache.max_len, p + 1))
            .collect();
        let seqs = AttnSeqs::upload(dev, &seqs)?;
        let mut x = alloc::<bf16>(dev, n * d)?;
        embedding::embedding_fwd_bf16(dev, &x, &p[self.layout.embed], &ids, d)?;
        let lin = |inp, out| Lin { rows: n, inp, out };
        for (li, l) in self.layout.layers.iter().enumerate() {
            let a = alloc::<bf16>(dev, n * d)?;
            let rstd = alloc::<f32>(dev, n)?;
            norm::rmsnorm_fwd_bf16(dev, &a, &rstd, &x, &p[l.input_norm], eps)?;
            let q = self.step_qkv(dev, cache, li, &a, &seqs, fusion)?;
            let (kc, vc) = (&cache.k[li], &cache.v[li]);
            let dims = self.attn_dims();
            let attn = alloc::<bf16>(dev, n * qd)?;
            let lse = alloc::<f32>(dev, n * c.num_heads)?;
            let split = cache.split.as_ref();
            attend(dev, cache.rung, &attn, &lse, &q, kc, vc, &seqs, split, dims)?;
            let h_mid = alloc::<bf16>(dev, n * d)?;
            let o_lin = lin(qd, d);
            linear::forward_residual(dev, &h_mid, &attn, &p[l.o], self.opt(l.o_bias), &x, o_lin)?;
            let m = alloc::<bf16>(dev, n * d)?;
            norm::rmsnorm_fwd_bf16(dev, &m, &rstd, &h_mid, &p[l.post_norm], eps)?;
            let act = self.step_gate_up(dev, li, &m, fusion)?;
            let (o, down) = (alloc::<bf16>(dev, n * d)?, lin(f, d));
            linear::forward_residual(
                dev,
                &o,
                &act,
                &p[l.down],
                self.opt(l.down_bias),
                &h_mid,
                down,
            )?;
            x = o;
        }
        let hidden = alloc::<bf16>(dev, n * d)?;
        let rstd = alloc::<f32>(dev, n)?;
        norm::rmsnorm_fwd_bf16(dev, &hidden, &rstd, &x, &p[self.layout.final_norm], eps)?;
        Ok(hidden)
    }

    /// The layer's q/k/v of the step from its normed input `a` [n, d]: K/V appended to the cache
    /// (RoPE applied), the rotated q [n, Hq·D] returned.
    fn step_qkv(
        &self,
        dev: &dyn KernelDevice,
        cache: &KvCache,
        li: usize,
        a: &DevBuf<bf16>,
        seqs: &AttnSeqs,
        fusion: Fusion,
    ) -> Result<DevBuf<bf16>> {
        let c = &self.config;
        let (n, d, qd, kvd) = (seqs.host.len(), c.hidden_size, c.q_dim(), c.kv_dim());
        let (l, p, eps) = (&self.layout.layers[li], &self.params, c.rms_norm_eps);
        let (kc, vc, dims) = (&cache.k[li], &cache.v[li], self.attn_dims());
        let lin = |inp, out| Lin { rows: n, inp, out };
        let pack = &self.packs[li];
        if let (Fusion::Fused, Some(w), None) = (fusion, &pack.qkv, l.q_norm) {
            let (qkv, q) = (alloc(dev, n * (qd + 2 * kvd))?, alloc(dev, n * qd)?);
            let bias = pack.qkv_bias.as_ref();
            linear::forward(dev, &qkv, a, w, bias, lin(d, qd + 2 * kvd))?;
            let src = StepQkv::Packed {
                qkv: &qkv,
                q_out: &q,
            };
            attn_decode_rope_append_bf16(dev, src, kc, vc, seqs, &self.inv_freq, dims)?;
            return Ok(q);
        }
        let (mut q, mut k, v) = (
            alloc(dev, n * qd)?,
            alloc(dev, n * kvd)?,
            alloc(dev, n * kvd)?,
        );
        linear::forward(dev, &q, a, &p[l.q], self.opt(l.q_bias), lin(d, qd))?;
        linear::forward(dev, &k, a, &p[l.k], self.opt(l.k_bias), lin(d, kvd))?;
        linear::forward(dev, &v, a, &p[l.v], self.opt(l.v_bias), lin(d, kvd))?;
        if let (Some(qn), Some(kn)) = (l.q_norm, l.k_norm) {
            let (qy, ky) = (alloc(dev, q.len())?, alloc(dev, k.len())?);
            norm::rmsnorm_fwd_bf16(dev, &qy, &alloc(dev, n * c.num_heads)?, &q, &p[qn], eps)?;
            let k_rstd = alloc(dev, n * c.num_kv_heads)?;
            norm::rmsnorm_fwd_bf16(dev, &ky, &k_rstd, &k, &p[kn], eps)?;
            (q, k) = (qy, ky);
        }
        match fusion {
            Fusion::Fused => {
                let src = StepQkv::Separate {
                    q: &q,
                    k: &k,
                    v: &v,
                };
                attn_decode_rope_append_bf16(dev, src, kc, vc, seqs, &self.inv_freq, dims)?;
            }
            Fusion::Unfused => {
                let pos: Vec<i32> = seqs.host.iter().map(|&(_, len)| len as i32 - 1).collect();
                let pos = upload(dev, &pos)?;
                rope::rope_fwd_bf16(dev, &q, &q, &pos, &self.inv_freq, c.num_heads)?;
                rope::rope_fwd_bf16(dev, &k, &k, &pos, &self.inv_freq, c.num_kv_heads)?;
                attn_decode_append_bf16(dev, kc, vc, &k, &v, seqs, kvd)?;
            }
        }
        Ok(q)
    }

    /// The layer's SwiGLU activation [n, f] of its normed MLP input `m` [n, d]: gate and up as
    /// one batched product [2, n, f] where the weights are packed (the same per-element sums).
    fn step_gate_up(
        &self,
        dev: &dyn KernelDevice,
        li: usize,
        m: &DevBuf<bf16>,
        fusion: Fusion,
    ) -> Result<DevBuf<bf16>> {
        let (d, f) = (self.config.hidden_size, self.config.intermediate_size);
        let n = m.len() / d;
        let (l, p) = (&self.layout.layers[li], &self.params);
        let act = alloc(dev, n * f)?;
        if let (Fusion::Fused, Some(w)) = (fusion, &self.packs[li].gate_up) {
            let rung = GemmOpts::default().rung;
            if gemm_bf16_rows_swiglu(dev, &act, m, w, n, f, d, rung)? {
                return Ok(act);
            }
            let gate_up = alloc(dev, 2 * n * f)?;
            let g = gate_up_gemm(n, f, d);
            gemm_bf16_with(dev, None, Some(&gate_up), m, w, &g, &GemmOpts::default())?;
            let (gate, up) = (gate_up.view(0, n * f)?, gate_up.view(n * f, n * f)?);
            mlp::swiglu_fwd_bf16(dev, &act, &gate, &up)?;
            return Ok(act);
        }
        let lin = Lin {
            rows: n,
            inp: d,
            out: f,
        };
        let (gate, up) = (alloc(dev, n * f)?, alloc(dev, n * f)?);
        linear::forward(dev, &gate, m, &p[l.gate], self.opt(l.gate_bias), lin)?;
        linear::forward(dev, &up, m, &p[l.up], self.opt(l.up_bias), lin)?;
        mlp::swiglu_fwd_bf16(dev, &act, &gate, &up)?;
        Ok(act)
    }

    /// Prefills each prompt of `prompts` once with one packed forward and copies its K/V
    /// into every slot listed with it (position 0 on); returns the final hidden state of each
    /// prompt's last token [prompts, d].
    pub fn prefill(
        &self,
        dev: &dyn KernelDevice,
        cache: &KvCache,
        prompts: &[(&[u32], &[usize])],
    ) -> Result<DevBuf<bf16>> {
        let seqs: Vec<Vec<u32>> = prompts.iter().map(|p| p.0.to_vec()).collect();
        let batch = Batch::from_sequences(&seqs);
        let db = DeviceBatch::from_batch(dev, &batch)?;
        let acts = self.forward(dev, &db)?;
        let mut last = Vec::with_capacity(prompts.len());
        for (&(start, len), (_, slots)) in batch.seqs.iter().zip(prompts) {
            for (li, la) in acts.layers.iter().enumerate() {
                for &slot in slots.iter() {
                    cache.store(dev, &cache.k[li], &la.k, start, slot, 0, len)?;
                    cache.store(dev, &cache.v[li], &la.v, start, slot, 0, len)?;
                }
            }
            last.push((start + len - 1) as i32);
        }
        gather_rows(dev, &acts.hidden, &last, self.hidden())
    }

    /// f32 logits [rows, vocab] of the hidden rows `first..first + rows` of `hidden` [_, d]
    /// through the LM head.
    pub fn head_logits(
        &self,
        dev: &dyn KernelDevice,
        hidden: &DevBuf<bf16>,
        first: usize,
        rows: usize,
    ) -> Result<DevBuf<f32>> {
        let (d, vocab) = (self.hidden(), self.config.vocab_size);
        let logits = alloc::<f32>(dev, rows * vocab)?;
        let g = Gemm {
            batch: 1,
            m: rows,
            n: vocab,
            k: d,
            a: Strides::rows(rows, d),
            b: Strides::rows(vocab, d),
            alpha: 1.0,
            beta: 0.0,
        };
        let off = GemmOffsets {
            a: first * d,
            ..Default::default()
        };
        gemm_bf16_at(dev, Some(&logits), None, hidden, self.lm_head(), &g, off)?;
        Ok(logits)
    }
}

/// Rows `ids[i]` of `table` [_, d] as a new buffer [ids, d] (an embedding lookup with the hidden
/// states as the table).
pub fn gather_rows(
    dev: &dyn KernelDevice,
    table: &DevBuf<bf16>,
    ids: &[i32],
    d: usize,
) -> Result<DevBuf<bf16>> {
    let out = alloc::<bf16>(dev, ids.len() * d)?;
    embedding::embedding_fwd_bf16(dev, &out, table, &upload(dev, ids)?, d)?;
    Ok(out)
}
