//! PPO's critic and advantages: a value head on a copy of the policy's
//! transformer; token rewards `score·1[last] − β(logπ_old − logπ_ref)`; GAE with γ = λ = 1;
//! advantages whitened over every valid token of the batch; clipped value loss.
//!
//! As the paper's released code: the critic's mini-batch is counted in sequences where the
//! policy's counts prompts, so the critic takes n times as many optimizer steps per RL step
//! (32 against 4 at 1024 prompts × 8 with mini-batches of 256); its value head is a fresh
//! `Linear(hidden, 1)` as a transformers token-classification model initialises it.
use super::config::TrainConfig;
use super::dp::DataParallel;
use super::rollout::Sample;
use super::update::{accumulate, micro_batches, mini_batches};
use crate::autograd::{Tape, Var};
use crate::model::forward::suffix_rows;
use crate::model::{Batch, Model};
use crate::optim::{AdamW, AdamWConfig};
use crate::tensor::Tensor;
use anyhow::{Context, Result};
use std::ops::Range;
use std::path::Path;

pub struct Critic {
    pub model: Model,
    /// Value head [1, d] and its bias [1] (last two parameters of the optimizer).
    pub head: Vec<Tensor>,
    /// Moments of the transformer's tensors and the head's (this rank's under ZeRO-1).
    pub opt: AdamW,
}

impl Critic {
    /// Initialised from the policy, with a fresh value head ([`value_head_init`], seeded by the
    /// run seed).
    pub fn from_policy(policy: &Model, cfg: &TrainConfig, dp: &DataParallel<'_>) -> Result<Critic> {
        let mut model = Model::from_parts(
            policy.config.clone(),
            policy.layout.clone(),
            policy.params.clone(),
            policy.stored_dtype,
            None,
        );
        model.activation_checkpointing = policy.activation_checkpointing;
        let std = policy.config.raw["initializer_range"]
            .as_f64()
            .unwrap_or(0.02) as f32;
        let head = value_head_init(policy.config.hidden_size, std, cfg.seed)?;
        let all: Vec<Tensor> = model.params.iter().chain(&head).cloned().collect();
        let opt = dp.optimizer(
            AdamWConfig {
                lr: cfg.critic_lr,
                ..cfg.adamw()
            },
            &all,
        );
        Ok(Critic { model, head, opt })
    }

    /// Takes over a checkpoint's critic (`dir`: its `critic` directory).
    pub fn load(&mut self, dir: &Path, dp: &DataParallel<'_>) -> Result<()> {
        self.model.params = Model::load(dir)?.params;
        let path = dir.join("value_head.safetensors");
        let mut head = crate::model::weights::read_all_f32(&path)?;
        let mut take = |name: &str| {
            head.remove(name)
                .with_context(|| format!("{}: no tensor {name}", path.display()))
        };
        self.head = vec![take("value_head.weight")?, take("value_head.bias")?];
        let all = self.all_params();
        dp.load_optimizer(&mut self.opt, &dir.join("optimizer.safetensors"), &all)
    }

    fn forward(
        &self,
        tape: &Tape,
        vars: &[Var],
        head: &[Var],
        seqs: &[Vec<u32>],
        suffix: &[usize],
    ) -> Result<Var> {
        let batch = Batch::from_sequences(seqs);
        let (rows, _) = suffix_rows(&batch, suffix)?;
        let h = self.model.forward_hidden(tape, vars, &batch)?;
        let hs = tape.gather_rows(&h, &rows);
        Ok(tape.linear(&hs, &head[0], Some(&head[1])))
    }

    /// The transformer's and the head's tensors, in the optimizer's order.
    pub fn all_params(&self) -> Vec<Tensor> {
        self.model
            .params
            .iter()
            .chain(&self.head)
            .cloned()
            .collect()
    }

    /// `values` over all samples, each rank computing its block of packs.
    pub fn values_dp(
        &self,
        samples: &[Sample],
        budget: usize,
        dp: &DataParallel<'_>,
    ) -> Result<Vec<Vec<f32>>> {
        if dp.world() == 1 {
            return self.values(samples, budget);
        }
        let lens: Vec<usize> = samples
            .iter()
            .map(|s| s.prompt.len() + s.response.len())
            .collect();
        let r: Range<usize> = dp.my_packs(&lens, budget);
        let local = self.values(&samples[r], budget)?;
        let all = dp.gather_vectors(&local)?;
        if all.len() != samples.len() {
            anyhow::bail!(
                "gathered {} value vectors for {} samples",
                all.len(),
                samples.len()
            );
        }
        Ok(all)
    }

