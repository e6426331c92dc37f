//! Generation on the device (`generate::device`) on the emulator: greedy decoding
//! follows the CPU engine (up to bf16 near-ties), the reported log-probs are the CPU's scores of
//! the device's own sequences, sampling is reproducible and bit-identical for any batch size
//! (continuous batching refills slots mid-run; a request's samples share one prompt prefill),
//! the schedule reports the CPU engine's progress, and `rlvr generate --device emu` writes the
//! CPU path's format.
mod emu_common;
use emu_common::*;
use half::bf16;
use rlvr::backend::cuda::attention::AttnRung;
use rlvr::backend::cuda::attn_decode::{tiles_fold_kernel, Rung};
use rlvr::backend::cuda::device::{download, KernelArgs, KernelDevice, LaunchCfg, RawBuf};
use rlvr::backend::cuda::model::decode::Fusion;
use rlvr::backend::cuda::model::kv_cache::KvCache;
use rlvr::backend::cuda::model::{score as device_score, DeviceModel};
use rlvr::backend::cuda::selftest::model::{cases, random_model};
use rlvr::backend::cuda::selftest::ShapeSet;
use rlvr::backend::emu::EmuDevice;
use rlvr::generate::device::{generate_on_device, generate_on_device_stats, DecodeStats};
use rlvr::generate::engine::{generate, Completion, EngineConfig, Finish, GenRequest, Progress};
use rlvr::generate::sampling::SamplingParams;
use rlvr::model::score::{score_sequences, SeqScores};
use rlvr::model::Model;
use std::collections::BTreeMap;
use std::sync::Mutex;

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
fn sampling_is_reproducible_and_independent_of_the_batch_size() {
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
    assert_eq!(out[0].finish, Finish::Stop);
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

/// Counts launches per kernel and device-to-host reads (each one waits for the device) on the
/// way to another device.
struct Counting<'a> {
    dev: &'a dyn KernelDevice,
    launches: Mutex<BTreeMap<String, [u64; 3]>>,
    reads: Mutex<u64>,
}

impl<'a> Counting<'a> {
    fn new(dev: &'a dyn KernelDevice) -> Self {
        Counting {
            dev,
            launches: Mutex::new(BTreeMap::new()),
            reads: Mutex::new(0),
        }
    }
    /// Launches and device-to-host reads so far, and the counters cleared.
    fn take(&self) -> (u64, u64) {
        let n = self.total();
        self.launches.lock().unwrap().clear();
        (n, std::mem::take(&mut *self.reads.lock().unwrap()))
    }
    /// [launches, summed grid.y, summed grid.z] of `kernel`.
    fn of(&self, kernel: &str) -> [u64; 3] {
        self.launches
            .lock()
            .unwrap()
            .get(kernel)
            .copied()
            .unwrap_or_default()
    }
    fn total(&self) -> u64 {
        self.launches.lock().unwrap().values().map(|v| v[0]).sum()
    }
}

impl KernelDevice for Counting<'_> {
    fn name(&self) -> String {
        self.dev.name()
    }
    fn alloc_bytes(&self, bytes: usize) -> anyhow::Result<RawBuf> {
        self.dev.alloc_bytes(bytes)
    }
    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> anyhow::Result<()> {
        self.dev.htod_bytes(src, dst)
    }
    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> anyhow::Result<()> {
        *self.reads.lock().unwrap() += 1;
        self.dev.dtoh_bytes(src, dst)
    }
    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> anyhow::Result<()> {
        let mut m = self.launches.lock().unwrap();
        let e = m.entry(kernel.to_string()).or_default();
        e[0] += 1;
        e[1] += cfg.grid[1] as u64;
        e[2] += cfg.grid[2] as u64;
        drop(m);
        self.dev.launch(kernel, cfg, args)
    }
    fn synchronize(&self) -> anyhow::Result<()> {
        self.dev.synchronize()
    }
}

/// A rollout-like workload: several samples per prompt, very different response lengths (and a
/// request with no tokens at all), prompts of different lengths.
fn skewed_requests(params: SamplingParams, shape: &[(usize, usize, usize)]) -> Vec<GenRequest> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &(n, max_tokens, len))| GenRequest {
            prompt: (0..len)
                .map(|j| ((i * 31 + j * 7 + 1) % 250) as u32)
                .collect(),
            n,
            seed: 500 + i as u64,
            params,
            max_tokens,
        })
        .collect()
}

