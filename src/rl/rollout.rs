//! One RL step's rollouts: prompts → n samples each (the generation engine) → decoded text →
//! verified 0/1 rewards.
use crate::generate::engine::{EngineConfig, Finish, GenRequest};
use crate::generate::sampler::Sampler;
use crate::generate::sampling::SamplingParams;
use crate::tokenizer::Tokenizer;
use anyhow::Result;
use std::time::{Duration, Instant};

/// A prompt ready for the model.
#[derive(Clone, Debug)]
pub struct PromptItem {
    pub id: String,
    pub data_source: String,
    pub tokens: Vec<u32>,
    pub answer: String,
}

#[derive(Clone, Debug)]
pub struct Sample {
    /// Index of the prompt within the step (GRPO groups by it).
    pub group: usize,
    pub prompt: Vec<u32>,
    pub response: Vec<u32>,
    /// log π of each response token as the sampler saw it.
    pub sampler_logp: Vec<f32>,
    pub text: String,
    pub pred: Option<String>,
    pub reward: f32,
    pub truncated: bool,
}

/// Rewards are 1 for a verified answer and 0 otherwise.
pub fn reward_is_correct(reward: f32) -> bool {
    reward > 0.5
}

impl Sample {
    /// Whether the verifier accepted the answer.
    pub fn is_correct(&self) -> bool {
        reward_is_correct(self.reward)
    }
}

pub struct RolloutSettings<'a> {
    pub params: SamplingParams,
    pub n: usize,
    pub max_tokens: usize,
    pub seed: u64,
    pub engine: EngineConfig,
    pub verifier: crate::verify::Mode,
    pub progress: &'a mut dyn FnMut(crate::generate::engine::Progress),
}

/// Seed of a request: a function of (run seed, step, prompt position) only.
pub fn request_seed(seed: u64, step: u64, prompt: u64) -> u64 {
    let mut r = crate::rng::SplitMix64(
        seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ prompt.wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
    );
    r.next_u64()
}

pub fn rollout(
    sampler: &Sampler<'_>,
    tok: &Tokenizer,
    prompts: &[PromptItem],
    step: u64,
    s: RolloutSettings<'_>,
) -> Result<Vec<Sample>> {
    Ok(rollout_block(sampler, tok, prompts, 0, step, s)?.samples)
}

/// Graded samples and the time the verifier took.
pub struct Graded {
    pub samples: Vec<Sample>,
    pub verify: Duration,
}

/// Rollouts of `prompts`, which stand at positions `first..` of the step's prompt list: seeds
/// and `Sample::group` use those positions, so a data-parallel rank sampling a block of the
/// prompts draws exactly what one process sampling all of them draws. Also times the verifier.
pub fn rollout_block(
    sampler: &Sampler<'_>,
    tok: &Tokenizer,
    prompts: &[PromptItem],
    first: usize,
    step: u64,
    s: RolloutSettings<'_>,
) -> Result<Graded> {
    let requests: Vec<GenRequest> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| GenRequest {
            prompt: p.tokens.clone(),
            n: s.n,
            seed: request_seed(s.seed, step, (first + i) as u64),
            params: s.params,
            max_tokens: s.max_tokens,
        })
        .collect();
    let completions = sampler.generate(&requests, &s.engine, s.progress)?;
    let mut samples = Vec::with_capacity(completions.len());
    let mut items = Vec::with_capacity(completions.len());
    for c in completions {
        // Special tokens stay in the text, as the paper's reward sees it.
        let text = tok.decode(&c.tokens, false)?;
        items.push((text.clone(), prompts[c.request].answer.clone()));
        samples.push(Sample {
            group: first + c.request,
            prompt: prompts[c.request].tokens.clone(),
            response: c.tokens,
            sampler_logp: c.logprobs,
            text,
            pred: None,
            reward: 0.0,
            truncated: c.finish == Finish::Length,
        });
    }
    let t = Instant::now();
    let grades = crate::verify::grade_batch(&items, s.verifier);
    let verify = t.elapsed();
    for (smp, g) in samples.iter_mut().zip(grades) {
        smp.reward = if g.correct { 1.0 } else { 0.0 };
        smp.pred = g.pred;
    }
    Ok(Graded { samples, verify })
}
