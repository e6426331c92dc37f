//! The whole model on the device (`backend::cuda::model`) on the emulator: the check against
//! the CPU autograd path passes and can fail, gradients are deterministic and accumulate, and
//! `rlvr logprobs --device emu` agrees with `--device cpu`.
mod emu_common;
use emu_common::*;
use rlvr::backend::cuda::model::{DeviceBatch, DeviceModel, Grads};
use rlvr::backend::cuda::selftest::model::{cases, check_case, check_case_tampered, random_model};
use rlvr::backend::cuda::selftest::ShapeSet;
use rlvr::model::forward::suffix_rows;
use rlvr::model::init::{write_tiny_char_model, TinySpec};
use rlvr::model::Batch;

#[test]
fn every_model_case_matches_the_cpu_with_another_seed() {
    let Some(dev) = emu_or_skip(11) else { return };
    for case in cases(ShapeSet::Small) {
        let rows = check_case(&dev, &case, 11).unwrap_or_else(|e| panic!("{}: {e:#}", case.label));
        let failed: Vec<String> = rows
            .iter()
            .filter(|r| !r.pass)
            .map(|r| format!("{} {}: {} {}", r.kernel, r.shape, r.max_rel, r.note))
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
}

#[test]
fn the_model_check_fails_when_the_device_weights_differ() {
    let Some(dev) = emu_or_skip(12) else { return };
    let all = cases(ShapeSet::Small);
    let qwen2 = all.iter().find(|c| c.label.starts_with("qwen2")).unwrap();
    // drop the q/k/v biases of layer 1 on the device only
    let rows = check_case_tampered(&dev, qwen2, 12, &|m| {
        let l = m.layout.layers[1].clone();
        for i in [l.q_bias, l.k_bias, l.v_bias].into_iter().flatten() {
            m.params[i] = rlvr::tensor::Tensor::zeros(m.params[i].dims());
        }
    })
    .unwrap();
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.kernel.as_str())
        .collect();
    assert!(failed.contains(&"model final hidden"), "{failed:?}");
}

#[test]
fn gradients_are_deterministic_and_accumulate() {
    let Some(dev) = emu_or_skip(13) else { return };
    let case = &cases(ShapeSet::Small)[1]; // tied embeddings
    let model = random_model(case, 13).unwrap();
    let batch = Batch::from_sequences(&[vec![5u32, 9, 200, 7, 7, 31], vec![3, 3, 8, 1]]);
    let (rows, targets) = suffix_rows(&batch, &[4, 3]).unwrap();
    let g_lp: Vec<f32> = (0..rows.len()).map(|i| 0.1 - 0.03 * i as f32).collect();
    let g_h = vec![0.01f32; rows.len()];
    let dm = DeviceModel::upload(&dev, &model).unwrap();
    let db = DeviceBatch::from_batch(&dev, &batch).unwrap();
    let run = |grads: &mut Grads, acc: bool| {
        let acts = dm.forward(&dev, &db).unwrap();
        let head = dm.head(&dev, &acts, &rows, &targets, 1.0).unwrap();
        dm.backward(&dev, &db, &acts, &head, &g_lp, &g_h, grads, acc)
            .unwrap();
    };
    let mut g = Grads::alloc(&dev, &dm).unwrap();
    run(&mut g, false);
    let first = g.download(&dev).unwrap();
    run(&mut g, false);
    assert_eq!(
        first,
        g.download(&dev).unwrap(),
        "a rerun changed the gradients"
    );
    run(&mut g, true);
    let twice = g.download(&dev).unwrap();
    for (i, (a, b)) in first.iter().zip(&twice).enumerate() {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (2.0 * x - y).abs() <= 1e-6 * x.abs().max(1e-3),
                "param {i}: {x} {y}"
            );
        }
    }
    assert!(first.iter().all(|g| g.iter().any(|&v| v != 0.0)));
}

