//! The rollout engine: many sequences at once over a KV cache, with continuous batching.
//!
//! - Each prompt is prefilled once; its cache is copied to each of its n samples.
//! - Every step feeds the last token of every active sequence through one batched forward.
//! - A sequence that emits a stop token (kept as part of the response, as verl does) or reaches
//!   its token limit leaves the batch, and waiting samples take its place.
//! - The uniform for sample s of request r at step t is Philox(seed_r, s, t): results do not
//!   depend on the batch size or on which other sequences run alongside.
//! - Each token's log-prob under the temperature-scaled full distribution is kept for the
//!   trainer (the sampler-vs-trainer difference is logged every step).
//! - The weights are packed once per call ([`Decoder`]); with f32 weights the logits are the
//!   training forward's bit for bit, with bf16 weights (half the bytes per step) they differ by
//!   the weights' rounding.
use super::sampling::{sample_row, SamplingParams};
use crate::model::decode::Decoder;
use crate::model::kv_cache::{Chunk, SeqCache};
use crate::model::Model;
use crate::rng::philox_uniform;
use crate::tensor::DType;
use anyhow::{bail, Result};
use rayon::prelude::*;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct GenRequest {
    pub prompt: Vec<u32>,
    pub n: usize,
    pub seed: u64,
    pub params: SamplingParams,
    pub max_tokens: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
}

#[derive(Clone, Debug)]
pub struct Completion {
    pub request: usize,
    pub sample: usize,
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub finish: Finish,
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Most sequences decoded at once.
    pub max_batch: usize,
    /// Tokens that end a response (EOS ids and the template's end-of-turn token).
    pub stop_tokens: Vec<u32>,
}

/// Counters handed to the progress callback after every step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub finished: usize,
    pub total: usize,
    pub generated_tokens: usize,
    pub active: usize,
}

struct Active {
    request: usize,
    sample: usize,
    cache: SeqCache,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
}

fn draw(
    logits: &[f32],
    req: &GenRequest,
    sample: usize,
    step: usize,
    row: usize,
) -> Result<(u32, f32)> {
    let u = philox_uniform(req.seed, sample as u64, step as u64, 0);
    let s = sample_row(logits, &req.params, u, row)?;
    Ok((s.token, s.logprob))
}

/// Generation with f32 weights (the trainer's numbers).
pub fn generate(
    model: &Model,
    requests: &[GenRequest],
    cfg: &EngineConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Completion>> {
    generate_with(&Decoder::new(model, DType::F32), requests, cfg, progress)
}

/// Generation with weights already packed (f32 or bf16) by the caller.
pub fn generate_with(
    decoder: &Decoder<'_>,
    requests: &[GenRequest],
    cfg: &EngineConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Completion>> {
    let model = decoder.model;
    for (i, r) in requests.iter().enumerate() {
        r.params.validate()?;
        if r.prompt.is_empty() {
            bail!("request {i}: empty prompt");
        }
        model
            .check_tokens(&r.prompt)
            .map_err(|e| anyhow::anyhow!("request {i}: {e}"))?;
        let limit = model.config.max_position_embeddings;
        if r.prompt.len() + r.max_tokens > limit {
            bail!(
                "request {i}: prompt ({}) + max_tokens ({}) exceeds the model's context ({limit})",
                r.prompt.len(),
                r.max_tokens
            );
        }
    }
    let vocab = model.config.vocab_size;
    let total: usize = requests.iter().map(|r| r.n).sum();
    let mut pending: VecDeque<(usize, usize)> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..r.n).map(move |s| (i, s)))
        .collect();
    // The prefilled prompt of the request whose samples are being admitted.
    let mut prefix: Option<(usize, SeqCache, Vec<f32>)> = None;
    let mut active: Vec<Active> = Vec::new();
    let mut done: Vec<Completion> = Vec::with_capacity(total);
    let mut generated = 0usize;
    let max_batch = cfg.max_batch.max(1);
    let finish_of = |a: &Active, req: &GenRequest| -> Option<Finish> {
        let last = *a.tokens.last()?;
        if cfg.stop_tokens.contains(&last) {
            Some(Finish::Stop)
        } else if a.tokens.len() >= req.max_tokens {
            Some(Finish::Length)
        } else {
            None
        }
    };
    loop {
        // Admit waiting samples: each starts from its prompt's cache and draws its first token
        // from the prompt's last logits.
        while active.len() < max_batch {
            let Some(&(ri, si)) = pending.front() else {
                break;
            };
            pending.pop_front();
            let req = &requests[ri];
            if prefix.as_ref().map(|p| p.0) != Some(ri) {
                let mut cache = SeqCache::new(model);
                let h = decoder.forward(&mut [Chunk {
                    cache: &mut cache,
                    tokens: &req.prompt,
                }])?;
                prefix = Some((ri, cache, decoder.logits(&h).into_vec()));
            }
            let (_, cache, logits) = prefix.as_ref().expect("prefix set above");
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
            let (tok, lp) = draw(logits, req, si, 0, ri)?;
            active.push(Active {
                request: ri,
                sample: si,
                cache: cache.clone(),
                tokens: vec![tok],
                logprobs: vec![lp],
            });
            generated += 1;
        }
        // Retire finished sequences (including ones that stopped on their first token).
        let mut i = 0;
        while i < active.len() {
            let req = &requests[active[i].request];
            if let Some(f) = finish_of(&active[i], req) {
                let a = active.swap_remove(i);
                done.push(Completion {
                    request: a.request,
                    sample: a.sample,
                    tokens: a.tokens,
                    logprobs: a.logprobs,
                    finish: f,
                });
            } else {
                i += 1;
            }
        }
        progress(Progress {
            finished: done.len(),
            total,
            generated_tokens: generated,
            active: active.len(),
        });
        if active.is_empty() {
            if pending.is_empty() {
                break;
            }
            continue;
        }
        if active.len() < max_batch && !pending.is_empty() {
            continue;
        }
        // One decode step for every active sequence.
        let last: Vec<u32> = active
            .iter()
            .map(|a| *a.tokens.last().expect("non-empty"))
            .collect();
        let h = {
            let mut chunks: Vec<Chunk<'_>> = active
                .iter_mut()
                .zip(&last)
                .map(|(a, t)| Chunk {
                    cache: &mut a.cache,
                    tokens: std::slice::from_ref(t),
                })
                .collect();
            decoder.forward(&mut chunks)?
        };
        let logits = decoder.logits(&h);
        let draws: Vec<Result<(u32, f32)>> = logits
            .data()
            .par_chunks(vocab)
            .zip(active.par_iter())
            .enumerate()
            .map(|(row, (z, a))| draw(z, &requests[a.request], a.sample, a.tokens.len(), row))
            .collect();
        for (a, d) in active.iter_mut().zip(draws) {
            let (t, lp) = d?;
            a.tokens.push(t);
            a.logprobs.push(lp);
            generated += 1;
        }
    }
    done.sort_by_key(|c| (c.request, c.sample));
    Ok(done)
}
