//! Token generation on the device over a bf16 KV cache: the `generate::engine` contract
//! (requests with n samples, per-request seeds and sampling parameters, stop tokens, Philox
//! uniform keyed by (seed, sample, step), completions sorted by (request, sample), a progress
//! call after every scheduling round) with the decoder, LM head and sampler on a `KernelDevice`.
//!
//! Scheduling is continuous batching, as in the CPU engine:
//! - One cache of `min(max_batch, sequences)` slots for the whole run, each reserving the
//!   longest prompt + max_tokens of any request (memory bounded by `max_batch`, not by the
//!   number of sequences).
//! - Waiting (request, sample) pairs are admitted in order whenever slots are free. All rows
//!   admitted in one round are prefilled by ONE packed [`DeviceModel::prefill`] in which every
//!   request's prompt appears once: its post-RoPE K/V rows are copied into the slot of each of
//!   its samples, and each sample draws its first token from the prompt's last hidden state.
//!   When more samples of the last prompt of a round are still waiting, that prompt's K/V and
//!   hidden state are kept (a one-slot cache of the longest prompt) and later rounds copy them
//!   instead of prefilling again: one prompt prefill per request, whatever `max_batch` is.
//! - Rows that stop (stop token or max_tokens) free their slot at once; a decode step (one
//!   token per running row: the launches per layer, the LM head and the sampling do not depend
//!   on the number of rows or requests) runs only when every slot is busy or
//!   nothing waits, so short responses do not hold a batch of long ones back.
//! - Results are the same for every `max_batch`, bit for bit: every draw depends only on its own
//!   sequence and its Philox key, and each row's arithmetic is independent of the others in its
//!   launch. [`DecodeStats`] counts
//!   what the schedule ran (prefill forwards and prompts, decode steps and rows).
//! - Cache layout: see [`KvCache`].
//! - The prefill keeps the forward's training activations alive while it runs (more memory than
//!   a dedicated prefill would need); fine for rollouts of the sizes the tests use.
use super::engine::{Completion, EngineConfig, Finish, GenRequest, Progress};
use crate::backend::cpu::sampling::SamplingParams;
use crate::backend::cuda::device::{upload, DevBuf, KernelDevice};
use crate::backend::cuda::model::decode::gather_rows;
use crate::backend::cuda::model::kv_cache::KvCache;
use crate::backend::cuda::model::DeviceModel;
use crate::backend::cuda::sampling::{sample_keys, sample_rows_params, SampledDev};
use anyhow::{bail, Context, Result};
use half::bf16;
use std::collections::VecDeque;
use std::ops::Range;

/// One sequence in a cache slot.
struct Row {
    request: usize,
    sample: usize,
    slot: usize,
    prompt_len: usize,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
}

/// Samples one token per row of `hidden` [rows, d]: f32 logits of every row through the LM head
/// in one product, then one sampling launch with each row's seed and parameters on the device
/// (the rows of several requests together; every row's draw is its own).
fn sample_hidden(
    dm: &DeviceModel,
    dev: &dyn KernelDevice,
    hidden: &DevBuf<bf16>,
    rows: &[&Row],
    requests: &[GenRequest],
) -> Result<Vec<(u32, f32)>> {
    let vocab = dm.config.vocab_size;
    let m = rows.len();
    let logits = dm.head_logits(dev, hidden, 0, m)?;
    let streams: Vec<u64> = rows.iter().map(|r| r.sample as u64).collect();
    let steps: Vec<u64> = rows.iter().map(|r| r.tokens.len() as u64).collect();
    let keys = upload(dev, &sample_keys(&streams, &steps)?)?;
    let params: Vec<(u64, SamplingParams)> = rows
        .iter()
        .map(|r| (requests[r.request].seed, requests[r.request].params))
        .collect();
    let s = SampledDev::alloc(dev, m)?;
    sample_rows_params(dev, &s, &logits, vocab, &keys, &params, 0)?;
    let mut out = Vec::with_capacity(m);
    for (i, x) in s.download(dev)?.into_iter().enumerate() {
        if x.token as usize >= vocab {
            bail!(
                "row {i}: sampled token {} is outside the vocabulary",
                x.token
            );
        }
        out.push((x.token, x.logprob));
    }
    Ok(out)
}

/// What the schedule of one [`generate_on_device_stats`] call ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Cache slots: min(max_batch, sequences with max_tokens > 0).
    pub slots: usize,
    /// Packed prefill forwards (at most one per admission round).
    pub prefill_forwards: usize,
    /// Prompts in those forwards: one per request and round, however many samples it admits.
    pub prefilled_prompts: usize,
    /// Prompt tokens in those forwards.
    pub prefill_tokens: usize,
    /// Admission rounds that copied a prompt kept from an earlier round instead of prefilling.
    pub prefix_reuses: usize,
    /// Batched decode steps.
    pub decode_steps: usize,
    /// Rows summed over the decode steps (every generated token but each sequence's first).
    pub decode_rows: usize,
}