#[test]
fn the_head_with_known_coefficients_matches_the_two_passes() {
    let Some(dev) = emu_or_skip(15) else { return };
    for case in &cases(ShapeSet::Small)[..2] {
        let model = random_model(case, 15).unwrap();
        let batch = Batch::from_sequences(&[vec![5u32, 9, 200, 7, 7, 31], vec![3, 3, 8, 1]]);
        let (rows, targets) = suffix_rows(&batch, &[4, 3]).unwrap();
        let g_lp: Vec<f32> = (0..rows.len()).map(|i| 0.1 - 0.03 * i as f32).collect();
        let g_h = vec![0.01f32; rows.len()];
        let dm = DeviceModel::upload(&dev, &model).unwrap();
        let db = DeviceBatch::from_batch(&dev, &batch).unwrap();
        let acts = dm.forward(&dev, &db).unwrap();
        let mut two = Grads::alloc(&dev, &dm).unwrap();
        let head = dm.head(&dev, &acts, &rows, &targets, 0.7).unwrap();
        dm.backward(&dev, &db, &acts, &head, &g_lp, &g_h, &mut two, false)
            .unwrap();
        let (lp_two, ent_two) = head.download(&dev).unwrap();
        let mut one = Grads::alloc(&dev, &dm).unwrap();
        let head_i = dm.layout.lm_head_index();
        let (head, dhidden) = dm
            .head_with_backward(
                &dev,
                &acts,
                (&rows, &targets),
                0.7,
                (&g_lp, &g_h),
                &one.bufs[head_i],
                false,
            )
            .unwrap();
        dm.backward_below_head(&dev, &db, &acts, &dhidden, &mut one, false)
            .unwrap();
        let (lp_one, ent_one) = head.download(&dev).unwrap();
        for (a, b) in lp_one
            .iter()
            .chain(&ent_one)
            .zip(lp_two.iter().chain(&ent_two))
        {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        // ∂z is rounded to bf16 the same way; dW sums the rows in another grouping.
        let (one, two) = (one.download(&dev).unwrap(), two.download(&dev).unwrap());
        for (i, (a, b)) in one.iter().zip(&two).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                worst <= 1e-3 * scale,
                "{} param {i}: max diff {worst} at scale {scale}",
                case.label
            );
        }
    }
}

#[test]
fn logprobs_on_the_emulator_match_the_cpu() {
    if emu_or_skip(0).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let spec = TinySpec {
        hidden: 32,
        intermediate: 72,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        seed: 3,
    };
    write_tiny_char_model(&model, spec).unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"tokens\": [1, 40, 41, 42, 17, 9, 60]}\n{\"tokens\": [5]}\n{\"tokens\": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}\n",
    )
    .unwrap();
    let mut outs = Vec::new();
    for device in ["cpu", "emu"] {
        let out = dir.path().join(format!("{device}.jsonl"));
        rlvr_cmd(&[
            "logprobs",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--device",
            device,
            "--token-budget",
            "12",
        ]);
        outs.push(rlvr::util::read_jsonl(&out).unwrap());
    }
    assert_eq!(outs[0].len(), 3);
    let mut n = 0;
    for (c, e) in outs[0].iter().zip(&outs[1]) {
        for key in ["logprobs", "entropy"] {
            let (c, e) = (c[key].as_array().unwrap(), e[key].as_array().unwrap());
            assert_eq!(c.len(), e.len(), "{key}");
            for (x, y) in c.iter().zip(e) {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                // bf16 weights and activations on the device vs f32 on the CPU
                assert!(
                    (x - y).abs() <= 1e-2 * (1.0 + x.abs()),
                    "{key}: cpu {x} emu {y}"
                );
                n += 1;
            }
        }
    }
    assert_eq!(n, 2 * (6 + 10));
}

