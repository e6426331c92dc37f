//! The trainer end to end on the CPU with a tiny model and a synthetic task: every objective
//! runs; PSR raises the probability of the correct responses it trained on and NSR lowers that
//! of the incorrect ones; `--resume` continues bit for bit.
mod tiny_task;
use rlvr::model::score::score_suffixes;
use rlvr::model::Model;
use rlvr::optim::AdamW;
use rlvr::rl::rollout::Sample;
use rlvr::rl::trainer::train;
use rlvr::rl::update::{policy_update, UpdateInputs};
use rlvr::rl::ObjectiveKind::{Grpo, Nsr, Ppo, Psr, Reinforce, WReinforce};
use rlvr::rl::TrainConfig;
use rlvr::tokenizer::ChatTemplate;
use std::path::Path;

fn setup(dir: &Path) -> TrainConfig {
    tiny_task::rl_config(dir)
}

#[test]
fn every_objective_runs_and_checkpoints_load() {
    for obj in [Psr, Nsr, WReinforce, Reinforce, Grpo, Ppo] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = setup(dir.path());
        cfg.objective = obj;
        let s = train(&cfg, false, false).unwrap_or_else(|e| panic!("{obj}: {e:#}"));
        let lines = std::fs::read_to_string(cfg.output.join("metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 2, "{obj}");
        for l in lines.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let (verify, rollout) = (v["time/verify_s"].as_f64(), v["time/rollout_s"].as_f64());
            assert!(
                verify > Some(0.0) && verify <= rollout,
                "{obj}: the verifier's time is part of the rollout's: {l}"
            );
        }
        let last = s.last_metrics.as_ref().unwrap();
        assert_eq!(last.step, 1, "{obj}");
        assert_eq!(
            last.batch.correct + last.batch.incorrect,
            cfg.prompts_per_step * cfg.n
        );
        let ck = s.final_checkpoint.unwrap();
        let m = Model::load(&ck).unwrap();
        assert!(ck.join("tokenizer.json").exists() && ck.join("optimizer.safetensors").exists());
        assert!(m.params.iter().all(|p| !p.has_non_finite()));
        if obj == Ppo {
            assert!(ck.join("critic/value_head.safetensors").exists());
        }
    }
}

#[test]
fn resume_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = setup(dir.path());
    cfg.objective = Grpo;
    cfg.steps = 4;
    train(&cfg, false, false).unwrap();
    let full = tiny_task::metrics(&cfg.output);
    let full_w = Model::load(&cfg.output.join("checkpoints/step-000004")).unwrap();
    let mut c2 = cfg.clone();
    c2.output = dir.path().join("run2");
    c2.steps = 2;
    train(&c2, false, false).unwrap();
    c2.steps = 4;
    train(&c2, true, false).unwrap();
    assert_eq!(full, tiny_task::metrics(&c2.output));
    let res_w = Model::load(&c2.output.join("checkpoints/step-000004")).unwrap();
    for (a, b) in full_w.params.iter().zip(&res_w.params) {
        assert_eq!(a.data(), b.data());
    }
}

#[test]
fn bf16_rollouts_train_and_are_part_of_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let mut f32_cfg = setup(dir.path());
    f32_cfg.objective = WReinforce;
    f32_cfg.output = dir.path().join("f32");
    let mut bf16_cfg = f32_cfg.clone();
    bf16_cfg.output = dir.path().join("bf16");
    bf16_cfg.rollout_weights = rlvr::rl::config::RolloutWeights::Bf16;
    let a = train(&f32_cfg, false, false).unwrap();
    let b = train(&bf16_cfg, false, false).unwrap();
    let fingerprint =
        |c: &TrainConfig| std::fs::read_to_string(c.output.join("fingerprint.json")).unwrap();
    assert!(!fingerprint(&f32_cfg).contains("rollout_weights"));
    assert!(fingerprint(&bf16_cfg).contains("\"rollout_weights\": \"bf16\""));
    // The bf16 samples differ somewhere from the f32 ones, so the trained weights do too.
    let (wa, wb) = (
        Model::load(&a.final_checkpoint.unwrap()).unwrap(),
        Model::load(&b.final_checkpoint.unwrap()).unwrap(),
    );
    assert!(wb.params.iter().all(|p| !p.has_non_finite()));
    assert!(
        wa.params
            .iter()
            .zip(&wb.params)
            .any(|(x, y)| x.data() != y.data()),
        "bf16 rollouts trained exactly the f32 run's weights"
    );
    // Continuing the bf16 run with f32 rollouts is a change of results: refused.
    let mut resumed = bf16_cfg.clone();
    resumed.rollout_weights = rlvr::rl::config::RolloutWeights::F32;
    resumed.steps += 1;
    let err = train(&resumed, true, false).unwrap_err();
    assert!(format!("{err:#}").contains("rollout_weights"), "{err:#}");
}