/// The prompt kept for samples of `request` that are admitted in a later round.
struct Prefix {
    request: usize,
    /// One slot holding the prompt's K/V.
    cache: KvCache,
    /// The final hidden state of its last token [1, d].
    hidden: DevBuf<bf16>,
}

struct Scheduler<'a> {
    dev: &'a dyn KernelDevice,
    dm: &'a DeviceModel,
    requests: &'a [GenRequest],
    cfg: &'a EngineConfig,
    max_batch: usize,
    cache: KvCache,
    /// Longest prompt among requests with several samples (the size of `Prefix::cache`).
    prefix_len: usize,
    prefix: Option<Prefix>,
    free: Vec<usize>,
    pending: VecDeque<(usize, usize)>,
    /// Sorted by (request, sample): rows are admitted in that order and leave without
    /// reordering (completions come out in that order).
    running: Vec<Row>,
    done: Vec<Completion>,
    total: usize,
    generated: usize,
    stats: DecodeStats,
}

/// Samples the next token of each of `rows` from `hidden` [rows, d] and appends it.
fn draw_into(
    dm: &DeviceModel,
    dev: &dyn KernelDevice,
    hidden: &DevBuf<bf16>,
    rows: &mut [Row],
    requests: &[GenRequest],
) -> Result<usize> {
    let view: Vec<&Row> = rows.iter().collect();
    let draws = sample_hidden(dm, dev, hidden, &view, requests)?;
    for (r, (t, lp)) in rows.iter_mut().zip(draws) {
        r.tokens.push(t);
        r.logprobs.push(lp);
    }
    Ok(rows.len())
}