/// Samples of a tiny RL step: prompts + responses with ±1 advantages (PSR/NSR), old log-probs a
/// little off the current policy so some ratios clip.
fn rl_step_inputs(
    model: &rlvr::model::Model,
) -> (Vec<rlvr::rl::rollout::Sample>, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut samples = Vec::new();
    for (i, (p, r)) in [(5usize, 7usize), (3, 9), (6, 4), (4, 8), (2, 11)]
        .into_iter()
        .enumerate()
    {
        let tok = |j: usize| ((i * 37 + j * 11 + 3) % model.config.vocab_size) as u32;
        samples.push(rlvr::rl::rollout::Sample {
            group: i / 2,
            prompt: (0..p).map(tok).collect(),
            response: (p..p + r).map(tok).collect(),
            sampler_logp: vec![],
            text: String::new(),
            pred: None,
            reward: (i % 2) as f32,
            truncated: false,
        });
    }
    let seqs: Vec<Vec<u32>> = samples
        .iter()
        .map(|s| [s.prompt.clone(), s.response.clone()].concat())
        .collect();
    let suffix: Vec<usize> = samples.iter().map(|s| s.response.len()).collect();
    let scores = rlvr::model::score::score_suffixes(model, &seqs, &suffix, 1.0, 1 << 20).unwrap();
    let old: Vec<Vec<f32>> = scores
        .iter()
        .map(|s| {
            s.logprobs
                .iter()
                .enumerate()
                .map(|(j, &l)| l + 0.3 * ((j % 3) as f32 - 1.0))
                .collect()
        })
        .collect();
    let adv: Vec<Vec<f32>> = samples
        .iter()
        .map(|s| vec![if s.reward > 0.0 { 1.0 } else { -1.0 }; s.response.len()])
        .collect();
    (samples, adv, old)
}

#[test]
fn one_rl_update_on_the_device_matches_the_cpu_update() {
    use rlvr::backend::cuda::model::update::DeviceUpdater;
    use rlvr::dist::device_comm::Staged;
    use rlvr::rl::dp::DataParallel;
    use rlvr::rl::gradients::DeviceGradients;
    use rlvr::rl::update::{policy_update, policy_update_dp, UpdateInputs};
    let Some(dev) = emu_or_skip(14) else { return };
    let case = cases(ShapeSet::Small)
        .into_iter()
        .find(|c| c.label.starts_with("qwen2"))
        .unwrap();
    let mut cpu_model = random_model(&case, 14).unwrap();
    let p0: Vec<Vec<f32>> = cpu_model.params.iter().map(|p| p.to_vec()).collect();
    let (samples, adv, old) = rl_step_inputs(&cpu_model);
    let cfg = rlvr::rl::config::TrainConfig {
        max_tokens_per_micro_batch: 25,
        entropy_coef: 0.01,
        grad_clip: 0.5,
        weight_decay: 0.1,
        ..Default::default()
    };
    let x = UpdateInputs {
        samples: &samples,
        adv: &adv,
        old_logp: &old,
        ref_logp: None,
        mb_seqs: 3,
        kl_coef: 0.0,
    };
    // eps ≫ |g| keeps AdamW in its linear regime (update ≈ lr·m̂), so the update inherits the
    // gradients' small bf16 error instead of Adam's sign(g) amplifying noise on near-zero
    // gradients; the AdamW kernel itself is checked at eps = 1e-8 by its parity test.
    let lr = 0.1;
    let adam = rlvr::optim::AdamWConfig {
        lr,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: 1.0,
        weight_decay: cfg.weight_decay,
    };
    let mut upd = DeviceUpdater::new(&dev, &cpu_model, adam).unwrap();
    let one = DataParallel::single();
    let mut g = DeviceGradients {
        dev: &dev,
        updater: &mut upd,
        comm: &Staged { comm: one.comm },
    };
    let dst = policy_update_dp(&mut g, &x, &cfg, lr, &one).unwrap();
    let mut opt = rlvr::optim::AdamW::new(adam, &cpu_model.params);
    let cst = policy_update(&mut cpu_model, &mut opt, &x, &cfg, lr).unwrap();
    // two mini-batches (3 + 2 sequences), several micro-batches each
    assert_eq!((dst.optimizer_steps, cst.optimizer_steps), (2, 2));
    assert_eq!(dst.tokens, cst.tokens);
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b.abs().max(1e-3);
    assert!(close(dst.pg_loss, cst.pg_loss, 2e-2), "{dst:?} vs {cst:?}");
    assert!(
        close(dst.grad_norm, cst.grad_norm, 5e-2),
        "{dst:?} vs {cst:?}"
    );
    assert_eq!(dst.clip_frac, cst.clip_frac, "{dst:?} vs {cst:?}");
    let dev_params = upd.download_params(&dev).unwrap();
    // U = p0·(1 − lr·wd)^steps − p_final: the Adam part of the two updates, decay removed
    let decay = (1.0 - lr * cfg.weight_decay).powi(2);
    for (i, name) in cpu_model.param_names().enumerate() {
        let (p0, dp, cp) = (&p0[i], &dev_params[i], cpu_model.params[i].data());
        let (mut num, mut den) = (0f64, 0f64);
        for j in 0..p0.len() {
            let (ud, uc) = (p0[j] * decay - dp[j], p0[j] * decay - cp[j]);
            num += ((ud - uc) as f64).powi(2);
            den += (uc as f64).powi(2);
        }
        let rel = (num / den).sqrt();
        eprintln!("{name}: update rel L2 error {rel:.2e}");
        assert!(den > 0.0, "{name}: the CPU update did not move it");
        assert!(rel <= 8e-2, "{name}: update rel L2 error {rel}");
    }
}