/// (n, max_tokens, prompt length) of a small skewed workload.
const SKEWED: [(usize, usize, usize); 5] = [(3, 8, 5), (1, 2, 9), (4, 1, 3), (2, 0, 4), (2, 5, 7)];

fn run(
    dev: &dyn KernelDevice,
    dm: &DeviceModel,
    reqs: &[GenRequest],
    cfg: &EngineConfig,
) -> (Vec<Completion>, DecodeStats, Vec<Progress>) {
    let mut seen = Vec::new();
    let (outs, stats) =
        generate_on_device_stats(dev, dm, reqs, cfg, &mut |p| seen.push(p)).unwrap();
    (outs, stats, seen)
}

fn progress_key(p: &[Progress]) -> Vec<[usize; 4]> {
    p.iter()
        .map(|p| [p.finished, p.total, p.generated_tokens, p.active])
        .collect()
}

#[test]
fn continuous_batching_is_bit_identical_for_any_batch_size() {
    let Some(dev) = emu_or_skip(27) else { return };
    let case = &cases(ShapeSet::Small)[3]; // qwen3 q/k-norm
    let model = random_model(case, 27).unwrap();
    let dm = DeviceModel::upload(&dev, &model).unwrap();
    let params = SamplingParams {
        temperature: 0.9,
        top_k: 60,
        top_p: 0.97,
        ..Default::default()
    };
    let reqs = skewed_requests(params, &SKEWED);
    // a stop token (the 5th of the first free response) ends some responses early, at steps
    // that depend on the draws
    let (free, _, _) = run(&dev, &dm, &reqs, &engine(64, &[]));
    let stop = vec![free[0].tokens[4]];
    let (base, base_stats, _) = run(&dev, &dm, &reqs, &engine(64, &stop));
    assert_eq!(base.len(), 12);
    let lengths: Vec<usize> = base.iter().map(|c| c.tokens.len()).collect();
    eprintln!("response lengths {lengths:?}, {base_stats:?}");
    assert!(base.iter().any(|c| c.finish == Finish::Stop));
    assert!(base
        .iter()
        .any(|c| c.finish == Finish::Length && c.tokens.len() > 1));
    // all 10 live samples in one round: one forward with each prompt once
    assert_eq!(base_stats.slots, 10);
    assert_eq!(base_stats.prefill_forwards, 1);
    assert_eq!(base_stats.prefilled_prompts, 4);
    assert_eq!(base_stats.prefill_tokens, 5 + 9 + 3 + 7);
    for (max_batch, seed) in [(1usize, 28u64), (3, 29)] {
        let other = EmuDevice::new(seed).unwrap(); // another thread order
        let dm2 = DeviceModel::upload(&other, &model).unwrap();
        let (outs, stats, _) = run(&other, &dm2, &reqs, &engine(max_batch, &stop));
        for (x, y) in base.iter().zip(&outs) {
            assert_eq!(
                (x.request, x.sample, &x.tokens, x.finish),
                (y.request, y.sample, &y.tokens, y.finish),
                "max_batch {max_batch}"
            );
            let bits = |c: &Completion| c.logprobs.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(x), bits(y), "max_batch {max_batch}");
        }
        eprintln!("max_batch {max_batch}: {stats:?}");
        // one prompt prefill per request however its samples are split over rounds
        assert_eq!(stats.prefilled_prompts, 4, "max_batch {max_batch}");
        assert_eq!(stats.slots, max_batch);
        let tokens: usize = outs.iter().map(|c| c.tokens.len()).sum();
        assert_eq!(stats.decode_rows, tokens - 10);
        if max_batch == 1 {
            assert_eq!(stats.decode_steps, stats.decode_rows);
            assert_eq!(stats.prefix_reuses, 2 + 3 + 1); // samples after each request's first
        } else {
            assert!(stats.prefix_reuses > 0);
        }
    }
    // the cached decode of every (shared-prefix) sequence reproduces the device's own forward
    let own = device_score::score_sequences(&dev, &dm, &sequences(&reqs, &base), 0.9, 1 << 16);
    let own_err = logprob_error(&base, &own.unwrap());
    eprintln!("sampled log-prob max rel. error vs the device forward {own_err:.2e}");
    assert!(own_err <= 1e-4, "{own_err}");
}

