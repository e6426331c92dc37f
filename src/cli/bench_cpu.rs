//! `rlvr bench cpu` and `rlvr bench train`: CPU throughput against the GEMM's own peak.
use crate::backend::cpu::simd::isa;
use crate::bench::checkpointing::{bench_checkpointing, CheckpointRun};
use crate::bench::gemm::{gemm_peak, standard_points, GemmPoint};
use crate::bench::model::{
    bench_forward, bench_train_step, smollm2_135m_config, synthetic_135m, ModelRun,
};
use crate::bench::ops::{backward_breakdown, forward_breakdown, OpTime};
use crate::bench::train::{bench_rollout, bench_update, RolloutRun, TrainBenchSpec, UpdateRun};
use crate::bench::{load_average, set_threads};
use crate::model::init::{llama_config_json, TinySpec};
use crate::model::{Model, ModelConfig};
use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use std::path::PathBuf;

/// Square sizes swept for the peak of our GEMM (and `matrixmultiply` on the same operands).
const PEAK_SIZES: [usize; 4] = [512, 1024, 1536, 2048];

#[derive(Parser, Debug)]
pub struct CpuArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Threads for rayon and the GEMM (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sequences in the model forward/backward batch.
    #[arg(long, default_value_t = 4)]
    pub seqs: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    pub seq_len: usize,
    /// Timed repeats per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Skip the forward+backward (training step) measurement.
    #[arg(long)]
    pub no_backward: bool,
    /// Only the model's forward and forward+backward (no GEMM sweep, activation checkpointing
    /// or per-op breakdown): what `scripts/bench_vs_pytorch.sh` compares.
    #[arg(long)]
    pub model_only: bool,
    /// Only the GEMM sweep (our GEMM and `matrixmultiply` at the model's shapes): what
    /// `scripts/bench_vs_pytorch.sh` sets beside MKL (PyTorch) and OpenBLAS (NumPy).
    #[arg(long, conflicts_with = "model_only")]
    pub gemm_only: bool,
}

#[derive(Serialize)]
struct CpuReport {
    threads: usize,
    load_average_1m: Option<f64>,
    isa: &'static str,
    gemm_peak_size: usize,
    gemm_peak_gflops: f64,
    gemm: Vec<GemmRow>,
    params: usize,
    forward: Option<ModelRun>,
    train_step: Option<ModelRun>,
    activation_checkpointing: Option<CheckpointRun>,
    forward_breakdown: Vec<OpTime>,
    backward_breakdown: Vec<OpTime>,
}

#[derive(Serialize)]
struct GemmRow {
    #[serde(flatten)]
    point: GemmPoint,
    frac_of_peak: f64,
}

fn init_threads(threads: Option<usize>) -> Result<usize> {
    if let Some(t) = threads {
        anyhow::ensure!(t > 0, "--threads must be at least 1");
        set_threads(t)?;
    }
    Ok(rayon::current_num_threads())
}

