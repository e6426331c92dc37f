//! Activation checkpointing: the same log-probs and bit-identical parameter gradients as the
//! plain tape on Llama, Qwen2 and Qwen3 shapes, and the tape's saved-activation count matching
//! what `rlvr plan` assumes (one layer input per layer, one layer recomputed at a time).
use rlvr::autograd::{Tape, TapeStats};
use rlvr::cli::plan::layer_activation_values;
use rlvr::model::{init::llama_config_json, Batch, Model, ModelConfig};

fn tiny(arch: &str, tie: bool) -> Model {
    let mut cfg = llama_config_json(61, 24, 40, 3, 4, 2, tie, 1, 2);
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
    let mut m = Model::random(ModelConfig::from_json(cfg).unwrap(), 0.3, 5).unwrap();
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

fn batch() -> Batch {
    let seqs: Vec<Vec<u32>> = [5usize, 3, 7]
        .iter()
        .enumerate()
        .map(|(s, &n)| {
            (0..n)
                .map(|i| ((s * 17 + i * 13 + 3) % 61) as u32)
                .collect()
        })
        .collect();
    Batch::from_sequences(&seqs)
}

struct Run {
    logp: Vec<f32>,
    entropy: Vec<f32>,
    grads: Vec<Vec<f32>>,
    /// Tape statistics after the forward and after the backward.
    forward: TapeStats,
    backward: TapeStats,
}

fn run(model: &mut Model, ckpt: bool) -> Run {
    model.activation_checkpointing = ckpt;
    let b = batch();
    let tape = Tape::new();
    let vars = model.vars(&tape);
    let (lp, ent) = model.next_token_logprobs(&tape, &vars, &b, 0.9).unwrap();
    let n = lp.value.numel();
    let cl: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let ch: Vec<f32> = (0..n).map(|i| 0.1 * (i as f32 * 0.71).cos()).collect();
    let a = tape.weighted_sum(&lp, &cl);
    let e = tape.weighted_sum(&ent, &ch);
    let loss = tape.add(&a, &e);
    let forward = tape.stats();
    let grads = tape.backward(&loss);
    let grads = vars
        .iter()
        .map(|v| {
            grads
                .get(v)
                .expect("every parameter gets a gradient")
                .to_vec()
        })
        .collect();
    Run {
        logp: lp.value.to_vec(),
        entropy: ent.value.to_vec(),
        grads,
        forward,
        backward: tape.stats(),
    }
}

#[test]
fn checkpointed_gradients_are_bit_identical() {
    for (arch, tie) in [("llama", true), ("qwen2", false), ("qwen3", false)] {
        let mut m = tiny(arch, tie);
        let plain = run(&mut m, false);
        let ck = run(&mut m, true);
        assert_eq!(plain.logp, ck.logp, "{arch}: log-probs");
        assert_eq!(plain.entropy, ck.entropy, "{arch}: entropies");
        let names: Vec<&str> = m.param_names().collect();
        for ((name, g0), g1) in names.iter().zip(&plain.grads).zip(&ck.grads) {
            assert!(
                g0.iter().any(|&x| x != 0.0),
                "{arch}: {name} has a zero gradient"
            );
            assert_eq!(g0, g1, "{arch}: gradient of {name}");
        }
    }
}

#[test]
fn tape_saves_one_hidden_state_per_layer_and_recomputes_one_layer() {
    for arch in ["llama", "qwen3"] {
        let mut m = tiny(arch, false);
        let (tokens, layers, d) = (batch().len(), m.config.num_layers, m.config.hidden_size);
        let per_layer = layer_activation_values(&m.config);
        let plain = run(&mut m, false);
        let ck = run(&mut m, true);
        // Checkpointing drops everything a layer saves except its input.
        assert_eq!(
            plain.forward.saved_bytes - ck.forward.saved_bytes,
            4 * tokens * layers * (per_layer - d),
            "{arch}: saved bytes {} vs {}",
            plain.forward.saved_bytes,
            ck.forward.saved_bytes
        );
        assert_eq!(
            ck.backward.recompute_peak_bytes,
            4 * tokens * (per_layer - d)
        );
        assert_eq!(plain.backward.recompute_peak_bytes, 0);
        assert!(ck.forward.nodes < plain.forward.nodes);
        assert_eq!((ck.backward.nodes, ck.backward.saved_bytes), (0, 0));
    }
}

#[test]
fn no_grad_forward_ignores_the_flag() {
    let mut m = tiny("llama", true);
    m.activation_checkpointing = true;
    let tape = Tape::no_grad();
    let vars = m.vars(&tape);
    let (lp, _) = m.next_token_logprobs(&tape, &vars, &batch(), 1.0).unwrap();
    assert_eq!(tape.stats(), TapeStats::default());
    m.activation_checkpointing = false;
    let (lp0, _) = m.next_token_logprobs(&tape, &vars, &batch(), 1.0).unwrap();
    assert_eq!(lp.value.to_vec(), lp0.value.to_vec());
}

/// The trainer end to end (PPO: policy and critic both checkpointed): same metrics, same
/// weights, bit for bit; the TOML key and the flag both turn it on.
#[test]
fn training_with_checkpointing_is_bit_identical() {
    use rlvr::model::init::{write_tiny_char_model, TinySpec};
    use rlvr::rl::metrics::TIMING_KEYS;
    use rlvr::rl::trainer::train;
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
    let toml = format!(
        "model = {:?}\ndata = [{:?}]\nobjective = \"ppo\"\nsteps = 2\nprompts_per_step = 4\nn = 2\nmini_batch_prompts = 2\nlr = 1e-3\nmax_response_tokens = 5\ntemplate = \"plain\"\nsave_every = 2\nval_every = 0\nrollout_batch = 8\nactivation_checkpointing = true\n",
        d.join("model"),
        d.join("train.jsonl")
    );
    std::fs::write(d.join("run.toml"), toml).unwrap();
    let args = rlvr::cli::train::Args {
        config: Some(d.join("run.toml")),
        output: Some(d.join("ckpt")),
        ..Default::default()
    };
    let ck = rlvr::cli::train::resolve(&args).unwrap();
    assert!(ck.activation_checkpointing);
    let mut plain = ck.clone();
    plain.activation_checkpointing = false;
    plain.output = d.join("plain");
    let flag = rlvr::cli::train::Args {
        model: Some(d.join("model")),
        data: vec![d.join("train.jsonl")],
        activation_checkpointing: true,
        ..Default::default()
    };
    assert!(
        rlvr::cli::train::resolve(&flag)
            .unwrap()
            .activation_checkpointing
    );
    let mut metrics = Vec::new();
    let mut weights = Vec::new();
    for cfg in [&plain, &ck] {
        let s = train(cfg, false, false).unwrap();
        let m: Vec<serde_json::Value> = std::fs::read_to_string(cfg.output.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                for k in TIMING_KEYS {
                    v.as_object_mut().unwrap().remove(*k);
                }
                v
            })
            .collect();
        metrics.push(m);
        weights.push(Model::load(&s.final_checkpoint.unwrap()).unwrap().params);
    }
    assert_eq!(metrics[0], metrics[1]);
    for (a, b) in weights[0].iter().zip(&weights[1]) {
        assert_eq!(a.data(), b.data());
    }
    let init = Model::load(&d.join("model")).unwrap().params;
    assert!(init
        .iter()
        .zip(&weights[1])
        .any(|(a, b)| a.data() != b.data()));
}
