//! Pass@k of the demo's models on the held-out problems, under one or more sampling settings
//! (the rows and their summary over RL seeds are `crate::eval::recipe`'s).
use crate::eval::passk::{default_ks, passk_table};
pub use crate::eval::recipe::{markdown_table, EvalRow, EvalSampling, ModelEval};
use crate::generate::engine::EngineConfig;
use crate::generate::prompts::stop_tokens;
use crate::generate::sampler::Sampler;
use crate::generate::sampling::SamplingParams;
use crate::model::Model;
use crate::rl::prompts::load_prompts;
use crate::rl::rollout::{rollout, RolloutSettings};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use anyhow::{Context, Result};
use std::path::Path;

/// What every model is evaluated on, and how.
pub struct EvalPlan<'a> {
    /// The held-out problems (JSONL).
    pub data: &'a Path,
    pub template: ChatTemplate,
    pub samplings: &'a [EvalSampling],
    /// Samples per problem.
    pub n: usize,
    pub max_tokens: usize,
    /// The samples of problem i are seeded by (`seed`, i) alone, the same for every model, so
    /// models are compared problem by problem.
    pub seed: u64,
}

/// `model_dir` on the plan's problems, one row per sampling setting.
pub fn eval_model(name: &str, model_dir: &Path, plan: &EvalPlan<'_>) -> Result<Vec<EvalRow>> {
    let EvalPlan {
        data,
        template,
        samplings,
        n,
        max_tokens,
        seed,
    } = *plan;
    let model = Model::load(model_dir)?;
    let tok = Tokenizer::from_dir(model_dir)?;
    let (items, _) = load_prompts(&[data.to_path_buf()], &tok, template, 512)?;
    let stop = stop_tokens(Some(model_dir), &model.config, &tok, template)?;
    samplings
        .iter()
        .map(|s| {
            let samples = rollout(
                &Sampler::cpu(&model),
                &tok,
                &items,
                u64::MAX,
                RolloutSettings {
                    params: SamplingParams {
                        temperature: s.temperature,
                        top_p: s.top_p,
                        ..Default::default()
                    },
                    n,
                    max_tokens,
                    seed,
                    engine: EngineConfig {
                        max_batch: 256,
                        stop_tokens: stop.clone(),
                    },
                    verifier: crate::verify::Mode::Correct,
                    progress: &mut |_| {},
                },
            )
            .with_context(|| format!("evaluating {name} at {s}"))?;
            let mut correct = vec![0usize; items.len()];
            for x in &samples {
                correct[x.group] += x.is_correct() as usize;
            }
            let counts: Vec<(usize, usize)> = correct.iter().map(|&c| (n, c)).collect();
            let tokens = samples.iter().map(|x| x.response.len()).sum::<usize>();
            let mean_len = tokens as f64 / samples.len().max(1) as f64;
            let nll: f64 = samples
                .iter()
                .flat_map(|x| x.sampler_logp.iter())
                .map(|&l| -(l as f64))
                .sum();
            Ok(EvalRow {
                name: name.to_string(),
                passk: passk_table(&counts, &default_ks(n)),
                mean_response_tokens: mean_len,
                token_nll: Some(nll / tokens.max(1) as f64),
                correct,
            })
        })
        .collect()
}
