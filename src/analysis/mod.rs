//! Gradient analysis: where PSR, NSR, W-REINFORCE — or an objective of
//! your own — push probability mass, measured on sampled responses.
//!
//! For every objective, [`analyze`] computes the trainer's per-token loss coefficients
//! (`rl::loss::token_coefficients`, on-policy), and then:
//! - token level ([`token`]): the exact logit gradient of every response token (the kernel's
//!   `row_grad_in_place`), the fit of the descent direction on the prior probabilities
//!   (Eq. 7–8), and, after one small optimizer step on a copy of the model, how the mass of the
//!   sampled token, of its top-k alternatives and of the rest moved, and how well that matches
//!   the first-order prediction;
//! - batch level: entropy before/after, where the gained mass went by prior rank, Pass@k of the
//!   prompt set before/after the step (optional, see [`PasskSetup`]);
//! - parameter level ([`params`]): gradient norms per matrix and per layer, cosines between
//!   objectives, and the split of each update into the part from correct samples and the part
//!   from incorrect ones (W-REINFORCE = λ·(PSR part) + (NSR part)).
//!
//! [`report`] turns an [`AnalysisReport`] into `tokens.jsonl`, `params.jsonl`, `summary.json`,
//! `report.md` and plots.
//!
//! # A new objective
//! Implement [`TokenObjective`] (or wrap a closure in [`FnObjective`]) and pass it next to the
//! built-ins; the same report comes out:
//! ```no_run
//! use rlvr::analysis::{analyze, AnalysisOptions, AnalysisSample, Builtin, FnObjective, TokenObjective};
//! use rlvr::rl::Objective;
//! # fn main() -> anyhow::Result<()> {
//! let model = rlvr::model::Model::load(std::path::Path::new("models/tiny"))?;
//! let samples = vec![
//!     AnalysisSample { group: 0, prompt: vec![1, 5, 6], response: vec![7, 8, 2], reward: 1.0 },
//!     AnalysisSample { group: 0, prompt: vec![1, 5, 6], response: vec![9, 2], reward: 0.0 },
//! ];
//! // "NSR, but half as hard on long-shot mistakes" — any rewards → advantages rule works.
//! let soft_nsr = FnObjective {
//!     name: "soft-nsr".into(),
//!     f: |rewards: &[f32], _groups: &[usize]| {
//!         rewards.iter().map(|&r| if r > 0.5 { 0.0 } else { -0.5 }).collect()
//!     },
//! };
//! let (psr, nsr) = (Builtin::new(Objective::Psr), Builtin::new(Objective::Nsr));
//! let objectives: Vec<&dyn TokenObjective> = vec![&psr, &nsr, &soft_nsr];
//! let report = analyze(&model, &samples, &objectives, &AnalysisOptions::default(), None)?;
//! report.write(std::path::Path::new("out/analysis"))?;
//! # Ok(()) }
//! ```

pub mod objective_fn;
pub mod params;
pub mod report;
pub mod token;

pub use objective_fn::{Builtin, FnObjective, TokenObjective};
pub use params::{GradSums, StepRule};

use crate::backend::cpu::gemm::gemm;
use crate::backend::cpu::logprob::{fused_logprob_fwd, FUSED_BUDGET_FLOATS};
use crate::eval::passk::{default_ks, PasskReport};
use crate::generate::engine::EngineConfig;
use crate::generate::sampling::SamplingParams;
use crate::model::forward::suffix_rows;
use crate::model::{Batch, Model};
use crate::rl::rollout::{rollout, PromptItem, RolloutSettings, Sample};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Result};
use rayon::prelude::*;
use token::{measure_row, RowMeasure, RowPrior};

/// One sampled response with its 0/1 reward.
#[derive(Clone, Debug)]
pub struct AnalysisSample {
    /// Prompt index (GRPO-style objectives group by it).
    pub group: usize,
    pub prompt: Vec<u32>,
    pub response: Vec<u32>,
    pub reward: f32,
}

