//! Activation checkpointing on the device path, on the emulator: every model case gives
//! bit-identical log-probs, entropies and gradients with and without it, keeps only the layer
//! inputs (byte counts measured on the allocations themselves), and `rlvr train --device emu
//! --activation-checkpointing` trains to the same weights and metrics.
mod emu_common;
use emu_common::*;
use rlvr::backend::cuda::model::memory::{shape_step_memory, StepMemory};
use rlvr::backend::cuda::selftest::model::{cases, device_step, random_model};
use rlvr::backend::cuda::selftest::ShapeSet;
use rlvr::model::ModelConfig;

/// Bytes the checkpointed forward keeps for `tokens` tokens: L + 1 residual streams and the
/// final hidden state (bf16) plus the final rstd (f32).
fn checkpointed_bytes(cfg: &ModelConfig, tokens: usize) -> usize {
    (cfg.num_layers + 2) * tokens * cfg.hidden_size * 2 + tokens * 4
}

/// Checkpointing keeps the layer inputs only (exactly), less than 1/L + 0.1 of the full set,
/// and lowers the step's peak by at least L − 1 of the L layers' activations.
fn assert_memory_saved(
    label: &str,
    cfg: &ModelConfig,
    tokens: usize,
    full: StepMemory,
    ck: StepMemory,
) {
    let l = cfg.num_layers;
    assert_eq!(ck.kept, checkpointed_bytes(cfg, tokens), "{label}");
    let ratio = ck.kept as f64 / full.kept as f64;
    assert!(ratio < 1.0 / l as f64 + 0.1, "{label}: kept {ratio}");
    let per_layer = (full.kept - ck.kept) / l;
    assert!(
        full.peak >= ck.peak + (l - 1) * per_layer,
        "{label}: peak {} vs {} (a layer {per_layer} bytes)",
        ck.peak,
        full.peak
    );
}

#[test]
fn checkpointed_steps_are_bit_identical_and_keep_only_layer_inputs() {
    let Some(dev) = emu_or_skip(21) else { return };
    for case in cases(ShapeSet::Small) {
        let t0 = std::time::Instant::now();
        let full = device_step(&dev, &case, 21, false).unwrap();
        let ck = device_step(&dev, &case, 21, true).unwrap();
        let label = case.label;
        assert_eq!(ck.logp, full.logp, "{label}: log-probs");
        assert_eq!(ck.entropy, full.entropy, "{label}: entropies");
        assert_eq!(ck.grads.len(), full.grads.len());
        for (i, (a, b)) in ck.grads.iter().zip(&full.grads).enumerate() {
            // bit patterns: a NaN would compare unequal to itself with ==
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b), "{label}: gradient of parameter {i}");
        }
        assert!(full.grads.iter().all(|g| g.iter().all(|v| v.is_finite())));
        assert!(full.grads.iter().any(|g| g.iter().any(|&v| v != 0.0)));
        let cfg = random_model(&case, 21).unwrap().config;
        let tokens: usize = case.seq_lens.iter().sum();
        assert_memory_saved(label, &cfg, tokens, full.memory, ck.memory);
        eprintln!(
            "{label}: {tokens} tokens, kept {} -> {} bytes, step peak {} -> {} bytes ({:.1?})",
            full.memory.kept,
            ck.memory.kept,
            full.memory.peak,
            ck.memory.peak,
            t0.elapsed()
        );
    }
}

/// The same allocations for a SmolLM2-135M-shaped model (30 layers), counted on a device that
/// allocates and computes nothing: the byte numbers of the README.
#[test]
fn smollm2_135m_shape_activation_bytes() {
    let cfg = rlvr::bench::model::smollm2_135m_config().unwrap();
    let (seqs, len) = (4, 256);
    let full = shape_step_memory(&cfg, seqs, len, false).unwrap();
    let ck = shape_step_memory(&cfg, seqs, len, true).unwrap();
    let tokens = seqs * len;
    assert_memory_saved("135M", &cfg, tokens, full, ck);
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!(
        "SmolLM2-135M shape, {seqs} x {len} tokens: kept {:.1} MiB -> {:.1} MiB ({:.0} -> {:.0} bytes/token); step peak beyond weights and grads {:.1} MiB -> {:.1} MiB",
        mib(full.kept),
        mib(ck.kept),
        full.kept as f64 / tokens as f64,
        ck.kept as f64 / tokens as f64,
        mib(full.peak),
        mib(ck.peak)
    );
    assert!(shape_step_memory(&cfg, 1, 1, true).is_err());
    // `rlvr plan`'s per-token figure against the device's: the growth of the checkpointed
    // step's peak from 4096 to 8192 tokens (the head's logits chunk is at its cap in both)
    let peak = |seqs| shape_step_memory(&cfg, seqs, 256, true).unwrap().peak as f64;
    let (small, large) = (peak(16), peak(32));
    let slope = (large - small) / (16.0 * 256.0);
    let plan = rlvr::cli::plan::plan(&cfg, 80e9, 1, false, 1, 1).per_token;
    eprintln!(
        "checkpointed step peak: {slope:.0} bytes/token + {:.1} MiB fixed (the head); rlvr plan assumes {plan:.0} bytes/token",
        (small - slope * 4096.0) / (1 << 20) as f64
    );
    assert!(slope <= plan, "{slope} bytes/token, plan {plan}");
}