#[test]
fn continuous_batching_follows_the_cpu_engine_schedule_and_greedy_tokens() {
    let Some(dev) = emu_or_skip(31) else { return };
    let case = &cases(ShapeSet::Small)[0];
    let model = random_model(case, 31).unwrap();
    let dm = DeviceModel::upload(&dev, &model).unwrap();
    let reqs = skewed_requests(SamplingParams::greedy(), &SKEWED);
    // no stop tokens: response lengths are the max_tokens on both sides, so the two schedules
    // must report the same progress after every round
    let cfg = engine(3, &[]);
    let mut cpu_seen = Vec::new();
    let cpu = generate(&model, &reqs, &cfg, &mut |p| cpu_seen.push(p)).unwrap();
    let (emu, stats, seen) = run(&dev, &dm, &reqs, &cfg);
    assert_eq!(progress_key(&seen), progress_key(&cpu_seen));
    assert!(seen.iter().all(|p| p.active <= 3));
    eprintln!("{stats:?}, {} progress calls", seen.len());
    assert_eq!(cpu.len(), emu.len());
    let (mut agreed, mut compared) = (0, 0);
    for (c, e) in cpu.iter().zip(&emu) {
        assert_eq!(
            (c.request, c.sample, c.finish),
            (e.request, e.sample, e.finish)
        );
        assert_eq!(c.tokens.len(), e.tokens.len());
        let j = c
            .tokens
            .iter()
            .zip(&e.tokens)
            .take_while(|(a, b)| a == b)
            .count();
        (agreed, compared) = (agreed + j, compared + c.tokens.len());
        if j < c.tokens.len() {
            // a divergence must be a choice the CPU itself calls a near-tie
            let seq = [reqs[e.request].prompt.clone(), e.tokens[..=j].to_vec()].concat();
            let s = score_sequences(&model, &[seq], 1.0, 1 << 16).unwrap();
            let gap = c.logprobs[j] - *s[0].logprobs.last().unwrap();
            assert!(
                gap <= 2e-2,
                "request {} diverges at {j}: gap {gap}",
                e.request
            );
        }
    }
    eprintln!("greedy tokens identical to the CPU engine: {agreed} of {compared}");
    // greedy samples of one request share their prompt's prefill and so their tokens
    for w in emu.windows(2) {
        if w[0].request == w[1].request {
            assert_eq!(w[0].tokens, w[1].tokens);
            assert_eq!(w[0].logprobs, w[1].logprobs);
        }
    }
    assert!(cpu_error(&model, &reqs, &emu, 1.0) <= 1e-2);
}

