//! Crafted inputs that once misbehaved, each now a clear error naming the file and the problem:
//! a tiny GGUF claiming 2^31 blocks, NaN weights or ε in a GGUF, a model config with a negative
//! ε or zero θ, a safetensors header missing one tensor, a tokenizer with ids past the model's
//! embedding, a resume onto another architecture, duplicate k in passk, and meaningless settings.
mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::gguf_writer::Kv;
use support::tiny_gguf::tiny_model;

fn rlvr(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "unexpectedly succeeded");
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn crafted_ggufs_fail_before_allocating_or_writing() {
    let d = tempfile::tempdir().unwrap();
    let (w, _) = tiny_model("llama");
    let convert = |name: &str, w: &support::gguf_writer::GgufWriter| {
        w.write(&d.path().join(name));
        rlvr(
            d.path(),
            &["convert", "--from-gguf", name, "--output", "out"],
        )
    };
    let huge = w.with_kv("llama.block_count", Kv::U32(1 << 31));
    let started = std::time::Instant::now();
    let e = fails(&convert("blocks.gguf", &huge));
    assert!(e.contains("llama.block_count is 2147483648"), "{e}");
    assert!(started.elapsed().as_secs() < 20);
    let nan_eps = w.with_kv("llama.attention.layer_norm_rms_epsilon", Kv::F32(f32::NAN));
    let e = fails(&convert("eps.gguf", &nan_eps));
    assert!(
        e.contains("layer_norm_rms_epsilon must be a finite number > 0, got NaN"),
        "{e}"
    );
    let mut nan_w = w.clone();
    let t = nan_w.tensors.iter_mut().find(|t| t.type_id == 0).unwrap();
    t.data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let name = t.name.clone();
    let e = fails(&convert("nanw.gguf", &nan_w));
    assert!(
        e.contains(&format!("tensor {name} holds a non-finite value")),
        "{e}"
    );
    assert!(!d.path().join("out").exists());
    let debris: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(debris.is_empty(), "{debris:?}");
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

#[test]
fn crafted_model_directories_name_the_culprit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("t.jsonl"), "{\"tokens\": [5, 6, 7]}\n").unwrap();
    let logprobs = |m: &str| {
        rlvr(
            p,
            &[
                "logprobs", "--model", m, "--input", "t.jsonl", "--output", "o",
            ],
        )
    };
    for (key, value, want) in [
        (
            "rms_norm_eps",
            serde_json::json!(-1e-5),
            "field `rms_norm_eps` must be a finite number > 0",
        ),
        (
            "rope_theta",
            serde_json::json!(0),
            "field `rope_theta` must be a finite number > 0, got 0",
        ),
        (
            "num_hidden_layers",
            serde_json::json!(1u64 << 40),
            "more than the 1099511627776 a model may have",
        ),
    ] {
        let m = format!("m-{key}");
        ok(&rlvr(p, &["new-model", "--output", &m]));
        edit_json(&p.join(&m).join("config.json"), |v| v[key] = value);
        let e = fails(&logprobs(&m));
        assert!(e.contains(want) && e.contains("config.json"), "{key}: {e}");
    }
    // A header without one tensor: the error names that tensor, not its neighbour.
    ok(&rlvr(p, &["new-model", "--output", "cut"]));
    let st = p.join("cut/model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let gone = "model.layers.0.self_attn.k_proj.weight";
    assert!(header.as_object_mut().unwrap().remove(gone).is_some());
    let mut text = header.to_string().into_bytes();
    text.resize(n, b' ');
    let mut cut = bytes[..8].to_vec();
    cut.extend_from_slice(&text);
    cut.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(&st, cut).unwrap();
    let e = fails(&logprobs("cut"));
    assert!(e.contains(&format!("missing tensor {gone}")), "{e}");
    // A tokenizer with ids past the embedding is blamed, not the token ids.
    ok(&rlvr(p, &["new-model", "--output", "tok"]));
    edit_json(&p.join("tok/tokenizer.json"), |v| {
        v["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "id": 5000, "content": "<extra>", "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true
            }));
    });
    std::fs::write(
        p.join("p.jsonl"),
        "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let e = fails(&rlvr(
        p,
        &[
            "generate",
            "--model",
            "tok",
            "--prompts",
            "p.jsonl",
            "--output",
            "g.jsonl",
        ],
    ));
    assert!(
        e.contains("tokenizer.json: has token id") && e.contains("does not belong"),
        "{e}"
    );
}

#[test]
fn passk_counts_a_repeated_k_once() {
    let d = tempfile::tempdir().unwrap();
    let lines: String = (0..4)
        .map(|g| {
            format!(
                "{{\"question_id\": \"a\", \"generation_id\": {g}, \"label\": {}}}\n",
                g == 0
            )
        })
        .collect();
    std::fs::write(d.path().join("e.jsonl"), lines).unwrap();
    let out = ok(&rlvr(
        d.path(),
        &["passk", "--input", "e.jsonl", "--k", "2,2,1"],
    ));
    assert_eq!(out.matches("\"2\"").count(), 1, "{out}");
}

#[test]
fn meaningless_settings_and_another_architecture_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&rlvr(p, &["new-model", "--output", "m"]));
    ok(&rlvr(
        p,
        &[
            "make-task",
            "--task",
            "arithmetic",
            "--n",
            "8",
            "--output",
            "d.jsonl",
        ],
    ));
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--quiet",
            "--preset",
            "tiny-cpu",
            "--model",
            "m",
            "--data",
            "d.jsonl",
            "--output",
            "run",
            "--prompts-per-step",
            "2",
            "--mini-batch-prompts",
            "2",
        ];
        a.extend_from_slice(extra);
        rlvr(p, &a)
    };
    for (flag, value, want) in [
        (
            "--lr",
            "-1e-3",
            "lr must be a finite number >= 0, got -0.001",
        ),
        (
            "--weight-decay",
            "-5",
            "weight_decay must be a finite number >= 0, got -5",
        ),
        (
            "--lambda",
            "NaN",
            "lambda must be a finite number >= 0, got NaN",
        ),
        (
            "--grad-clip",
            "0",
            "grad_clip must be a finite number > 0, got 0",
        ),
        (
            "--max-response-tokens",
            "0",
            "max_response_tokens must be in 1..=",
        ),
        ("--n", "100000000000", "n must be in 1..=65536"),
    ] {
        let e = fails(&train(&[&format!("{flag}={value}")]));
        assert!(e.contains(want), "{flag} {value}: {e}");
    }
    std::fs::write(p.join("b.toml"), "beta1 = 2.0\n").unwrap();
    let e = fails(&train(&["--config", "b.toml"]));
    assert!(e.contains("beta1 must be in [0, 1), got 2"), "{e}");
    assert!(!p.join("run").exists());
    ok(&train(&["--steps", "1"]));
    ok(&rlvr(
        p,
        &[
            "new-model",
            "--output",
            "wide",
            "--hidden",
            "96",
            "--heads",
            "4",
        ],
    ));
    std::fs::remove_dir_all(p.join("m")).unwrap();
    std::fs::rename(p.join("wide"), p.join("m")).unwrap();
    let e = fails(&train(&[
        "--steps",
        "2",
        "--resume",
        "--allow-changes",
        "model",
    ]));
    assert!(
        e.contains("architecture differs")
            && e.contains("hidden_size 64 in the checkpoint, 96 in the model"),
        "{e}"
    );
}