    /// V_t for every response token (the value at the position before token t).
    pub fn values(&self, samples: &[Sample], budget: usize) -> Result<Vec<Vec<f32>>> {
        let tape = Tape::no_grad();
        let vars = self.model.vars(&tape);
        let head: Vec<Var> = self.head.iter().map(|t| tape.constant(t.clone())).collect();
        let lens: Vec<usize> = samples
            .iter()
            .map(|s| s.prompt.len() + s.response.len())
            .collect();
        let mut out = Vec::with_capacity(samples.len());
        for r in micro_batches(&lens, budget) {
            let seqs: Vec<Vec<u32>> = samples[r.clone()]
                .iter()
                .map(|s| [s.prompt.as_slice(), &s.response].concat())
                .collect();
            let suffix: Vec<usize> = samples[r.clone()]
                .iter()
                .map(|s| s.response.len())
                .collect();
            let v = self.forward(&tape, &vars, &head, &seqs, &suffix)?;
            let mut at = 0;
            for &m in &suffix {
                out.push(v.value.data()[at..at + m].to_vec());
                at += m;
            }
        }
        Ok(out)
    }

    /// One pass of clipped value-loss updates at learning rate `lr`, in mini-batches of
    /// [`critic_mini_batch_seqs`] sequences. Returns the summed loss and the optimizer steps.
    pub fn update(
        &mut self,
        samples: &[Sample],
        returns: &[Vec<f32>],
        old_values: &[Vec<f32>],
        lr: f32,
        cfg: &TrainConfig,
        dp: &DataParallel<'_>,
    ) -> Result<(f64, usize)> {
        let mb_seqs = critic_mini_batch_seqs(cfg);
        let mut steps = 0;
        let mut names: Vec<String> = self
            .model
            .param_names()
            .map(|n| format!("critic.{n}"))
            .collect();
        names.push("critic.value_head.weight".into());
        names.push("critic.value_head.bias".into());
        let mut total_loss = 0.0;
        for Range { start, end } in mini_batches(samples.len(), mb_seqs) {
            let mb_tokens: usize = samples[start..end].iter().map(|s| s.response.len()).sum();
            let lens: Vec<usize> = samples[start..end]
                .iter()
                .map(|s| s.prompt.len() + s.response.len())
                .collect();
            let mut partials = Vec::new();
            let mut losses: Vec<f64> = Vec::new();
            for shard in dp.my_shards() {
                let mut acc: Vec<Option<Tensor>> = vec![None; self.model.params.len() + 2];
                for micro in dp.shard_micro_batches(&lens, cfg.max_tokens_per_micro_batch, shard) {
                    let idx: Vec<usize> = micro.map(|i| start + i).collect();
                    let seqs: Vec<Vec<u32>> = idx
                        .iter()
                        .map(|&i| [samples[i].prompt.as_slice(), &samples[i].response].concat())
                        .collect();
                    let suffix: Vec<usize> =
                        idx.iter().map(|&i| samples[i].response.len()).collect();
                    let tape = Tape::new();
                    let vars = self.model.vars(&tape);
                    let head: Vec<Var> = self.head.iter().map(|t| tape.leaf(t.clone())).collect();
                    let v = self.forward(&tape, &vars, &head, &seqs, &suffix)?;
                    let r: Vec<f32> = idx
                        .iter()
                        .flat_map(|&i| returns[i].iter().copied())
                        .collect();
                    let vo: Vec<f32> = idx
                        .iter()
                        .flat_map(|&i| old_values[i].iter().copied())
                        .collect();
                    let (coef, loss) = value_loss_coefficients(
                        v.value.data(),
                        &vo,
                        &r,
                        cfg.value_clip,
                        mb_tokens as f64,
                    );
                    losses.push(loss);
                    let l = tape.weighted_sum(&v, &coef);
                    let mut g = tape.backward(&l);
                    accumulate(
                        &mut acc,
                        vars.iter().chain(&head).map(|x| g.take(x)).collect(),
                    );
                }
                partials.push(acc);
            }
            for loss in dp.gather_stats(&losses, 1)? {
                total_loss += loss;
            }
            let mut all: Vec<Tensor> = std::mem::take(&mut self.model.params);
            all.append(&mut self.head);
            let res =
                dp.apply_gradients(&mut all, &mut self.opt, partials, &names, cfg.grad_clip, lr);
            self.head = all.split_off(all.len() - 2);
            self.model.params = all;
            res?;
            steps += 1;
        }
        Ok((total_loss, steps))
    }
}

/// Sequences per critic mini-batch. The released code multiplies the policy's
/// `ppo_mini_batch_size` (prompts) by n but not the critic's, which is left counting sequences:
/// `mini_batch_prompts` sequences, so n times the policy's optimizer steps per RL step.
pub fn critic_mini_batch_seqs(cfg: &TrainConfig) -> usize {
    cfg.mini_batch_prompts
}

/// A fresh value head `[weight [1, d], bias [1]]` as transformers initialises a
/// token-classification head: weight ~ N(0, std²) (the model's `initializer_range`), bias 0.
pub fn value_head_init(d: usize, std: f32, seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = crate::rng::SplitMix64::new(seed ^ 0x7A1E_4EAD);
    let w: Vec<f32> = (0..d).map(|_| rng.normal() as f32 * std).collect();
    Ok(vec![Tensor::from_vec(w, &[1, d])?, Tensor::zeros(&[1])])
}

