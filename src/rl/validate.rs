//! In-training validation: greedy accuracy and response length per data source.
use super::dp::DataParallel;
use super::rollout::{rollout_block, PromptItem, RolloutSettings};
use crate::dist::gather_u32;
use crate::generate::engine::EngineConfig;
use crate::generate::sampler::Sampler;
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Result};

#[derive(Clone, Debug)]
pub struct Validation {
    pub source: String,
    pub accuracy: f64,
    pub mean_response_tokens: f64,
    pub problems: usize,
}

/// Greedy accuracy per data source (the paper's in-training validation for Qwen2.5/Llama).
pub fn validate(
    model: &Model,
    tok: &Tokenizer,
    items: &[PromptItem],
    max_tokens: usize,
    stop: &[u32],
    verifier: crate::verify::Mode,
) -> Result<Vec<Validation>> {
    validate_dp(
        &Sampler::cpu(model),
        tok,
        items,
        max_tokens,
        stop,
        verifier,
        &DataParallel::single(),
    )
}

/// `validate` with each rank answering a contiguous block of the problems, sampled by `sampler`
/// (the CPU engine or the device policy).
pub fn validate_dp(
    sampler: &Sampler<'_>,
    tok: &Tokenizer,
    items: &[PromptItem],
    max_tokens: usize,
    stop: &[u32],
    verifier: crate::verify::Mode,
    dp: &DataParallel<'_>,
) -> Result<Vec<Validation>> {
    let settings = RolloutSettings {
        params: crate::generate::sampling::SamplingParams::greedy(),
        n: 1,
        max_tokens,
        seed: 0,
        engine: EngineConfig {
            max_batch: 64,
            stop_tokens: stop.to_vec(),
        },
        verifier,
        progress: &mut |_| {},
    };
    let mine = dp.my_block(items.len());
    let samples =
        rollout_block(sampler, tok, &items[mine.clone()], mine.start, 0, settings)?.samples;
    // (item, correct, response tokens) of every answer, gathered in item order.
    let local: Vec<u32> = samples
        .iter()
        .flat_map(|s| {
            [
                s.group as u32,
                s.is_correct() as u32,
                s.response.len() as u32,
            ]
        })
        .collect();
    let all = gather_u32(dp.comm, &local)?.concat();
    let mut by: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
    for a in all.chunks_exact(3) {
        let Some(item) = items.get(a[0] as usize) else {
            bail!("validation answer for problem {} of {}", a[0], items.len());
        };
        let e = by.entry(item.data_source.clone()).or_default();
        e.0 += 1;
        e.1 += a[1] as usize;
        e.2 += a[2] as usize;
    }
    Ok(by
        .into_iter()
        .map(|(source, (n, c, t))| Validation {
            source,
            accuracy: c as f64 / n as f64,
            mean_response_tokens: t as f64 / n as f64,
            problems: n,
        })
        .collect())
}
