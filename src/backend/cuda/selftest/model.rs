//! The whole-model check of `rlvr selftest` (`model` entry): small random models of several
//! architectures on the device against the CPU autograd path (the reference), comparing the
//! final hidden states, log π and entropy of the scored tokens, and the gradient of every
//! parameter for the policy-gradient loss Σ g_lp·logπ + g_h·H with random per-token
//! coefficients (what `rl::update` builds from advantages). Each case also runs with
//! activation checkpointing, which must give bit-identical log π, entropy and gradients while
//! keeping fewer activation bytes (one more row).
//!
//! The CPU model gets the same bf16-rounded weights, so the differences come from the device's
//! bf16 activations (one rounding per op, ~2^-9 relative) and accumulation order only.
use super::super::device::{download, KernelDevice};
use super::super::model::memory::{metered_step, MemoryMeter, MeteredStep, StepMemory};
use super::super::model::DeviceModel;
use super::{compare, guarded, input_rng, CheckRow, ShapeSet};
use crate::autograd::Tape;
use crate::model::forward::suffix_rows;
use crate::model::{Batch, Model, ModelConfig};
use crate::tensor::{DType, Tensor};
use anyhow::{Context, Result};

/// Tolerance on the relative L2 error ‖dev − cpu‖ / ‖cpu‖ of hidden states, log π and entropy.
/// bf16 rounds every activation to 2^-9 relative; through two layers the emulator measures
/// ≤ 1.1e-2 (hidden), ≤ 2.3e-3 (log π) over seeds 0–4, so 3e-2 leaves ~3x for hardware
/// fast-math and FMA differences.
pub const TOL_MODEL_FWD: f32 = 3e-2;
/// ... and of each parameter gradient (bf16 activation gradients through every layer; measured
/// ≤ 2.9e-2 on the emulator over seeds 0–4). A wrong term (a missing residual, bias or tied
/// path) gives errors of order 1.
pub const TOL_MODEL_GRAD: f32 = 8e-2;
/// Bound on the largest single error relative to the tensor's largest value, max|dev − cpu| /
/// max|cpu|, for both (catches a localised error the L2 norm would average away).
pub const TOL_MODEL_MAX: f32 = 0.15;

/// A model-check row: `max_abs`; `max_rel` = max|got − want| / max|want|; passes iff every
/// value is finite, the relative L2 error is within `tol` and `max_rel` within TOL_MODEL_MAX.
pub fn model_compare(kernel: &str, shape: &str, got: &[f32], want: &[f32], tol: f32) -> CheckRow {
    let mut row = compare(kernel, shape, got, want, f32::INFINITY);
    if got.len() != want.len() || !row.note.is_empty() {
        row.pass = false;
        return row;
    }
    let (mut num, mut den, mut peak) = (0f64, 0f64, 0f32);
    for (&g, &w) in got.iter().zip(want) {
        num += ((g - w) as f64).powi(2);
        den += (w as f64).powi(2);
        peak = peak.max(w.abs());
    }
    let rel_l2 = (num / den.max(f64::MIN_POSITIVE)).sqrt() as f32;
    row.max_rel = row.max_abs / peak.max(f32::MIN_POSITIVE);
    row.tol = tol;
    row.pass = rel_l2 <= tol && row.max_rel <= TOL_MODEL_MAX;
    row.note = format!("rel L2 {rel_l2:.2e}");
    row
}

/// One model of the check.
#[derive(Clone, Debug)]
pub struct ModelCase {
    pub label: &'static str,
    pub config: serde_json::Value,
    pub seq_lens: Vec<usize>,
    /// scored tokens at the end of each sequence
    pub suffix: Vec<usize>,
    pub temperature: f32,
}

fn config(
    arch: &str,
    (vocab, d, f, layers): (usize, usize, usize, usize),
    (heads, kv, head_dim): (usize, usize, usize),
    tie: bool,
) -> serde_json::Value {
    let mut c = crate::model::init::llama_config_json(vocab, d, f, layers, heads, kv, tie, 1, 0);
    c["architectures"] = serde_json::json!([arch]);
    c["head_dim"] = head_dim.into();
    c
}

