//! Token generation on the device over a bf16 KV cache: the `generate::engine` contract
//! (requests with n samples, per-request seeds and sampling parameters, stop tokens, Philox
//! uniform keyed by (seed, sample, step)) with the decoder, LM head and sampler on a
//! `KernelDevice`.
//!
//! - Sequences run in fixed waves of at most `max_batch` (no continuous batching): a wave is
//!   prefilled with one packed [`DeviceModel::forward`] (its post-RoPE K/V are copied into the
//!   cache), then decoded one token per step for the rows still running until all have stopped.
//!   Results are the same as with any other batch size: every draw depends only on its own
//!   sequence.
//! - Cache layout: per layer, K and V as [slots · max_len, Hkv · D] bf16, slot s owning rows
//!   [s · max_len, (s + 1) · max_len) — the packed layout `attn_decode_bf16` reads.
//! - The prefill keeps the forward's training activations alive while it runs (more memory than
//!   a dedicated prefill would need); fine for rollouts of the sizes the tests use.
use super::super::attention::{attn_decode_bf16, AttnSeqs};
use super::super::device::{alloc, filled, upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::super::launch::{self as k, gemm_bf16_at, Gemm, GemmOffsets, Strides};
use super::super::sampling::{sample_keys, sample_rows, SampledDev};
use super::linear::{self, Lin};
use super::{DeviceBatch, DeviceModel};
use crate::generate::engine::{Completion, EngineConfig, Finish, GenRequest};
use crate::model::Batch;
use anyhow::{bail, Result};
use half::bf16;

/// K and V of every layer for the slots of one wave.
pub struct KvCache {
    pub k: Vec<DevBuf<bf16>>,
    pub v: Vec<DevBuf<bf16>>,
    /// Rows reserved per slot (prompt + most new tokens).
    pub max_len: usize,
    /// Row width Hkv · D.
    pub width: usize,
    /// bf16 zeros, the second operand of the copy (`x + 0` rounds back to x exactly).
    zeros: DevBuf<bf16>,
}

impl KvCache {
    pub fn alloc(
        dev: &dyn KernelDevice,
        dm: &DeviceModel,
        slots: usize,
        max_len: usize,
    ) -> Result<Self> {
        let width = dm.config.kv_dim();
        let n = slots * max_len * width;
        let layers = dm.layout.layers.len();
        let k = (0..layers)
            .map(|_| alloc(dev, n))
            .collect::<Result<Vec<_>>>()?;
        let v = (0..layers)
            .map(|_| alloc(dev, n))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            k,
            v,
            max_len,
            width,
            zeros: filled(dev, max_len * width, bf16::ZERO)?,
        })
    }

    /// Copies `rows` rows of `src` starting at row `src_row` into slot `slot` from position `pos`.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &self,
        dev: &dyn KernelDevice,
        dst: &DevBuf<bf16>,
        src: &DevBuf<bf16>,
        src_row: usize,
        slot: usize,
        pos: usize,
        rows: usize,
    ) -> Result<()> {
        if pos + rows > self.max_len {
            bail!(
                "KV cache: {rows} rows at position {pos} overflow the {} reserved per sequence",
                self.max_len
            );
        }
        let n = rows * self.width;
        if (src_row + rows) * self.width > src.len() {
            bail!(
                "KV cache: source rows {src_row}..{} out of range",
                src_row + rows
            );
        }
        // There is no device-to-device copy launcher: out = src + 0 with the elementwise add,
        // addressed into the cache with a pointer offset.
        let mut a = KernelArgs::new();
        a.buf_at(dst, (slot * self.max_len + pos) * self.width)?
            .buf_at(src, src_row * self.width)?
            .buf(&self.zeros)
            .i64(n as i64);
        let blocks = n.div_ceil(256).clamp(1, 4096) as u32;
        dev.launch(
            "residual_add_bf16",
            &LaunchCfg::linear(blocks, 256, 0),
            &mut a,
        )
    }
}

/// One running sequence of a wave.
struct Row {
    request: usize,
    sample: usize,
    slot: usize,
    prompt_len: usize,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
}