pub fn run_cpu(a: CpuArgs) -> Result<()> {
    anyhow::ensure!(
        a.seqs > 0 && a.seq_len > 1,
        "--seqs must be ≥ 1 and --seq-len ≥ 2"
    );
    let threads = init_threads(a.threads)?;
    let load = load_average();
    let (peak_size, peak) = gemm_peak(if a.model_only {
        &PEAK_SIZES[1..2]
    } else {
        &PEAK_SIZES
    });
    let cfg = smollm2_135m_config()?;
    let tokens = a.seqs * a.seq_len;
    let sweep = if a.model_only {
        vec![]
    } else {
        standard_points(
            tokens,
            cfg.hidden_size,
            cfg.intermediate_size,
            cfg.kv_dim(),
            cfg.vocab_size,
        )
    };
    let gemm: Vec<GemmRow> = sweep
        .into_iter()
        .map(|p| GemmRow {
            frac_of_peak: p.gflops / peak,
            point: p,
        })
        .collect();
    let model = if a.gemm_only {
        None
    } else {
        Some(synthetic_135m(1)?)
    };
    let forward = match &model {
        Some(m) => Some(bench_forward(m, a.seqs, a.seq_len, a.repeats, peak)?),
        None => None,
    };
    let train_step = match &model {
        Some(m) if !a.no_backward => Some(bench_train_step(
            m,
            a.seqs,
            a.seq_len,
            a.repeats.min(2),
            peak,
        )?),
        _ => None,
    };
    let ckpt = match &model {
        Some(m) if !(a.no_backward || a.model_only) => {
            Some(bench_checkpointing(m, a.seqs, a.seq_len, a.repeats.min(2))?)
        }
        _ => None,
    };
    let breakdown = if a.model_only || a.gemm_only {
        vec![]
    } else {
        forward_breakdown(&cfg, a.seqs, a.seq_len, a.repeats)
    };
    let backward = if a.model_only || a.gemm_only || a.no_backward {
        vec![]
    } else {
        backward_breakdown(&cfg, a.seqs, a.seq_len, a.repeats)
    };
    let r = CpuReport {
        threads,
        load_average_1m: load,
        isa: isa().name(),
        gemm_peak_size: peak_size,
        gemm_peak_gflops: peak,
        gemm,
        params: cfg.num_params(),
        forward,
        train_step,
        activation_checkpointing: ckpt,
        forward_breakdown: breakdown,
        backward_breakdown: backward,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "threads {threads}, load average (1 min) {}",
        load.map_or("n/a".into(), |l| format!("{l:.2}"))
    );
    println!(
        "GEMM peak ({} kernels, {peak_size}³): {peak:.1} GFLOP/s",
        r.isa
    );
    println!(
        "{:<36} {:>10} {:>8} {:>16} {:>7}",
        "gemm (M x K x N)", "GFLOP/s", "of peak", "matrixmultiply", "ratio"
    );
    for g in &r.gemm {
        println!(
            "{:<36} {:>10.1} {:>7.0}% {:>16.1} {:>6.2}x",
            g.point.name,
            g.point.gflops,
            100.0 * g.frac_of_peak,
            g.point.matrixmultiply_gflops,
            g.point.gflops / g.point.matrixmultiply_gflops
        );
    }
    if r.forward.is_none() {
        return Ok(());
    }
    println!(
        "model: SmolLM2-135M shape, {} params, random weights",
        r.params
    );
    let line = |m: &ModelRun| {
        println!(
            "{:<17} {}x{} tokens: {:.3} s, {:.0} tokens/s (best {:.0}), {:.1} GFLOP/s = {:.0}% of GEMM peak",
            m.what,
            m.seqs,
            m.seq_len,
            m.seconds,
            m.tokens_per_s,
            m.best_tokens_per_s,
            m.gflops,
            100.0 * m.frac_of_gemm_peak
        )
    };
    if let Some(f) = &r.forward {
        line(f);
    }
    if let Some(t) = &r.train_step {
        line(t);
    }
    if let Some(c) = &r.activation_checkpointing {
        println!(
            "activation checkpointing: saved activations {:.1} MiB → {:.1} MiB (+{:.1} MiB for the layer being recomputed), fwd+bwd time ratio {:.2} ({:.2} s → {:.2} s; CPU-time ratio {})",
            c.saved_mib_plain, c.saved_mib_ckpt, c.recompute_mib, c.time_ratio, c.seconds_plain, c.seconds_ckpt,
            c.cpu_time_ratio.map_or("n/a".into(), |r| format!("{r:.2}"))
        );
    }
    for (pass, ops) in [
        ("forward", &r.forward_breakdown),
        ("backward", &r.backward_breakdown),
    ] {
        if ops.is_empty() {
            continue;
        }
        println!("{pass} time by op (kernels alone at the model's shapes):");
        for o in ops {
            println!(
                "  {:<28} {:>8.3} s {:>5.1}%",
                o.op,
                o.seconds,
                100.0 * o.share
            );
        }
    }
    Ok(())
}