/// Prefill forwards, prompts and decode steps as the launches show them, the scheduler's
/// counts, and what a fixed-wave schedule would run, for a rollout-like workload (printed for the log).
#[test]
fn skewed_workload_launch_counts() {
    let Some(dev) = emu_or_skip(26) else { return };
    let case = &cases(ShapeSet::Small)[0];
    let layers = 2u64;
    let model = random_model(case, 26).unwrap();
    let params = SamplingParams {
        temperature: 1.0,
        ..Default::default()
    };
    let shape = [(24, 5), (2, 9), (2, 3), (6, 7), (2, 12), (12, 4)].map(|(m, l)| (4, m, l));
    let reqs = skewed_requests(params, &shape);
    let max_batch = 8;
    let counting = Counting::new(&dev);
    let dm = DeviceModel::upload(&counting, &model).unwrap();
    let t0 = std::time::Instant::now();
    let (outs, stats, _) = run(&counting, &dm, &reqs, &engine(max_batch, &[]));
    let secs = t0.elapsed().as_secs_f64();
    let tokens: usize = outs.iter().map(|c| c.tokens.len()).sum();
    let fwd_kernel = AttnRung::FORWARD.fwd_kernel(model.config.head_dim);
    let [fwd, _, prompts] = counting.of(fwd_kernel);
    // one decode attention per layer and step: rung 1, or the merge of rung 2 or the fold of
    // rung 3 (grid.y = rows), or rung 4's one launch (grid.z = rows)
    let [dec1, rows1, _] = counting.of("attn_decode_bf16");
    let [dec2, rows2, _] = counting.of("attn_decode_merge_bf16");
    let [dec3, rows3, _] = counting.of("attn_decode_fold_bf16");
    let [dec4, _, rows4] = counting.of(tiles_fold_kernel(model.config.head_dim));
    let (dec, rows) = (dec1 + dec2 + dec3 + dec4, rows1 + rows2 + rows3 + rows4);
    // the fixed waves of `max_batch` sequences: each wave decodes until its longest
    // response ends and prefills every sample's prompt
    let samples: Vec<&GenRequest> = reqs.iter().flat_map(|r| vec![r; r.n]).collect();
    let waves = samples.chunks(max_batch);
    let wave_steps: usize = waves
        .clone()
        .map(|w| w.iter().map(|r| r.max_tokens).max().unwrap() - 1)
        .sum();
    eprintln!(
        "max_batch {max_batch}: {tokens} tokens; continuous: {} prefill forwards ({} prompts, {} tokens), {} decode steps ({} rows), {} launches ({} residual_add), {} device reads, {secs:.2} s; fixed waves would run {} forwards ({} prompts, {} tokens), {wave_steps} decode steps",
        fwd / layers,
        prompts / layers,
        stats.prefill_tokens,
        dec / layers,
        rows / layers,
        counting.total(),
        counting.of("residual_add_bf16")[0],
        *counting.reads.lock().unwrap(),
        waves.len(),
        samples.len(),
        samples.iter().map(|r| r.prompt.len()).sum::<usize>(),
    );
    assert_eq!(fwd / layers, stats.prefill_forwards as u64);
    assert_eq!(prompts / layers, stats.prefilled_prompts as u64);
    assert_eq!(stats.prefilled_prompts, 6);
    assert_eq!(dec / layers, stats.decode_steps as u64);
    assert_eq!(rows / layers, stats.decode_rows as u64);
    // one LM-head product and one sampling launch per draw (each decode step, each admission
    // round's prefilled and kept-prompt rows), however many requests the rows belong to
    let draws = stats.decode_steps + stats.prefill_forwards + stats.prefix_reuses;
    // (the decode path runs the radix-select rung; rung 1 is the bisection kernel)
    let sampling =
        counting.of("sample_rows_params_radix_f32")[0] + counting.of("sample_rows_params_f32")[0];
    assert_eq!(sampling, draws as u64);
    // and one device read per draw: token, log-prob and truncated log-prob in one copy
    assert_eq!(*counting.reads.lock().unwrap(), draws as u64);
    assert_eq!(tokens, 4 * 48);
    // the longest response (24 tokens) bounds the steps: 23 here, against 39 for waves of 8
    assert_eq!(stats.decode_steps, 23);
    assert_eq!(wave_steps, 39);
}

