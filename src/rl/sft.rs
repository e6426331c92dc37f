//! Supervised fine-tuning on (prompt, answer) pairs through the same fused log-prob path as RL:
//! a coefficient of −1/N on every response token (token-mean negative log-likelihood). This is
//! how the demo makes its base model, and how a user gives a base model the answer format.
//!
//! Data parallel as the RL update is (see `dp`): every rank draws the same batch, each step's
//! sequences are split into `dp_shards` contiguous shards, and the step's gradient is the
//! ordered sum of the shard gradients, so the weights depend on `dp_shards`, never on the
//! number of processes.
use super::dp::DataParallel;
use super::gradients::{Coefficients, MicroBatch, PolicyGradients};
use super::policy::Policy;
use super::update::accumulate_shards;
use crate::backend::cuda::device::KernelDevice;
use crate::model::Model;
use crate::optim::AdamWConfig;
use crate::rng::SplitMix64;
use crate::tensor::DType;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct SftConfig {
    pub model: PathBuf,
    pub data: Vec<PathBuf>,
    pub output: PathBuf,
    pub steps: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub grad_clip: f32,
    pub seed: u64,
    pub template: ChatTemplate,
    /// Response text; `{answer}` is replaced by the gold answer. The model's EOS token follows.
    pub response_format: String,
    pub max_tokens: usize,
    /// Recompute each layer in the backward (see `Model::activation_checkpointing`).
    pub activation_checkpointing: bool,
    /// With a CUDA device: move gradient shards between GPUs with NCCL instead of staging them
    /// through the host (see `rlvr train --nccl`).
    pub nccl: bool,
}

/// Tokenised (prompt, response) pairs.
pub fn sft_examples(
    files: &[PathBuf],
    tok: &Tokenizer,
    template: ChatTemplate,
    format: &str,
    eos: &str,
    max_tokens: usize,
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    if !format.contains("{answer}") {
        bail!("--response-format must contain {{answer}}, got {format:?}");
    }
    let mut out = Vec::new();
    for f in files {
        for p in crate::data::verl::load_problems(f)? {
            let prompt = tok.encode(&template.render_question(&p.question))?;
            let response =
                tok.encode(&format!("{}{eos}", format.replace("{answer}", &p.answer)))?;
            if prompt.is_empty()
                || response.is_empty()
                || prompt.len() + response.len() > max_tokens
            {
                continue;
            }
            out.push((prompt, response));
        }
    }
    if out.is_empty() {
        bail!("no usable examples in {:?}", files);
    }
    Ok(out)
}

/// Train, write the model to `cfg.output` (with the tokenizer files), return per-step losses.
pub fn sft(cfg: &SftConfig, log: Option<&Path>) -> Result<Vec<f64>> {
    sft_with(cfg, log, &DataParallel::single())
}

/// `sft` as one rank of `dp.comm` (every rank calls it with the same arguments). Each rank
/// computes the gradients of its shards; losses cover the whole batch on every rank. Rank 0
/// alone writes `log` and the output; every rank returns after the output is written.
pub fn sft_with(cfg: &SftConfig, log: Option<&Path>, dp: &DataParallel<'_>) -> Result<Vec<f64>> {
    sft_on(cfg, log, dp, None)
}