impl DeviceModel {
    /// Hidden states [rows, d] after the final norm for one new token per row: `tokens[i]` at
    /// position `pos[i]` of slot `slots[i]`; its K/V are appended to the cache first.
    pub fn decode_step(
        &self,
        dev: &dyn KernelDevice,
        cache: &KvCache,
        tokens: &[u32],
        pos: &[usize],
        slots: &[usize],
    ) -> Result<DevBuf<bf16>> {
        let c = &self.config;
        let (n, d, f) = (tokens.len(), c.hidden_size, c.intermediate_size);
        let (qd, kvd) = (c.q_dim(), c.kv_dim());
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
        let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        let ids = upload(dev, &ids)?;
        let pos_i: Vec<i32> = pos.iter().map(|&p| p as i32).collect();
        let pos_dev = upload(dev, &pos_i)?;
        let seqs: Vec<(usize, usize)> = slots
            .iter()
            .zip(pos)
            .map(|(&s, &p)| (s * cache.max_len, p + 1))
            .collect();
        let seqs = AttnSeqs::upload(dev, &seqs)?;
        let mut x = alloc::<bf16>(dev, n * d)?;
        k::embedding_fwd_bf16(dev, &x, &p[self.layout.embed], &ids, d)?;
        let lin = |inp, out| Lin { rows: n, inp, out };
        for (li, l) in self.layout.layers.iter().enumerate() {
            let a = alloc::<bf16>(dev, n * d)?;
            let rstd = alloc::<f32>(dev, n)?;
            k::rmsnorm_fwd_bf16(dev, &a, &rstd, &x, &p[l.input_norm], eps)?;
            let (mut q, mut kk, v) = (
                alloc(dev, n * qd)?,
                alloc(dev, n * kvd)?,
                alloc(dev, n * kvd)?,
            );
            linear::forward(dev, &q, &a, &p[l.q], self.opt(l.q_bias), lin(d, qd))?;
            linear::forward(dev, &kk, &a, &p[l.k], self.opt(l.k_bias), lin(d, kvd))?;
            linear::forward(dev, &v, &a, &p[l.v], self.opt(l.v_bias), lin(d, kvd))?;
            if let (Some(qn), Some(kn)) = (l.q_norm, l.k_norm) {
                let (qy, ky) = (alloc(dev, q.len())?, alloc(dev, kk.len())?);
                k::rmsnorm_fwd_bf16(dev, &qy, &alloc(dev, n * c.num_heads)?, &q, &p[qn], eps)?;
                k::rmsnorm_fwd_bf16(dev, &ky, &alloc(dev, n * c.num_kv_heads)?, &kk, &p[kn], eps)?;
                (q, kk) = (qy, ky);
            }
            k::rope_fwd_bf16(dev, &q, &q, &pos_dev, &self.inv_freq, c.num_heads)?;
            k::rope_fwd_bf16(dev, &kk, &kk, &pos_dev, &self.inv_freq, c.num_kv_heads)?;
            for (i, (&s, &ps)) in slots.iter().zip(pos).enumerate() {
                cache.store(dev, &cache.k[li], &kk, i, s, ps, 1)?;
                cache.store(dev, &cache.v[li], &v, i, s, ps, 1)?;
            }
            let attn = alloc::<bf16>(dev, n * qd)?;
            let lse = alloc::<f32>(dev, n * c.num_heads)?;
            attn_decode_bf16(
                dev,
                &attn,
                &lse,
                &q,
                &cache.k[li],
                &cache.v[li],
                &seqs,
                self.attn_dims(),
            )?;
            let o = alloc::<bf16>(dev, n * d)?;
            linear::forward(dev, &o, &attn, &p[l.o], self.opt(l.o_bias), lin(qd, d))?;
            let h_mid = alloc::<bf16>(dev, n * d)?;
            k::residual_add_bf16(dev, &h_mid, &x, &o)?;
            let m = alloc::<bf16>(dev, n * d)?;
            k::rmsnorm_fwd_bf16(dev, &m, &rstd, &h_mid, &p[l.post_norm], eps)?;
            let (gate, up, act) = (alloc(dev, n * f)?, alloc(dev, n * f)?, alloc(dev, n * f)?);
            linear::forward(dev, &gate, &m, &p[l.gate], self.opt(l.gate_bias), lin(d, f))?;
            linear::forward(dev, &up, &m, &p[l.up], self.opt(l.up_bias), lin(d, f))?;
            k::swiglu_fwd_bf16(dev, &act, &gate, &up)?;
            linear::forward(dev, &o, &act, &p[l.down], self.opt(l.down_bias), lin(f, d))?;
            k::residual_add_bf16(dev, &o, &h_mid, &o)?;
            x = o;
        }
        let hidden = alloc::<bf16>(dev, n * d)?;
        let rstd = alloc::<f32>(dev, n)?;
        k::rmsnorm_fwd_bf16(dev, &hidden, &rstd, &x, &p[self.layout.final_norm], eps)?;
        Ok(hidden)
    }

