//! The policy update of one RL step: mini-batches in order (verl: `shuffle=False`, one epoch),
//! each split into micro-batches by a token budget, gradients accumulated, clipped, AdamW.
use super::config::TrainConfig;
use super::dp::DataParallel;
use super::loss::{token_coefficients, LossInputs};
use super::rollout::Sample;
use crate::autograd::Tape;
use crate::model::{Batch, Model};
use crate::optim::{clip_grad_norm, AdamW};
use crate::tensor::Tensor;
use anyhow::{bail, Result};

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
    /// short mini-batch moves the weights less (method.md §1.4).
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

/// The policy update in one process (see `policy_update_dp`).
pub fn policy_update(
    model: &mut Model,
    opt: &mut AdamW,
    x: &UpdateInputs<'_>,
    cfg: &TrainConfig,
    lr: f32,
) -> Result<UpdateStats> {
    policy_update_dp(model, opt, x, cfg, lr, &DataParallel::single())
}

/// Statistics kept per micro-batch: pg loss, clipped tokens, Σ approx-KL, Σ KL, tokens.
const STATS: usize = 5;

/// The policy update; every rank holds all of `x` and computes the micro-batches of its
/// gradient shards (see `dp`).
pub fn policy_update_dp(
    model: &mut Model,
    opt: &mut AdamW,
    x: &UpdateInputs<'_>,
    cfg: &TrainConfig,
    lr: f32,
    dp: &DataParallel<'_>,
) -> Result<UpdateStats> {
    let names: Vec<String> = model.param_names().map(str::to_string).collect();
    let mut st = UpdateStats::default();
    let n = x.samples.len();
    let mut mb_start = 0;
    while mb_start < n {
        let mb_end = (mb_start + x.mb_seqs).min(n);
        let mb = mb_start..mb_end;
        let mb_tokens = x.tokens(mb.clone());
        let scale = x.scale(cfg, mb.len());
        let lens = x.lens(mb.clone());
        let mut partials = Vec::new();
        let mut stats: Vec<f64> = Vec::new();
        for shard in dp.my_shards() {
            let mut acc: Vec<Option<Tensor>> = vec![None; model.params.len()];
            for micro in dp.shard_micro_batches(&lens, cfg.max_tokens_per_micro_batch, shard) {
                let idx: Vec<usize> = micro.map(|i| mb_start + i).collect();
                let mi = x.micro(&idx);
                let tape = Tape::new();
                let vars = model.vars(&tape);
                let batch = Batch::from_sequences(&mi.seqs);
                let (lp, ent) =
                    model.suffix_logprobs(&tape, &vars, &batch, &mi.suffix, cfg.temperature)?;
                let c = token_coefficients(&micro_loss_inputs(
                    &mi,
                    lp.value.data(),
                    ent.value.data(),
                    cfg,
                    x.kl_coef,
                    mb_tokens,
                    scale,
                ));
                stats.extend([
                    c.pg_loss,
                    c.clipped_tokens as f64,
                    c.ppo_kl_sum,
                    c.kl_sum,
                    mi.adv.len() as f64,
                ]);
                let l1 = tape.weighted_sum(&lp, &c.g_logp);
                let l2 = tape.weighted_sum(&ent, &c.g_entropy);
                let loss = tape.add(&l1, &l2);
                let mut grads = tape.backward(&loss);
                accumulate(&mut acc, vars.iter().map(|v| grads.take(v)).collect());
            }
            partials.push(acc);
        }
        // Sums over micro-batches in their global order, as one process adds them.
        for s in dp.gather_stats(&stats, STATS)?.chunks_exact(STATS) {
            st.pg_loss += s[0];
            st.clip_frac += s[1];
            st.approx_kl += s[2];
            st.kl += s[3];
            st.tokens += s[4] as usize;
        }
        st.grad_norm +=
            dp.apply_gradients(&mut model.params, opt, partials, &names, cfg.grad_clip, lr)? as f64;
        st.optimizer_steps += 1;
        mb_start = mb_end;
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
}
