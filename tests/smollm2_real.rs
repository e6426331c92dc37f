//! The real SmolLM2-135M-Instruct (fetched by scripts/get-smollm2.sh, converted from GGUF)
//! through our model code: prompt logits against an independent float64 reference
//! (tests/gguf_smollm2_reference.json) and greedy generation ("7 + 5" → 12). Skips when the
//! model has not been fetched.
use rlvr::autograd::Tape;
use rlvr::generate::engine::{generate, EngineConfig, GenRequest};
use rlvr::generate::sampling::SamplingParams;
use rlvr::model::{Batch, Model};
use std::path::{Path, PathBuf};

fn model_dir() -> Option<PathBuf> {
    let p = std::env::var("RLVR_SMOLLM2_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/smollm2-135m-instruct")
        });
    if p.join("model.safetensors").exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: SmolLM2 not found at {} (run scripts/get-smollm2.sh)",
            p.display()
        );
        None
    }
}

#[test]
fn smollm2_logits_and_greedy_answer() {
    let Some(dir) = model_dir() else { return };
    let model = Model::load(&dir).unwrap();
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gguf_smollm2_reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let ids: Vec<u32> = r["prompt_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let tape = Tape::no_grad();
    let vars = model.vars(&tape);
    let h = model
        .forward_hidden(
            &tape,
            &vars,
            &Batch::from_sequences(std::slice::from_ref(&ids)),
        )
        .unwrap();
    let logits = tape.logits(&h, model.lm_head(&vars));
    let v = model.config.vocab_size;
    let mut max_err = 0.0f64;
    for (pos, top) in r["prompt_logits_top"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (id, val) in top["top_ids"]
            .as_array()
            .unwrap()
            .iter()
            .zip(top["top_logits"].as_array().unwrap())
        {
            let ours = logits.value.data()[pos * v + id.as_u64().unwrap() as usize] as f64;
            max_err = max_err.max((ours - val.as_f64().unwrap()).abs());
        }
    }
    println!("SmolLM2 prompt logits: max abs error vs float64 reference {max_err:.2e}");
    assert!(max_err < 2e-3, "max logit error {max_err}");
    let greedy: Vec<u32> = r["greedy_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let req = GenRequest {
        prompt: ids,
        n: 1,
        seed: 0,
        params: SamplingParams::greedy(),
        max_tokens: greedy.len(),
    };
    let out = generate(
        &model,
        &[req],
        &EngineConfig {
            max_batch: 1,
            stop_tokens: vec![2],
        },
        &mut |_| {},
    )
    .unwrap();
    let tok = rlvr::tokenizer::Tokenizer::from_dir(&dir).unwrap();
    let text = tok.decode(&out[0].tokens, true).unwrap();
    println!("greedy: {text:?}");
    assert!(text.contains("12"), "{text}");
    assert_eq!(out[0].tokens, greedy);
}
