//! RL loop throughput: rollout (the generation engine over a batch of sequences) and the policy
//! update (`policy_update` on fabricated samples: forward, loss, backward, AdamW).
use crate::generate::engine::{generate, EngineConfig, GenRequest};
use crate::generate::sampling::SamplingParams;
use crate::model::Model;
use crate::optim::{AdamW, AdamWConfig};
use crate::rl::config::TrainConfig;
use crate::rl::rollout::Sample;
use crate::rl::update::{policy_update, UpdateInputs};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Instant;

use super::model::token_ids;

#[derive(Clone, Debug)]
pub struct TrainBenchSpec {
    /// Sequences decoded at once (prompts × samples per prompt).
    pub rollout_batch: usize,
    pub samples_per_prompt: usize,
    pub prompt_len: usize,
    pub response_len: usize,
    /// Sequences in the update (one mini-batch, one optimizer step).
    pub update_seqs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RolloutRun {
    pub sequences: usize,
    pub prompt_len: usize,
    pub generated_tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct UpdateRun {
    pub sequences: usize,
    /// Prompt + response tokens through forward and backward.
    pub tokens: usize,
    pub response_tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
    pub response_tokens_per_s: f64,
    pub gflops: f64,
    /// 6·params·tokens over the GEMM peak measured in the same run.
    pub mfu_vs_gemm_peak: f64,
}

/// Generate `response_len` tokens for every sequence (no stop tokens, so none ends early).
pub fn bench_rollout(model: &Model, spec: &TrainBenchSpec) -> Result<RolloutRun> {
    if spec.samples_per_prompt == 0 || !spec.rollout_batch.is_multiple_of(spec.samples_per_prompt) {
        bail!(
            "rollout batch {} must be a positive multiple of samples per prompt {}",
            spec.rollout_batch,
            spec.samples_per_prompt
        );
    }
    let prompts = spec.rollout_batch / spec.samples_per_prompt;
    let requests: Vec<GenRequest> = (0..prompts)
        .map(|i| GenRequest {
            prompt: token_ids(spec.prompt_len, model.config.vocab_size, 100 + i),
            n: spec.samples_per_prompt,
            seed: i as u64,
            params: SamplingParams::default(),
            max_tokens: spec.response_len,
        })
        .collect();
    let cfg = EngineConfig {
        max_batch: spec.rollout_batch,
        stop_tokens: vec![],
    };
    let t = Instant::now();
    let out = generate(model, &requests, &cfg, &mut |_| {})?;
    let seconds = t.elapsed().as_secs_f64();
    let generated: usize = out.iter().map(|c| c.tokens.len()).sum();
    Ok(RolloutRun {
        sequences: out.len(),
        prompt_len: spec.prompt_len,
        generated_tokens: generated,
        seconds,
        tokens_per_s: generated as f64 / seconds,
    })
}

/// Samples with random-looking responses, unit advantages of alternating sign and old
/// log-probs near the policy's (so the PPO ratio stays in range and nothing is clipped away).
pub fn fabricated_samples(model: &Model, spec: &TrainBenchSpec) -> Vec<Sample> {
    let v = model.config.vocab_size;
    (0..spec.update_seqs)
        .map(|i| Sample {
            group: i / spec.samples_per_prompt.max(1),
            prompt: token_ids(spec.prompt_len, v, 200 + i),
            response: token_ids(spec.response_len, v, 300 + i),
            sampler_logp: vec![-(v as f32).ln(); spec.response_len],
            text: String::new(),
            pred: None,
            reward: (i % 2) as f32,
            truncated: false,
        })
        .collect()
}

/// One optimizer step over `update_seqs` sequences; `peak_gflops` is the GEMM peak.
pub fn bench_update(
    model: &mut Model,
    spec: &TrainBenchSpec,
    peak_gflops: f64,
) -> Result<UpdateRun> {
    let samples = fabricated_samples(model, spec);
    let adv: Vec<Vec<f32>> = samples
        .iter()
        .map(|s| vec![if s.reward > 0.0 { 1.0 } else { -1.0 }; s.response.len()])
        .collect();
    let old: Vec<Vec<f32>> = samples.iter().map(|s| s.sampler_logp.clone()).collect();
    let cfg = TrainConfig {
        lr: 1e-6,
        ..TrainConfig::default()
    };
    let mut opt = AdamW::new(AdamWConfig::default(), &model.params);
    let inputs = UpdateInputs {
        samples: &samples,
        adv: &adv,
        old_logp: &old,
        ref_logp: None,
        mb_seqs: samples.len(),
        kl_coef: 0.0,
    };
    let t = Instant::now();
    let st = policy_update(model, &mut opt, &inputs, &cfg, cfg.lr)?;
    let seconds = t.elapsed().as_secs_f64();
    let tokens: usize = samples
        .iter()
        .map(|s| s.prompt.len() + s.response.len())
        .sum();
    let flops = super::model::train_flops(&model.config, tokens);
    let gflops = flops / seconds / 1e9;
    Ok(UpdateRun {
        sequences: samples.len(),
        tokens,
        response_tokens: st.tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds,
        response_tokens_per_s: st.tokens as f64 / seconds,
        gflops,
        mfu_vs_gemm_peak: gflops / peak_gflops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::llama_config_json;
    use crate::model::ModelConfig;

    fn spec() -> TrainBenchSpec {
        TrainBenchSpec {
            rollout_batch: 4,
            samples_per_prompt: 2,
            prompt_len: 3,
            response_len: 5,
            update_seqs: 4,
        }
    }

    #[test]
    fn rollout_and_update_on_a_tiny_model() {
        let cfg =
            ModelConfig::from_json(llama_config_json(30, 16, 24, 1, 2, 1, true, 1, 2)).unwrap();
        let mut m = Model::random(cfg, 0.1, 3).unwrap();
        let r = bench_rollout(&m, &spec()).unwrap();
        assert_eq!(r.sequences, 4);
        assert_eq!(r.generated_tokens, 20);
        let before = m.params[1].to_vec();
        let u = bench_update(&mut m, &spec(), 1.0).unwrap();
        assert_eq!(u.tokens, 32);
        assert_eq!(u.response_tokens, 20);
        assert_ne!(
            before,
            m.params[1].to_vec(),
            "the update must move the weights"
        );
    }

    #[test]
    fn rollout_batch_must_divide_into_prompts() {
        let cfg =
            ModelConfig::from_json(llama_config_json(30, 16, 24, 1, 2, 1, true, 1, 2)).unwrap();
        let m = Model::random(cfg, 0.1, 3).unwrap();
        let s = TrainBenchSpec {
            rollout_batch: 5,
            ..spec()
        };
        assert!(bench_rollout(&m, &s).is_err());
    }
}
