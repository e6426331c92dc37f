//! Whole-model checks that need no fixtures: fused vs unfused log-probs, a finite-difference
//! check of parameter gradients through the full decoder, save/load round trip, bad input.
use rlvr::autograd::Tape;
use rlvr::model::{init::llama_config_json, Batch, Model, ModelConfig};

fn tiny(arch: &str, tie: bool) -> Model {
    let mut cfg = llama_config_json(53, 24, 40, 2, 4, 2, tie, 1, 2);
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
    let mut m = Model::random(ModelConfig::from_json(cfg).unwrap(), 0.3, 11).unwrap();
    // Non-trivial norms and biases so every parameter matters.
    for (i, (name, _)) in m.layout.specs.clone().iter().enumerate() {
        if name.ends_with("norm.weight") || name.ends_with(".bias") {
            for (j, x) in m.params[i].data_mut().iter_mut().enumerate() {
                *x += 0.1 * ((j * 7 % 5) as f32 - 2.0);
            }
        }
    }
    m
}

fn loss_of(model: &Model, batch: &Batch) -> f64 {
    let tape = Tape::no_grad();
    let vars = model.vars(&tape);
    let (lp, _) = model.next_token_logprobs(&tape, &vars, batch, 1.0).unwrap();
    -lp.value.sum_all()
}

#[test]
fn fused_equals_unfused_logits_path() {
    for (arch, tie) in [("llama", false), ("qwen2", true), ("qwen3", false)] {
        let m = tiny(arch, tie);
        let batch = Batch::from_sequences(&[vec![1u32, 5, 9, 33, 2], vec![7, 8], vec![3, 3, 3]]);
        let tape = Tape::no_grad();
        let vars = m.vars(&tape);
        let (lp, ent) = m.next_token_logprobs(&tape, &vars, &batch, 0.7).unwrap();
        let h = m.forward_hidden(&tape, &vars, &batch).unwrap();
        let (rows, targets) = batch.next_token_rows();
        let hs = tape.gather_rows(&h, &rows);
        let logits = tape.logits(&hs, m.lm_head(&vars));
        let (lp2, ent2) = tape.logprob_from_logits(&logits, &targets, 0.7);
        assert!(lp.value.max_abs_diff(&lp2.value) < 1e-5, "{arch}");
        assert!(ent.value.max_abs_diff(&ent2.value) < 1e-5, "{arch}");
    }
}

#[test]
fn packing_does_not_change_results() {
    let m = tiny("llama", false);
    let a = vec![1u32, 5, 9, 33, 2];
    let b = vec![7u32, 8, 40];
    let both = rlvr::model::score::score_sequences(&m, &[a.clone(), b.clone()], 1.0, 4096).unwrap();
    let one = rlvr::model::score::score_sequences(&m, &[a], 1.0, 1).unwrap();
    let two = rlvr::model::score::score_sequences(&m, &[b], 1.0, 1).unwrap();
    for (x, y) in both[0]
        .logprobs
        .iter()
        .zip(&one[0].logprobs)
        .chain(both[1].logprobs.iter().zip(&two[0].logprobs))
    {
        assert!((x - y).abs() < 1e-6);
    }
}

#[test]
fn parameter_gradients_match_finite_differences() {
    for (arch, tie) in [("llama", true), ("qwen2", false), ("qwen3", true)] {
        let mut m = tiny(arch, tie);
        let batch = Batch::from_sequences(&[vec![1u32, 5, 9, 33], vec![7, 8, 8]]);
        let tape = Tape::new();
        let vars = m.vars(&tape);
        let (lp, _) = m.next_token_logprobs(&tape, &vars, &batch, 1.0).unwrap();
        let loss = tape.scale(&tape.sum(&lp), -1.0);
        let grads = tape.backward(&loss);
        let mut checked = 0;
        for (pi, var) in vars.iter().enumerate() {
            let g = grads
                .get(var)
                .unwrap_or_else(|| panic!("{arch}: no gradient for {}", m.layout.specs[pi].0))
                .clone();
            assert!(
                g.sq_norm() > 0.0,
                "{arch}: zero gradient for {}",
                m.layout.specs[pi].0
            );
            // Probe the element with the largest gradient (well above FD noise).
            let (j, _) = g.data().iter().enumerate().fold((0, 0.0f32), |b, (i, &x)| {
                if x.abs() > b.1 {
                    (i, x.abs())
                } else {
                    b
                }
            });
            let orig = m.params[pi].data()[j];
            let eps = 1e-2;
            m.params[pi].data_mut()[j] = orig + eps;
            let fp = loss_of(&m, &batch);
            m.params[pi].data_mut()[j] = orig - eps;
            let fm = loss_of(&m, &batch);
            m.params[pi].data_mut()[j] = orig;
            let num = (fp - fm) / (2.0 * eps as f64);
            let ana = g.data()[j] as f64;
            assert!(
                (num - ana).abs() <= 3e-3 + 3e-2 * num.abs(),
                "{arch} {}: analytic {ana} numeric {num}",
                m.layout.specs[pi].0
            );
            checked += 1;
        }
        assert_eq!(checked, m.params.len());
    }
}

#[test]
fn save_load_round_trip_f32_and_bf16() {
    let m = tiny("qwen2", false);
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path(), rlvr::tensor::DType::F32).unwrap();
    let back = Model::load(dir.path()).unwrap();
    for (a, b) in m.params.iter().zip(&back.params) {
        assert_eq!(a.data(), b.data());
    }
    m.save(dir.path(), rlvr::tensor::DType::BF16).unwrap();
    let back = Model::load(dir.path()).unwrap();
    for (a, b) in m.params.iter().zip(&back.params) {
        assert!(a.max_abs_diff(b) <= 0.01 * a.data().iter().fold(0.0f32, |m, x| m.max(x.abs())));
    }
}

#[test]
fn bad_inputs_give_named_errors() {
    let m = tiny("llama", false);
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path(), rlvr::tensor::DType::F32).unwrap();
    // token out of range
    let tape = Tape::no_grad();
    let vars = m.vars(&tape);
    let err = m
        .forward_hidden(&tape, &vars, &Batch::from_sequences(&[vec![1u32, 999]]))
        .unwrap_err();
    assert!(err.to_string().contains("999"), "{err}");
    // truncated safetensors
    let st = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", Model::load(dir.path()).err().unwrap());
    assert!(
        err.contains("model.safetensors") && err.contains("not a valid safetensors"),
        "{err}"
    );
    // unknown architecture
    std::fs::write(&st, &bytes).unwrap();
    let cfgp = dir.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfgp).unwrap()).unwrap();
    cfg["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    std::fs::write(&cfgp, cfg.to_string()).unwrap();
    let err = format!("{:#}", Model::load(dir.path()).err().unwrap());
    assert!(
        err.contains("config.json") && err.contains("GPT2LMHeadModel"),
        "{err}"
    );
    // shape mismatch: config says a wider model than the weights
    cfg["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    cfg["intermediate_size"] = 41.into();
    std::fs::write(&cfgp, cfg.to_string()).unwrap();
    let err = format!("{:#}", Model::load(dir.path()).err().unwrap());
    assert!(
        err.contains("mlp.gate_proj.weight") && err.contains("shape"),
        "{err}"
    );
    // missing tensor
    cfg["intermediate_size"] = 40.into();
    cfg["num_hidden_layers"] = 3.into();
    std::fs::write(&cfgp, cfg.to_string()).unwrap();
    let err = format!("{:#}", Model::load(dir.path()).err().unwrap());
    assert!(err.contains("missing tensor model.layers.2"), "{err}");
}