#[derive(Parser, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["model", "synthetic_135m", "tiny"])))]
pub struct TrainArgs {
    /// A Hugging Face model directory to benchmark.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A random model of SmolLM2-135M's shape (no download).
    #[arg(long)]
    pub synthetic_135m: bool,
    /// The tiny character-level demo model shape (random weights).
    #[arg(long)]
    pub tiny: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Threads for rayon and the GEMM (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sequences decoded at once in the rollout.
    #[arg(long, default_value_t = 32)]
    pub rollout_batch: usize,
    /// Samples per prompt (the rollout has rollout_batch / this prompts).
    #[arg(long, default_value_t = 8)]
    pub samples_per_prompt: usize,
    /// Prompt tokens per sequence.
    #[arg(long, default_value_t = 32)]
    pub prompt_len: usize,
    /// Response tokens per sequence (generated in the rollout, trained on in the update).
    #[arg(long, default_value_t = 32)]
    pub response_len: usize,
    /// Sequences in the update (one optimizer step).
    #[arg(long, default_value_t = 8)]
    pub update_seqs: usize,
}

#[derive(Serialize)]
struct TrainReport {
    model: String,
    params: usize,
    threads: usize,
    load_average_1m: Option<f64>,
    gemm_peak_gflops: f64,
    rollout: RolloutRun,
    update: UpdateRun,
}

pub fn run_train(a: TrainArgs) -> Result<()> {
    anyhow::ensure!(
        a.prompt_len > 0 && a.response_len > 0 && a.update_seqs > 0,
        "--prompt-len, --response-len and --update-seqs must be positive"
    );
    let threads = init_threads(a.threads)?;
    let load = load_average();
    let (name, mut model) = if let Some(dir) = &a.model {
        let m = Model::load(dir).with_context(|| format!("loading {}", dir.display()))?;
        (dir.display().to_string(), m)
    } else if a.synthetic_135m {
        (
            "synthetic SmolLM2-135M shape".to_string(),
            synthetic_135m(1)?,
        )
    } else {
        let s = TinySpec::default();
        let vocab = crate::tokenizer::charlevel::vocab().len();
        let cfg = ModelConfig::from_json(llama_config_json(
            vocab,
            s.hidden,
            s.intermediate,
            s.layers,
            s.heads,
            s.kv_heads,
            true,
            1,
            0,
        ))?;
        (
            "tiny (demo shape)".to_string(),
            Model::random(cfg, 0.1, s.seed)?,
        )
    };
    let (_, peak) = gemm_peak(&PEAK_SIZES);
    let spec = TrainBenchSpec {
        rollout_batch: a.rollout_batch,
        samples_per_prompt: a.samples_per_prompt,
        prompt_len: a.prompt_len,
        response_len: a.response_len,
        update_seqs: a.update_seqs,
    };
    let rollout = bench_rollout(&model, &spec)?;
    let update = bench_update(&mut model, &spec, peak)?;
    let r = TrainReport {
        model: name,
        params: model.config.num_params(),
        threads,
        load_average_1m: load,
        gemm_peak_gflops: peak,
        rollout,
        update,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{} ({} params), threads {threads}, load average (1 min) {}",
        r.model,
        r.params,
        load.map_or("n/a".into(), |l| format!("{l:.2}"))
    );
    println!("GEMM peak: {peak:.1} GFLOP/s");
    println!(
        "rollout: {} sequences × {} new tokens (prompt {}): {:.2} s, {:.1} tokens/s",
        r.rollout.sequences,
        spec.response_len,
        r.rollout.prompt_len,
        r.rollout.seconds,
        r.rollout.tokens_per_s
    );
    println!(
        "update: {} sequences, {} tokens ({} response): {:.2} s, {:.1} tokens/s ({:.1} response tokens/s), {:.1} GFLOP/s, MFU {:.0}% of GEMM peak",
        r.update.sequences,
        r.update.tokens,
        r.update.response_tokens,
        r.update.seconds,
        r.update.tokens_per_s,
        r.update.response_tokens_per_s,
        r.update.gflops,
        100.0 * r.update.mfu_vs_gemm_peak
    );
    Ok(())
}