impl AnalysisSample {
    pub fn len(&self) -> usize {
        self.prompt.len() + self.response.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn sequence(&self) -> Vec<u32> {
        [self.prompt.as_slice(), &self.response].concat()
    }
    /// Whether the verifier accepted the answer.
    pub fn is_correct(&self) -> bool {
        crate::rl::rollout::reward_is_correct(self.reward)
    }
}

impl From<&Sample> for AnalysisSample {
    fn from(s: &Sample) -> Self {
        AnalysisSample {
            group: s.group,
            prompt: s.prompt.clone(),
            response: s.response.clone(),
            reward: s.reward,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// Softmax temperature of the log-probs (the rollout temperature).
    pub temperature: f32,
    /// How many alternatives count as "top-k" (by prior probability, sampled token excluded).
    pub top_k: usize,
    /// Learning rate of the one step.
    pub lr: f32,
    pub step: StepRule,
    /// Entropy-bonus coefficient in the loss (0 isolates Eq. 7–8).
    pub entropy_coef: f32,
    /// Tokens per forward/backward pack.
    pub token_budget: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            temperature: 1.0,
            top_k: 5,
            lr: 1e-3,
            step: StepRule::Sgd,
            entropy_coef: 0.0,
            token_budget: 4096,
        }
    }
}

/// How to measure Pass@k of the prompt set after each step (and before, unless given).
pub struct PasskSetup<'a> {
    pub tokenizer: &'a Tokenizer,
    pub prompts: &'a [PromptItem],
    pub params: SamplingParams,
    pub n: usize,
    pub max_tokens: usize,
    pub seed: u64,
    pub engine: EngineConfig,
    pub verifier: crate::verify::Mode,
    /// (samples, correct) per prompt of the base model, when already known (the analysed
    /// samples themselves, drawn with the same settings).
    pub before: Option<Vec<(usize, usize)>>,
}

impl PasskSetup<'_> {
    fn counts(&self, model: &Model) -> Result<Vec<(usize, usize)>> {
        let samples = rollout(
            &crate::generate::sampler::Sampler::cpu(model),
            self.tokenizer,
            self.prompts,
            0,
            RolloutSettings {
                params: self.params,
                n: self.n,
                max_tokens: self.max_tokens,
                seed: self.seed,
                engine: self.engine.clone(),
                verifier: self.verifier,
                progress: &mut |_| {},
            },
        )?;
        Ok(counts_by_group(&samples, self.prompts.len()))
    }

    fn report(&self, counts: &[(usize, usize)]) -> PasskReport {
        PasskReport::new(counts, Some(&default_ks(self.n)))
    }
}

/// (samples, correct) per prompt.
pub fn counts_by_group(samples: &[Sample], n_prompts: usize) -> Vec<(usize, usize)> {
    let mut c = vec![(0usize, 0usize); n_prompts];
    for s in samples {
        if let Some(x) = c.get_mut(s.group) {
            x.0 += 1;
            x.1 += s.is_correct() as usize;
        }
    }
    c
}

/// Everything measured about one response token.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub sample: usize,
    pub position: usize,
    pub token: u32,
    pub prior_p: f64,
    pub prior_entropy: f64,
    /// 0-based rank of the sampled token under the prior.
    pub prior_rank: u32,
    pub topk: Vec<u32>,
    pub topk_p: Vec<f64>,
    /// One measure per objective, in objective order.
    pub measures: Vec<RowMeasure>,
}

/// Per-objective facts that are not per token.
#[derive(Clone, Debug)]
pub struct ObjectiveInfo {
    pub name: String,
    pub advantages: Vec<f32>,
    pub kept_samples: usize,
    pub kept_tokens: usize,
    /// Change of the analysed loss Σ g_lp·log π + g_H·H over the step, measured, and its
    /// first-order prediction ⟨∇L, Δθ⟩ (−lr·‖∇L‖² for SGD).
    pub loss_change: f64,
    pub loss_change_first_order: f64,
    pub passk_after: Option<PasskReport>,
}

#[derive(Clone, Debug)]
pub struct AnalysisReport {
    pub options: AnalysisOptions,
    pub vocab_size: usize,
    pub num_layers: usize,
    pub samples: Vec<AnalysisSample>,
    pub objectives: Vec<ObjectiveInfo>,
    pub tokens: Vec<TokenRecord>,
    /// (parameter name, gradient sums) in the model's parameter order.
    pub param_sums: Vec<(String, GradSums)>,
    pub passk_before: Option<PasskReport>,
}

/// Final hidden states of every response-token row, [rows, d], with log π and entropy per
/// sample.
struct ResponseRows {
    hidden: Vec<f32>,
    logp: Vec<Vec<f32>>,
    entropy: Vec<Vec<f32>>,
}

