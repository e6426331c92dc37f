//! Generation on the device (`backend::cuda::model::decode`) on the emulator: greedy decoding
//! follows the CPU engine (up to bf16 near-ties), the reported log-probs are the CPU's scores of
//! the device's own sequences, sampling is reproducible and independent of the wave size, and
//! `rlvr generate --device emu` writes the CPU path's format.
mod emu_common;
use emu_common::*;
use rlvr::backend::cuda::model::check::{cases, random_model};
use rlvr::backend::cuda::model::decode::generate_on_device;
use rlvr::backend::cuda::model::{score as device_score, DeviceModel};
use rlvr::backend::cuda::parity::ShapeSet;
use rlvr::backend::emu::EmuDevice;
use rlvr::generate::engine::{generate, Completion, EngineConfig, GenRequest};
use rlvr::generate::sampling::SamplingParams;
use rlvr::model::score::{score_sequences, SeqScores};
use rlvr::model::Model;

fn requests(params: SamplingParams, n: usize, max_tokens: usize) -> Vec<GenRequest> {
    [
        vec![1u32, 7, 9, 200, 5],
        vec![3, 3, 8, 1, 40, 41, 42, 17, 9],
        vec![77, 2],
    ]
    .into_iter()
    .enumerate()
    .map(|(i, prompt)| GenRequest {
        prompt,
        n,
        seed: 100 + i as u64,
        params,
        max_tokens,
    })
    .collect()
}

fn engine(max_batch: usize, stop: &[u32]) -> EngineConfig {
    EngineConfig {
        max_batch,
        stop_tokens: stop.to_vec(),
    }
}

fn sequences(reqs: &[GenRequest], outs: &[Completion]) -> Vec<Vec<u32>> {
    outs.iter()
        .map(|c| [reqs[c.request].prompt.clone(), c.tokens.clone()].concat())
        .collect()
}

/// Max |device log-prob − reference| / (1 + |reference|) over every generated token, for the
/// references' scores of the device's sequences.
fn logprob_error(outs: &[Completion], reference: &[SeqScores]) -> f32 {
    let mut worst = 0f32;
    for (c, s) in outs.iter().zip(reference) {
        let r = &s.logprobs[s.logprobs.len() - c.tokens.len()..];
        assert_eq!(r.len(), c.logprobs.len());
        for (a, b) in r.iter().zip(&c.logprobs) {
            worst = worst.max((a - b).abs() / (1.0 + a.abs()));
        }
    }
    worst
}

/// Against the CPU (f32) scores of the device's sequences at `t`.
fn cpu_error(model: &Model, reqs: &[GenRequest], outs: &[Completion], t: f32) -> f32 {
    let scores = score_sequences(model, &sequences(reqs, outs), t, 1 << 16).unwrap();
    logprob_error(outs, &scores)
}

#[test]
fn greedy_follows_the_cpu_engine_and_logprobs_match_its_scores() {
    let Some(dev) = emu_or_skip(21) else { return };
    let reqs = requests(SamplingParams::greedy(), 1, 8);
    let mut compared = 0;
    let mut agreed = 0;
    for case in cases(ShapeSet::Small) {
        let model = random_model(&case, 21).unwrap();
        let dm = DeviceModel::upload(&dev, &model).unwrap();
        let cfg = engine(4, &[]);
        let cpu = generate(&model, &reqs, &cfg, &mut |_| {}).unwrap();
        let emu = generate_on_device(&dev, &dm, &reqs, &cfg, &mut |_| {}).unwrap();
        assert_eq!(cpu.len(), emu.len(), "{}", case.label);
        for (c, e) in cpu.iter().zip(&emu) {
            assert_eq!((c.request, c.sample), (e.request, e.sample));
            assert_eq!(e.tokens.len(), 8, "{}", case.label);
            assert_eq!(c.finish, e.finish);
            // Tokens agree until a choice the CPU itself calls a near-tie: there the CPU's
            // log-prob of the device's token is within bf16 noise of its own argmax's.
            let j = c
                .tokens
                .iter()
                .zip(&e.tokens)
                .take_while(|(a, b)| a == b)
                .count();
            compared += c.tokens.len();
            agreed += j;
            if j < c.tokens.len() {
                let seq = [reqs[e.request].prompt.clone(), e.tokens[..=j].to_vec()].concat();
                let s = score_sequences(&model, &[seq], 1.0, 1 << 16).unwrap();
                let device_choice = *s[0].logprobs.last().unwrap();
                let gap = c.logprobs[j] - device_choice;
                assert!(
                    gap <= 2e-2,
                    "{}: request {} diverges at token {j} with a CPU log-prob gap of {gap}",
                    case.label,
                    e.request
                );
            }
        }
        let err = cpu_error(&model, &reqs, &emu, 1.0);
        // the device's own packed forward (bf16 as well) scores the cached decode's tokens
        let own = device_score::score_sequences(&dev, &dm, &sequences(&reqs, &emu), 1.0, 1 << 16);
        let own_err = logprob_error(&emu, &own.unwrap());
        eprintln!(
            "{}: greedy log-prob max rel. error vs cpu {err:.2e}, vs device forward {own_err:.2e}",
            case.label
        );
        assert!(err <= 1e-2, "{}: log-prob error {err}", case.label);
        assert!(
            own_err <= 1e-4,
            "{}: log-prob error vs the device forward {own_err}",
            case.label
        );
    }
    eprintln!("greedy tokens identical to the CPU engine: {agreed} of {compared}");
    assert!(agreed * 10 >= compared * 9, "{agreed} of {compared}");
}