    /// Prefills `prompts[i]` into slot i with one packed forward; returns the final hidden state
    /// of each prompt's last token [prompts, d].
    pub fn prefill(
        &self,
        dev: &dyn KernelDevice,
        cache: &KvCache,
        prompts: &[&[u32]],
    ) -> Result<DevBuf<bf16>> {
        let seqs: Vec<Vec<u32>> = prompts.iter().map(|p| p.to_vec()).collect();
        let batch = Batch::from_sequences(&seqs);
        let db = DeviceBatch::from_batch(dev, &batch)?;
        let acts = self.forward(dev, &db)?;
        let mut last = Vec::with_capacity(prompts.len());
        for (slot, &(start, len)) in batch.seqs.iter().enumerate() {
            for (li, la) in acts.layers.iter().enumerate() {
                cache.store(dev, &cache.k[li], &la.k, start, slot, 0, len)?;
                cache.store(dev, &cache.v[li], &la.v, start, slot, 0, len)?;
            }
            last.push((start + len - 1) as i32);
        }
        let d = self.hidden();
        let hs = alloc::<bf16>(dev, prompts.len() * d)?;
        // a gather is an embedding lookup with the hidden states as the table
        k::embedding_fwd_bf16(dev, &hs, &acts.hidden, &upload(dev, &last)?, d)?;
        Ok(hs)
    }

    /// Samples one token per row of `hidden` [rows, d]: f32 logits through the LM head, then the
    /// sampling kernel, one launch per run of rows of the same request (its seed and parameters).
    fn sample_hidden(
        &self,
        dev: &dyn KernelDevice,
        hidden: &DevBuf<bf16>,
        rows: &[&Row],
        requests: &[GenRequest],
    ) -> Result<Vec<(u32, f32)>> {
        let (d, vocab) = (self.hidden(), self.config.vocab_size);
        let mut out = Vec::with_capacity(rows.len());
        let mut r0 = 0;
        while r0 < rows.len() {
            let req_i = rows[r0].request;
            let mut r1 = r0 + 1;
            while r1 < rows.len() && rows[r1].request == req_i {
                r1 += 1;
            }
            let m = r1 - r0;
            let req = &requests[req_i];
            let logits = alloc::<f32>(dev, m * vocab)?;
            let g = Gemm {
                batch: 1,
                m,
                n: vocab,
                k: d,
                a: Strides::rows(m, d),
                b: Strides::rows(vocab, d),
                alpha: 1.0,
                beta: 0.0,
            };
            let off = GemmOffsets {
                a: r0 * d,
                ..Default::default()
            };
            gemm_bf16_at(dev, Some(&logits), None, hidden, self.lm_head(), &g, off)?;
            let streams: Vec<u64> = rows[r0..r1].iter().map(|r| r.sample as u64).collect();
            let steps: Vec<u64> = rows[r0..r1].iter().map(|r| r.tokens.len() as u64).collect();
            let keys = upload(dev, &sample_keys(&streams, &steps)?)?;
            let s = SampledDev::alloc(dev, m)?;
            sample_rows(dev, &s, &logits, vocab, &keys, req.seed, 0, &req.params)?;
            for (i, x) in s.download(dev)?.into_iter().enumerate() {
                if x.token as usize >= vocab {
                    bail!(
                        "row {}: sampled token {} is outside the vocabulary",
                        r0 + i,
                        x.token
                    );
                }
                out.push((x.token, x.logprob));
            }
            r0 = r1;
        }
        Ok(out)
    }
}

