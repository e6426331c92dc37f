//! `rlvr generate`: sample n responses per prompt and write them, with tokens and log-probs.
use super::bench_generate::weights_dtype;
use super::device::DeviceArg;
use crate::backend::cuda::model::DeviceModel;
use crate::eval::progress::GenProgress;
use crate::generate::device::generate_on_device;
use crate::generate::engine::{generate, generate_with, EngineConfig, Finish};
use crate::generate::prompts::{
    build_prompts, choose_template, load_prompt_file, request_for, stop_tokens,
};
use crate::generate::sampling::SamplingParams;
use crate::model::decode::Decoder;
use crate::model::Model;
use crate::tensor::DType;
use crate::tokenizer::Tokenizer;
use crate::util::limits;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Sampling flags shared by `rlvr generate` and `rlvr eval`. Unset flags take the command's
/// defaults (for `rlvr eval`, the protocol's).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SamplingFlags {
    /// Softmax temperature, > 0. For argmax decoding use --greedy (0 is rejected).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling: keep the smallest most-probable set with mass ≥ P; in (0, 1], 1 = off.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Keep the K most probable tokens; 0 = off.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Drop tokens with probability < MIN_P × the top probability; in [0, 1], 0 = off.
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Greedy (argmax) decoding; temperature, top-p, top-k and min-p are then ignored.
    #[arg(long)]
    pub greedy: bool,
    /// Most tokens per response (further capped so that prompt + response fits the model's
    /// context).
    #[arg(long)]
    pub max_tokens: Option<usize>,
}

/// Values used for flags that were not given.
#[derive(Clone, Copy, Debug)]
pub struct SamplingDefaults {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub min_p: f32,
    pub max_tokens: usize,
}

impl SamplingFlags {
    /// Sampling parameters and the token limit, validated with errors naming the flag.
    pub fn resolve(&self, d: SamplingDefaults) -> Result<(SamplingParams, usize)> {
        let temperature = self.temperature.unwrap_or(d.temperature);
        let positive = temperature > 0.0 && temperature.is_finite();
        if !self.greedy && !positive {
            bail!(
                "--temperature must be > 0 (got {temperature}); for greedy (argmax) decoding pass --greedy"
            );
        }
        let top_p = self.top_p.unwrap_or(d.top_p);
        if !(top_p > 0.0 && top_p <= 1.0) {
            bail!("--top-p must be in (0, 1], got {top_p}");
        }
        let min_p = self.min_p.unwrap_or(d.min_p);
        if !(0.0..=1.0).contains(&min_p) {
            bail!("--min-p must be in [0, 1], got {min_p}");
        }
        let max_tokens = self.max_tokens.unwrap_or(d.max_tokens);
        if max_tokens == 0 {
            bail!("--max-tokens must be at least 1");
        }
        let params = SamplingParams {
            temperature: if self.greedy { 1.0 } else { temperature },
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p,
            min_p,
            greedy: self.greedy,
        };
        params.validate()?;
        Ok((params, max_tokens))
    }
}

/// Sample N responses per prompt. Output JSONL, one line per sample, grouped by prompt in input
/// order: {"question_id", "generation_id", "prompt", "response", "tokens", "logprobs",
/// "finish": "stop"|"length", "answer" (when the input has one)}. `logprobs[i]` is
/// log p(tokens[i]) under the temperature-scaled full distribution; `response` is the decoded
/// text without special tokens; `tokens` includes the stop token when there is one.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face model directory (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Prompts: verl parquet, or JSONL with `prompt` (text or [{role, content}]) or `question`,
    /// and optional `answer`, `id`/`index`, `data_source`.
    #[arg(long)]
    pub prompts: PathBuf,
    /// Output JSONL.
    #[arg(long)]
    pub output: PathBuf,
    /// Samples per prompt.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Run seed; each prompt's samples depend only on (seed, question id, sample index).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Chat template (qwen2.5, qwen2.5-math, qwen3-nothink, llama3, smollm2, chatml, paper-qwen,
    /// paper-qwen3-nothink, paper-llama, plain). Default: from the model's model_type.
    #[arg(long)]
    pub template: Option<String>,
    /// Most sequences decoded at once (does not change the samples).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Skip prompts longer than this many tokens (counted on stderr).
    #[arg(long)]
    pub max_prompt_tokens: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingFlags,
    /// Where to decode: cpu (f32 reference, continuous batching), cuda or emu (bf16 on our
    /// kernels over a device KV cache, also continuous batching over --batch slots). The samples
    /// follow the same seeds; bf16 rounding can change near-tied choices.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceArg,
    /// Storage of the weights on the CPU (--device cpu): f32 (the trainer's numbers, the
    /// default) or bf16 (half the bytes per decode step, widened exactly in registers; near-tied
    /// choices can differ from f32). The device path always stores bf16.
    #[arg(long, default_value = "f32")]
    pub weights: String,
}

