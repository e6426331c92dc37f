//! `rlvr bench generate`: decode throughput of the KV-cached forward (the generation engine's
//! inner step: one batched forward of every sequence's last token, the LM head, and a draw per
//! row) at several batch sizes, and the memory-bandwidth roofline of each.
//!
//! Bytes read per step = the packed weights the step streams (every matrix once, f32 or bf16;
//! the embedding table only as the LM head when tied, plus one f32 embedding row per sequence),
//! plus every sequence's K and V cache. Roofline = those bytes / this machine's memcpy bandwidth (read + write traffic of a
//! multi-threaded copy, measured in the same run). At large batch the CPU is compute-bound, so
//! GFLOP/s is reported as well.
//!
//! `--device cuda` times the device decode step instead (bf16 weights and KV cache) against the
//! GPU's measured copy bandwidth; `--device emu` runs that step once per batch size on the
//! emulator with counters and prints the ESTIMATED H100 time (`bench::profile`), not a timing.
use crate::backend::cpu::simd::isa;
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::{detect, gpu::Gpu};
use crate::bench::efficiency::hardware::H100_SXM;
use crate::bench::profile::{profile_config, DecodeStep, ModelShape, ProfileOptions, StepKind};
use crate::model::decode::Decoder;
use crate::model::init::llama_config_json;
use crate::model::kv_cache::{Chunk, SeqCache};
use crate::model::{Model, ModelConfig};
use crate::tensor::DType;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

/// Measure decode tokens/s at each batch size and compare with the memory-bandwidth roofline.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory to benchmark.
    #[arg(
        long,
        required_unless_present = "synthetic_135m",
        conflicts_with = "synthetic_135m"
    )]
    pub model: Option<PathBuf>,
    /// Random weights in the SmolLM2-135M shape (30 layers, hidden 576, FFN 1536, 9 heads / 3
    /// KV heads, vocab 49152, tied embeddings): no download needed.
    #[arg(long)]
    pub synthetic_135m: bool,
    /// Batch sizes (sequences decoded at once), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32,256")]
    pub batch: Vec<usize>,
    /// Timed decode steps per batch size (after one untimed warm-up step).
    #[arg(long, default_value_t = 4)]
    pub tokens: usize,
    /// Tokens of context every sequence starts with (a prefilled prompt shared by all).
    #[arg(long, default_value_t = 16)]
    pub context: usize,
    /// Buffer size of the memcpy bandwidth measurement, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memcpy_mib: usize,
    /// Storage of the weights during generation: f32 (the trainer's numbers) or bf16 (half the
    /// bytes per step, each weight rounded once).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    pub weights: String,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measure the device decode step instead of the CPU engine's: `cuda` times it on the GPU,
    /// `emu` ESTIMATES its H100 time from emulator counts (nothing is timed).
    #[arg(long, value_enum)]
    pub device: Option<GenerateDevice>,
    /// With `--device emu`: most blocks one launch runs; a larger grid runs a stratified sample
    /// and is extrapolated (as `rlvr profile`).
    #[arg(long, default_value_t = 24)]
    pub max_blocks: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerateDevice {
    /// The kernel emulator with counters: an estimated H100 step time.
    Emu,
    /// The GPU: timed decode steps.
    Cuda,
}

/// `f32` or `bf16` as the weights' storage type.
pub fn weights_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        _ => bail!("unknown weight type {name:?} (f32 or bf16)"),
    }
}

/// The SmolLM2-135M shape with random weights.
pub fn synthetic_135m() -> Result<Model> {
    let mut cfg = llama_config_json(49152, 576, 1536, 30, 9, 3, true, 1, 2);
    cfg["max_position_embeddings"] = 8192.into();
    cfg["rope_theta"] = 100000.0.into();
    Model::random(ModelConfig::from_json(cfg)?, 0.02, 0)
}

