//! Parameter level: the gradient of each objective's loss on the model (the trainer's loss:
//! per-token coefficients from `rl::loss::token_coefficients`, folded into the fused log-prob op
//! and backpropagated), split into the part from correct samples and the part from incorrect
//! ones; norms per matrix and per layer, cosines between objectives, and one optimizer step.
use super::objective_fn::TokenObjective;
use super::AnalysisSample;
use crate::autograd::Tape;
use crate::model::{Batch, Model};
use crate::optim::{AdamW, AdamWConfig};
use crate::rl::loss::{token_coefficients, LossInputs};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use std::str::FromStr;

/// Per-token coefficients of one objective on every sample (0 on dropped samples).
#[derive(Clone, Debug)]
pub struct Coefficients {
    pub advantages: Vec<f32>,
    pub kept: Vec<bool>,
    pub kept_tokens: usize,
    /// ∂L/∂log π of each response token, per sample.
    pub g_logp: Vec<Vec<f32>>,
    /// ∂L/∂H of each response token, per sample.
    pub g_entropy: Vec<Vec<f32>>,
}

/// The trainer's coefficients on-policy (ratio 1, so clipping never applies), token-mean over
/// the kept samples' tokens.
pub fn coefficients(
    obj: &dyn TokenObjective,
    samples: &[AnalysisSample],
    logp: &[Vec<f32>],
    entropy: &[Vec<f32>],
    entropy_coef: f32,
) -> Result<Coefficients> {
    let rewards: Vec<f32> = samples.iter().map(|s| s.reward).collect();
    let groups: Vec<usize> = samples.iter().map(|s| s.group).collect();
    let advantages = obj.advantages(&rewards, &groups);
    if advantages.len() != samples.len() {
        bail!(
            "objective {}: {} advantages for {} samples",
            obj.name(),
            advantages.len(),
            samples.len()
        );
    }
    if let Some(i) = advantages.iter().position(|a| !a.is_finite()) {
        bail!(
            "objective {}: advantage of sample {i} is {}",
            obj.name(),
            advantages[i]
        );
    }
    let kept: Vec<bool> = rewards.iter().map(|&r| obj.keeps(r)).collect();
    let idx: Vec<usize> = (0..samples.len()).filter(|&i| kept[i]).collect();
    let flat =
        |f: &dyn Fn(usize) -> Vec<f32>| -> Vec<f32> { idx.iter().flat_map(|&i| f(i)).collect() };
    let adv = flat(&|i| vec![advantages[i]; samples[i].response.len()]);
    let lp = flat(&|i| logp[i].clone());
    let ent = flat(&|i| entropy[i].clone());
    let c = token_coefficients(&LossInputs {
        advantages: &adv,
        logp: &lp,
        logp_old: &lp,
        entropy: &ent,
        logp_ref: None,
        clip_eps: 0.2,
        entropy_coef,
        kl_coef: 0.0,
        norm_tokens: adv.len() as f64,
        scale: 1.0,
    });
    let mut g_logp: Vec<Vec<f32>> = samples
        .iter()
        .map(|s| vec![0.0; s.response.len()])
        .collect();
    let mut g_entropy = g_logp.clone();
    let mut at = 0;
    for &i in &idx {
        let m = samples[i].response.len();
        g_logp[i].copy_from_slice(&c.g_logp[at..at + m]);
        g_entropy[i].copy_from_slice(&c.g_entropy[at..at + m]);
        at += m;
    }
    Ok(Coefficients {
        advantages,
        kept,
        kept_tokens: adv.len(),
        g_logp,
        g_entropy,
    })
}