#[test]
fn rlvr_train_on_the_emulator_tracks_the_cpu_run() {
    for objective in ["nsr", "grpo"] {
        train_cpu_vs_emu(objective);
    }
}

fn train_cpu_vs_emu(objective: &str) {
    if emu_or_skip(0).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write_tiny_char_model(&model, TinySpec::default()).unwrap();
    let items = rlvr::data::synthetic::generate(
        rlvr::data::synthetic::TaskSpec {
            kind: rlvr::data::synthetic::TaskKind::Arithmetic,
            difficulty: 1,
            seed: 5,
        },
        16,
    );
    let lines: String = items
        .iter()
        .map(|t| serde_json::json!({"prompt": t.question, "answer": t.answer}).to_string() + "\n")
        .collect();
    let data = dir.path().join("train.jsonl");
    std::fs::write(&data, lines).unwrap();
    let mut metrics = Vec::new();
    for (device, rollouts) in [("cpu", "cpu"), ("emu", "cpu"), ("emu", "device")] {
        let out = dir.path().join(format!("{device}-{rollouts}"));
        rlvr_cmd(&[
            "train",
            "--device",
            device,
            "--rollouts",
            rollouts,
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--objective",
            objective,
            "--steps",
            "1",
            "--prompts-per-step",
            "4",
            "--n",
            "4",
            "--mini-batch-prompts",
            "2",
            "--lr",
            "1e-3",
            "--max-prompt-tokens",
            "64",
            "--max-response-tokens",
            "6",
            "--template",
            "plain",
            "--save-every",
            "1",
            "--val-every",
            "0",
            "--rollout-batch",
            "8",
            "--quiet",
        ]);
        let m = rlvr::util::read_jsonl(&out.join("metrics.jsonl")).unwrap();
        assert_eq!(m.len(), 1);
        let ck = rlvr::model::Model::load(&out.join("checkpoints/step-000001")).unwrap();
        assert!(ck.params.iter().all(|p| !p.has_non_finite()));
        assert!(out
            .join("checkpoints/step-000001/optimizer.safetensors")
            .exists());
        metrics.push(m[0].clone());
    }
    let log = std::fs::read_to_string(dir.path().join("emu-cpu/log.txt")).unwrap();
    assert!(log.contains("policy update on emulator"), "{log}");
    assert!(log.contains("rollouts on the CPU"), "{log}");
    // Rollouts sampled on the device by the very bf16 policy the trainer scores with: the
    // sampler's log-probs are the trainer's (packed forward vs cached decode), unlike the CPU's
    // f32 sampler, which differs by bf16 rounding.
    let log = std::fs::read_to_string(dir.path().join("emu-device/log.txt")).unwrap();
    assert!(log.contains("rollouts on emulator"), "{log}");
    let diff = |m: &serde_json::Value| m["rollout/sampler_trainer_logp_max_diff"].as_f64().unwrap();
    eprintln!(
        "{objective}: sampler vs trainer log-prob max diff: CPU rollouts {:.3e}, device rollouts {:.3e}",
        diff(&metrics[1]),
        diff(&metrics[2])
    );
    // Decode attention reproduces the training forward bit for bit (attention rung 5 and decode
    // rung 3), so what is left is the two log-softmax reductions' rounding (~5e-7 here).
    assert!(diff(&metrics[2]) < 1e-5, "{}", metrics[2]);
    assert!(
        diff(&metrics[1]) > diff(&metrics[2]),
        "{} vs {}",
        metrics[1],
        metrics[2]
    );
    assert!(metrics[2]["actor/optimizer_steps"].as_u64() >= Some(1));
    // same rollouts (the CPU samples both): the update's statistics agree to bf16 accuracy
    let (c, e) = (&metrics[0], &metrics[1]);
    assert_eq!(c["reward/mean"], e["reward/mean"]);
    assert_eq!(c["actor/optimizer_steps"], e["actor/optimizer_steps"]);
    eprintln!("{objective}: cpu {c}\n emu {e}");
    // NSR: the untrained model gets every answer wrong, so it trains on all of them. GRPO: all
    // rewards equal, so the gradient is the KL and entropy terms.
    let keys: &[&str] = if objective == "nsr" {
        assert!(c["actor/pg_loss"].as_f64().unwrap() != 0.0, "{c}");
        &["actor/pg_loss", "actor/grad_norm"]
    } else {
        &["actor/kl_ref", "actor/grad_norm"]
    };
    for &key in keys {
        let (x, y) = (c[key].as_f64().unwrap(), e[key].as_f64().unwrap());
        assert!(
            (x - y).abs() <= 5e-2 * x.abs().max(1e-6),
            "{key}: cpu {x} emu {y}"
        );
    }
}

