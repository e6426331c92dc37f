//! The whole model on the device (`backend::cuda::model`) on the emulator: the check against
//! the CPU autograd path passes and can fail, gradients are deterministic and accumulate, and
//! `rlvr logprobs --device emu` agrees with `--device cpu`.
use rlvr::backend::cuda::model::check::{cases, check_case, check_case_tampered, random_model};
use rlvr::backend::cuda::model::{DeviceBatch, DeviceModel, Grads};
use rlvr::backend::cuda::parity::ShapeSet;
use rlvr::backend::emu::EmuDevice;
use rlvr::model::forward::suffix_rows;
use rlvr::model::init::{write_tiny_char_model, TinySpec};
use rlvr::model::Batch;
use std::process::Command;

fn emu_or_skip(seed: u64) -> Option<EmuDevice> {
    if !rlvr::backend::emu::emu_built() && std::env::var("REQUIRE_NVCC").as_deref() != Ok("1") {
        eprintln!("skipped: the emulator was not built (run scripts/setup-cuda.sh)");
        return None;
    }
    Some(EmuDevice::new(seed).expect("the emulator is built"))
}

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

fn rlvr_cmd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("run rlvr");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rlvr {args:?}: {text}");
    text
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
