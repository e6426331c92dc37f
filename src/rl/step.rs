//! One RL step: validation when due → rollouts (n per prompt) → verified rewards → advantages
//! per objective → recomputed old (and reference) log-probs → mini-batch PPO-clip updates of the
//! policy (and PPO's critic) → the step's metrics.
use super::config::TrainConfig;
use super::metrics::{BatchMetrics, StepMetrics, UpdateMetrics, ValidationLine, ValidationMetrics};
use super::objective::{sequence_advantages, Objective};
use super::ppo::gae_advantages;
use super::prompts::step_prompts;
use super::rollout::{PromptItem, RolloutSettings, Sample};
use super::run::Run;
use super::update::UpdateInputs;
use super::validate::{validate_dp, Validation};
use crate::generate::engine::EngineConfig;
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// Per-sample, per-token values.
type PerToken = Vec<Vec<f32>>;

impl Run<'_> {
    /// Runs RL step `step` and returns its metrics.
    pub fn step(&mut self, step: usize) -> Result<StepMetrics> {
        let cfg = self.cfg;
        let t_step = Instant::now();
        let mut m = StepMetrics {
            step,
            ..Default::default()
        };
        if !self.val_items.is_empty() && cfg.val_every > 0 && step.is_multiple_of(cfg.val_every) {
            m.validation = ValidationMetrics(self.validate(step)?);
        }
        // 1. Rollouts.
        let t0 = Instant::now();
        let (samples, prompts, verify) = self.rollouts(step)?;
        m.time.rollout_s = t0.elapsed().as_secs_f64();
        m.time.verify_s = verify.as_secs_f64();
        m.batch = BatchMetrics::of(&samples, prompts, cfg.n);

        // 2. Advantages and the kept set.
        let rewards: Vec<f32> = samples.iter().map(|s| s.reward).collect();
        let groups: Vec<usize> = samples.iter().map(|s| s.group).collect();
        let seq_adv = sequence_advantages(self.objective, &rewards, &groups);
        let keep: Vec<usize> = (0..samples.len())
            .filter(|&i| {
                self.objective
                    .keeps(samples[i].is_correct(), cfg.psr_nsr_mode)
            })
            .collect();
        m.effective_samples = keep.len();
        let t1 = Instant::now();
        if !keep.is_empty() {
            m.update = Some(self.update(step, &samples, &keep, &seq_adv)?);
        }
        m.time.update_s = t1.elapsed().as_secs_f64();
        m.time.step_s = t_step.elapsed().as_secs_f64();
        let tokens: usize = samples.iter().map(|s| s.response.len()).sum();
        m.time.tokens_per_s = tokens as f64 / m.time.step_s.max(1e-9);
        Ok(m)
    }

    /// The validation after the final step (a line of its own at `step = steps`, so the last
    /// policy is scored too); `None` without validation data or with `val_every = 0`.
    pub fn final_validation(&mut self) -> Result<Option<ValidationLine>> {
        if self.val_items.is_empty() || self.cfg.val_every == 0 {
            return Ok(None);
        }
        let step = self.cfg.steps;
        Ok(Some(ValidationLine {
            step,
            validation: ValidationMetrics(self.validate(step)?),
        }))
    }

    /// Answers to the validation problems (validation `step`), drawn where the rollouts are (on
    /// a device: its bf16 policy), each rank answering its block.
    fn validate(&mut self, step: usize) -> Result<Vec<Validation>> {
        let sampler = self.policy.sampler()?;
        validate_dp(
            &sampler,
            &self.tok,
            &self.val_items,
            &self.val,
            step as u64,
            &self.dp,
        )
    }

    /// The step's graded samples on every rank (each rank samples its block of the prompts), the
    /// number of prompts, and this rank's verifier time.
    fn rollouts(&mut self, step: usize) -> Result<(Vec<Sample>, usize, Duration)> {
        let cfg = self.cfg;
        let idx = step_prompts(self.train_items.len(), cfg.prompts_per_step, cfg.seed, step)?;
        let prompts: Vec<PromptItem> = idx.iter().map(|&i| self.train_items[i].clone()).collect();
        let mine = self.dp.my_block(prompts.len());
        let graded = self.policy.sample(
            &self.tok,
            &prompts[mine.clone()],
            mine.start,
            step as u64,
            RolloutSettings {
                params: cfg.sampling(),
                n: cfg.n,
                max_tokens: cfg.max_response_tokens,
                seed: cfg.seed,
                engine: EngineConfig {
                    max_batch: cfg.rollout_batch,
                    stop_tokens: self.stop.clone(),
                },
                verifier: cfg.verifier,
                progress: &mut |_| {},
            },
        )?;
        let samples = self.dp.gather_samples(graded.samples, &prompts)?;
        Ok((samples, prompts.len(), graded.verify))
    }

    /// Scores the kept samples `keep` of `samples`, turns their advantages into per-token ones
    /// and updates the policy (and PPO's critic) on them.
    fn update(
        &mut self,
        step: usize,
        samples: &[Sample],
        keep: &[usize],
        seq_adv: &[f32],
    ) -> Result<UpdateMetrics> {
        let cfg = self.cfg;
        let budget = cfg.max_tokens_per_micro_batch;
        let kept: Vec<Sample> = keep.iter().map(|&i| samples[i].clone()).collect();
        let mut out = UpdateMetrics::default();
        // 3. Old (and reference) log-probs, recomputed by the trainer.
        let seqs: Vec<Vec<u32>> = kept
            .iter()
            .map(|s| [s.prompt.as_slice(), &s.response].concat())
            .collect();
        let lens: Vec<usize> = kept.iter().map(|s| s.response.len()).collect();
        let old = self
            .policy
            .scorer()
            .score(&self.dp, &seqs, &lens, cfg.temperature, budget)?;
        let mut max_diff = 0.0f32;
        for (s, o) in kept.iter().zip(&old) {
            for (a, b) in s.sampler_logp.iter().zip(&o.logprobs) {
                max_diff = max_diff.max((a - b).abs());
            }
        }
        out.sampler_trainer_logp_max_diff = max_diff as f64;
        let ent_tokens: f64 = old
            .iter()
            .flat_map(|o| o.entropy.iter())
            .map(|&x| x as f64)
            .sum();
        out.entropy = ent_tokens / lens.iter().sum::<usize>().max(1) as f64;
        let old_lp: PerToken = old.into_iter().map(|o| o.logprobs).collect();
        let ref_lp: Option<PerToken> = match &self.reference {
            Some(r) => Some(
                r.scorer()
                    .score(&self.dp, &seqs, &lens, cfg.temperature, budget)?
                    .into_iter()
                    .map(|o| o.logprobs)
                    .collect(),
            ),
            None => None,
        };

        // 4. Token-level advantages.
        let (adv, ppo_extra): (PerToken, Option<(PerToken, PerToken)>) =
            match (&self.critic, &ref_lp) {
                (Some(c), Some(r)) if self.objective == Objective::Ppo => {
                    let values = c.values_dp(&kept, budget, &self.dp)?;
                    let (a, ret) = gae_advantages(&kept, &old_lp, r, &values, cfg.ppo_kl_coef);
                    (a, Some((ret, values)))
                }
                _ => (
                    keep.iter()
                        .zip(&kept)
                        .map(|(&i, s)| vec![seq_adv[i]; s.response.len()])
                        .collect(),
                    None,
                ),
            };
        let lr = step_lr(cfg, step, cfg.lr);
        let kl_coef = if self.objective == Objective::Grpo {
            cfg.kl_coef
        } else {
            0.0
        };

        // 5. Policy update.
        let mb_seqs = cfg.mini_batch_prompts * cfg.n;
        let inputs = UpdateInputs {
            samples: &kept,
            adv: &adv,
            old_logp: &old_lp,
            ref_logp: ref_lp.as_deref().filter(|_| kl_coef > 0.0),
            mb_seqs,
            kl_coef,
        };
        let st = self
            .policy
            .update(&inputs, cfg, lr, &self.dp)
            .with_context(|| format!("RL step {step}: the last good checkpoint is kept"))?;
        if let (Some(c), Some((ret, values))) = (self.critic.as_mut(), ppo_extra) {
            let critic_lr = step_lr(cfg, step, cfg.critic_lr);
            let (loss, steps) = c.update(&kept, &ret, &values, critic_lr, cfg, &self.dp)?;
            out.value_loss = Some(loss);
            out.critic_optimizer_steps = Some(steps);
        }
        out.set_policy(&st, lr, cfg.entropy_coef);
        Ok(out)
    }
}

/// The learning rate of RL step `step` for a base rate `base`: 0 for the whole first step with
/// `lr_zero_first_step` (the released code's scheduler quirk), else `base`.
pub fn step_lr(cfg: &TrainConfig, step: usize, base: f32) -> f32 {
    if cfg.lr_zero_first_step && step == 0 {
        0.0
    } else {
        base
    }
}
