//! The prompts of a run: loaded, templated and tokenised once; each RL step takes a seeded
//! slice of a per-epoch permutation.
use super::rollout::PromptItem;
use crate::rng::SplitMix64;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Prompts of a data file, templated and tokenised; over-long prompts are dropped and counted.
pub fn load_prompts(
    files: &[PathBuf],
    tok: &Tokenizer,
    template: ChatTemplate,
    max_prompt_tokens: usize,
) -> Result<(Vec<PromptItem>, usize)> {
    let mut out = Vec::new();
    let mut dropped = 0;
    for f in files {
        for p in crate::data::verl::load_problems(f)? {
            let tokens = tok.encode(&template.render_question(&p.question))?;
            if tokens.len() > max_prompt_tokens || tokens.is_empty() {
                dropped += 1;
                continue;
            }
            out.push(PromptItem {
                id: p.id,
                data_source: p.data_source,
                tokens,
                answer: p.answer,
            });
        }
    }
    Ok((out, dropped))
}

/// Indices of the prompts for RL step `step`: a seeded permutation per epoch, drop_last.
pub fn step_prompts(n_items: usize, per_step: usize, seed: u64, step: usize) -> Result<Vec<usize>> {
    let steps_per_epoch = n_items / per_step;
    if steps_per_epoch == 0 {
        bail!("the training set has {n_items} usable prompts, fewer than prompts_per_step ({per_step})");
    }
    let epoch = step / steps_per_epoch;
    let mut perm: Vec<usize> = (0..n_items).collect();
    let mut rng = SplitMix64(
        seed.wrapping_add(epoch as u64)
            .wrapping_mul(0x2545_F491_4F6C_DD1D),
    );
    for i in (1..n_items).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    let k = step % steps_per_epoch;
    Ok(perm[k * per_step..(k + 1) * per_step].to_vec())
}