fn response_rows(
    model: &Model,
    samples: &[AnalysisSample],
    temperature: f32,
    budget: usize,
) -> Result<ResponseRows> {
    let d = model.config.hidden_size;
    let lm_head = model.params[model.layout.lm_head_index()].data();
    let tape = crate::autograd::Tape::no_grad();
    let vars = model.vars(&tape);
    let (mut hidden, mut logp, mut ent) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < samples.len() {
        let mut j = i;
        let mut tokens = 0;
        while j < samples.len() && (j == i || tokens + samples[j].len() <= budget) {
            tokens += samples[j].len();
            j += 1;
        }
        let seqs: Vec<Vec<u32>> = samples[i..j].iter().map(|s| s.sequence()).collect();
        let suffix: Vec<usize> = samples[i..j].iter().map(|s| s.response.len()).collect();
        let batch = Batch::from_sequences(&seqs);
        let (rows, targets) = suffix_rows(&batch, &suffix)?;
        let h = model.forward_hidden(&tape, &vars, &batch)?;
        let mut hs = Vec::with_capacity(rows.len() * d);
        for &r in &rows {
            hs.extend_from_slice(&h.value.data()[r * d..(r + 1) * d]);
        }
        let out = fused_logprob_fwd(
            &hs,
            lm_head,
            d,
            &targets,
            1.0 / temperature,
            FUSED_BUDGET_FLOATS,
        );
        let mut at = 0;
        for &m in &suffix {
            logp.push(out.logp[at..at + m].to_vec());
            ent.push(out.entropy[at..at + m].to_vec());
            at += m;
        }
        hidden.extend(hs);
        i = j;
    }
    Ok(ResponseRows {
        hidden,
        logp,
        entropy: ent,
    })
}

/// Logits of rows `r0..r1` of `hidden` [rows, d] under `lm_head` [V, d].
fn logits_of_rows(hidden: &[f32], lm_head: &[f32], d: usize, r0: usize, r1: usize) -> Vec<f32> {
    let vocab = lm_head.len() / d;
    let mut z = vec![0.0f32; (r1 - r0) * vocab];
    gemm(
        r1 - r0,
        vocab,
        d,
        1.0,
        &hidden[r0 * d..r1 * d],
        false,
        lm_head,
        true,
        0.0,
        &mut z,
    );
    z
}