#[test]
fn a_batch_from_cu_seqlens_is_the_packed_batch() {
    use rlvr::backend::cuda::device::download;
    let Some(dev) = emu_or_skip(15) else { return };
    let model = random_model(&cases(ShapeSet::Small)[0], 15).unwrap();
    let dm = DeviceModel::upload(&dev, &model).unwrap();
    let seqs = [vec![4u32, 8, 15, 16], vec![23, 42], vec![7, 7, 7]];
    let flat: Vec<u32> = seqs.concat();
    let a = DeviceBatch::from_cu_seqlens(&dev, &flat, &[0, 4, 6, 9]).unwrap();
    let b = DeviceBatch::from_batch(&dev, &Batch::from_sequences(&seqs)).unwrap();
    let ha = download(&dev, &dm.forward(&dev, &a).unwrap().hidden).unwrap();
    let hb = download(&dev, &dm.forward(&dev, &b).unwrap().hidden).unwrap();
    assert_eq!(ha, hb);
    for bad in [&[0usize, 4, 4, 9][..], &[0, 4, 8], &[1, 9]] {
        assert!(
            DeviceBatch::from_cu_seqlens(&dev, &flat, bad).is_err(),
            "{bad:?}"
        );
    }
    let e = dm
        .forward(
            &dev,
            &DeviceBatch::from_cu_seqlens(&dev, &[1, 300], &[0, 2]).unwrap(),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("token id 300 at position 1"), "{e}");
}