/// `rlvr train --device emu --activation-checkpointing` (through the TOML key's config):
/// the log says so, and metrics and weights equal the run without it, bit for bit.
#[test]
fn device_training_with_checkpointing_is_bit_identical() {
    use rlvr::model::init::{write_tiny_char_model, TinySpec};
    use rlvr::model::Model;
    use rlvr::rl::metrics::TIMING_KEYS;
    use rlvr::rl::trainer::train_on;
    use rlvr::tokenizer::ChatTemplate;
    let Some(dev) = emu_or_skip(22) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_tiny_char_model(&d.join("model"), TinySpec::default()).unwrap();
    let lines: String = (0..8)
        .map(|i| {
            serde_json::json!({"prompt": format!("{i}+{i}="), "answer": (2 * i).to_string()})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(d.join("train.jsonl"), lines).unwrap();
    let flag = rlvr::cli::train::Args {
        model: Some(d.join("model")),
        data: vec![d.join("train.jsonl")],
        output: Some(d.join("ckpt")),
        objective: Some(rlvr::rl::ObjectiveKind::Nsr),
        activation_checkpointing: true,
        ..Default::default()
    };
    let mut ck = rlvr::cli::train::resolve(&flag).unwrap();
    assert!(ck.activation_checkpointing);
    (ck.steps, ck.prompts_per_step, ck.n, ck.mini_batch_prompts) = (1, 4, 2, 2);
    (ck.lr, ck.max_response_tokens, ck.rollout_batch) = (1e-3, 5, 8);
    (ck.template, ck.save_every, ck.val_every) = (Some(ChatTemplate::Plain), 1, 0);
    ck.rollouts = rlvr::rl::config::Rollouts::Cpu;
    ck.max_tokens_per_micro_batch = 24;
    let mut plain = ck.clone();
    plain.activation_checkpointing = false;
    plain.output = d.join("plain");
    let mut metrics = Vec::new();
    let mut weights = Vec::new();
    for cfg in [&plain, &ck] {
        let s = train_on(cfg, false, false, Some(&dev)).unwrap();
        let m: Vec<serde_json::Value> = rlvr::util::read_jsonl(&cfg.output.join("metrics.jsonl"))
            .unwrap()
            .into_iter()
            .map(|mut v| {
                for k in TIMING_KEYS {
                    v.as_object_mut().unwrap().remove(*k);
                }
                v
            })
            .collect();
        metrics.push(m);
        weights.push(Model::load(&s.final_checkpoint.unwrap()).unwrap().params);
    }
    let log = std::fs::read_to_string(ck.output.join("log.txt")).unwrap();
    assert!(
        log.contains("policy update on emulator") && log.contains("(activation checkpointing)"),
        "{log}"
    );
    let log = std::fs::read_to_string(plain.output.join("log.txt")).unwrap();
    assert!(!log.contains("activation checkpointing"), "{log}");
    assert_eq!(metrics[0], metrics[1]);
    assert!(metrics[1][0]["actor/optimizer_steps"].as_u64() >= Some(1));
    for (a, b) in weights[0].iter().zip(&weights[1]) {
        assert_eq!(a.data(), b.data());
    }
    let init = Model::load(&d.join("model")).unwrap().params;
    assert!(init
        .iter()
        .zip(&weights[1])
        .any(|(a, b)| a.data() != b.data()));
}

#[test]
fn the_memory_meter_counts_live_bytes_and_their_peak() {
    use rlvr::backend::cuda::device::{alloc, download, upload};
    use rlvr::backend::cuda::model::memory::{MemoryMeter, ShapeDevice};
    let shape = ShapeDevice::default();
    let meter = MemoryMeter::new(&shape);
    let a = alloc::<f32>(&meter, 100).unwrap();
    let b = upload(&meter, &[1u8; 50]).unwrap();
    assert_eq!((meter.live(), meter.peak()), (450, 450));
    drop(a);
    assert_eq!((meter.live(), meter.peak()), (50, 450));
    meter.reset_peak();
    assert_eq!(meter.peak(), 50);
    // the shape-only device stores nothing
    assert_eq!(download(&meter, &b).unwrap(), vec![0u8; 50]);
    drop(b);
    assert_eq!(meter.live(), 0);
}