/// Run the analysis (see the module docs). Samples with an empty response are skipped.
pub fn analyze(
    model: &Model,
    samples: &[AnalysisSample],
    objectives: &[&dyn TokenObjective],
    opts: &AnalysisOptions,
    passk: Option<&PasskSetup<'_>>,
) -> Result<AnalysisReport> {
    if objectives.is_empty() {
        bail!("no objective to analyse");
    }
    if !(opts.temperature > 0.0 && opts.temperature.is_finite()) {
        bail!("temperature must be > 0, got {}", opts.temperature);
    }
    if !(opts.lr >= 0.0 && opts.lr.is_finite()) {
        bail!("learning rate must be ≥ 0 and finite, got {}", opts.lr);
    }
    let samples: Vec<AnalysisSample> = samples
        .iter()
        .filter(|s| !s.response.is_empty())
        .cloned()
        .collect();
    if samples.is_empty() {
        bail!("no sample with a non-empty response to analyse");
    }
    for (i, s) in samples.iter().enumerate() {
        if s.prompt.is_empty() {
            bail!("sample {i}: empty prompt (the first response token needs context)");
        }
        model
            .check_tokens(&s.sequence())
            .map_err(|e| anyhow::anyhow!("sample {i}: {e}"))?;
    }
    let d = model.config.hidden_size;
    let vocab = model.config.vocab_size;
    let budget = opts.token_budget.max(1);
    let ResponseRows {
        hidden: h_before,
        logp,
        entropy: ent,
    } = response_rows(model, &samples, opts.temperature, budget)?;
    let n_obj = objectives.len();
    let pairs = params::pairs(n_obj);
    let mut param_sums: Vec<(String, GradSums)> = model
        .param_names()
        .zip(&model.params)
        .map(|(n, p)| {
            let mut s = GradSums::new(n_obj);
            s.numel = p.numel();
            (n.to_string(), s)
        })
        .collect();
    let pos: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].is_correct())
        .collect();
    let neg: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].reward <= 0.5)
        .collect();
    let mut infos = Vec::new();
    let mut coefs = Vec::new();
    let mut totals: Vec<Vec<crate::tensor::Tensor>> = Vec::new();
    // Per objective: hidden rows and LM head of the stepped copy.
    let mut after: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    for (o, obj) in objectives.iter().enumerate() {
        let c = params::coefficients(*obj, &samples, &logp, &ent, opts.entropy_coef)?;
        let gp = params::gradient(model, &samples, &pos, &c, opts.temperature, budget)?;
        let gn = params::gradient(model, &samples, &neg, &c, opts.temperature, budget)?;
        let zeros = || -> Vec<crate::tensor::Tensor> {
            model
                .params
                .iter()
                .map(|p| crate::tensor::Tensor::zeros(p.dims()))
                .collect()
        };
        let total: Vec<crate::tensor::Tensor> = match (&gp, &gn) {
            (Some(a), Some(b)) => a.iter().zip(b).map(|(x, y)| x.add(y)).collect(),
            (Some(a), None) => a.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => zeros(),
        };
        for (pi, (_, s)) in param_sums.iter_mut().enumerate() {
            s.sq[o] = total[pi].sq_norm();
            s.pos_sq[o] = gp.as_ref().map_or(0.0, |g| g[pi].sq_norm());
            s.neg_sq[o] = gn.as_ref().map_or(0.0, |g| g[pi].sq_norm());
            s.pos_neg[o] = match (&gp, &gn) {
                (Some(a), Some(b)) => params::dot(&a[pi], &b[pi]),
                _ => 0.0,
            };
            for (k, &(a, b)) in pairs.iter().enumerate() {
                if b == o {
                    s.dots[k] = params::dot(&totals[a][pi], &total[pi]);
                }
            }
        }
        drop((gp, gn));
        let new_params = params::stepped(&model.params, &total, opts.step, opts.lr);
        let copy = Model::from_parts(
            model.config.clone(),
            model.layout.clone(),
            new_params,
            model.stored_dtype,
            model.dir.clone(),
        );
        let ResponseRows {
            hidden: h_after,
            logp: logp_after,
            entropy: ent_after,
        } = response_rows(&copy, &samples, opts.temperature, budget)?;
        let mut loss_change = 0.0f64;
        for i in 0..samples.len() {
            for t in 0..samples[i].response.len() {
                loss_change += c.g_logp[i][t] as f64 * (logp_after[i][t] - logp[i][t]) as f64
                    + c.g_entropy[i][t] as f64 * (ent_after[i][t] - ent[i][t]) as f64;
            }
        }
        let loss_change_first_order: f64 = total
            .iter()
            .zip(model.params.iter().zip(&copy.params))
            .map(|(g, (p0, p1))| {
                g.data()
                    .iter()
                    .zip(p0.data().iter().zip(p1.data()))
                    .map(|(&g, (&a, &b))| g as f64 * (b as f64 - a as f64))
                    .sum::<f64>()
            })
            .sum();
        let passk_after = match passk {
            Some(p) => Some(p.report(&p.counts(&copy)?)),
            None => None,
        };
        after.push((h_after, copy.params[copy.layout.lm_head_index()].to_vec()));
        infos.push(ObjectiveInfo {
            name: obj.name(),
            advantages: c.advantages.clone(),
            kept_samples: c.kept.iter().filter(|&&k| k).count(),
            kept_tokens: c.kept_tokens,
            loss_change,
            loss_change_first_order,
            passk_after,
        });
        coefs.push(c);
        totals.push(total);
    }
    drop(totals);
    let passk_before = match passk {
        Some(p) => {
            let counts = match &p.before {
                Some(c) => c.clone(),
                None => p.counts(model)?,
            };
            Some(p.report(&counts))
        }
        None => None,
    };
    // Token level, a chunk of rows at a time so at most chunk × V logits per model exist.
    let row_of: Vec<(usize, usize)> = samples
        .iter()
        .enumerate()
        .flat_map(|(i, s)| (0..s.response.len()).map(move |t| (i, t)))
        .collect();
    let inv_temp = 1.0 / opts.temperature;
    let lm_head = model.params[model.layout.lm_head_index()].data();
    let chunk = (FUSED_BUDGET_FLOATS / vocab.max(1)).clamp(1, 64);
    let mut tokens = Vec::with_capacity(row_of.len());
    for r0 in (0..row_of.len()).step_by(chunk) {
        let r1 = (r0 + chunk).min(row_of.len());
        let zb = logits_of_rows(&h_before, lm_head, d, r0, r1);
        let za: Vec<Vec<f32>> = after
            .iter()
            .map(|(h, w)| logits_of_rows(h, w, d, r0, r1))
            .collect();
        let recs: Vec<TokenRecord> = (r0..r1)
            .into_par_iter()
            .map(|r| {
                let (si, t) = row_of[r];
                let y = samples[si].response[t] as usize;
                let row = |z: &[f32]| z[(r - r0) * vocab..(r - r0 + 1) * vocab].to_vec();
                let z = row(&zb);
                let prior = RowPrior::new(&z, y, inv_temp, opts.top_k);
                let measures = (0..n_obj)
                    .map(|o| {
                        let zo = row(&za[o]);
                        measure_row(
                            &prior,
                            &z,
                            Some(&zo),
                            coefs[o].g_logp[si][t],
                            coefs[o].g_entropy[si][t],
                        )
                    })
                    .collect();
                TokenRecord {
                    sample: si,
                    position: t,
                    token: y as u32,
                    prior_p: prior.p_target(),
                    prior_entropy: prior.entropy,
                    prior_rank: prior.rank[y],
                    topk_p: prior.topk.iter().map(|&v| prior.p[v as usize]).collect(),
                    topk: prior.topk.clone(),
                    measures,
                }
            })
            .collect();
        tokens.extend(recs);
    }
    Ok(AnalysisReport {
        options: opts.clone(),
        vocab_size: vocab,
        num_layers: model.config.num_layers,
        samples,
        objectives: infos,
        tokens,
        param_sums,
        passk_before,
    })
}