/// Best-of-5 multi-threaded copy of `mib` MiB; returns read + write bytes per second.
pub fn memcpy_bandwidth(mib: usize) -> f64 {
    let n = mib.max(1) << 20;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let chunk = 1 << 20;
    let mut best = f64::INFINITY;
    for _ in 0..6 {
        let t = Instant::now();
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    2.0 * n as f64 / best
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchResult {
    pub batch: usize,
    pub steps: usize,
    pub step_ms: f64,
    pub tokens_per_s: f64,
    /// Weights + KV bytes read per step (mean over the timed steps).
    pub bytes_per_step: f64,
    pub kv_bytes_per_step: f64,
    /// bytes_per_step / step time.
    pub achieved_gbps: f64,
    /// achieved_gbps / memcpy bandwidth.
    pub roofline_fraction: f64,
    /// Tokens/s if a step took only bytes_per_step at memcpy bandwidth.
    pub roofline_tokens_per_s: f64,
    pub gflops: f64,
}

/// Weight bytes one decode step reads for `batch` sequences: the packed matrices (LM head
/// included), the norms, one embedding row per sequence.
fn weight_bytes(decoder: &Decoder<'_>, batch: usize) -> f64 {
    let cfg = &decoder.model.config;
    let norms = (2 * cfg.num_layers + 1) * cfg.hidden_size;
    decoder.weight_bytes() as f64 + 4.0 * (norms + batch * cfg.hidden_size) as f64
}

/// Multiply-adds ×2 of one decode step for `batch` sequences attending over `ctx` positions.
fn step_flops(cfg: &ModelConfig, batch: usize, ctx: f64) -> f64 {
    let vd = cfg.vocab_size * cfg.hidden_size;
    let head = if cfg.tie_word_embeddings { 0 } else { vd };
    // Every matrix but the embedding table, plus the LM head (counted once either way).
    let linear = cfg.num_params() - vd - head + vd;
    let attn = 4.0 * (cfg.num_layers * cfg.num_heads * cfg.head_dim) as f64 * ctx;
    batch as f64 * (2.0 * linear as f64 + attn)
}

fn argmax(z: &[f32]) -> u32 {
    z.iter()
        .enumerate()
        .fold(0usize, |b, (i, &x)| if x > z[b] { i } else { b }) as u32
}

/// Time `steps` decode steps of `batch` sequences that share a prefilled `context`.
pub fn bench_batch(
    decoder: &Decoder<'_>,
    base: &SeqCache,
    batch: usize,
    steps: usize,
    bandwidth: f64,
) -> Result<BatchResult> {
    let cfg = &decoder.model.config;
    let vocab = cfg.vocab_size;
    let mut caches: Vec<SeqCache> = vec![base.clone(); batch];
    let mut last: Vec<u32> = (0..batch)
        .map(|i| ((i * 7919 + 13) % vocab) as u32)
        .collect();
    let kv_row = (2 * cfg.num_layers * cfg.kv_dim() * 4) as f64;
    let step = |caches: &mut Vec<SeqCache>, last: &mut Vec<u32>| -> Result<()> {
        let h = {
            let mut chunks: Vec<Chunk<'_>> = caches
                .iter_mut()
                .zip(last.iter())
                .map(|(c, t)| Chunk {
                    cache: c,
                    tokens: std::slice::from_ref(t),
                })
                .collect();
            decoder.forward(&mut chunks)?
        };
        let logits = decoder.logits(&h);
        *last = logits.data().par_chunks(vocab).map(argmax).collect();
        Ok(())
    };
    step(&mut caches, &mut last)?;
    let mut kv_bytes = 0.0;
    let mut ctx_sum = 0.0;
    let t = Instant::now();
    for _ in 0..steps {
        let ctx = (caches[0].len + 1) as f64;
        ctx_sum += ctx;
        kv_bytes += batch as f64 * ctx * kv_row;
        step(&mut caches, &mut last)?;
    }
    let secs = t.elapsed().as_secs_f64().max(1e-12);
    let steps_f = steps as f64;
    let step_s = secs / steps_f;
    let kv_per_step = kv_bytes / steps_f;
    let bytes = weight_bytes(decoder, batch) + kv_per_step;
    let flops = step_flops(cfg, batch, ctx_sum / steps_f);
    Ok(BatchResult {
        batch,
        steps,
        step_ms: step_s * 1e3,
        tokens_per_s: batch as f64 / step_s,
        bytes_per_step: bytes,
        kv_bytes_per_step: kv_per_step,
        achieved_gbps: bytes / step_s / 1e9,
        roofline_fraction: bytes / step_s / bandwidth,
        roofline_tokens_per_s: batch as f64 / (bytes / bandwidth),
        gflops: flops / step_s / 1e9,
    })
}

pub fn run(a: Args) -> Result<()> {
    if a.tokens == 0 {
        bail!("--tokens must be at least 1");
    }
    if a.context == 0 {
        bail!("--context must be at least 1");
    }
    if a.batch.is_empty() || a.batch.contains(&0) {
        bail!("--batch: every batch size must be at least 1");
    }
    if let Some(device) = a.device {
        return run_device(&a, device);
    }
    let dtype = weights_dtype(&a.weights)?;
    if let Some(t) = a.threads {
        anyhow::ensure!(t > 0, "--threads must be at least 1");
        crate::bench::set_threads(t)?;
    }
    let (model, name) = match &a.model {
        Some(dir) => (
            Model::load(dir).with_context(|| format!("loading model {}", dir.display()))?,
            dir.display().to_string(),
        ),
        None => (
            synthetic_135m()?,
            "synthetic SmolLM2-135M shape".to_string(),
        ),
    };
    let cfg = &model.config;
    if a.context + a.tokens + 1 > cfg.max_position_embeddings {
        bail!(
            "--context + --tokens exceed the model's context ({})",
            cfg.max_position_embeddings
        );
    }
    let bandwidth = memcpy_bandwidth(a.memcpy_mib);
    let decoder = Decoder::new(&model, dtype);
    let prompt: Vec<u32> = (0..a.context)
        .map(|i| ((i * 131 + 7) % cfg.vocab_size) as u32)
        .collect();
    let mut base = SeqCache::new(&model);
    decoder.forward(&mut [Chunk {
        cache: &mut base,
        tokens: &prompt,
    }])?;
    let mut results = Vec::new();
    for &b in &a.batch {
        results.push(bench_batch(&decoder, &base, b, a.tokens, bandwidth)?);
    }
    let threads = rayon::current_num_threads();
    if a.json {
        let v = serde_json::json!({
            "model": name,
            "params": cfg.num_params(),
            "layers": cfg.num_layers,
            "hidden": cfg.hidden_size,
            "vocab": cfg.vocab_size,
            "dtype": a.weights,
            "isa": isa().name(),
            "threads": threads,
            "context": a.context,
            "memcpy_gbps": bandwidth / 1e9,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "model: {name}, {:.1}M params ({} weights, {} kernels), {} layers, hidden {}, vocab {}",
        cfg.num_params() as f64 / 1e6,
        a.weights,
        isa().name(),
        cfg.num_layers,
        cfg.hidden_size,
        cfg.vocab_size
    );
    println!(
        "machine: {threads} threads, memcpy {:.2} GB/s (read + write, best of 6 over {} MiB); context {} + {} steps",
        bandwidth / 1e9,
        a.memcpy_mib,
        a.context,
        a.tokens
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>9} {:>9} {:>12} {:>9}",
        "batch", "step ms", "tok/s", "MB/step", "GB/s", "roofline", "roof tok/s", "GFLOP/s"
    );
    for r in &results {
        println!(
            "{:>6} {:>10.1} {:>10.1} {:>10.1} {:>9.2} {:>8.1}% {:>12.1} {:>9.2}",
            r.batch,
            r.step_ms,
            r.tokens_per_s,
            r.bytes_per_step / 1e6,
            r.achieved_gbps,
            100.0 * r.roofline_fraction,
            r.roofline_tokens_per_s,
            r.gflops
        );
    }
    Ok(())
}

/// One batch size of the device decode step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceBatchResult {
    pub batch: usize,
    /// Step time: measured on `cuda`, the ESTIMATED H100 time on `emu`.
    pub step_ms: f64,
    pub tokens_per_s: f64,
    /// What the step must read: the bf16 weights once and every sequence's bf16 K and V once.
    pub must_read_bytes: f64,
    /// The roofline's bytes: `must_read_bytes` on `cuda`; on `emu` the distinct bytes the
    /// step's launches touched, as counted.
    pub roofline_bytes: f64,
    /// The bandwidth the roofline assumes, GB/s.
    pub bandwidth_gbps: f64,
    /// (roofline_bytes / bandwidth) / step time.
    pub roofline_fraction: f64,
    /// (must_read_bytes / bandwidth) / step time: on `emu` a check of the counted footprint,
    /// which a sampled launch's extrapolation can undercount.
    pub must_read_roofline_fraction: f64,
    pub label: String,
}

/// The device mode: validate, then time (`cuda`) or estimate (`emu`) each batch size.
fn run_device(a: &Args, device: GenerateDevice) -> Result<()> {
    if a.weights != "f32" || a.threads.is_some() {
        bail!("--weights and --threads are for the CPU engine; the device step runs bf16 weights");
    }
    let (cfg, name) = device_config(a)?;
    if a.context + 1 > cfg.max_position_embeddings {
        bail!(
            "--context exceeds the model's context ({})",
            cfg.max_position_embeddings
        );
    }
    let (results, device_name) = match device {
        GenerateDevice::Emu => (estimate_all(a, &cfg)?, "emulator".to_string()),
        GenerateDevice::Cuda => time_all(a, &cfg)?,
    };
    print_device(a, device, &name, &device_name, &cfg, &results)
}

/// The model's shapes: the config of `--model`'s directory, or SmolLM2-135M's.
fn device_config(a: &Args) -> Result<(ModelConfig, String)> {
    match &a.model {
        Some(dir) => {
            let path = dir.join("config.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            let cfg = ModelConfig::from_json(json)
                .with_context(|| format!("model config {}", path.display()))?;
            Ok((cfg, dir.display().to_string()))
        }
        None => Ok((
            ModelShape::Smollm2_135m.config()?,
            "synthetic SmolLM2-135M shape".to_string(),
        )),
    }
}

/// Bytes one device decode step must read for `batch` sequences with `context` cached tokens:
/// every bf16 weight once (a tied embedding once, as the LM head) and the K and V of the
/// `context + 1` positions each sequence attends over.
fn device_must_read_bytes(cfg: &ModelConfig, batch: usize, context: usize) -> f64 {
    let kv = 2 * cfg.num_layers * cfg.kv_dim() * (context + 1) * batch;
    2.0 * (cfg.num_params() + kv) as f64
}

/// One emulated decode step per batch size with counters, as `rlvr profile --step decode`.
fn estimate_all(a: &Args, cfg: &ModelConfig) -> Result<Vec<DeviceBatchResult>> {
    if a.max_blocks == 0 {
        bail!("--max-blocks must be at least 1");
    }
    let bandwidth = H100_SXM.hbm_gbps * 1e9;
    a.batch
        .iter()
        .map(|&batch| {
            let o = ProfileOptions {
                // Not read: profile_config takes the shapes from `cfg`.
                shape: ModelShape::Smollm2_135m,
                step: StepKind::Decode,
                batch,
                seq_len: a.context,
                max_blocks: a.max_blocks,
                full_loops: false,
                seed: 0,
            };
            let p = profile_config(cfg, "bench generate", &o)
                .with_context(|| format!("emulated decode step at batch {batch}"))?;
            let touched: f64 = p.kernels.iter().map(|k| k.record.unique_bytes).sum();
            let must_read = device_must_read_bytes(cfg, batch, a.context);
            let secs = p.est_h100_us * 1e-6;
            let fraction = |bytes: f64| {
                if secs > 0.0 {
                    bytes / bandwidth / secs
                } else {
                    0.0
                }
            };
            Ok(DeviceBatchResult {
                batch,
                step_ms: p.est_h100_us / 1e3,
                tokens_per_s: p.tokens_per_s_h100,
                must_read_bytes: must_read,
                roofline_bytes: touched,
                bandwidth_gbps: bandwidth / 1e9,
                roofline_fraction: fraction(touched),
                must_read_roofline_fraction: fraction(must_read),
                label: format!("ESTIMATE for an H100 SXM: {}", p.label),
            })
        })
        .collect()
}

/// Timed device decode steps per batch size on the GPU, against its measured copy bandwidth.
fn time_all(a: &Args, cfg: &ModelConfig) -> Result<(Vec<DeviceBatchResult>, String)> {
    if let Err(e) = detect::cuda_available() {
        bail!(
            "bench generate --device cuda: no GPU here ({e}); use --device emu for the estimated \
             H100 step time from emulator counts"
        );
    }
    let gpu = Gpu::new(0).context("opening GPU 0")?;
    let bandwidth = copy_bandwidth(&gpu, a.memcpy_mib)?;
    let label = format!("measured on {}", gpu.name());
    let results = a
        .batch
        .iter()
        .map(|&batch| {
            let step = DecodeStep::new(&gpu, cfg, batch, a.context, 0)
                .with_context(|| format!("allocating the decode step at batch {batch}"))?;
            // The first step compiles nothing but pays first-touch costs: untimed.
            step.run(&gpu)?;
            let t = Instant::now();
            for _ in 0..a.tokens {
                step.run(&gpu)?;
            }
            let step_s = t.elapsed().as_secs_f64().max(1e-12) / a.tokens as f64;
            let bytes = device_must_read_bytes(cfg, batch, a.context);
            Ok(DeviceBatchResult {
                batch,
                step_ms: step_s * 1e3,
                tokens_per_s: batch as f64 / step_s,
                must_read_bytes: bytes,
                roofline_bytes: bytes,
                bandwidth_gbps: bandwidth / 1e9,
                roofline_fraction: bytes / bandwidth / step_s,
                must_read_roofline_fraction: bytes / bandwidth / step_s,
                label: label.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((results, gpu.name()))
}

/// Best-of-5 device-to-device copy of `mib` MiB; read + write bytes per second (as the CPU
/// path's memcpy figure).
fn copy_bandwidth(gpu: &Gpu, mib: usize) -> Result<f64> {
    let n = mib.max(1) << 20;
    let (src, dst) = (gpu.alloc_bytes(n)?, gpu.alloc_bytes(n)?);
    let mut best = f64::INFINITY;
    for _ in 0..6 {
        let t = Instant::now();
        gpu.copy_async(&dst, &src, n)?;
        gpu.synchronize()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(2.0 * n as f64 / best.max(1e-12))
}

fn print_device(
    a: &Args,
    device: GenerateDevice,
    name: &str,
    device_name: &str,
    cfg: &ModelConfig,
    results: &[DeviceBatchResult],
) -> Result<()> {
    let estimate = device == GenerateDevice::Emu;
    if a.json {
        let v = serde_json::json!({
            "model": name,
            "params": cfg.num_params(),
            "layers": cfg.num_layers,
            "hidden": cfg.hidden_size,
            "vocab": cfg.vocab_size,
            "device": device,
            "device_name": device_name,
            "estimate": estimate,
            "context": a.context,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "model: {name}, {:.1}M params (bf16 weights and KV cache), {} layers, hidden {}, vocab {}; \
         context {}",
        cfg.num_params() as f64 / 1e6,
        cfg.num_layers,
        cfg.hidden_size,
        cfg.vocab_size,
        a.context
    );
    if estimate {
        println!(
            "device: emulator — every time below is an ESTIMATE for an H100 SXM from emulator \
             counts and published peaks, not a measurement; roofline = distinct bytes touched \
             (must-read: weights + KV once) at {} GB/s over the estimated step",
            H100_SXM.hbm_gbps
        );
    } else {
        println!(
            "device: {device_name}, measured over {} steps after one untimed; roofline = weights \
             + KV bytes at the device copy bandwidth ({:.0} GB/s, read + write) over the step",
            a.tokens,
            results.first().map_or(0.0, |r| r.bandwidth_gbps)
        );
    }
    let time = if estimate { "est ms" } else { "step ms" };
    println!(
        "{:>6} {:>10} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "batch", time, "tok/s", "MB must-read", "MB roofline", "roofline", "must-read"
    );
    for r in results {
        println!(
            "{:>6} {:>10.3} {:>12.0} {:>12.1} {:>12.1} {:>8.1}% {:>8.1}%",
            r.batch,
            r.step_ms,
            r.tokens_per_s,
            r.must_read_bytes / 1e6,
            r.roofline_bytes / 1e6,
            100.0 * r.roofline_fraction,
            100.0 * r.must_read_roofline_fraction
        );
    }
    Ok(())
}
