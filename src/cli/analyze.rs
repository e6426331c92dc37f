//! `rlvr analyze`: sample responses, grade them, and measure where each objective pushes
//! probability mass (library: `crate::analysis`).
use crate::analysis::{
    analyze, AnalysisOptions, AnalysisSample, Builtin, PasskSetup, StepRule, TokenObjective,
};
use crate::data::verl::load_problems;
use crate::generate::engine::EngineConfig;
use crate::generate::sampling::SamplingParams;
use crate::model::Model;
use crate::rl::rollout::{rollout, PromptItem, RolloutSettings};
use crate::rl::Objective;
use crate::tokenizer::{eos_ids_from_dir, ChatTemplate, Tokenizer};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Sample n responses for each of the first --samples prompts of --data, grade them, and for each
/// objective measure the exact per-token logit gradients, the probability changes after one small
/// step on a copy of the model, per-layer gradient norms and cosines, and Pass@k before/after.
/// Writes tokens.jsonl, params.jsonl, summary.json, report.md and plots (SVG + PNG) to --output.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face model directory (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Problems: verl parquet or JSONL with `prompt` and `answer`.
    #[arg(long)]
    pub data: PathBuf,
    /// Comma-separated objectives: psr, nsr, w-reinforce, reinforce, grpo.
    #[arg(long, value_delimiter = ',', default_value = "psr,nsr,w-reinforce")]
    pub objective: Vec<String>,
    /// λ of W-REINFORCE (weight of the correct samples).
    #[arg(long, default_value_t = 0.1)]
    pub lambda: f32,
    /// Number of prompts (the first N of --data).
    #[arg(long, default_value_t = 8)]
    pub samples: usize,
    /// Responses per prompt.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// Chat template (qwen2.5, qwen2.5-math, qwen3-nothink, llama3, smollm2, chatml, paper-qwen,
    /// paper-qwen3-nothink, paper-llama, plain); default from the model type.
    #[arg(long)]
    pub template: Option<String>,
    /// Most tokens per response.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Learning rate of the one analysis step.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Step rule: sgd (θ − lr·g, cleanest first-order picture) or adamw (the trainer's optimizer).
    #[arg(long, default_value = "sgd")]
    pub step: String,
    /// Number of top alternatives (by prior probability) tracked per token.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Sampling and log-prob temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Entropy-bonus coefficient in the analysed loss (0 isolates Eq. 7–8).
    #[arg(long, default_value_t = 0.0)]
    pub entropy_coef: f32,
    /// Responses per prompt for Pass@k after each step (0 skips Pass@k). Before the step the
    /// analysed samples themselves are used when this equals --n.
    #[arg(long)]
    pub passk_n: Option<usize>,
    /// Answer checking: `correct` (default) or `paper` (the paper's math_equal quirks).
    #[arg(long, value_enum, default_value_t = super::grade::ModeArg::Correct)]
    pub verifier: super::grade::ModeArg,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sequences decoded at once.
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// Tokens per forward/backward pack.
    #[arg(long, default_value_t = 4096)]
    pub token_budget: usize,
    /// Output directory.
    #[arg(long)]
    pub output: PathBuf,
}

fn objectives(names: &[String], lambda: f32) -> Result<Vec<Builtin>> {
    let mut out = Vec::new();
    for n in names {
        let o = Objective::parse(n.trim(), lambda)?;
        if o == Objective::Ppo {
            bail!("--objective ppo: PPO's token-level advantages need a critic; analyse psr, nsr, w-reinforce, reinforce or grpo");
        }
        out.push(Builtin::new(o));
    }
    if out.is_empty() {
        bail!("--objective: give at least one objective");
    }
    Ok(out)
}

pub fn run(a: Args) -> Result<()> {
    let builtins = objectives(&a.objective, a.lambda)?;
    let step: StepRule = a.step.parse()?;
    if a.samples == 0 || a.n == 0 || a.max_tokens == 0 {
        bail!("--samples, --n and --max-tokens must be at least 1");
    }
    let model =
        Model::load(&a.model).with_context(|| format!("loading model {}", a.model.display()))?;
    let tok = Tokenizer::from_dir(&a.model)?;
    let template = match &a.template {
        Some(t) => t.parse::<ChatTemplate>()?,
        None => ChatTemplate::default_for(
            model
                .config
                .raw
                .get("model_type")
                .and_then(|v| v.as_str())
                .unwrap_or(""),
        ),
    };
    let problems = load_problems(&a.data)?;
    if problems.is_empty() {
        bail!("{}: no problems", a.data.display());
    }
    let mut prompts = Vec::new();
    for p in problems.iter().take(a.samples) {
        let tokens = tok
            .encode(&template.render_question(&p.question))
            .with_context(|| format!("{}: problem {}", a.data.display(), p.id))?;
        prompts.push(PromptItem {
            id: p.id.clone(),
            data_source: p.data_source.clone(),
            tokens,
            answer: p.answer.clone(),
        });
    }
    let mut stop_tokens = eos_ids_from_dir(&a.model)?;
    if let Some(id) = template.end_of_turn().and_then(|t| tok.token_id(t)) {
        stop_tokens.push(id);
    }
    let engine = EngineConfig {
        max_batch: a.max_batch.max(1),
        stop_tokens,
    };
    let params = SamplingParams {
        temperature: a.temperature,
        ..Default::default()
    };
    let verifier = crate::verify::Mode::from(a.verifier);
    eprintln!("sampling {} × {} responses…", prompts.len(), a.n);
    let samples = rollout(
        &crate::generate::sampler::Sampler::cpu(&model),
        &tok,
        &prompts,
        0,
        RolloutSettings {
            params,
            n: a.n,
            max_tokens: a.max_tokens,
            seed: a.seed,
            engine: engine.clone(),
            verifier,
            progress: &mut |_| {},
        },
    )?;
    let correct = samples.iter().filter(|s| s.is_correct()).count();
    eprintln!("{} of {} responses correct", correct, samples.len());
    let passk_n = a.passk_n.unwrap_or(a.n);
    let setup = (passk_n > 0).then(|| PasskSetup {
        tokenizer: &tok,
        prompts: &prompts,
        params,
        n: passk_n,
        max_tokens: a.max_tokens,
        seed: a.seed,
        engine: engine.clone(),
        verifier,
        before: (passk_n == a.n).then(|| crate::analysis::counts_by_group(&samples, prompts.len())),
    });
    let objs: Vec<&dyn TokenObjective> =
        builtins.iter().map(|b| b as &dyn TokenObjective).collect();
    let analysis_samples: Vec<AnalysisSample> = samples.iter().map(AnalysisSample::from).collect();
    let opts = AnalysisOptions {
        temperature: a.temperature,
        top_k: a.top_k,
        lr: a.lr,
        step,
        entropy_coef: a.entropy_coef,
        token_budget: a.token_budget,
    };
    eprintln!("analysing {} objectives…", objs.len());
    let report = analyze(&model, &analysis_samples, &objs, &opts, setup.as_ref())?;
    report.write(&a.output)?;
    // Keep the raw responses next to the measures so token rows can be read back as text.
    let mut lines = String::new();
    for (i, s) in samples.iter().enumerate() {
        let v = serde_json::json!({
            "sample": i, "group": s.group, "prompt_id": prompts[s.group].id,
            "response": s.text, "pred": s.pred, "reward": s.reward, "truncated": s.truncated,
        });
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    crate::util::write_atomic(&a.output.join("samples.jsonl"), lines.as_bytes())?;
    eprintln!("wrote {}", a.output.join("report.md").display());
    Ok(())
}
