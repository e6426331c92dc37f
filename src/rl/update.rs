//! The policy update of one RL step: mini-batches in order (verl: `shuffle=False`, one epoch),
//! each one optimizer step whose gradient [`accumulate_shards`] computes shard by shard and
//! micro-batch by micro-batch, on the CPU or on a device ([`PolicyGradients`]), then clipped and
//! applied with AdamW.
use super::config::TrainConfig;
use super::dp::DataParallel;
use super::gradients::{Coefficients, HostGradients, MicroBatch, PolicyGradients};
use super::loss::{token_coefficients, LossInputs};
use super::rollout::Sample;
use crate::model::Model;
use crate::optim::{clip_grad_norm, AdamW};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use std::ops::Range;

pub struct UpdateInputs<'a> {
    pub samples: &'a [Sample],
    /// Per-token advantages of each sample.
    pub adv: &'a [Vec<f32>],
    pub old_logp: &'a [Vec<f32>],
    pub ref_logp: Option<&'a [Vec<f32>]>,
    /// Nominal sequences per mini-batch (prompts × n).
    pub mb_seqs: usize,
    pub kl_coef: f32,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateStats {
    pub optimizer_steps: usize,
    pub pg_loss: f64,
    pub clip_frac: f64,
    pub approx_kl: f64,
    pub kl: f64,
    pub grad_norm: f64,
    pub tokens: usize,
}

impl UpdateStats {
    /// Turns the per-token sums into means and the summed grad norms into their mean.
    pub fn finish(mut self) -> Self {
        let t = self.tokens.max(1) as f64;
        self.clip_frac /= t;
        self.approx_kl /= t;
        self.kl /= t;
        self.grad_norm /= self.optimizer_steps.max(1) as f64;
        self
    }
}

/// The samples `idx` of one micro-batch: full sequences, response lengths, and the per-token
/// advantages and old / reference log-probs flattened in token order.
pub struct MicroInputs {
    pub seqs: Vec<Vec<u32>>,
    pub suffix: Vec<usize>,
    pub adv: Vec<f32>,
    pub old: Vec<f32>,
    pub refl: Option<Vec<f32>>,
}

impl MicroInputs {
    /// The sequences to score, at `temperature`.
    pub fn batch(&self, temperature: f32) -> MicroBatch<'_> {
        MicroBatch {
            seqs: &self.seqs,
            suffix: &self.suffix,
            temperature,
        }
    }
}

impl UpdateInputs<'_> {
    pub fn micro(&self, idx: &[usize]) -> MicroInputs {
        let flat = |v: &[Vec<f32>]| -> Vec<f32> {
            idx.iter().flat_map(|&i| v[i].iter().copied()).collect()
        };
        MicroInputs {
            seqs: idx
                .iter()
                .map(|&i| [self.samples[i].prompt.as_slice(), &self.samples[i].response].concat())
                .collect(),
            suffix: idx
                .iter()
                .map(|&i| self.samples[i].response.len())
                .collect(),
            adv: flat(self.adv),
            old: flat(self.old_logp),
            refl: self.ref_logp.map(flat),
        }
    }

    /// Sequence lengths (prompt + response) of the samples in `mb`, for micro-batching.
    pub fn lens(&self, mb: std::ops::Range<usize>) -> Vec<usize> {
        self.samples[mb]
            .iter()
            .map(|s| s.prompt.len() + s.response.len())
            .collect()
    }

    /// Response tokens of the mini-batch `mb` (the token-mean's denominator).
    pub fn tokens(&self, mb: std::ops::Range<usize>) -> usize {
        self.samples[mb].iter().map(|s| s.response.len()).sum()
    }

    /// verl scales each micro-batch by its mini-batch's share of the nominal mini-batch, so a
    /// short mini-batch moves the weights less.
    pub fn scale(&self, cfg: &TrainConfig, mb_len: usize) -> f64 {
        if cfg.short_minibatch_downweight {
            mb_len as f64 / self.mb_seqs as f64
        } else {
            1.0
        }
    }
}

/// The loss inputs of one micro-batch from its current log-probs and entropies.
pub fn micro_loss_inputs<'a>(
    m: &'a MicroInputs,
    logp: &'a [f32],
    entropy: &'a [f32],
    cfg: &TrainConfig,
    kl_coef: f32,
    norm_tokens: usize,
    scale: f64,
) -> LossInputs<'a> {
    LossInputs {
        advantages: &m.adv,
        logp,
        logp_old: &m.old,
        entropy,
        logp_ref: m.refl.as_deref(),
        clip_eps: cfg.clip_eps,
        entropy_coef: cfg.entropy_coef,
        kl_coef,
        norm_tokens: norm_tokens as f64,
        scale,
    }
}