/// Runs of rows of the same request.
fn request_runs(rows: &[Row]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match runs.last_mut() {
            Some(g) if rows[g.start].request == r.request => g.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

impl Scheduler<'_> {
    /// Fills free slots from the queue, prefills what they need and draws their first tokens.
    fn admit(&mut self) -> Result<()> {
        let mut batch: Vec<Row> = Vec::new();
        while self.running.len() + batch.len() < self.max_batch {
            let Some((ri, si)) = self.pending.pop_front() else {
                break;
            };
            let req = &self.requests[ri];
            if req.max_tokens == 0 {
                self.done.push(Completion {
                    request: ri,
                    sample: si,
                    tokens: vec![],
                    logprobs: vec![],
                    finish: Finish::Length,
                });
                continue;
            }
            let slot = self.free.pop().context("no free KV-cache slot")?;
            batch.push(Row {
                request: ri,
                sample: si,
                slot,
                prompt_len: req.prompt.len(),
                tokens: vec![],
                logprobs: vec![],
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        let (dev, dm, d) = (self.dev, self.dm, self.dm.hidden());
        let runs = request_runs(&batch);
        // Only the first run can continue the request of the kept prompt (admission is in order).
        let kept = self
            .prefix
            .as_ref()
            .filter(|p| p.request == batch[0].request);
        let fresh = &runs[kept.is_some() as usize..];
        if let Some(p) = kept {
            let rows = &mut batch[runs[0].clone()];
            for r in rows.iter() {
                self.cache
                    .copy_prefix(dev, &p.cache, 0, r.slot, r.prompt_len)?;
            }
            let hidden = gather_rows(dev, &p.hidden, &vec![0; rows.len()], d)?;
            self.generated += draw_into(dm, dev, &hidden, rows, self.requests)?;
            self.stats.prefix_reuses += 1;
        }
        if let Some(first) = fresh.first() {
            let slots: Vec<Vec<usize>> = fresh
                .iter()
                .map(|g| batch[g.clone()].iter().map(|r| r.slot).collect())
                .collect();
            let prompts: Vec<(&[u32], &[usize])> = fresh
                .iter()
                .zip(&slots)
                .map(|(g, s)| {
                    let prompt = self.requests[batch[g.start].request].prompt.as_slice();
                    (prompt, s.as_slice())
                })
                .collect();
            let last = dm.prefill(dev, &self.cache, &prompts)?;
            self.stats.prefill_forwards += 1;
            self.stats.prefilled_prompts += prompts.len();
            self.stats.prefill_tokens += prompts.iter().map(|p| p.0.len()).sum::<usize>();
            let ids: Vec<i32> = fresh
                .iter()
                .enumerate()
                .flat_map(|(p, g)| std::iter::repeat_n(p as i32, g.len()))
                .collect();
            let hidden = gather_rows(dev, &last, &ids, d)?;
            let rows = &mut batch[first.start..];
            self.generated += draw_into(dm, dev, &hidden, rows, self.requests)?;
            // Keep the round's last prompt when more of its samples wait for a slot.
            let lead = &batch[fresh.last().expect("non-empty").start];
            if self.pending.front().map(|w| w.0) == Some(lead.request) {
                let cache = match self.prefix.take() {
                    Some(p) => p.cache,
                    None => KvCache::alloc(dev, dm, 1, self.prefix_len)?,
                };
                cache.copy_prefix(dev, &self.cache, lead.slot, 0, lead.prompt_len)?;
                let hidden = gather_rows(dev, &last, &[fresh.len() as i32 - 1], d)?;
                self.prefix = Some(Prefix {
                    request: lead.request,
                    cache,
                    hidden,
                });
            }
        }
        self.running.extend(batch);
        Ok(())
    }

    /// Moves rows that emitted a stop token or reached max_tokens to `done`, freeing slots.
    fn retire(&mut self) {
        let running = std::mem::take(&mut self.running);
        for r in running {
            let max_tokens = self.requests[r.request].max_tokens;
            let finish = match r.tokens.last() {
                Some(t) if self.cfg.stop_tokens.contains(t) => Some(Finish::Stop),
                _ if r.tokens.len() >= max_tokens => Some(Finish::Length),
                _ => None,
            };
            match finish {
                Some(finish) => {
                    self.free.push(r.slot);
                    self.done.push(Completion {
                        request: r.request,
                        sample: r.sample,
                        tokens: r.tokens,
                        logprobs: r.logprobs,
                        finish,
                    });
                }
                None => self.running.push(r),
            }
        }
    }

    /// One batched decode step: feeds every running row's last token, draws the next.
    fn step(&mut self) -> Result<()> {
        let mut tokens = Vec::with_capacity(self.running.len());
        let mut pos = Vec::with_capacity(self.running.len());
        let mut slots = Vec::with_capacity(self.running.len());
        for r in &self.running {
            tokens.push(*r.tokens.last().context("running row without a token")?);
            pos.push(r.prompt_len + r.tokens.len() - 1);
            slots.push(r.slot);
        }
        let hidden = self
            .dm
            .decode_step(self.dev, &self.cache, &tokens, &pos, &slots)?;
        self.stats.decode_steps += 1;
        self.stats.decode_rows += tokens.len();
        self.generated += draw_into(self.dm, self.dev, &hidden, &mut self.running, self.requests)?;
        Ok(())
    }

    fn progress(&self) -> Progress {
        Progress {
            finished: self.done.len(),
            total: self.total,
            generated_tokens: self.generated,
            active: self.running.len(),
        }
    }
}

fn validate(dm: &DeviceModel, requests: &[GenRequest]) -> Result<()> {
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
    Ok(())
}

/// `generate::engine::generate` on the device: the same requests, stop tokens and results
/// (completions sorted by (request, sample)); `cfg.max_batch` is the number of cache slots.
pub fn generate_on_device(
    dev: &dyn KernelDevice,
    dm: &DeviceModel,
    requests: &[GenRequest],
    cfg: &EngineConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Completion>> {
    Ok(generate_on_device_stats(dev, dm, requests, cfg, progress)?.0)
}

/// [`generate_on_device`], also returning what its schedule ran.
pub fn generate_on_device_stats(
    dev: &dyn KernelDevice,
    dm: &DeviceModel,
    requests: &[GenRequest],
    cfg: &EngineConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<Completion>, DecodeStats)> {
    validate(dm, requests)?;
    let live = |r: &&GenRequest| r.n > 0 && r.max_tokens > 0;
    let sequences: usize = requests.iter().filter(live).map(|r| r.n).sum();
    let max_len = requests
        .iter()
        .filter(live)
        .map(|r| r.prompt.len() + r.max_tokens)
        .max()
        .unwrap_or(1);
    let prefix_len = requests
        .iter()
        .filter(live)
        .filter(|r| r.n > 1)
        .map(|r| r.prompt.len())
        .max()
        .unwrap_or(1);
    let max_batch = cfg.max_batch.max(1);
    let slots = max_batch.min(sequences).max(1);
    let pending: VecDeque<(usize, usize)> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..r.n).map(move |s| (i, s)))
        .collect();
    let total = pending.len();
    let mut s = Scheduler {
        dev,
        dm,
        requests,
        cfg,
        max_batch,
        cache: KvCache::alloc(dev, dm, slots, max_len)?,
        prefix_len,
        prefix: None,
        free: (0..slots).rev().collect(),
        pending,
        running: Vec::with_capacity(slots),
        done: Vec::with_capacity(total),
        total,
        generated: 0,
        stats: DecodeStats {
            slots: max_batch.min(sequences),
            ..Default::default()
        },
    };
    // The CPU engine's loop: admit, retire (first tokens can stop), and decode only when no
    // free slot could take a waiting sample.
    loop {
        s.admit()?;
        s.retire();
        progress(s.progress());
        if s.running.is_empty() {
            if s.pending.is_empty() {
                break;
            }
            continue;
        }
        if s.running.len() < max_batch && !s.pending.is_empty() {
            continue;
        }
        s.step()?;
    }
    let stats = s.stats;
    let mut done = s.done;
    done.sort_by_key(|c| (c.request, c.sample));
    Ok((done, stats))
}