/// `sft_with`, with each step's forward, backward and AdamW on `device` when given (f32 master
/// weights and moments there, gradient shards summed through the device collectives); the same
/// batches, shards and loss, and the output written from the device's master weights.
pub fn sft_on(
    cfg: &SftConfig,
    log: Option<&Path>,
    dp: &DataParallel<'_>,
    device: Option<&dyn KernelDevice>,
) -> Result<Vec<f64>> {
    let root = dp.is_root();
    let mut model =
        Model::load(&cfg.model).with_context(|| format!("loading {}", cfg.model.display()))?;
    model.activation_checkpointing = cfg.activation_checkpointing;
    let tok = Tokenizer::from_dir(&cfg.model)?;
    let eos_id = crate::tokenizer::eos_ids_from_dir(&cfg.model)?
        .first()
        .copied();
    let eos = eos_id.and_then(|i| tok.token_text(i)).unwrap_or_default();
    let examples = sft_examples(
        &cfg.data,
        &tok,
        cfg.template,
        &cfg.response_format,
        &eos,
        cfg.max_tokens,
    )?;
    let adamw = AdamWConfig {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let mut policy = match device {
        Some(dev) => {
            let comm = crate::dist::device_comm::device_comm_for(dp.comm, dev, cfg.nccl)?;
            let owned = dp.owned(&model.params);
            Policy::on_device(model, dev, comm, adamw, owned, None, false)?
        }
        None => {
            let opt = dp.optimizer(adamw, &model.params);
            Policy::cpu(model, opt)
        }
    };
    let mut rng = SplitMix64(cfg.seed);
    let mut losses = Vec::with_capacity(cfg.steps);
    let mut logf = match log.filter(|_| root) {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };
    for step in 0..cfg.steps {
        let idx: Vec<usize> = (0..cfg.batch_size)
            .map(|_| rng.below(examples.len() as u64) as usize)
            .collect();
        let seqs: Vec<Vec<u32>> = idx
            .iter()
            .map(|&i| [examples[i].0.as_slice(), &examples[i].1].concat())
            .collect();
        let suffix: Vec<usize> = idx.iter().map(|&i| examples[i].1.len()).collect();
        let n: usize = suffix.iter().sum();
        // Linear decay to 10% of the peak: a from-scratch model converges much further.
        let lr = cfg.lr * (1.0 - 0.9 * step as f32 / cfg.steps.max(1) as f32);
        let step_in = Step {
            seqs: &seqs,
            suffix: &suffix,
            n,
            clip: cfg.grad_clip,
            lr,
        };
        // Per-token log-probs of this rank's shards, in batch order.
        let logprobs = sft_step(policy.gradients().as_mut(), dp, &step_in)?;
        // Summed in batch order on every rank, as one process sums them.
        let all = dp.gather_vectors(&logprobs)?;
        let loss = -all.iter().flatten().map(|&x| x as f64).sum::<f64>() / n as f64;
        losses.push(loss);
        if let Some(f) = logf.as_mut() {
            writeln!(f, "{}", serde_json::json!({"step": step, "loss": loss}))?;
        }
    }
    let model = policy.into_model()?;
    if root {
        save_output(cfg, &model)?;
    }
    // Nobody returns before the output exists.
    dp.comm.barrier()?;
    Ok(losses)
}

/// One SFT step's batch: sequences whose last `suffix[i]` tokens are the response, `n` of them
/// in all.
struct Step<'a> {
    seqs: &'a [Vec<u32>],
    suffix: &'a [usize],
    n: usize,
    clip: f32,
    lr: f32,
}

/// One SFT step with gradients from `g`: this rank's shards of the batch, each one forward (no
/// token budget; one shard: the whole batch). Returns the log-probs of the response tokens of
/// this rank's sequences, in batch order.
fn sft_step(
    g: &mut dyn PolicyGradients,
    dp: &DataParallel<'_>,
    s: &Step<'_>,
) -> Result<Vec<Vec<f32>>> {
    // −1/N with N the whole batch's response tokens: the shards add up to the mean.
    let coef = -1.0 / s.n as f32;
    let lens: Vec<usize> = s.seqs.iter().map(Vec::len).collect();
    let mut logprobs = Vec::new();
    accumulate_shards(g, dp, &lens, usize::MAX, |g, k, m| {
        let suffix = &s.suffix[m.clone()];
        let batch = MicroBatch {
            seqs: &s.seqs[m],
            suffix,
            temperature: 1.0,
        };
        // the coefficients do not depend on the forward: a device fuses the head's backward
        let c = Coefficients {
            g_logp: vec![coef; suffix.iter().sum()],
            g_entropy: None,
        };
        let lp = g.micro_batch_known(k, &batch, c)?;
        let mut rest = lp.as_slice();
        for &n in suffix {
            let (seq, tail) = rest.split_at(n);
            logprobs.push(seq.to_vec());
            rest = tail;
        }
        Ok(())
    })?;
    g.apply(dp, s.clip, s.lr)?;
    Ok(logprobs)
}

/// The trained model and the tokenizer files of the model it started from.
fn save_output(cfg: &SftConfig, model: &Model) -> Result<()> {
    model.save(&cfg.output, DType::F32)?;
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "special_tokens_map.json",
    ] {
        let src = cfg.model.join(f);
        if src.exists() && src != cfg.output.join(f) {
            std::fs::copy(&src, cfg.output.join(f))
                .with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}
