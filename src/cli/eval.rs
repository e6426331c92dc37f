//! `rlvr eval`: sample, grade, and score Pass@k for one or more models on one or more datasets.
use super::device::DeviceArg;
use super::generate::{SamplingDefaults, SamplingFlags};
use crate::eval::run::{run_eval_on, EvalSettings};
use crate::verify::Mode;
use anyhow::{Context, Result};
use clap::ValueEnum;
use std::path::PathBuf;

/// The paper's evaluation protocols.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Qwen2.5-Math-7B: n 256, temperature 0.6, top-p 0.95, 4096 tokens.
    #[value(name = "qwen2.5-math")]
    Qwen25Math,
    /// Qwen3-4B non-thinking: n 64, temperature 0.7, top-p 0.8, top-k 20, 4096 tokens.
    #[value(name = "qwen3")]
    Qwen3,
}

impl Protocol {
    /// (n, sampling defaults).
    pub fn preset(self) -> (usize, SamplingDefaults) {
        match self {
            Protocol::Qwen25Math => (
                256,
                SamplingDefaults {
                    temperature: 0.6,
                    top_p: 0.95,
                    top_k: 0,
                    min_p: 0.0,
                    max_tokens: 4096,
                },
            ),
            Protocol::Qwen3 => (
                64,
                SamplingDefaults {
                    temperature: 0.7,
                    top_p: 0.8,
                    top_k: 20,
                    min_p: 0.0,
                    max_tokens: 4096,
                },
            ),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifierArg {
    /// Mathematically correct decisions.
    Correct,
    /// The paper's math_equal decisions, quirks included.
    Paper,
}

/// Evaluate models: n samples per problem, graded by the verifier, written in the paper's
/// evaluation format (OUTPUT/<model>/<dataset>.jsonl), with OUTPUT/passk.json (unbiased Pass@k
/// for k = 1, 2, 4, …, n per model and dataset) and OUTPUT/passk_<dataset>.svg/.png (one curve
/// per model). Resumable: rerunning the same command continues where a killed run stopped.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory; repeat for several models (one curve each).
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    /// Problem files: verl parquet (e.g. ../shared/data/math/test.parquet) or JSONL with
    /// `prompt` and `answer`. Several may follow one --data. Problems with an empty prompt or
    /// gold answer are named in a warning (they count as failures); a file with nothing else is
    /// an error.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub output: PathBuf,
    /// Preset for n, temperature, top-p, top-k and max tokens; explicit flags override it.
    #[arg(long, value_enum, default_value_t = Protocol::Qwen25Math)]
    pub protocol: Protocol,
    /// Samples per problem (default: the protocol's).
    #[arg(long)]
    pub n: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingFlags,
    /// Evaluate only the first N problems of each dataset.
    #[arg(long)]
    pub max_problems: Option<usize>,
    /// Skip prompts longer than this many tokens (reported as dropped_prompts).
    #[arg(long)]
    pub max_prompt_tokens: Option<usize>,
    /// Answer checker: `correct` or the paper's `math_equal` quirks (`paper`).
    #[arg(long, value_enum, default_value_t = VerifierArg::Correct)]
    pub verifier: VerifierArg,
    /// Chat template (see `rlvr generate --help`); default: from each model's model_type.
    #[arg(long)]
    pub template: Option<String>,
    /// Run seed; each problem's samples depend only on (seed, question id, sample index).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Most sequences decoded at once (does not change the samples).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Start over when OUTPUT holds a run with other settings (its sample files are removed).
    #[arg(long)]
    pub overwrite: bool,
    /// Where to sample: cpu (f32 reference, continuous batching), cuda or emu (bf16 on our
    /// kernels over a device KV cache, continuous batching too). Same seeds; bf16 rounding can
    /// change near-tied choices, so run.json records the device and a resume must match it.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceArg,
    /// Storage of the weights while sampling on the CPU: f32 (the trainer's numbers) or bf16
    /// (half the bytes per decode step, so faster decoding; each weight rounded once, which can
    /// change near-tied choices). run.json records bf16 and a resume must match it.
    #[arg(long, default_value = "f32")]
    pub weights: String,
}

pub fn run(a: Args) -> Result<()> {
    let (n, defaults) = a.protocol.preset();
    let (params, max_tokens) = a.sampling.resolve(defaults)?;
    let settings = EvalSettings {
        models: a.model,
        data: a.data,
        output: a.output,
        n: a.n.unwrap_or(n),
        params,
        max_tokens,
        seed: a.seed,
        template: a.template,
        max_problems: a.max_problems,
        max_prompt_tokens: a.max_prompt_tokens,
        verifier: match a.verifier {
            VerifierArg::Correct => Mode::Correct,
            VerifierArg::Paper => Mode::Paper,
        },
        batch: a.batch,
        overwrite: a.overwrite,
        weights: super::bench_generate::weights_dtype(&a.weights).context("--weights")?,
    };
    crate::util::limits::check_count(
        "--n",
        settings.n,
        crate::util::limits::MAX_SAMPLES_PER_PROMPT,
    )?;
    let dev = a.device.kernel_device(a.seed)?;
    let label = match a.device {
        DeviceArg::Cpu => "cpu",
        DeviceArg::Cuda => "cuda",
        DeviceArg::Emu => "emu",
    };
    let results = run_eval_on(&settings, dev.as_deref().map(|d| (d, label)))?;
    for r in &results {
        let first = r.report.passk.first().map_or(f64::NAN, |x| x.1);
        let last = r.report.passk.last().copied().unwrap_or((0, f64::NAN));
        eprintln!(
            "{} on {}: {} problems ({} resumed), pass@1 {:.4}, pass@{} {:.4}",
            r.model, r.dataset, r.report.n_problems, r.resumed_problems, first, last.0, last.1
        );
    }
    eprintln!("wrote {}", settings.output.join("passk.json").display());
    Ok(())
}