#[test]
fn decode_step_launches_do_not_grow_with_the_batch() {
    let Some(dev) = emu_or_skip(27) else { return };
    let case = &cases(ShapeSet::Small)[0];
    let model = random_model(case, 27).unwrap();
    let counting = Counting::new(&dev);
    let dm = DeviceModel::upload(&counting, &model).unwrap();
    let (slots, max_len) = (8, 12);
    let cache = KvCache::alloc(&counting, &dm, slots, max_len).unwrap();
    let layers = model.config.num_layers as u64;
    let mut per_batch = Vec::new();
    for rung in Rung::all() {
        let cache = KvCache::alloc(&counting, &dm, slots, max_len)
            .unwrap()
            .with_rung(&counting, &dm, rung)
            .unwrap();
        assert_eq!(cache.rung, rung);
        for b in [1usize, 3, slots] {
            let tokens: Vec<u32> = (0..b).map(|i| (i * 13 + 1) as u32).collect();
            let pos: Vec<usize> = (0..b).map(|i| i % 5).collect();
            let rows: Vec<usize> = (0..b).rev().collect();
            counting.take();
            dm.decode_step(&counting, &cache, &tokens, &pos, &rows)
                .unwrap();
            let (launches, reads) = counting.take();
            eprintln!(
                "{rung:?} batch {b}: {launches} launches ({:.1} per layer), {reads} device reads",
                launches as f64 / layers as f64
            );
            assert_eq!(reads, 0, "the decode step must not wait for the device");
            per_batch.push((rung, launches));
        }
    }
    for w in per_batch.windows(2) {
        if w[0].0 == w[1].0 {
            assert_eq!(
                w[0].1, w[1].1,
                "launches grew with the batch: {per_batch:?}"
            );
        }
    }
    // Per layer: input RMSNorm, the q/k/v product, RoPE + KV append, the attention (rungs 1 and
    // 4: one launch; rungs 2 and 3: split + merge or tiles + fold), the o product (+ residual),
    // post RMSNorm, the gate/up product with SwiGLU, the down product (+ residual): 8 or 9. Per
    // step: the embedding and the final RMSNorm. (Unfused: 14 or 15 per layer.)
    let per_layer = |rung| match rung {
        Rung::PerHead | Rung::TilesFold => 8,
        Rung::Split | Rung::Tiles => 9,
    };
    for &(rung, launches) in &per_batch {
        assert_eq!(
            launches,
            per_layer(rung) * layers + 2,
            "{rung:?}: {per_batch:?}"
        );
    }
    // a position past the reserved rows is refused before anything runs
    let Err(err) = dm.decode_step(&counting, &cache, &[1], &[max_len], &[0]) else {
        panic!("a position past the cache was accepted");
    };
    assert!(format!("{err}").contains("overflows"), "{err}");
}

/// The fused decode step (packed q/k/v and gate/up products, one RoPE + KV append launch) gives
/// the unfused launches' hidden states and caches bit for bit: with packed weights (llama), with
/// biases that cannot be packed (qwen2) and with Qwen3's q/k norm (separate products), over a
/// few steps of rows at different positions.
#[test]
fn fused_decode_step_matches_the_unfused_launches() {
    let Some(dev) = emu_or_skip(28) else { return };
    let all = cases(ShapeSet::Small);
    for label in ["llama gqa untied", "qwen2 qkv-bias", "qwen3 qk-norm hd32"] {
        let case = all.iter().find(|c| c.label == label).expect(label);
        let model = random_model(case, 28).unwrap();
        let dm = DeviceModel::upload(&dev, &model).unwrap();
        let (slots, max_len) = (3, 6);
        let run = |fusion: Fusion| {
            let cache = KvCache::alloc(&dev, &dm, slots, max_len).unwrap();
            let mut hidden = Vec::new();
            for step in 0..3usize {
                // row r starts r steps late, so the rows sit at different positions
                let rows: Vec<usize> = (0..slots).filter(|&r| r <= step).collect();
                let tokens: Vec<u32> = rows
                    .iter()
                    .map(|&r| (r * 31 + step * 7 + 1) as u32)
                    .collect();
                let pos: Vec<usize> = rows.iter().map(|&r| step - r).collect();
                let h = dm
                    .decode_step_with(&dev, &cache, &tokens, &pos, &rows, fusion)
                    .unwrap();
                hidden.push(download(&dev, &h).unwrap());
            }
            let kv: Vec<Vec<bf16>> = cache
                .k
                .iter()
                .chain(&cache.v)
                .map(|b| download(&dev, b).unwrap())
                .collect();
            (hidden, kv)
        };
        let (fused, unfused) = (run(Fusion::Fused), run(Fusion::Unfused));
        let bits = |v: &[bf16]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (a, b) in fused.0.iter().zip(&unfused.0) {
            assert_eq!(bits(a), bits(b), "{label}: hidden states differ");
        }
        for (a, b) in fused.1.iter().zip(&unfused.1) {
            let (a, b) = (bits(a), bits(b));
            // rows never written hold whatever the allocation held: compare the written ones
            let width = a.len() / (slots * max_len);
            for slot in 0..slots {
                let used = (3 - slot) * width;
                let r = slot * max_len * width..slot * max_len * width + used;
                assert_eq!(a[r.clone()], b[r], "{label}: cache of slot {slot} differs");
            }
        }
    }
}
