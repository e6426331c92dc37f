//! Where the trainer follows the paper's released code rather than its text, end to end on the
//! CPU: the entropy coefficient a run used is recorded, the final policy is validated, the
//! first-step lr-0 option holds the policy and the critic still while their moments advance, and
//! the critic takes n times the policy's optimizer steps from a freshly initialised value head.
mod tiny_task;
use rlvr::model::weights::read_all_f32;
use rlvr::model::Model;
use rlvr::rl::trainer::train;
use rlvr::rl::ObjectiveKind::{Ppo, Psr};
use rlvr::rl::TrainConfig;
use std::path::Path;

fn setup(dir: &Path) -> TrainConfig {
    TrainConfig {
        steps: 3,
        ..tiny_task::rl_config(dir)
    }
}

fn lines(run: &Path) -> Vec<serde_json::Value> {
    tiny_task::metrics(run)
}

#[test]
fn the_final_policy_is_validated_and_the_entropy_coefficient_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = setup(dir.path());
    cfg.objective = Psr;
    cfg.val_data = vec![dir.path().join("train.jsonl")];
    cfg.val_max_problems = 6;
    cfg.val_every = 2;
    let s = train(&cfg, false, false).unwrap();
    let m = lines(&cfg.output);
    let steps: Vec<u64> = m.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![0, 1, 2, 3]);
    let has_val = |l: &serde_json::Value| {
        l.as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("val/") && k.ends_with("/accuracy"))
    };
    assert!(has_val(&m[0]) && !has_val(&m[1]) && has_val(&m[2]), "{m:?}");
    // The line after the last step holds the final validation alone.
    let last = m[3].as_object().unwrap();
    assert!(has_val(&m[3]), "{last:?}");
    assert!(last.keys().all(|k| k == "step" || k.starts_with("val/")));
    let v = s.final_validation.expect("final validation");
    assert_eq!(v.iter().map(|v| v.problems).sum::<usize>(), 6);
    for l in &m[..3] {
        if let Some(c) = l.get("actor/entropy_coef") {
            assert_eq!(c.as_f64(), Some(1e-3f32 as f64), "{l}");
        }
    }
    assert!(m[..3].iter().any(|l| l.get("actor/entropy_coef").is_some()));
    let written = std::fs::read_to_string(cfg.output.join("config.toml")).unwrap();
    assert!(written.contains("entropy_coef = 0.001"), "{written}");
    // No validation data: no final line.
    let mut quiet = setup(dir.path());
    quiet.objective = Psr;
    quiet.output = dir.path().join("quiet");
    assert!(train(&quiet, false, false)
        .unwrap()
        .final_validation
        .is_none());
    assert_eq!(lines(&quiet.output).len(), 3);
}

#[test]
fn lr_zero_first_step_holds_policy_and_critic_while_moments_advance() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = setup(dir.path());
    cfg.objective = Ppo;
    cfg.steps = 1;
    cfg.lr_zero_first_step = true;
    train(&cfg, false, false).unwrap();
    let base = Model::load(&cfg.model).unwrap();
    let ck = cfg.output.join("checkpoints/step-000001");
    let policy = Model::load(&ck).unwrap();
    let critic = Model::load(&ck.join("critic")).unwrap();
    for (name, m) in [("policy", &policy), ("critic", &critic)] {
        for (a, b) in base.params.iter().zip(&m.params) {
            assert_eq!(a.data(), b.data(), "{name} moved at lr 0");
        }
    }
    for opt in [
        ck.join("optimizer.safetensors"),
        ck.join("critic/optimizer.safetensors"),
    ] {
        let t = read_all_f32(&opt).unwrap();
        let moved = t
            .iter()
            .filter(|(k, _)| k.starts_with("m."))
            .any(|(_, v)| v.data().iter().any(|&x| x != 0.0));
        assert!(moved, "{}: Adam moments not updated", opt.display());
    }
    let m = lines(&cfg.output);
    assert_eq!(m[0]["actor/lr"].as_f64(), Some(0.0));
    // The critic counts its mini-batch in sequences: n times the policy's optimizer steps.
    let actor = m[0]["actor/optimizer_steps"].as_u64().unwrap();
    let critic_steps = m[0]["critic/optimizer_steps"].as_u64().unwrap();
    assert_eq!(actor, 2);
    assert_eq!(critic_steps, cfg.n as u64 * actor);
    // The value head is a fresh N(0, 0.02²) linear layer with a zero bias, untouched at lr 0.
    let head = read_all_f32(&ck.join("critic/value_head.safetensors")).unwrap();
    let w = head["value_head.weight"].data();
    assert!(w.iter().all(|x| x.abs() < 0.2) && w.iter().any(|&x| x != 0.0));
    assert!(head["value_head.bias"].data().iter().all(|&x| x == 0.0));
    // Off by default: the first step moves the policy.
    let mut moving = cfg.clone();
    moving.lr_zero_first_step = false;
    moving.output = dir.path().join("moving");
    train(&moving, false, false).unwrap();
    let moved = Model::load(&moving.output.join("checkpoints/step-000001")).unwrap();
    assert!(base
        .params
        .iter()
        .zip(&moved.params)
        .any(|(a, b)| a.data() != b.data()));
    assert!(lines(&moving.output)[0]["actor/lr"].as_f64() > Some(0.0));
}