pub const GENERATE_DEFAULTS: SamplingDefaults = SamplingDefaults {
    temperature: 1.0,
    top_p: 1.0,
    top_k: 0,
    min_p: 0.0,
    max_tokens: 512,
};

pub fn run(a: Args) -> Result<()> {
    let (params, max_tokens) = a.sampling.resolve(GENERATE_DEFAULTS)?;
    let weights = weights_dtype(&a.weights).context("--weights")?;
    if weights != DType::F32 && a.device != DeviceArg::Cpu {
        bail!("--weights applies to --device cpu (the device path stores bf16 already)");
    }
    limits::check_count("--n", a.n, limits::MAX_SAMPLES_PER_PROMPT)?;
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    crate::util::output::check_output_file(&a.output)?;
    let items = load_prompt_file(&a.prompts)?;
    limits::check_total(items.len(), a.n)?;
    let model =
        Model::load(&a.model).with_context(|| format!("loading model {}", a.model.display()))?;
    let tok = Tokenizer::for_model(&a.model, model.config.vocab_size)?;
    let template = choose_template(a.template.as_deref(), &model.config)?;
    let engine = EngineConfig {
        max_batch: a.batch,
        stop_tokens: stop_tokens(Some(&a.model), &model.config, &tok, template)?,
    };
    let context = model.config.max_position_embeddings;
    let total = items.len();
    let set = build_prompts(items, &tok, template, a.max_prompt_tokens, context)
        .with_context(|| format!("{}", a.prompts.display()))?;
    if set.dropped_too_long > 0 {
        eprintln!(
            "note: {} of {total} prompts are too long for --max-prompt-tokens or the model's context ({context}) and are skipped",
            set.dropped_too_long
        );
    }
    let reqs: Vec<_> = set
        .prompts
        .iter()
        .map(|p| request_for(p, a.n, a.seed, params, max_tokens, context))
        .collect();
    let mut bar = GenProgress::new((reqs.len() * a.n) as u64, "generate");
    let outs = match a.device.kernel_device(a.seed)? {
        None if weights == DType::F32 => generate(&model, &reqs, &engine, &mut |p| bar.update(p))?,
        None => {
            let decoder = Decoder::new(&model, weights);
            generate_with(&decoder, &reqs, &engine, &mut |p| bar.update(p))?
        }
        Some(dev) => {
            let dm = DeviceModel::upload(dev.as_ref(), &model)?;
            generate_on_device(dev.as_ref(), &dm, &reqs, &engine, &mut |p| bar.update(p))?
        }
    };
    bar.end_call(outs.len());
    bar.finish();
    let mut text = String::new();
    for c in &outs {
        let p = &set.prompts[c.request];
        let mut line = serde_json::json!({
            "question_id": p.problem.id,
            "generation_id": c.sample,
            "prompt": p.text,
            "response": tok.decode(&c.tokens, true)?,
            "tokens": c.tokens,
            "logprobs": c.logprobs,
            "finish": if c.finish == Finish::Stop { "stop" } else { "length" },
        });
        if p.has_answer {
            line["answer"] = p.problem.answer.clone().into();
        }
        text.push_str(&line.to_string());
        text.push('\n');
    }
    crate::util::write_atomic(&a.output, text.as_bytes())?;
    let (tokens, secs) = bar.totals();
    eprintln!(
        "{} samples, {tokens} tokens in {secs:.1} s ({:.1} tok/s) → {}",
        outs.len(),
        tokens as f64 / secs.max(1e-9),
        a.output.display()
    );
    Ok(())
}