/// Consecutive index ranges of `lens` whose token sums stay within `budget` (at least one each).
pub fn micro_batches(lens: &[usize], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut sum = 0;
    for (i, &l) in lens.iter().enumerate() {
        if i > start && sum + l > budget {
            out.push(start..i);
            start = i;
            sum = 0;
        }
        sum += l;
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

/// Consecutive ranges of `size` of `0..n` (the last one shorter when `size` does not divide n).
pub fn mini_batches(n: usize, size: usize) -> impl Iterator<Item = Range<usize>> {
    let size = size.max(1);
    (0..n).step_by(size).map(move |s| s..(s + size).min(n))
}

/// The gradient of one optimizer step, accumulated into `g`: this rank's gradient shards of the
/// sequences with token lengths `lens`, each packed into micro-batches by `budget`; `micro`
/// computes micro-batch `range` (indices into `lens`) into local shard `k`. The caller then
/// applies the step (`PolicyGradients::apply`).
pub fn accumulate_shards<G: PolicyGradients + ?Sized>(
    g: &mut G,
    dp: &DataParallel<'_>,
    lens: &[usize],
    budget: usize,
    mut micro: impl FnMut(&mut G, usize, Range<usize>) -> Result<()>,
) -> Result<()> {
    let mine = dp.my_shards();
    g.begin(mine.len())?;
    for (k, shard) in mine.enumerate() {
        for range in dp.shard_micro_batches(lens, budget, shard) {
            micro(g, k, range)?;
        }
        g.end_shard(k)?;
    }
    Ok(())
}

/// Add a micro-batch's gradients into the accumulators.
pub fn accumulate(acc: &mut [Option<Tensor>], grads: Vec<Option<Tensor>>) {
    for (a, g) in acc.iter_mut().zip(grads) {
        if let Some(g) = g {
            match a {
                Some(a) => a.add_assign(&g),
                None => *a = Some(g),
            }
        }
    }
}

/// Finite check, clip and step. `names` label tensors in errors.
pub fn apply_gradients(
    params: &mut [Tensor],
    opt: &mut AdamW,
    acc: Vec<Option<Tensor>>,
    names: &[String],
    clip: f32,
    lr: f32,
) -> Result<f32> {
    let mut grads: Vec<Tensor> = acc
        .into_iter()
        .zip(params.iter())
        .map(|(g, p)| g.unwrap_or_else(|| Tensor::zeros(p.dims())))
        .collect();
    if let Some(i) = grads.iter().position(|g| g.has_non_finite()) {
        bail!(
            "non-finite gradient in {}; the update was not applied",
            names[i]
        );
    }
    let norm = clip_grad_norm(&mut grads, clip);
    opt.update(params, &grads, lr);
    if let Some(i) = params.iter().position(|p| p.has_non_finite()) {
        bail!("parameter {} became non-finite after the update", names[i]);
    }
    Ok(norm)
}

/// The policy update in one process on the CPU (see `policy_update_dp`).
pub fn policy_update(
    model: &mut Model,
    opt: &mut AdamW,
    x: &UpdateInputs<'_>,
    cfg: &TrainConfig,
    lr: f32,
) -> Result<UpdateStats> {
    let mut g = HostGradients::new(model, opt);
    policy_update_dp(&mut g, x, cfg, lr, &DataParallel::single())
}

/// Statistics kept per micro-batch: pg loss, clipped tokens, Σ approx-KL, Σ KL, tokens.
const STATS: usize = 5;

/// The policy update with gradients from `g`; every rank holds all of `x` and computes the
/// micro-batches of its gradient shards (see `dp`).
pub fn policy_update_dp<G: PolicyGradients + ?Sized>(
    g: &mut G,
    x: &UpdateInputs<'_>,
    cfg: &TrainConfig,
    lr: f32,
    dp: &DataParallel<'_>,
) -> Result<UpdateStats> {
    let mut st = UpdateStats::default();
    for mb in mini_batches(x.samples.len(), x.mb_seqs) {
        let mb_tokens = x.tokens(mb.clone());
        let scale = x.scale(cfg, mb.len());
        let lens = x.lens(mb.clone());
        let mut stats: Vec<f64> = Vec::new();
        accumulate_shards(
            g,
            dp,
            &lens,
            cfg.max_tokens_per_micro_batch,
            |g, k, micro| {
                let idx: Vec<usize> = micro.map(|i| mb.start + i).collect();
                let mi = x.micro(&idx);
                if mi.adv.is_empty() {
                    return Ok(());
                }
                g.micro_batch(k, &mi.batch(cfg.temperature), &mut |lp, ent| {
                    let c = token_coefficients(&micro_loss_inputs(
                        &mi, lp, ent, cfg, x.kl_coef, mb_tokens, scale,
                    ));
                    stats.extend([
                        c.pg_loss,
                        c.clipped_tokens as f64,
                        c.ppo_kl_sum,
                        c.kl_sum,
                        mi.adv.len() as f64,
                    ]);
                    Coefficients {
                        g_logp: c.g_logp,
                        g_entropy: Some(c.g_entropy),
                    }
                })
            },
        )?;
        // Sums over micro-batches in their global order, as one process adds them.
        for s in dp.gather_stats(&stats, STATS)?.chunks_exact(STATS) {
            st.pg_loss += s[0];
            st.clip_frac += s[1];
            st.approx_kl += s[2];
            st.kl += s[3];
            st.tokens += s[4] as usize;
        }
        st.grad_norm += g.apply(dp, cfg.grad_clip, lr)? as f64;
        st.optimizer_steps += 1;
    }
    Ok(st.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_batches_respect_budget_and_cover_all() {
        let lens = [5, 5, 5, 20, 1, 1];
        let mb = micro_batches(&lens, 10);
        assert_eq!(mb, vec![0..2, 2..3, 3..4, 4..6]);
        assert!(micro_batches(&[], 10).is_empty());
    }

    #[test]
    fn mini_batches_cover_all_in_order() {
        let all: Vec<Range<usize>> = mini_batches(7, 3).collect();
        assert_eq!(all, vec![0..3, 3..6, 6..7]);
        assert_eq!(mini_batches(0, 3).count(), 0);
        assert_eq!(mini_batches(4, 4).collect::<Vec<_>>(), vec![0..4]);
    }
}
