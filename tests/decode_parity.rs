//! Generation's decoder against the training forward: with f32 weights every logit of a decode
//! step equals the full forward's bit for bit (any batch, any architecture, either instruction
//! set); with bf16 weights greedy tokens agree and log-probs stay within a stated tolerance.
use rlvr::autograd::Tape;
use rlvr::backend::cpu::simd::Isa;
use rlvr::generate::engine::{generate_with, EngineConfig, GenRequest};
use rlvr::generate::sampling::SamplingParams;
use rlvr::model::decode::Decoder;
use rlvr::model::kv_cache::{Chunk, SeqCache};
use rlvr::model::{init::llama_config_json, Batch, Model, ModelConfig};
use rlvr::tensor::DType;

fn model(arch: &str) -> Model {
    // head_dim 12 (not a multiple of 16) for llama/qwen2, 10 for qwen3.
    let mut cfg = llama_config_json(97, 48, 80, 2, 4, 2, arch != "llama", 1, 2);
    match arch {
        "qwen2" => {
            cfg["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]);
            cfg["model_type"] = "qwen2".into();
        }
        "qwen3" => {
            cfg["architectures"] = serde_json::json!(["Qwen3ForCausalLM"]);
            cfg["model_type"] = "qwen3".into();
            cfg["head_dim"] = 10.into();
        }
        _ => {}
    }
    let mut m = Model::random(ModelConfig::from_json(cfg).unwrap(), 0.3, 21).unwrap();
    for (i, (name, _)) in m.layout.specs.clone().iter().enumerate() {
        if name.ends_with("norm.weight") || name.ends_with(".bias") {
            for (j, x) in m.params[i].data_mut().iter_mut().enumerate() {
                *x += 0.1 * ((j * 7 % 5) as f32 - 2.0);
            }
        }
    }
    m
}

/// Logits of every position of `seq` from the training forward.
fn full_logits(m: &Model, seq: &[u32]) -> Vec<Vec<f32>> {
    let tape = Tape::no_grad();
    let vars = m.vars(&tape);
    let h = m
        .forward_hidden(&tape, &vars, &Batch::from_sequences(&[seq.to_vec()]))
        .unwrap();
    let z = tape.logits(&h, m.lm_head(&vars));
    z.value
        .data()
        .chunks(m.config.vocab_size)
        .map(|r| r.to_vec())
        .collect()
}

/// Prefill `prompt` then feed `rest` one token per step; logits after each fed token, with
/// `others` extra sequences decoded in the same batch.
fn decode_logits(d: &Decoder, prompt: &[u32], rest: &[u32], others: usize) -> Vec<Vec<f32>> {
    let mut cache = SeqCache::new(d.model);
    let h = d
        .forward(&mut [Chunk {
            cache: &mut cache,
            tokens: prompt,
        }])
        .unwrap();
    let mut out = vec![d.logits(&h).into_vec()];
    let mut side: Vec<SeqCache> = (0..others).map(|_| SeqCache::new(d.model)).collect();
    let filler: Vec<u32> = (0..others as u32).map(|i| 3 + i).collect();
    for s in side.iter_mut() {
        d.forward(&mut [Chunk {
            cache: s,
            tokens: &[1, 2, 3, 4, 5, 6, 7],
        }])
        .unwrap();
    }
    for t in rest {
        let mut chunks = vec![Chunk {
            cache: &mut cache,
            tokens: std::slice::from_ref(t),
        }];
        for (s, f) in side.iter_mut().zip(&filler) {
            chunks.push(Chunk {
                cache: s,
                tokens: std::slice::from_ref(f),
            });
        }
        let h = d.forward(&mut chunks).unwrap();
        let v = d.model.config.vocab_size;
        out.push(d.logits(&h).into_vec()[..v].to_vec());
    }
    out
}

#[test]
fn f32_decode_logits_are_the_training_forwards_bit_for_bit() {
    let prompt = [
        1u32, 5, 9, 33, 2, 40, 41, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
    ];
    let rest = [
        3u32, 90, 4, 4, 17, 60, 2, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    ];
    for arch in ["llama", "qwen2", "qwen3"] {
        let m = model(arch);
        let seq: Vec<u32> = prompt.iter().chain(&rest).copied().collect();
        let full = full_logits(&m, &seq);
        for isa in [rlvr::backend::cpu::simd::detected(), Isa::Portable] {
            let d = Decoder::new(&m, DType::F32).with_isa(isa);
            for others in [0, 7] {
                let dec = decode_logits(&d, &prompt, &rest, others);
                for (i, z) in dec.iter().enumerate() {
                    assert_eq!(
                        z,
                        &full[prompt.len() - 1 + i],
                        "{arch} {isa:?} batch {} step {i}",
                        others + 1
                    );
                }
            }
        }
    }
}

fn log_softmax(z: &[f32]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let s: f64 = z.iter().map(|&x| (x as f64 - m).exp()).sum();
    z.iter().map(|&x| x as f64 - m - s.ln()).collect()
}

/// bf16 weights, stated tolerances on this 2-layer random model with weights of std 0.3
/// (logits far sharper than a trained model's): the log-prob of each greedy token, and of every
/// token of the vocabulary (the far tail moves most).
const BF16_MAX_TOKEN_LOGPROB_DIFF: f64 = 0.2;
const BF16_MAX_VOCAB_LOGPROB_DIFF: f64 = 0.5;

#[test]
fn bf16_weights_agree_with_f32_within_tolerance_on_both_instruction_sets() {
    let m = model("llama");
    let reqs = vec![GenRequest {
        prompt: vec![1, 7, 9, 30, 31],
        n: 2,
        seed: 3,
        params: SamplingParams::greedy(),
        max_tokens: 24,
    }];
    let cfg = EngineConfig {
        max_batch: 4,
        stop_tokens: vec![],
    };
    let f32_out = generate_with(&Decoder::new(&m, DType::F32), &reqs, &cfg, &mut |_| {}).unwrap();
    let bf = Decoder::new(&m, DType::BF16);
    let bf_out = generate_with(&bf, &reqs, &cfg, &mut |_| {}).unwrap();
    let portable = Decoder::new(&m, DType::BF16).with_isa(Isa::Portable);
    let bf_portable = generate_with(&portable, &reqs, &cfg, &mut |_| {}).unwrap();
    for ((a, b), c) in f32_out.iter().zip(&bf_out).zip(&bf_portable) {
        assert_eq!(b.tokens, c.tokens, "the fallback must give the same tokens");
        assert_eq!(
            b.logprobs, c.logprobs,
            "and the same log-probs, bit for bit"
        );
        let agree = a
            .tokens
            .iter()
            .zip(&b.tokens)
            .filter(|(x, y)| x == y)
            .count();
        assert!(
            agree * 10 >= a.tokens.len() * 9,
            "greedy agreement {agree}/{}",
            a.tokens.len()
        );
    }
    // Log-probs of the same continuation under both weight types.
    let seq: Vec<u32> = reqs[0]
        .prompt
        .iter()
        .chain(&f32_out[0].tokens)
        .copied()
        .collect();
    let full = full_logits(&m, &seq);
    let dec = decode_logits(&bf, &reqs[0].prompt, &f32_out[0].tokens, 0);
    let (mut worst, mut worst_token) = (0.0f64, 0.0f64);
    for (i, z) in dec.iter().enumerate().take(f32_out[0].tokens.len()) {
        let (a, b) = (
            log_softmax(&full[reqs[0].prompt.len() - 1 + i]),
            log_softmax(z),
        );
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs());
        }
        let t = f32_out[0].tokens[i] as usize;
        worst_token = worst_token.max((a[t] - b[t]).abs());
    }
    eprintln!(
        "bf16 vs f32 log-prob difference: greedy tokens {worst_token:.2e}, vocabulary {worst:.2e}"
    );
    assert!(
        worst_token < BF16_MAX_TOKEN_LOGPROB_DIFF && worst < BF16_MAX_VOCAB_LOGPROB_DIFF,
        "bf16 vs f32 log-prob difference: greedy tokens {worst_token}, vocabulary {worst}"
    );
    assert!(worst > 0.0, "bf16 weights must actually be rounded");
}