/// `generate::engine::generate` on the device: the same requests, stop tokens and results
/// (completions sorted by (request, sample)); `cfg.max_batch` is the wave size.
pub fn generate_on_device(
    dev: &dyn KernelDevice,
    dm: &DeviceModel,
    requests: &[GenRequest],
    cfg: &EngineConfig,
    progress: &mut dyn FnMut(crate::generate::engine::Progress),
) -> Result<Vec<Completion>> {
    let limit = dm.config.max_position_embeddings;
    for (i, r) in requests.iter().enumerate() {
        r.params.validate()?;
        if r.prompt.is_empty() {
            bail!("request {i}: empty prompt");
        }
        if let Some(t) = r
            .prompt
            .iter()
            .find(|&&t| t as usize >= dm.config.vocab_size)
        {
            bail!(
                "request {i}: token {t} is outside the vocabulary of {}",
                dm.config.vocab_size
            );
        }
        if r.prompt.len() + r.max_tokens > limit {
            bail!(
                "request {i}: prompt ({}) + max_tokens ({}) exceeds the model's context ({limit})",
                r.prompt.len(),
                r.max_tokens
            );
        }
    }
    let all: Vec<(usize, usize)> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..r.n).map(move |s| (i, s)))
        .collect();
    let total = all.len();
    let mut done: Vec<Completion> = Vec::with_capacity(total);
    let mut generated = 0usize;
    for wave in all.chunks(cfg.max_batch.max(1)) {
        let mut rows: Vec<Row> = Vec::new();
        for &(ri, si) in wave {
            let req = &requests[ri];
            if req.max_tokens == 0 {
                done.push(Completion {
                    request: ri,
                    sample: si,
                    tokens: vec![],
                    logprobs: vec![],
                    finish: Finish::Length,
                });
                continue;
            }
            rows.push(Row {
                request: ri,
                sample: si,
                slot: rows.len(),
                prompt_len: req.prompt.len(),
                tokens: vec![],
                logprobs: vec![],
            });
        }
        if rows.is_empty() {
            continue;
        }
        let max_len = rows
            .iter()
            .map(|r| r.prompt_len + requests[r.request].max_tokens)
            .max()
            .unwrap_or(1);
        let cache = KvCache::alloc(dev, dm, rows.len(), max_len)?;
        let prompts: Vec<&[u32]> = rows
            .iter()
            .map(|r| requests[r.request].prompt.as_slice())
            .collect();
        let mut hidden = dm.prefill(dev, &cache, &prompts)?;
        let mut running: Vec<usize> = (0..rows.len()).collect();
        loop {
            let view: Vec<&Row> = running.iter().map(|&i| &rows[i]).collect();
            let draws = dm.sample_hidden(dev, &hidden, &view, requests)?;
            for (&i, (t, lp)) in running.iter().zip(draws) {
                rows[i].tokens.push(t);
                rows[i].logprobs.push(lp);
                generated += 1;
            }
            running.retain(|&i| {
                let r = &rows[i];
                let last = *r.tokens.last().expect("just pushed");
                !cfg.stop_tokens.contains(&last) && r.tokens.len() < requests[r.request].max_tokens
            });
            progress(crate::generate::engine::Progress {
                finished: done.len() + rows.len() - running.len(),
                total,
                generated_tokens: generated,
                active: running.len(),
            });
            if running.is_empty() {
                break;
            }
            let tokens: Vec<u32> = running
                .iter()
                .map(|&i| *rows[i].tokens.last().expect("non-empty"))
                .collect();
            let pos: Vec<usize> = running
                .iter()
                .map(|&i| rows[i].prompt_len + rows[i].tokens.len() - 1)
                .collect();
            let slots: Vec<usize> = running.iter().map(|&i| rows[i].slot).collect();
            hidden = dm.decode_step(dev, &cache, &tokens, &pos, &slots)?;
        }
        for r in rows {
            let last = *r.tokens.last().expect("at least one token");
            let finish = if cfg.stop_tokens.contains(&last) {
                Finish::Stop
            } else {
                Finish::Length
            };
            done.push(Completion {
                request: r.request,
                sample: r.sample,
                tokens: r.tokens,
                logprobs: r.logprobs,
                finish,
            });
        }
    }
    done.sort_by_key(|c| (c.request, c.sample));
    Ok(done)
}