/// Gradient of Σ_t g_logp·log π + g_H·H over the chosen samples, micro-batched by tokens.
/// `None` when every coefficient of these samples is zero.
pub fn gradient(
    model: &Model,
    samples: &[AnalysisSample],
    which: &[usize],
    coef: &Coefficients,
    temperature: f32,
    token_budget: usize,
) -> Result<Option<Vec<Tensor>>> {
    let which: Vec<usize> = which
        .iter()
        .copied()
        .filter(|&i| {
            coef.g_logp[i].iter().any(|&g| g != 0.0) || coef.g_entropy[i].iter().any(|&g| g != 0.0)
        })
        .collect();
    if which.is_empty() {
        return Ok(None);
    }
    let mut acc: Vec<Option<Tensor>> = vec![None; model.params.len()];
    let mut start = 0;
    while start < which.len() {
        let mut end = start;
        let mut tokens = 0;
        while end < which.len()
            && (end == start || tokens + samples[which[end]].len() <= token_budget)
        {
            tokens += samples[which[end]].len();
            end += 1;
        }
        let ids = &which[start..end];
        let seqs: Vec<Vec<u32>> = ids.iter().map(|&i| samples[i].sequence()).collect();
        let suffix: Vec<usize> = ids.iter().map(|&i| samples[i].response.len()).collect();
        let glp: Vec<f32> = ids
            .iter()
            .flat_map(|&i| coef.g_logp[i].iter().copied())
            .collect();
        let gh: Vec<f32> = ids
            .iter()
            .flat_map(|&i| coef.g_entropy[i].iter().copied())
            .collect();
        let tape = Tape::new();
        let vars = model.vars(&tape);
        let batch = Batch::from_sequences(&seqs);
        let (lp, ent) = model.suffix_logprobs(&tape, &vars, &batch, &suffix, temperature)?;
        let l1 = tape.weighted_sum(&lp, &glp);
        let l2 = tape.weighted_sum(&ent, &gh);
        let loss = tape.add(&l1, &l2);
        let mut grads = tape.backward(&loss);
        crate::rl::update::accumulate(&mut acc, vars.iter().map(|v| grads.take(v)).collect());
        start = end;
    }
    Ok(Some(
        acc.into_iter()
            .zip(&model.params)
            .map(|(g, p)| g.unwrap_or_else(|| Tensor::zeros(p.dims())))
            .collect(),
    ))
}

/// How the analysis moves the weights: one step of this rule on a copy of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepRule {
    /// θ ← θ − lr·g: the update is the gradient itself (first-order analysis is cleanest).
    Sgd,
    /// One AdamW step as the trainer takes it (β = 0.9/0.999, eps 1e-8, weight decay 0.01);
    /// the first step is lr·sign(g) up to eps.
    AdamW,
}

impl FromStr for StepRule {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sgd" => Ok(StepRule::Sgd),
            "adamw" => Ok(StepRule::AdamW),
            o => bail!("unknown step rule `{o}` (sgd, adamw)"),
        }
    }
}

/// Parameters after one step of `rule` along `grad`.
pub fn stepped(params: &[Tensor], grad: &[Tensor], rule: StepRule, lr: f32) -> Vec<Tensor> {
    match rule {
        StepRule::Sgd => params
            .iter()
            .zip(grad)
            .map(|(p, g)| p.add(&g.scale(-lr)))
            .collect(),
        StepRule::AdamW => {
            let mut out = params.to_vec();
            let mut opt = AdamW::new(
                AdamWConfig {
                    lr,
                    ..Default::default()
                },
                params,
            );
            opt.update(&mut out, grad, lr);
            out
        }
    }
}

pub fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum()
}

/// Additive second moments of the gradients over a set of parameters (a matrix, a layer, the
/// whole model); every reported norm, cosine and share is a ratio of these.
#[derive(Clone, Debug, Default)]
pub struct GradSums {
    pub numel: usize,
    /// ‖g_o‖² per objective.
    pub sq: Vec<f64>,
    /// ⟨g_a, g_b⟩ for a < b, in `pairs` order.
    pub dots: Vec<f64>,
    /// Per objective: ‖pos‖², ‖neg‖², ⟨pos, neg⟩ (parts from correct / incorrect samples).
    pub pos_sq: Vec<f64>,
    pub neg_sq: Vec<f64>,
    pub pos_neg: Vec<f64>,
}