fn fabricated(model: &Model) -> Vec<Sample> {
    let mk = |prompt: Vec<u32>, response: Vec<u32>, reward: f32, group: usize| {
        let s = score_suffixes(
            model,
            &[[prompt.as_slice(), &response].concat()],
            &[response.len()],
            1.0,
            4096,
        )
        .unwrap();
        Sample {
            group,
            prompt,
            response,
            sampler_logp: s[0].logprobs.clone(),
            text: String::new(),
            pred: None,
            reward,
            truncated: false,
        }
    };
    vec![
        mk(vec![40, 41, 42], vec![50, 51, 0], 1.0, 0),
        mk(vec![40, 41, 42], vec![60, 61, 0], 0.0, 0),
        mk(vec![43, 44], vec![52, 0], 1.0, 1),
        mk(vec![43, 44], vec![70, 71, 72, 0], 0.0, 1),
    ]
}

fn seq_logp(model: &Model, s: &Sample) -> f64 {
    let r = score_suffixes(
        model,
        &[[s.prompt.as_slice(), &s.response].concat()],
        &[s.response.len()],
        1.0,
        4096,
    )
    .unwrap();
    r[0].logprobs.iter().map(|&x| x as f64).sum()
}

#[test]
fn psr_raises_correct_and_nsr_lowers_incorrect() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    for (obj, want_correct) in [("psr", true), ("nsr", false)] {
        let mut model = Model::load(&cfg.model).unwrap();
        let all = fabricated(&model);
        let kept: Vec<Sample> = all
            .iter()
            .filter(|s| s.is_correct() == want_correct)
            .cloned()
            .collect();
        let adv: Vec<Vec<f32>> = kept
            .iter()
            .map(|s| vec![if obj == "psr" { 1.0 } else { -1.0 }; s.response.len()])
            .collect();
        let old: Vec<Vec<f32>> = kept.iter().map(|s| s.sampler_logp.clone()).collect();
        let before: Vec<f64> = all.iter().map(|s| seq_logp(&model, s)).collect();
        let mut opt = AdamW::new(cfg.adamw(), &model.params);
        let x = UpdateInputs {
            samples: &kept,
            adv: &adv,
            old_logp: &old,
            ref_logp: None,
            mb_seqs: kept.len(),
            kl_coef: 0.0,
        };
        let mut c = cfg.clone();
        c.lr = 1e-2;
        c.entropy_coef = 0.0;
        policy_update(&mut model, &mut opt, &x, &c, c.lr).unwrap();
        for (s, b) in all.iter().zip(&before) {
            let after = seq_logp(&model, s);
            if s.is_correct() == want_correct {
                if obj == "psr" {
                    assert!(
                        after > *b,
                        "PSR must raise a trained correct response: {b} -> {after}"
                    );
                } else {
                    assert!(
                        after < *b,
                        "NSR must lower a trained incorrect response: {b} -> {after}"
                    );
                }
            }
        }
    }
}

/// Every spelling of the closed settings that users write on the command line reaches the run's
/// config.toml, canonically spelled; a wrong one is refused naming the choices.
#[test]
fn command_line_spellings_reach_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    let rlvr = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rlvr"))
            .args(["train", "--quiet", "--steps", "0", "--model"])
            .arg(&cfg.model)
            .arg("--data")
            .arg(&cfg.data[0])
            .arg("--output")
            .arg(&cfg.output)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = rlvr(&[
        "--objective",
        "weighted",
        "--psr-nsr-mode",
        "mask",
        "--template",
        "plain",
        "--verifier",
        "paper",
        "--rollouts",
        "cpu",
        "--zero",
        "1",
        "--rollout-weights",
        "bf16",
        "--preset",
        "tiny-cpu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(cfg.output.join("config.toml")).unwrap();
    let back: TrainConfig = toml::from_str(&written).unwrap();
    assert_eq!(back.objective, WReinforce);
    assert_eq!(back.psr_nsr_mode, rlvr::rl::PsrNsrMode::Mask);
    assert_eq!(back.template, Some(ChatTemplate::Plain));
    assert_eq!(back.verifier, rlvr::verify::Mode::Paper);
    assert_eq!(back.rollouts, rlvr::rl::config::Rollouts::Cpu);
    assert_eq!(back.zero, rlvr::rl::dp::ZeroStage::One);
    assert_eq!(back.rollout_weights, rlvr::rl::config::RolloutWeights::Bf16);
    assert!(written.contains("rollout_weights = \"bf16\""), "{written}");
    assert!(written.contains("objective = \"w-reinforce\"") && written.contains("zero = 1"));
    for (flag, value) in [
        ("--objective", "ppo2"),
        ("--zero", "2"),
        ("--template", "qwen9"),
    ] {
        let out = rlvr(&[flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(value) && err.contains("possible values"),
            "{flag} {value}: {err}"
        );
    }
}
