//! In-training validation: accuracy and response length per data source, one answer per
//! problem — greedy, except for Qwen3, which the paper's protocol samples (T 0.7, top-p 0.8,
//! top-k 20).
use super::dp::DataParallel;
use super::rollout::{rollout_block, PromptItem, RolloutSettings};
use crate::dist::gather_u32;
use crate::generate::engine::EngineConfig;
use crate::generate::sampler::Sampler;
use crate::generate::sampling::SamplingParams;
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

/// How a run draws its validation answers.
#[derive(Clone, Debug)]
pub struct ValidationSettings {
    pub params: SamplingParams,
    pub max_tokens: usize,
    pub stop: Vec<u32>,
    pub verifier: crate::verify::Mode,
    /// With sampled validation, the answers of validation `step` are a function of
    /// (seed, step, problem) only.
    pub seed: u64,
}

/// The paper's validation sampling for a model family (`model_type` of config.json): Qwen3 is
/// sampled at T 0.7, top-p 0.8, top-k 20; every other family answers greedily.
pub fn validation_sampling(model_type: &str) -> SamplingParams {
    if model_type == "qwen3" {
        SamplingParams {
            temperature: 0.7,
            top_p: 0.8,
            top_k: 20,
            ..Default::default()
        }
    } else {
        SamplingParams::greedy()
    }
}

/// Accuracy per data source of `model` on the CPU (validation `step` of a run).
pub fn validate(
    model: &Model,
    tok: &Tokenizer,
    items: &[PromptItem],
    settings: &ValidationSettings,
    step: u64,
) -> Result<Vec<Validation>> {
    validate_dp(
        &Sampler::cpu(model),
        tok,
        items,
        settings,
        step,
        &DataParallel::single(),
    )
}

/// [`validate`] with each rank answering a contiguous block of the problems, drawn by `sampler`
/// (the CPU engine or the device policy).
pub fn validate_dp(
    sampler: &Sampler<'_>,
    tok: &Tokenizer,
    items: &[PromptItem],
    settings: &ValidationSettings,
    step: u64,
    dp: &DataParallel<'_>,
) -> Result<Vec<Validation>> {
    let rollout = RolloutSettings {
        params: settings.params,
        n: 1,
        max_tokens: settings.max_tokens,
        seed: settings.seed,
        engine: EngineConfig {
            max_batch: 64,
            stop_tokens: settings.stop.clone(),
        },
        verifier: settings.verifier,
        progress: &mut |_| {},
    };
    let mine = dp.my_block(items.len());
    let samples = rollout_block(
        sampler,
        tok,
        &items[mine.clone()],
        mine.start,
        step,
        rollout,
    )?
    .samples;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen3_validation_is_sampled_and_the_others_greedy() {
        let q = validation_sampling("qwen3");
        assert!(!q.greedy);
        assert_eq!((q.temperature, q.top_p, q.top_k), (0.7, 0.8, 20));
        for t in ["qwen2", "llama", "mistral", ""] {
            assert!(validation_sampling(t).greedy, "{t}");
        }
    }
}
