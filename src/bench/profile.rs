//! `rlvr profile`: one RL update step (forward, fused log-prob head, backward, grad-norm clip and
//! AdamW) or one decode step (every layer for one new token per sequence, the LM head GEMM and
//! sampling) of a model at its real shapes, run by the device-model code on the emulator with
//! counters on, as a per-kernel table like a profiler's summary: launches, share of the estimated
//! time, binding limit; then the ESTIMATED step time, tokens/s and MFU on an H100 SXM.
//!
//! Weights and activations are lazily mapped zeros (a sampled launch touches a small part of
//! them), so the counts are those of the code paths zeros take; data-dependent work (sampling's
//! top-p cut) may differ from a real model's.
use crate::backend::cuda::device::{alloc, download, upload, DevBuf, KernelDevice};
use crate::backend::cuda::gemm::{gemm_bf16, Gemm, Strides};
use crate::backend::cuda::model::kv_cache::KvCache;
use crate::backend::cuda::model::memory::{metered_step, shape_model, MemoryMeter};
use crate::backend::cuda::model::DeviceModel;
use crate::backend::cuda::optim::{adamw_multi_f32, AdamW, AdamwTable, AdamwTensor};
use crate::backend::cuda::reduce::grad_norm_f32;
use crate::backend::cuda::sampling::{sample_keys, sample_rows_params, SampledDev};
use crate::backend::emu::{CountPolicy, Counts, EmuDevice, LaunchCount};
use crate::bench::efficiency::hardware::H100_SXM;
use crate::bench::efficiency::{measure, per_kernel_with, EfficiencyRecord, OpCost};
use crate::generate::sampling::SamplingParams;
use crate::model::{Batch, ModelConfig};
use anyhow::{bail, Context, Result};
use serde::Serialize;

/// The models `rlvr profile` knows the shapes of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum ModelShape {
    #[value(name = "smollm2-135m")]
    Smollm2_135m,
    #[value(name = "qwen2.5-1.5b")]
    Qwen25_1_5b,
    #[value(name = "qwen2.5-7b")]
    Qwen25_7b,
    /// A two-layer Llama shape small enough to profile in seconds (tests).
    #[value(name = "tiny")]
    Tiny,
}

