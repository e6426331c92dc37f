//! `rlvr generate` end to end through the binary with a tiny model made here: output format,
//! stop tokens, reproducibility across batch sizes, greedy decoding, sampler log-probs equal to
//! recomputed log-probs, and one-line errors for bad flags.
#[path = "eval_common/mod.rs"]
mod eval_common;
use eval_common::*;
use std::path::Path;

fn setup(dir: &Path) -> (String, String) {
    tiny_model(&dir.join("m"), 3);
    let prompts = dir.join("p.jsonl");
    std::fs::write(
        &prompts,
        "{\"id\": \"x\", \"prompt\": \"What is 2+2?\", \"answer\": \"4\"}\n\
         {\"prompt\": [{\"role\": \"user\", \"content\": \"Say hi.\"}]}\n",
    )
    .unwrap();
    (
        dir.join("m").to_string_lossy().into_owned(),
        prompts.to_string_lossy().into_owned(),
    )
}

fn gen(model: &str, prompts: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let o = out.to_string_lossy().into_owned();
    let mut args = vec![
        "generate",
        "--model",
        model,
        "--prompts",
        prompts,
        "--output",
        &o,
        "--n",
        "3",
        "--max-tokens",
        "6",
        "--seed",
        "1",
    ];
    args.extend_from_slice(extra);
    rlvr(&args)
}

#[test]
fn generate_writes_samples_with_logprobs() {
    let dir = tempfile::tempdir().unwrap();
    let (model, prompts) = setup(dir.path());
    let a = dir.path().join("a.jsonl");
    ok(&gen(
        &model,
        &prompts,
        &a,
        &["--temperature", "0.8", "--batch", "1"],
    ));
    let rows = lines(&a);
    assert_eq!(rows.len(), 6);
    let tok = rlvr::tokenizer::Tokenizer::from_dir(Path::new(&model)).unwrap();
    let m = rlvr::model::Model::load(Path::new(&model)).unwrap();
    let mut seqs = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["generation_id"], i % 3);
        assert_eq!(r["question_id"], if i < 3 { "x" } else { "/1" });
        assert_eq!(r.get("answer").is_some(), i < 3);
        let toks: Vec<u32> = r["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(r["logprobs"].as_array().unwrap().len(), toks.len());
        assert!(!toks.is_empty() && toks.len() <= 6);
        let stopped = [EOS, IM_END].contains(toks.last().unwrap());
        assert_eq!(r["finish"], if stopped { "stop" } else { "length" });
        if !stopped {
            assert_eq!(toks.len(), 6);
        }
        assert_eq!(r["response"], tok.decode(&toks, true).unwrap());
        // llama model_type → the SmolLM2 chat template.
        let prompt = r["prompt"].as_str().unwrap();
        assert!(
            prompt.starts_with("<|im_start|>system\n")
                && prompt.ends_with("<|im_start|>assistant\n")
        );
        let mut full = tok.encode(prompt).unwrap();
        let plen = full.len();
        full.extend(&toks);
        seqs.push((full, plen, r["logprobs"].clone()));
    }
    // The sampler's log-probs equal what the scorer recomputes (same CPU backend).
    let just: Vec<Vec<u32>> = seqs.iter().map(|s| s.0.clone()).collect();
    let scores = rlvr::model::score::score_sequences(&m, &just, 0.8, 4096).unwrap();
    for ((_, plen, lps), sc) in seqs.iter().zip(&scores) {
        for (i, lp) in lps.as_array().unwrap().iter().enumerate() {
            let d = (lp.as_f64().unwrap() as f32 - sc.logprobs[plen - 1 + i]).abs();
            assert!(d < 1e-4, "log-prob differs by {d}");
        }
    }
    // Same seed, other batch size: the same file.
    let b = dir.path().join("b.jsonl");
    ok(&gen(
        &model,
        &prompts,
        &b,
        &["--temperature", "0.8", "--batch", "7"],
    ));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn greedy_samples_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (model, prompts) = setup(dir.path());
    let g = dir.path().join("g.jsonl");
    ok(&gen(
        &model,
        &prompts,
        &g,
        &["--greedy", "--template", "chatml"],
    ));
    let rows = lines(&g);
    for group in rows.chunks(3) {
        assert_eq!(group[0]["tokens"], group[1]["tokens"]);
        assert_eq!(group[0]["tokens"], group[2]["tokens"]);
        assert!(group[0]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("<|im_start|>user\n"));
    }
}

#[test]
fn bf16_weights_generate_close_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let (model, prompts) = setup(dir.path());
    let (f, h) = (dir.path().join("f.jsonl"), dir.path().join("h.jsonl"));
    ok(&gen(&model, &prompts, &f, &["--greedy"]));
    ok(&gen(
        &model,
        &prompts,
        &h,
        &["--greedy", "--weights", "bf16"],
    ));
    let (rf, rh) = (lines(&f), lines(&h));
    assert_eq!(rf.len(), rh.len());
    // The bf16 path really ran: rounded weights move the log-probs.
    assert!(
        rf.iter()
            .zip(&rh)
            .any(|(a, b)| a["logprobs"] != b["logprobs"]),
        "bf16 weights gave exactly the f32 log-probs"
    );
    for (a, b) in rf.iter().zip(&rh) {
        // Up to the first differing choice the two runs see the same prefix, so their
        // log-probs differ only by the weights' rounding.
        let (ta, tb) = (
            a["tokens"].as_array().unwrap(),
            b["tokens"].as_array().unwrap(),
        );
        let (la, lb) = (
            a["logprobs"].as_array().unwrap(),
            b["logprobs"].as_array().unwrap(),
        );
        for i in 0..ta.len().min(tb.len()) {
            let d = (la[i].as_f64().unwrap() - lb[i].as_f64().unwrap()).abs();
            assert!(d < 0.1, "token {i}: log-prob f32 vs bf16 differ by {d}");
            if ta[i] != tb[i] {
                break;
            }
        }
    }
    let o = dir.path().join("o.jsonl");
    for (flags, want) in [
        (vec!["--weights", "f16"], "unknown weight type"),
        (vec!["--weights", "bf16", "--device", "emu"], "--device cpu"),
    ] {
        let out = gen(&model, &prompts, &o, &flags);
        assert!(!out.status.success(), "{flags:?} should fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{flags:?}"
        );
        assert!(!o.exists());
    }
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (model, prompts) = setup(dir.path());
    let o = dir.path().join("o.jsonl");
    for (flags, want) in [
        (vec!["--temperature", "0"], "--greedy"),
        (vec!["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (vec!["--min-p", "2"], "--min-p"),
        (vec!["--template", "nope"], "unknown chat template"),
        (vec!["--n", "0"], "--n"),
    ] {
        // --n appears twice in the last case; give it alone instead.
        let out = if flags[0] == "--n" {
            let oo = o.to_string_lossy().into_owned();
            rlvr(&[
                "generate",
                "--model",
                &model,
                "--prompts",
                &prompts,
                "--output",
                &oo,
                "--n",
                "0",
            ])
        } else {
            gen(&model, &prompts, &o, &flags)
        };
        assert!(!out.status.success(), "{flags:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(!o.exists());
    }
    let missing = dir.path().join("none.jsonl").to_string_lossy().into_owned();
    let out = gen(&model, &missing, &o, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.jsonl"));
}