/// Tiny shapes (seconds on the emulator): odd sizes, GQA / MQA, tied and untied, a Qwen2 model
/// with q/k/v biases, a Qwen3 model with q/k-norm and head_dim ≠ d / heads, a Llama with
/// attention and MLP biases and llama3 RoPE scaling. `Full` adds a wider model for a GPU.
pub fn cases(set: ShapeSet) -> Vec<ModelCase> {
    let mut llama_bias = config("LlamaForCausalLM", (263, 40, 72, 1), (5, 5, 8), false);
    llama_bias["attention_bias"] = true.into();
    llama_bias["mlp_bias"] = true.into();
    llama_bias["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 8.0,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8});
    let mut v = vec![
        ModelCase {
            label: "llama gqa untied",
            config: config("LlamaForCausalLM", (300, 64, 176, 2), (4, 2, 16), false),
            seq_lens: vec![17, 9, 14],
            suffix: vec![10, 8, 5],
            temperature: 1.0,
        },
        ModelCase {
            label: "llama mqa tied odd",
            config: config("LlamaForCausalLM", (301, 48, 100, 2), (3, 1, 16), true),
            seq_lens: vec![13, 1, 21],
            suffix: vec![12, 0, 7],
            temperature: 0.7,
        },
        ModelCase {
            label: "qwen2 qkv-bias",
            config: config("Qwen2ForCausalLM", (300, 64, 128, 2), (4, 2, 16), true),
            seq_lens: vec![15, 11, 14],
            suffix: vec![6, 10, 13],
            temperature: 1.0,
        },
        ModelCase {
            label: "qwen3 qk-norm hd32",
            config: config("Qwen3ForCausalLM", (300, 64, 96, 2), (4, 2, 32), false),
            seq_lens: vec![12, 19, 9],
            suffix: vec![11, 4, 8],
            temperature: 1.0,
        },
        ModelCase {
            label: "llama o/mlp-bias llama3-rope",
            config: llama_bias,
            seq_lens: vec![23, 17],
            suffix: vec![22, 9],
            temperature: 1.3,
        },
    ];
    if set == ShapeSet::Full {
        v.push(ModelCase {
            label: "qwen2 wide",
            config: config("Qwen2ForCausalLM", (5003, 896, 4864, 2), (14, 2, 64), true),
            seq_lens: vec![300, 77, 129],
            suffix: vec![200, 76, 1],
            temperature: 1.0,
        });
    }
    v
}

/// A random model of `case` with bf16-exact weights, non-trivial norms and biases.
pub fn random_model(case: &ModelCase, seed: u64) -> Result<Model> {
    let cfg = ModelConfig::from_json(case.config.clone())?;
    let std = 1.0 / (cfg.hidden_size as f32).sqrt();
    let m = Model::random(cfg, std, seed)?;
    let mut rng = input_rng(seed ^ 0xB1A5);
    let params = m
        .named_params()
        .into_iter()
        .map(|(name, t)| {
            let data: Vec<f32> = if name.ends_with(".bias") {
                (0..t.numel()).map(|_| rng.uniform_f32(-0.2, 0.2)).collect()
            } else if name.ends_with("norm.weight") {
                (0..t.numel()).map(|_| rng.uniform_f32(0.6, 1.4)).collect()
            } else {
                t.data().to_vec()
            };
            let data = data
                .into_iter()
                .map(|v| half::bf16::from_f32(v).to_f32())
                .collect();
            Tensor::from_vec(data, t.dims())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Model::from_parts(
        m.config,
        m.layout,
        params,
        DType::BF16,
        None,
    ))
}

/// The CPU reference: final hidden states, (logπ, H) of the scored tokens and every gradient.
pub struct CpuResult {
    pub hidden: Vec<f32>,
    pub logp: Vec<f32>,
    pub entropy: Vec<f32>,
    pub grads: Vec<Vec<f32>>,
}

pub fn cpu_reference(
    model: &Model,
    batch: &Batch,
    suffix: &[usize],
    temperature: f32,
    g_lp: &[f32],
    g_h: &[f32],
) -> Result<CpuResult> {
    let hidden = {
        let tape = Tape::no_grad();
        let vars = model.vars(&tape);
        model
            .forward_hidden(&tape, &vars, batch)?
            .value
            .data()
            .to_vec()
    };
    let tape = Tape::new();
    let vars = model.vars(&tape);
    let (lp, ent) = model.suffix_logprobs(&tape, &vars, batch, suffix, temperature)?;
    let l1 = tape.weighted_sum(&lp, g_lp);
    let l2 = tape.weighted_sum(&ent, g_h);
    let loss = tape.add(&l1, &l2);
    let mut grads = tape.backward(&loss);
    let grads = vars
        .iter()
        .zip(&model.params)
        .map(|(v, p)| {
            grads
                .take(v)
                .map_or_else(|| vec![0.0; p.numel()], |g| g.into_vec())
        })
        .collect();
    Ok(CpuResult {
        hidden,
        logp: lp.value.data().to_vec(),
        entropy: ent.value.data().to_vec(),
        grads,
    })
}

fn short_name(name: &str) -> String {
    name.trim_start_matches("model.")
        .replace("self_attn.", "")
        .replace("mlp.", "")
        .replace(".weight", "")
}

/// A case's packed batch and random loss coefficients, one per scored token.
struct CaseInputs {
    batch: Batch,
    g_lp: Vec<f32>,
    g_h: Vec<f32>,
}

fn case_inputs(case: &ModelCase, model: &Model, seed: u64) -> Result<CaseInputs> {
    let mut rng = input_rng(seed ^ 0x70CE);
    let vocab = model.config.vocab_size as u64;
    let seqs: Vec<Vec<u32>> = case
        .seq_lens
        .iter()
        .map(|&l| (0..l).map(|_| rng.below_unbiased(vocab) as u32).collect())
        .collect();
    let batch = Batch::from_sequences(&seqs);
    let t = suffix_rows(&batch, &case.suffix)?.0.len();
    // coefficients of the size rl::loss produces (advantage / tokens, entropy bonus / tokens)
    let g_lp: Vec<f32> = (0..t)
        .map(|_| rng.uniform_f32(-1.0, 1.0) / t as f32)
        .collect();
    let g_h: Vec<f32> = (0..t)
        .map(|_| rng.uniform_f32(-0.3, 0.3) / t as f32)
        .collect();
    Ok(CaseInputs { batch, g_lp, g_h })
}

/// Runs one case: device vs CPU, one row per compared tensor.
pub fn check_case(dev: &dyn KernelDevice, case: &ModelCase, seed: u64) -> Result<Vec<CheckRow>> {
    check_case_tampered(dev, case, seed, &|_| {})
}

/// [`check_case`] with `tamper` applied to the weights the device gets (not the CPU's): a
/// tampered case must fail, which is how the tests show the check can.
pub fn check_case_tampered(
    dev: &dyn KernelDevice,
    case: &ModelCase,
    seed: u64,
    tamper: &dyn Fn(&mut Model),
) -> Result<Vec<CheckRow>> {
    let model = random_model(case, seed)?;
    let mut device_weights = random_model(case, seed)?;
    tamper(&mut device_weights);
    let CaseInputs { batch, g_lp, g_h } = case_inputs(case, &model, seed)?;
    let t = g_lp.len();
    let cpu = cpu_reference(&model, &batch, &case.suffix, case.temperature, &g_lp, &g_h)
        .context("CPU reference")?;

    let dm = DeviceModel::upload(dev, &device_weights)?;
    let meter = MemoryMeter::new(dev);
    let coef = (&g_lp[..], &g_h[..]);
    let step = |ckpt| {
        metered_step(
            &meter,
            &dm,
            &batch,
            &case.suffix,
            case.temperature,
            coef,
            ckpt,
        )
    };
    let full = step(false)?;
    let checkpointed = DeviceStep::download(dev, step(true)?)?;

    let shape = format!("{} (T{} scored {t})", case.label, batch.len(),);
    let hidden: Vec<f32> = download(dev, &full.acts.hidden)?
        .iter()
        .map(|v| v.to_f32())
        .collect();
    let full = DeviceStep::download(dev, full)?;
    let (logp, entropy) = (&full.logp, &full.entropy);
    let mut out = vec![
        model_compare(
            "model final hidden",
            &shape,
            &hidden,
            &cpu.hidden,
            TOL_MODEL_FWD,
        ),
        model_compare("model logprob", &shape, logp, &cpu.logp, TOL_MODEL_FWD),
        model_compare(
            "model entropy",
            &shape,
            entropy,
            &cpu.entropy,
            TOL_MODEL_FWD,
        ),
    ];
    for ((name, _), (got, want)) in model
        .layout
        .specs
        .iter()
        .zip(full.grads.iter().zip(&cpu.grads))
    {
        out.push(model_compare(
            &format!("model grad {}", short_name(name)),
            &shape,
            got,
            want,
            TOL_MODEL_GRAD,
        ));
    }
    out.push(checkpoint_row(&shape, &checkpointed, &full));
    Ok(out)
}

/// What one device training step of a case gives on the host.
pub struct DeviceStep {
    pub logp: Vec<f32>,
    pub entropy: Vec<f32>,
    pub grads: Vec<Vec<f32>>,
    pub memory: StepMemory,
}

impl DeviceStep {
    fn download(dev: &dyn KernelDevice, s: MeteredStep) -> Result<Self> {
        let (logp, entropy) = s.head.download(dev)?;
        Ok(DeviceStep {
            logp,
            entropy,
            grads: s.grads.download(dev)?,
            memory: s.memory,
        })
    }

    /// Every value, log π, entropy, then the gradients.
    fn flat(&self) -> Vec<f32> {
        let grads = self.grads.iter().flatten();
        let all = self.logp.iter().chain(&self.entropy).chain(grads);
        all.copied().collect()
    }
}

/// `case`'s model, batch and coefficients (those of [`check_case`]) through one forward → head
/// → backward on `dev`, with or without activation checkpointing, its memory metered.
pub fn device_step(
    dev: &dyn KernelDevice,
    case: &ModelCase,
    seed: u64,
    checkpoint: bool,
) -> Result<DeviceStep> {
    let model = random_model(case, seed)?;
    let x = case_inputs(case, &model, seed)?;
    let dm = DeviceModel::upload(dev, &model)?;
    let meter = MemoryMeter::new(dev);
    let coef = (&x.g_lp[..], &x.g_h[..]);
    let step = metered_step(
        &meter,
        &dm,
        &x.batch,
        &case.suffix,
        case.temperature,
        coef,
        checkpoint,
    )?;
    DeviceStep::download(dev, step)
}

/// The activation-checkpointing row: log π, entropy and every gradient bit-identical to the
/// run keeping every activation, with fewer bytes kept for the backward.
fn checkpoint_row(shape: &str, checkpointed: &DeviceStep, full: &DeviceStep) -> CheckRow {
    let (a, b) = (checkpointed.flat(), full.flat());
    let mut row = compare("model checkpointed = full", shape, &a, &b, 0.0);
    let identical = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
    let (ck, fm) = (checkpointed.memory, full.memory);
    row.pass = identical && ck.kept < fm.kept;
    row.note = format!(
        "{}; activations kept {} of {} bytes, step peak {} of {}",
        if identical {
            "bit-identical"
        } else {
            "DIFFERENT"
        },
        ck.kept,
        fm.kept,
        ck.peak,
        fm.peak
    );
    row
}

/// The `model` entry of the selftest: every case of `set`.
pub fn run_model_checks(
    dev: &dyn KernelDevice,
    set: ShapeSet,
    seed: u64,
    rows: &mut Vec<CheckRow>,
) {
    for case in cases(set) {
        guarded(rows, "model", case.label, || check_case(dev, &case, seed));
    }
}