impl ModelShape {
    pub fn label(self) -> &'static str {
        match self {
            ModelShape::Smollm2_135m => "SmolLM2-135M",
            ModelShape::Qwen25_1_5b => "Qwen2.5-1.5B",
            ModelShape::Qwen25_7b => "Qwen2.5-Math-7B",
            ModelShape::Tiny => "tiny (2 layers)",
        }
    }

    /// The model's config.json fields that set its shapes (architecture, sizes, biases, tying).
    pub fn config(self) -> Result<ModelConfig> {
        // (arch, vocab, hidden, ffn, layers, heads, kv heads, tied)
        let (arch, vocab, d, f, layers, heads, kv, tie) = match self {
            ModelShape::Smollm2_135m => ("LlamaForCausalLM", 49_152, 576, 1536, 30, 9, 3, true),
            ModelShape::Qwen25_1_5b => ("Qwen2ForCausalLM", 151_936, 1536, 8960, 28, 12, 2, true),
            ModelShape::Qwen25_7b => ("Qwen2ForCausalLM", 152_064, 3584, 18_944, 28, 28, 4, false),
            ModelShape::Tiny => ("LlamaForCausalLM", 1024, 256, 512, 2, 4, 2, true),
        };
        let mut c =
            crate::model::init::llama_config_json(vocab, d, f, layers, heads, kv, tie, 1, 0);
        c["architectures"] = serde_json::json!([arch]);
        c["max_position_embeddings"] = 32_768.into();
        ModelConfig::from_json(c).with_context(|| format!("{} config", self.label()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum StepKind {
    /// Forward, fused log-prob head, backward, grad-norm clip and AdamW on `batch` sequences.
    Update,
    /// One new token for each of `batch` sequences with `seq_len` tokens cached.
    Decode,
}

#[derive(Clone, Copy, Debug)]
pub struct ProfileOptions {
    pub shape: ModelShape,
    pub step: StepKind,
    pub batch: usize,
    /// Tokens per sequence (update) or tokens already cached per sequence (decode).
    pub seq_len: usize,
    /// Most blocks a launch runs; larger grids are sampled and extrapolated.
    pub max_blocks: usize,
    /// Run every block's K loop to its real length instead of shortening it (exact but slow at
    /// real shapes: a check of the shortened counts).
    pub full_loops: bool,
    pub seed: u64,
}

/// One kernel of the step.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileRow {
    #[serde(flatten)]
    pub record: EfficiencyRecord,
    /// Its share of the step's estimated H100 time.
    pub share: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepProfile {
    pub model: &'static str,
    pub step: StepKind,
    pub batch: usize,
    pub seq_len: usize,
    /// Tokens the step processes (update: all of them; decode: one per sequence).
    pub tokens: usize,
    pub kernels: Vec<ProfileRow>,
    pub launches: usize,
    /// Launches counted as an earlier identical one (the same kernel, shape and scalars).
    pub reused_launches: usize,
    /// Launches whose K loop ran shortened twice, the counts extended to its length.
    pub shortened_launches: usize,
    pub htod_copies: u64,
    pub dtoh_copies: u64,
    pub synchronizations: u64,
    /// The op's matrix FLOPs (GEMMs and attention's products) over the whole step.
    pub matrix_flops: f64,
    pub est_h100_us: f64,
    pub est_a100_us: f64,
    pub tokens_per_s_h100: f64,
    /// Matrix FLOPs over the estimated time at the H100's dense bf16 peak.
    pub mfu_h100: f64,
    pub label: &'static str,
}

/// Query-key pairs of the step's attention and the cached keys per decoded row.
struct AttnWork {
    pairs: f64,
    n_q_heads: f64,
    head_dim: f64,
}

/// The op's matrix FLOPs of one launch, where the kernel's arguments or the step's shape tell it.
fn cost_of(l: &LaunchCount, a: &AttnWork) -> OpCost {
    let arg = |i: usize| l.args.get(i).map_or(0.0, |&v| v as u32 as i32 as f64);
    let attn = |products: f64| 2.0 * products * a.head_dim * a.n_q_heads * a.pairs;
    let k = l.kernel.as_str();
    let flops = match k {
        // (c_f32, c_bf16, a, b, M, N, K, ...) with the batch in grid z.
        "gemm_bf16_mma" | "gemm_bf16_mma_kc" => {
            Some(2.0 * arg(4) * arg(5) * arg(6) * l.grid[2] as f64)
        }
        // The pipelined rungs: (c_f32, c_bf16, a, b, bias, residual, M, N, K, lda, ldb,
        // batch_a, batch_b, batch_c, alpha, beta, splits), grid z = batch × splits.
        _ if k.starts_with("gemm_bf16_ldsm_")
            || k.starts_with("gemm_bf16_t")
            || k.starts_with("gemm_bf16_rows") =>
        {
            let splits = arg(16).max(1.0);
            // The fused gate/up + SwiGLU kernel runs both products in one grid layer.
            let products = if k.contains("swiglu") { 2.0 } else { 1.0 };
            Some(products * 2.0 * arg(6) * arg(7) * arg(8) * l.grid[2] as f64 / splits)
        }
        // S = QKᵀ and O = PV (every rung of the forward and of decode).
        _ if k.starts_with("attn_fwd_")
            || k == "attn_decode_bf16"
            || k == "attn_decode_split_bf16"
            || k.starts_with("attn_decode_tiles_") =>
        {
            Some(attn(2.0))
        }
        // The products each backward kernel computes: S recomputed, dP = dO·Vᵀ, dV = Pᵀ·dO and
        // dK = dSᵀ·Q in the dK/dV pass; S and dP again and dQ = dS·K in the dQ pass (every rung
        // recomputes there rather than sum dQ with atomics).
        _ if k.starts_with("attn_bwd_dkdv_") => Some(attn(4.0)),
        _ if k.starts_with("attn_bwd_dq_") => Some(attn(3.0)),
        _ => None,
    };
    OpCost {
        matrix_flops: flops,
        compulsory_bytes: None,
    }
}

/// The profiled update step of a model of `cfg`'s shape on `dev` (weights unset).
pub fn update_step(dev: &dyn KernelDevice, cfg: &ModelConfig, o: &ProfileOptions) -> Result<()> {
    let model = shape_model(dev, cfg)?;
    let tokens: Vec<Vec<u32>> = (0..o.batch)
        .map(|s| {
            (0..o.seq_len)
                .map(|t| ((s * 7 + t) % cfg.vocab_size) as u32)
                .collect()
        })
        .collect();
    let batch = Batch::from_sequences(&tokens);
    // Every token but the first of each sequence is scored, as in an RL update of a response.
    let suffix = vec![o.seq_len - 1; o.batch];
    let g = vec![-1.0 / (o.batch * (o.seq_len - 1)) as f32; o.batch * (o.seq_len - 1)];
    let zeros = vec![0.0; g.len()];
    let meter = MemoryMeter::new(dev);
    let step = metered_step(&meter, &model, &batch, &suffix, 1.0, (&g, &zeros), false)?;
    // The optimizer: global-norm clip and AdamW on f32 masters and moments, writing the bf16
    // weights (as `DeviceUpdater::apply_gradients`).
    let refs: Vec<&DevBuf<f32>> = step.grads.bufs.iter().collect();
    let norm = grad_norm_f32(dev, &refs, 1.0)?;
    download(dev, &norm)?;
    let h = AdamW {
        lr: 1e-6,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        step: 1,
    };
    let state = model
        .params
        .iter()
        .map(|p| {
            Ok((
                alloc::<f32>(dev, p.len())?,
                alloc::<f32>(dev, p.len())?,
                alloc::<f32>(dev, p.len())?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let parts: Vec<AdamwTensor<'_>> = state
        .iter()
        .zip(model.params.iter().zip(&step.grads.bufs))
        .map(|((master, m, v), (p, g))| AdamwTensor {
            param: master,
            m,
            v,
            param_bf16: Some(p),
            grad: g,
        })
        .collect();
    let table = AdamwTable::new(dev, &parts)?;
    adamw_multi_f32(dev, &table, Some((&norm, 1)), &h)?;
    Ok(())
}

/// One decode step's buffers, allocated once so that a timed loop runs only the step: a model of
/// `cfg`'s shapes (weights unset), a KV cache of `seq_len` tokens per sequence, the logits, the
/// sampler's keys and its output.
pub struct DecodeStep {
    model: DeviceModel,
    cache: KvCache,
    tokens: Vec<u32>,
    pos: Vec<usize>,
    slots: Vec<usize>,
    logits: DevBuf<f32>,
    keys: DevBuf<u32>,
    out: SampledDev,
    params: Vec<(u64, SamplingParams)>,
}

impl DecodeStep {
    pub fn new(
        dev: &dyn KernelDevice,
        cfg: &ModelConfig,
        batch: usize,
        seq_len: usize,
        seed: u64,
    ) -> Result<Self> {
        let model = shape_model(dev, cfg)?;
        let cache = KvCache::alloc(dev, &model, batch, seq_len + 1)?;
        let streams: Vec<u64> = (0..batch as u64).collect();
        let steps = vec![seq_len as u64; batch];
        Ok(DecodeStep {
            tokens: (0..batch).map(|i| (i % cfg.vocab_size) as u32).collect(),
            pos: vec![seq_len; batch],
            slots: (0..batch).collect(),
            logits: alloc::<f32>(dev, batch * cfg.vocab_size)?,
            keys: upload(dev, &sample_keys(&streams, &steps)?)?,
            out: SampledDev::alloc(dev, batch)?,
            params: vec![(seed, SamplingParams::default()); batch],
            model,
            cache,
        })
    }

    /// Every layer for one new token per sequence, the LM head GEMM, sampling, and the read-back
    /// of the sampled tokens (which waits for the device).
    pub fn run(&self, dev: &dyn KernelDevice) -> Result<()> {
        let cfg = &self.model.config;
        let batch = self.tokens.len();
        let hidden =
            self.model
                .decode_step(dev, &self.cache, &self.tokens, &self.pos, &self.slots)?;
        let (vocab, d) = (cfg.vocab_size, cfg.hidden_size);
        let g = Gemm {
            batch: 1,
            m: batch,
            n: vocab,
            k: d,
            a: Strides::rows(batch, d),
            b: Strides::rows(vocab, d),
            alpha: 1.0,
            beta: 0.0,
        };
        gemm_bf16(
            dev,
            Some(&self.logits),
            None,
            &hidden,
            self.model.lm_head(),
            &g,
        )?;
        sample_rows_params(
            dev,
            &self.out,
            &self.logits,
            vocab,
            &self.keys,
            &self.params,
            0,
        )?;
        self.out.download(dev)?;
        Ok(())
    }
}

fn decode_step(dev: &dyn KernelDevice, cfg: &ModelConfig, o: &ProfileOptions) -> Result<()> {
    DecodeStep::new(dev, cfg, o.batch, o.seq_len, o.seed)?.run(dev)
}

/// Runs the step on a lazily mapped emulated device with counters on.
pub fn profile(o: &ProfileOptions) -> Result<StepProfile> {
    profile_config(&o.shape.config()?, o.shape.label(), o)
}

/// `profile` at the shapes of `cfg` (a model directory's config, say) instead of `o.shape`'s,
/// reported under the name `model`.
pub fn profile_config(
    cfg: &ModelConfig,
    model: &'static str,
    o: &ProfileOptions,
) -> Result<StepProfile> {
    if o.batch == 0 || o.max_blocks == 0 {
        bail!("profile: --batch and --max-blocks must be positive");
    }
    if o.step == StepKind::Update && o.seq_len < 2 {
        bail!("profile: an update step needs --seq-len of at least 2 tokens");
    }
    let dev = EmuDevice::with_lazy_memory(o.seed)?;
    let policy = CountPolicy {
        shorten_loops: !o.full_loops,
        ..CountPolicy::sampled(o.max_blocks)
    };
    let counts: Counts = measure(&dev, policy, |d| match o.step {
        StepKind::Update => update_step(d, cfg, o),
        StepKind::Decode => decode_step(d, cfg, o),
    })?;
    let (l, b) = (o.seq_len as f64, o.batch as f64);
    let attn = AttnWork {
        pairs: match o.step {
            StepKind::Update => b * l * (l + 1.0) / 2.0,
            StepKind::Decode => b * (l + 1.0),
        },
        n_q_heads: cfg.num_heads as f64,
        head_dim: cfg.head_dim as f64,
    };
    Ok(summarise(o, model, &counts, &attn))
}

fn summarise(
    o: &ProfileOptions,
    model: &'static str,
    counts: &Counts,
    attn: &AttnWork,
) -> StepProfile {
    let records = per_kernel_with(counts, |l| cost_of(l, attn));
    let est_h100_us: f64 = records.iter().map(|r| r.est_h100_us).sum();
    let est_a100_us: f64 = records.iter().map(|r| r.est_a100_us).sum();
    let matrix_flops: f64 = records.iter().filter_map(|r| r.cost.matrix_flops).sum();
    let mut kernels: Vec<ProfileRow> = records
        .into_iter()
        .map(|r| ProfileRow {
            share: if est_h100_us > 0.0 {
                r.est_h100_us / est_h100_us
            } else {
                0.0
            },
            record: r,
        })
        .collect();
    kernels.sort_by(|a, b| b.share.total_cmp(&a.share));
    let tokens = match o.step {
        StepKind::Update => o.batch * o.seq_len,
        StepKind::Decode => o.batch,
    };
    let secs = est_h100_us * 1e-6;
    StepProfile {
        model,
        step: o.step,
        batch: o.batch,
        seq_len: o.seq_len,
        tokens,
        launches: counts.launches.len(),
        reused_launches: counts.launches.iter().filter(|l| l.reused).count(),
        shortened_launches: counts
            .launches
            .iter()
            .filter(|l| l.shortened && !l.reused)
            .count(),
        htod_copies: counts.htod_copies,
        dtoh_copies: counts.dtoh_copies,
        synchronizations: counts.synchronizations,
        matrix_flops,
        est_h100_us,
        est_a100_us,
        tokens_per_s_h100: if secs > 0.0 {
            tokens as f64 / secs
        } else {
            0.0
        },
        mfu_h100: if secs > 0.0 {
            matrix_flops / secs / (H100_SXM.bf16_tensor_tflops * 1e12)
        } else {
            0.0
        },
        kernels,
        label: "ESTIMATE from emulator counts and published peaks, not a measurement",
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

impl StepProfile {
    pub fn print_table(&self) {
        println!(
            "rlvr profile: {} {:?} step, batch {}, {} {} — {}",
            self.model,
            self.step,
            self.batch,
            self.seq_len,
            match self.step {
                StepKind::Update => "tokens per sequence",
                StepKind::Decode => "tokens cached per sequence",
            },
            self.label
        );
        println!(
            "{:<26} {:>8} {:>11} {:>6} {:<7} {:>8} {:>8} {:>9} {:>7}",
            "kernel",
            "launches",
            "est H100 µs",
            "share",
            "bound",
            "TC share",
            "sector",
            "wf/req",
            "sampled"
        );
        for r in &self.kernels {
            let k = &r.record;
            println!(
                "{:<26} {:>8} {:>11.1} {:>5.1}% {:<7} {:>8} {:>8} {:>9} {:>7}",
                k.name,
                k.launches,
                k.est_h100_us,
                100.0 * r.share,
                k.est_bound,
                opt(k.tc_flop_share, 2),
                opt(k.global_sector_efficiency, 2),
                opt(k.smem_wavefronts_per_request, 2),
                if k.sampled { "yes" } else { "no" }
            );
        }
        println!(
            "estimated step: {:.3} ms on H100 SXM ({:.3} ms on A100 SXM); {:.0} tokens/s; MFU {:.1}% \
             ({:.3e} matrix FLOPs); {} launches ({} counted as an identical earlier one, {} with \
             the K loop shortened), {} host-to-device and {} device-to-host copies, {} \
             synchronisations",
            self.est_h100_us / 1e3,
            self.est_a100_us / 1e3,
            self.tokens_per_s_h100,
            100.0 * self.mfu_h100,
            self.matrix_flops,
            self.launches,
            self.reused_launches,
            self.shortened_launches,
            self.htod_copies,
            self.dtoh_copies,
            self.synchronizations
        );
        println!(
            "model: max over tensor ({} TFLOP/s), FP32 FMA ({} TFLOP/s), HBM ({} GB/s), L2, shared \
             memory and a {} µs launch gap per kernel; see bench::efficiency::estimate for what it \
             leaves out",
            H100_SXM.bf16_tensor_tflops, H100_SXM.fp32_tflops, H100_SXM.hbm_gbps, H100_SXM.launch_gap_us
        );
    }
}