/// ∂/∂V of `0.5·mean(max((V−R)², (clip(V, V_old ± c) − R)²))` over `n` tokens, and the loss.
pub fn value_loss_coefficients(
    v: &[f32],
    v_old: &[f32],
    ret: &[f32],
    clip: f32,
    n: f64,
) -> (Vec<f32>, f64) {
    let mut coef = vec![0.0f32; v.len()];
    let mut loss = 0.0;
    for t in 0..v.len() {
        let (vt, r) = (v[t] as f64, ret[t] as f64);
        let vc = vt.clamp(v_old[t] as f64 - clip as f64, v_old[t] as f64 + clip as f64);
        let (l1, l2) = ((vt - r).powi(2), (vc - r).powi(2));
        loss += 0.5 * l1.max(l2) / n;
        let inside = vc == vt;
        coef[t] = if l1 >= l2 || inside {
            ((vt - r) / n) as f32
        } else {
            0.0
        };
    }
    (coef, loss)
}

/// Token rewards, GAE (γ = λ = 1) and whitened advantages. Returns (advantages, returns).
pub fn gae_advantages(
    samples: &[Sample],
    old: &[Vec<f32>],
    reference: &[Vec<f32>],
    values: &[Vec<f32>],
    beta: f32,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut adv = Vec::with_capacity(samples.len());
    let mut ret = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        let m = s.response.len();
        let mut rewards: Vec<f64> = (0..m)
            .map(|t| -(beta as f64) * (old[i][t] - reference[i][t]) as f64)
            .collect();
        if m > 0 {
            rewards[m - 1] += s.reward as f64;
        }
        let mut g = 0.0;
        let mut r_t = vec![0.0f32; m];
        for t in (0..m).rev() {
            g += rewards[t];
            r_t[t] = g as f32;
        }
        adv.push((0..m).map(|t| r_t[t] - values[i][t]).collect::<Vec<f32>>());
        ret.push(r_t);
    }
    // Whiten over all valid tokens (unbiased variance), as verl's masked_whiten.
    let all: Vec<f64> = adv.iter().flatten().map(|&x| x as f64).collect();
    let n = all.len() as f64;
    if n > 1.0 {
        let mean = all.iter().sum::<f64>() / n;
        let var = all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let inv = 1.0 / (var + 1e-8).sqrt();
        for a in adv.iter_mut().flatten() {
            *a = ((*a as f64 - mean) * inv) as f32;
        }
    }
    (adv, ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_head_starts_as_a_fresh_token_classification_head() {
        let h = value_head_init(4096, 0.02, 3).unwrap();
        assert_eq!(h[0].dims(), &[1, 4096]);
        assert_eq!(h[1].data(), &[0.0]);
        let w = h[0].data();
        let mean = w.iter().map(|&x| x as f64).sum::<f64>() / w.len() as f64;
        let sd =
            (w.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
        assert!(mean.abs() < 2e-3 && (sd - 0.02).abs() < 1e-3, "{mean} {sd}");
        assert_eq!(value_head_init(4096, 0.02, 3).unwrap()[0].data(), w);
        assert_ne!(value_head_init(4096, 0.02, 4).unwrap()[0].data(), w);
    }

    #[test]
    fn critic_takes_n_times_the_policys_optimizer_steps_at_the_papers_batch() {
        let cfg = TrainConfig::preset(super::super::config::Preset::PaperQwen25Math7b);
        let seqs = cfg.prompts_per_step * cfg.n;
        let actor = mini_batches(seqs, cfg.mini_batch_prompts * cfg.n).count();
        let critic = mini_batches(seqs, critic_mini_batch_seqs(&cfg)).count();
        assert_eq!((actor, critic), (4, 32));
    }

    #[test]
    fn value_loss_gradient_matches_finite_differences() {
        let v_old = [0.0f32, 0.0, 0.0];
        let ret = [1.0f32, -1.0, 0.2];
        for v in [[0.3f32, -0.2, 0.1], [0.9, -0.8, 0.0]] {
            let (c, _) = value_loss_coefficients(&v, &v_old, &ret, 0.5, 3.0);
            for t in 0..3 {
                let mut vp = v;
                vp[t] += 1e-3;
                let mut vm = v;
                vm[t] -= 1e-3;
                let num = (value_loss_coefficients(&vp, &v_old, &ret, 0.5, 3.0).1
                    - value_loss_coefficients(&vm, &v_old, &ret, 0.5, 3.0).1)
                    / 2e-3;
                assert!((c[t] as f64 - num).abs() < 1e-3, "t={t} {} vs {num}", c[t]);
            }
        }
    }
}