#[test]
fn sampling_is_reproducible_and_independent_of_the_wave_size() {
    let Some(dev) = emu_or_skip(22) else { return };
    let case = &cases(ShapeSet::Small)[3]; // qwen3 q/k-norm
    let model = random_model(case, 22).unwrap();
    let dm = DeviceModel::upload(&dev, &model).unwrap();
    let params = SamplingParams {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.95,
        ..Default::default()
    };
    let reqs = requests(params, 2, 6);
    let a = generate_on_device(&dev, &dm, &reqs, &engine(6, &[]), &mut |_| {}).unwrap();
    let other = EmuDevice::new(23).unwrap(); // another thread order on the emulator
    let dm2 = DeviceModel::upload(&other, &model).unwrap();
    let b = generate_on_device(&other, &dm2, &reqs, &engine(4, &[]), &mut |_| {}).unwrap();
    assert_eq!(a.len(), 6);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.request, x.sample, &x.tokens),
            (y.request, y.sample, &y.tokens)
        );
        assert_eq!(x.logprobs, y.logprobs);
    }
    // the two samples of a request use different streams
    assert!(a.chunks(2).any(|p| p[0].tokens != p[1].tokens));
    let err = cpu_error(&model, &reqs, &a, 0.8);
    eprintln!("sampled (T=0.8) log-prob max rel. error vs cpu {err:.2e}");
    assert!(err <= 1e-2, "log-prob error {err}");
    // a different seed gives other samples
    let mut reseeded = reqs.clone();
    for r in &mut reseeded {
        r.seed += 1000;
    }
    let c = generate_on_device(&dev, &dm, &reseeded, &engine(6, &[]), &mut |_| {}).unwrap();
    assert!(a.iter().zip(&c).any(|(x, y)| x.tokens != y.tokens));
}

#[test]
fn stop_tokens_end_device_responses() {
    let Some(dev) = emu_or_skip(24) else { return };
    let case = &cases(ShapeSet::Small)[0];
    let model = random_model(case, 24).unwrap();
    let dm = DeviceModel::upload(&dev, &model).unwrap();
    let reqs = requests(SamplingParams::greedy(), 1, 6);
    let free = generate_on_device(&dev, &dm, &reqs, &engine(3, &[]), &mut |_| {}).unwrap();
    // stop on the third token of the first response: it ends there, the others go on
    let stop = free[0].tokens[2];
    let out = generate_on_device(&dev, &dm, &reqs, &engine(3, &[stop]), &mut |_| {}).unwrap();
    let first = free[0].tokens.iter().position(|&t| t == stop).unwrap();
    assert_eq!(out[0].tokens, free[0].tokens[..=first]);
    assert_eq!(out[0].finish, rlvr::generate::engine::Finish::Stop);
    for (o, f) in out.iter().zip(&free).skip(1) {
        let end = f
            .tokens
            .iter()
            .position(|&t| t == stop)
            .map_or(6, |p| p + 1);
        assert_eq!(o.tokens, f.tokens[..end]);
    }
}

#[test]
fn generate_cli_on_the_emulator_writes_the_cpu_format() {
    if emu_or_skip(0).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let spec = rlvr::model::init::TinySpec {
        hidden: 32,
        intermediate: 72,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        seed: 3,
    };
    rlvr::model::init::write_tiny_char_model(&model, spec).unwrap();
    let prompts = dir.path().join("p.jsonl");
    std::fs::write(
        &prompts,
        "{\"question\": \"1+1\", \"answer\": \"2\"}\n{\"question\": \"2+3\", \"answer\": \"5\"}\n",
    )
    .unwrap();
    let mut outs = Vec::new();
    for device in ["cpu", "emu"] {
        let out = dir.path().join(format!("{device}.jsonl"));
        rlvr_cmd(&[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompts",
            prompts.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--template",
            "plain",
            "--n",
            "2",
            "--max-tokens",
            "5",
            "--temperature",
            "0.9",
            "--device",
            device,
        ]);
        outs.push(rlvr::util::read_jsonl(&out).unwrap());
    }
    assert_eq!(outs[0].len(), 4);
    assert_eq!(outs[1].len(), 4);
    for (c, e) in outs[0].iter().zip(&outs[1]) {
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(c), keys(e));
        for key in ["question_id", "generation_id", "prompt", "answer"] {
            assert_eq!(c[key], e[key], "{key}");
        }
        let n = e["tokens"].as_array().unwrap().len();
        assert!((1..=5).contains(&n));
        assert_eq!(e["logprobs"].as_array().unwrap().len(), n);
    }
}