impl GradSums {
    pub fn new(n_obj: usize) -> GradSums {
        GradSums {
            numel: 0,
            sq: vec![0.0; n_obj],
            dots: vec![0.0; pairs(n_obj).len()],
            pos_sq: vec![0.0; n_obj],
            neg_sq: vec![0.0; n_obj],
            pos_neg: vec![0.0; n_obj],
        }
    }

    pub fn add(&mut self, o: &GradSums) {
        self.numel += o.numel;
        for (a, b) in [
            (&mut self.sq, &o.sq),
            (&mut self.dots, &o.dots),
            (&mut self.pos_sq, &o.pos_sq),
            (&mut self.neg_sq, &o.neg_sq),
            (&mut self.pos_neg, &o.pos_neg),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }

    pub fn norm(&self, o: usize) -> f64 {
        self.sq[o].sqrt()
    }

    pub fn cosine(&self, pair: usize, a: usize, b: usize) -> f64 {
        self.dots[pair] / (self.sq[a] * self.sq[b]).sqrt()
    }

    /// Shares of ‖g‖² along the correct-sample part and the incorrect-sample part:
    /// ⟨g, pos⟩/‖g‖² and ⟨g, neg⟩/‖g‖² (they sum to 1 since g = pos + neg).
    pub fn shares(&self, o: usize) -> (f64, f64) {
        let g2 = self.sq[o];
        (
            (self.pos_sq[o] + self.pos_neg[o]) / g2,
            (self.neg_sq[o] + self.pos_neg[o]) / g2,
        )
    }

    /// Cosine between the correct-sample and incorrect-sample parts.
    pub fn parts_cosine(&self, o: usize) -> f64 {
        self.pos_neg[o] / (self.pos_sq[o] * self.neg_sq[o]).sqrt()
    }
}

/// Unordered objective pairs (a, b), a < b.
pub fn pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .collect()
}

/// (layer index, matrix name) of a Hugging Face parameter name: `model.layers.3.mlp.up_proj.weight`
/// → (Some(3), "mlp.up_proj"); `model.embed_tokens.weight` → (None, "embed_tokens").
pub fn param_site(name: &str) -> (Option<usize>, String) {
    let short = name.strip_suffix(".weight").unwrap_or(name);
    if let Some(rest) = short.strip_prefix("model.layers.") {
        if let Some((i, m)) = rest.split_once('.') {
            if let Ok(i) = i.parse() {
                return (Some(i), m.to_string());
            }
        }
    }
    (
        None,
        short.strip_prefix("model.").unwrap_or(short).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_and_pairs() {
        assert_eq!(
            param_site("model.layers.3.mlp.up_proj.weight"),
            (Some(3), "mlp.up_proj".into())
        );
        assert_eq!(
            param_site("model.embed_tokens.weight"),
            (None, "embed_tokens".into())
        );
        assert_eq!(param_site("lm_head.weight"), (None, "lm_head".into()));
        assert_eq!(pairs(3), vec![(0, 1), (0, 2), (1, 2)]);
    }

    #[test]
    fn shares_sum_to_one() {
        let mut s = GradSums::new(1);
        // pos = (1, 0), neg = (1, 1): g = (2, 1).
        s.pos_sq[0] = 1.0;
        s.neg_sq[0] = 2.0;
        s.pos_neg[0] = 1.0;
        s.sq[0] = 5.0;
        let (a, b) = s.shares(0);
        assert!((a - 0.4).abs() < 1e-12 && (b - 0.6).abs() < 1e-12);
        assert!((s.parts_cosine(0) - 1.0 / 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn sgd_step_is_minus_lr_g() {
        let p = vec![Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap()];
        let g = vec![Tensor::from_vec(vec![0.5, -1.0], &[2]).unwrap()];
        assert_eq!(stepped(&p, &g, StepRule::Sgd, 0.1)[0].data(), &[0.95, 2.1]);
        let a = stepped(&p, &g, StepRule::AdamW, 0.1);
        // AdamW's first step: weight decay then lr·sign(g).
        assert!((a[0].data()[0] - (1.0 * (1.0 - 0.001) - 0.1)).abs() < 1e-6);
    }
}
