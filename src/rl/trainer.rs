//! The RL loop: sample prompts → rollouts (n per prompt) → verified rewards → advantages per
//! objective → recomputed old (and reference) log-probs → mini-batch PPO-clip updates → metrics,
//! validation, checkpoints. Deterministic given the seed: the data order is a function of
//! (seed, epoch) and every rollout draw of (seed, step, prompt, sample, token), so `--resume`
//! continues bit for bit.
use super::checkpoint::{self, CheckpointParts};
use super::config::TrainConfig;
use super::dp::DataParallel;
use super::objective::{sequence_advantages, Objective};
use super::ppo::{gae_advantages, Critic};
use super::rollout::{rollout_block, PromptItem, RolloutSettings, Sample};
use super::update::{policy_update_dp, UpdateInputs};
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::model::update::DeviceUpdater;
use crate::backend::cuda::model::DeviceModel;
use crate::dist::device_comm::Staged;
use crate::dist::{gather_u32, Comm, Single};
use crate::generate::engine::EngineConfig;
use crate::generate::prompts::stop_tokens;
use crate::generate::sampler::Sampler;
use crate::model::Model;
use crate::rng::SplitMix64;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The policy update's device (`train_on`): the updater and the reference policy's weights.
struct DeviceState {
    updater: DeviceUpdater,
    reference: Option<DeviceModel>,
}

/// The device policy that samples rollouts and validation answers (`rollouts = "device"`).
fn rollout_device<'a>(
    on_device: &'a Option<(&'a dyn KernelDevice, DeviceState)>,
    cfg: &TrainConfig,
) -> Option<(&'a dyn KernelDevice, &'a DeviceModel)> {
    match on_device {
        Some((dev, d)) if cfg.rollouts == "device" => Some((*dev, &d.updater.model)),
        _ => None,
    }
}

/// Copies the device's updated weights into the host `model` when they are newer.
fn sync_host(
    on_device: &Option<(&dyn KernelDevice, DeviceState)>,
    model: &mut Model,
    stale: &mut bool,
) -> Result<()> {
    if let (true, Some((dev, d))) = (*stale, on_device) {
        d.updater
            .sync_to_host(*dev, model)
            .context("copying the updated policy from the device")?;
    }
    *stale = false;
    Ok(())
}

/// Per-sample, per-token values.
type PerToken = Vec<Vec<f32>>;

/// Prompts of a data file, templated and tokenised; over-long prompts are dropped and counted.
pub fn load_prompts(
    files: &[PathBuf],
    tok: &Tokenizer,
    template: ChatTemplate,
    max_prompt_tokens: usize,
) -> Result<(Vec<PromptItem>, usize)> {
    let mut out = Vec::new();
    let mut dropped = 0;
    for f in files {
        for p in crate::data::verl::load_problems(f)? {
            let tokens = tok.encode(&template.render_question(&p.question))?;
            if tokens.len() > max_prompt_tokens || tokens.is_empty() {
                dropped += 1;
                continue;
            }
            out.push(PromptItem {
                id: p.id,
                data_source: p.data_source,
                tokens,
                answer: p.answer,
            });
        }
    }
    Ok((out, dropped))
}

/// Indices of the prompts for RL step `step`: a seeded permutation per epoch, drop_last.
pub fn step_prompts(n_items: usize, per_step: usize, seed: u64, step: usize) -> Result<Vec<usize>> {
    let steps_per_epoch = n_items / per_step;
    if steps_per_epoch == 0 {
        bail!("the training set has {n_items} usable prompts, fewer than prompts_per_step ({per_step})");
    }
    let epoch = step / steps_per_epoch;
    let mut perm: Vec<usize> = (0..n_items).collect();
    let mut rng = SplitMix64(
        seed.wrapping_add(epoch as u64)
            .wrapping_mul(0x2545_F491_4F6C_DD1D),
    );
    for i in (1..n_items).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    let k = step % steps_per_epoch;
    Ok(perm[k * per_step..(k + 1) * per_step].to_vec())
}

pub struct Validation {
    pub source: String,
    pub accuracy: f64,
    pub mean_response_tokens: f64,
    pub problems: usize,
}

/// Greedy accuracy per data source (the paper's in-training validation for Qwen2.5/Llama).
pub fn validate(
    model: &Model,
    tok: &Tokenizer,
    items: &[PromptItem],
    max_tokens: usize,
    stop: &[u32],
    verifier: crate::verify::Mode,
) -> Result<Vec<Validation>> {
    validate_dp(
        &Sampler::cpu(model),
        tok,
        items,
        max_tokens,
        stop,
        verifier,
        &DataParallel::single(),
    )
}

/// `validate` with each rank answering a contiguous block of the problems, sampled by `sampler`
/// (the CPU engine or the device policy).
pub fn validate_dp(
    sampler: &Sampler<'_>,
    tok: &Tokenizer,
    items: &[PromptItem],
    max_tokens: usize,
    stop: &[u32],
    verifier: crate::verify::Mode,
    dp: &DataParallel<'_>,
) -> Result<Vec<Validation>> {
    let settings = RolloutSettings {
        params: crate::generate::sampling::SamplingParams::greedy(),
        n: 1,
        max_tokens,
        seed: 0,
        engine: EngineConfig {
            max_batch: 64,
            stop_tokens: stop.to_vec(),
        },
        verifier,
        progress: &mut |_| {},
    };
    let mine = dp.my_block(items.len());
    let samples = rollout_block(sampler, tok, &items[mine.clone()], mine.start, 0, settings)?;
    // (item, correct, response tokens) of every answer, gathered in item order.
    let local: Vec<u32> = samples
        .iter()
        .flat_map(|s| {
            [
                s.group as u32,
                (s.reward > 0.5) as u32,
                s.response.len() as u32,
            ]
        })
        .collect();
    let all = gather_u32(dp.comm, &local)?.concat();
    let mut by: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
    for a in all.chunks_exact(3) {
        let Some(item) = items.get(a[0] as usize) else {
            bail!("validation answer for problem {} of {}", a[0], items.len());
        };
        let e = by.entry(item.data_source.clone()).or_default();
        e.0 += 1;
        e.1 += a[1] as usize;
        e.2 += a[2] as usize;
    }
    Ok(by
        .into_iter()
        .map(|(source, (n, c, t))| Validation {
            source,
            accuracy: c as f64 / n as f64,
            mean_response_tokens: t as f64 / n as f64,
            problems: n,
        })
        .collect())
}

/// Outcome of a training run (what the CLI prints and the demo tabulates).
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub steps_run: usize,
    pub output: PathBuf,
    pub final_checkpoint: Option<PathBuf>,
    pub last_metrics: Value,
}

/// Metric keys that depend on wall-clock time (excluded when comparing runs).
pub const TIMING_KEYS: &[&str] = &[
    "time/rollout_s",
    "time/verify_s",
    "time/update_s",
    "time/step_s",
    "perf/tokens_per_s",
];

fn truncate_metrics(path: &Path, before_step: usize) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| (s as usize) < before_step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::util::write_atomic(path, kept.as_bytes())
}

pub fn train(cfg: &TrainConfig, resume: bool, show_progress: bool) -> Result<TrainSummary> {
    train_with(cfg, resume, show_progress, &Single, None)
}

/// [`train`] with the policy update on a kernel device (`rlvr train --device cuda|emu`):
/// `backend::cuda::model::update::DeviceUpdater`; the old and reference log-probs are scored on
/// the device as well. Rollouts and the PPO critic stay on the CPU, which gets the updated
/// weights (and AdamW moments, for checkpoints) back after every update.
pub fn train_on(
    cfg: &TrainConfig,
    resume: bool,
    show_progress: bool,
    device: Option<&dyn KernelDevice>,
) -> Result<TrainSummary> {
    train_with(cfg, resume, show_progress, &Single, device)
}

/// The checkpoint a resumed run starts from: rank 0 looks, every rank gets its answer.
fn resume_point(cfg: &TrainConfig, comm: &dyn Comm) -> Result<Option<(usize, PathBuf)>> {
    let mut msg = Vec::new();
    if comm.rank() == 0 {
        if let Some((step, dir)) = checkpoint::latest(&cfg.output)? {
            msg = format!("{step}\n{}", dir.display()).into_bytes();
        }
    }
    comm.broadcast_bytes(0, &mut msg)?;
    if msg.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8(msg)?;
    let (step, dir) = text
        .split_once('\n')
        .context("malformed resume message from rank 0")?;
    Ok(Some((step.parse()?, PathBuf::from(dir))))
}

/// The gradient shards of a checkpointed run (1 for checkpoints from before data parallelism).
fn checkpoint_shards(dir: &Path) -> Result<usize> {
    let path = dir.join("trainer_state.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed JSON", path.display()))?;
    Ok(v["dp_shards"].as_u64().unwrap_or(1).max(1) as usize)
}

/// Train as one rank of `comm` (every rank calls this with the same config). Rank 0 alone
/// writes the run directory; the result does not depend on the number of ranks.
pub fn train_with(
    cfg: &TrainConfig,
    resume: bool,
    show_progress: bool,
    comm: &dyn Comm,
    device: Option<&dyn KernelDevice>,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let root = comm.rank() == 0;
    let objective = cfg.objective()?;
    let mode = cfg.psr_nsr_mode()?;
    let verifier = if cfg.verifier == "paper" {
        crate::verify::Mode::Paper
    } else {
        crate::verify::Mode::Correct
    };
    let mut model =
        Model::load(&cfg.model).with_context(|| format!("loading {}", cfg.model.display()))?;
    model.activation_checkpointing = cfg.activation_checkpointing;
    let tok = Tokenizer::from_dir(&cfg.model)?;
    let template = if cfg.template.is_empty() {
        ChatTemplate::default_for(model.config.raw["model_type"].as_str().unwrap_or(""))
    } else {
        cfg.template.parse()?
    };
    let stop = stop_tokens(Some(&cfg.model), &model.config, &tok, template)?;
    let (train_items, dropped) = load_prompts(&cfg.data, &tok, template, cfg.max_prompt_tokens)?;
    let (val_items, _) = load_prompts(&cfg.val_data, &tok, template, cfg.max_prompt_tokens)?;
    let val_items: Vec<PromptItem> = if cfg.val_max_problems > 0 {
        val_items.into_iter().take(cfg.val_max_problems).collect()
    } else {
        val_items
    };
    let from = if resume {
        resume_point(cfg, comm)?
    } else {
        None
    };
    let shards = match (cfg.dp_shards, &from) {
        (0, Some((_, dir))) => checkpoint_shards(dir)?,
        (0, None) => comm.world_size(),
        (s, _) => s,
    };
    let dp = DataParallel {
        comm,
        shards,
        zero: cfg.zero == 1,
    };
    if cfg.nccl && device.is_none() {
        bail!("--nccl moves device buffers: it needs --device cuda");
    }
    // How device buffers travel between ranks: NCCL, or staged through the host communicator.
    let device_comm = match device {
        Some(dev) => crate::dist::device_comm::device_comm_for(comm, dev, cfg.nccl)?,
        None => Box::new(Staged { comm }),
    };
    // Only rank 0 writes the run directory.
    let mut log: Box<dyn Write> = if root {
        std::fs::create_dir_all(&cfg.output)
            .with_context(|| format!("creating {}", cfg.output.display()))?;
        crate::util::write_atomic(
            &cfg.output.join("config.toml"),
            toml::to_string_pretty(cfg)?.as_bytes(),
        )?;
        let log_path = cfg.output.join("log.txt");
        Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| format!("opening {}", log_path.display()))?,
        )
    } else {
        Box::new(std::io::sink())
    };
    writeln!(log, "objective {} | {} training prompts ({dropped} dropped as longer than {} tokens) | template {template:?}", objective.name(), train_items.len(), cfg.max_prompt_tokens)?;
    if comm.world_size() > 1 || shards > 1 || dp.zero {
        writeln!(
            log,
            "data parallel: {} process(es) ({}), {shards} gradient shard(s), ZeRO-1 {}",
            comm.world_size(),
            comm.describe(),
            if dp.zero { "on" } else { "off" }
        )?;
    }

    let needs_ref = matches!(objective, Objective::Ppo)
        || (matches!(objective, Objective::Grpo) && cfg.kl_coef > 0.0);
    let reference: Option<Model> = if needs_ref {
        Some(Model::from_parts(
            model.config.clone(),
            model.layout.clone(),
            model.params.clone(),
            model.stored_dtype,
            None,
        ))
    } else {
        None
    };
    let mut opt = dp.optimizer(cfg.adamw(), &model.params);
    let mut critic = if objective == Objective::Ppo {
        Some(Critic::from_policy(&model, cfg, &dp)?)
    } else {
        None
    };
    let mut start = 0;
    let metrics_path = cfg.output.join("metrics.jsonl");
    if resume {
        if let Some((step, dir)) = from {
            let saved = Model::load(&dir)?;
            model.params = saved.params;
            dp.load_optimizer(&mut opt, &dir.join("optimizer.safetensors"), &model.params)?;
            if let Some(c) = critic.as_mut() {
                let cm = Model::load(&dir.join("critic"))?;
                c.model.params = cm.params;
                let head = crate::model::weights::read_all_f32(
                    &dir.join("critic/value_head.safetensors"),
                )?;
                c.head = vec![
                    head["value_head.weight"].clone(),
                    head["value_head.bias"].clone(),
                ];
                let all = c.all_params();
                dp.load_optimizer(&mut c.opt, &dir.join("critic/optimizer.safetensors"), &all)?;
            }
            start = step;
            writeln!(log, "resumed from {} (step {step})", dir.display())?;
        }
        if root {
            truncate_metrics(&metrics_path, start)?;
        }
    } else if root && metrics_path.exists() {
        std::fs::remove_file(&metrics_path)
            .with_context(|| format!("removing {}", metrics_path.display()))?;
    }
    let mut on_device = match device {
        Some(dev) => {
            let owned = dp.owned(&model.params);
            let mut updater = DeviceUpdater::with_owned(dev, &model, cfg.adamw(), owned)?;
            updater.activation_checkpointing = cfg.activation_checkpointing;
            updater.load_moments(dev, &opt)?;
            // the reference policy scores on the device too, so KL(π‖π_ref) starts at 0
            let reference = reference
                .as_ref()
                .map(|r| DeviceModel::upload(dev, r))
                .transpose()?;
            let ckpt = if cfg.activation_checkpointing {
                " (activation checkpointing)"
            } else {
                ""
            };
            writeln!(
                log,
                "policy update on {}{ckpt}, device collectives: {}",
                dev.name(),
                device_comm.describe()
            )?;
            if cfg.rollouts == "device" {
                writeln!(log, "rollouts on {}", dev.name())?;
            } else {
                writeln!(log, "rollouts on the CPU")?;
            }
            Some((dev, DeviceState { updater, reference }))
        }
        None => None,
    };
    let mut metrics_file: Box<dyn Write> = if root {
        Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&metrics_path)
                .with_context(|| format!("opening {}", metrics_path.display()))?,
        )
    } else {
        Box::new(std::io::sink())
    };
    let bar = if show_progress && root {
        indicatif::ProgressBar::new(cfg.steps as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(start as u64);
    let mb_seqs = cfg.mini_batch_prompts * cfg.n;
    let mut last = Value::Null;
    let mut final_ckpt = None;
    // After a device update the host copy of the policy is stale until something on the host
    // reads it (validation, CPU rollouts, a checkpoint): a 7B policy is 28 GB of f32 to copy.
    let mut host_stale = false;
    for step in start..cfg.steps {
        let t_step = Instant::now();
        let mut m = serde_json::Map::new();
        m.insert("step".into(), json!(step));
        if !val_items.is_empty() && cfg.val_every > 0 && step % cfg.val_every == 0 {
            // Validation samples where the rollouts do (on the device: its bf16 policy).
            let device = rollout_device(&on_device, cfg);
            if device.is_none() {
                sync_host(&on_device, &mut model, &mut host_stale)?;
            }
            for v in validate_dp(
                &Sampler {
                    model: &model,
                    device,
                },
                &tok,
                &val_items,
                cfg.max_response_tokens,
                &stop,
                verifier,
                &dp,
            )? {
                m.insert(format!("val/{}/accuracy", v.source), json!(v.accuracy));
                m.insert(
                    format!("val/{}/response_tokens", v.source),
                    json!(v.mean_response_tokens),
                );
            }
        }
        // 1. Rollouts.
        let idx = step_prompts(train_items.len(), cfg.prompts_per_step, cfg.seed, step)?;
        let prompts: Vec<PromptItem> = idx.iter().map(|&i| train_items[i].clone()).collect();
        let t0 = Instant::now();
        let mine = dp.my_block(prompts.len());
        if cfg.rollouts == "cpu" {
            sync_host(&on_device, &mut model, &mut host_stale)?;
        }
        let sampler = Sampler {
            model: &model,
            device: rollout_device(&on_device, cfg),
        };
        let local = rollout_block(
            &sampler,
            &tok,
            &prompts[mine.clone()],
            mine.start,
            step as u64,
            RolloutSettings {
                params: cfg.sampling(),
                n: cfg.n,
                max_tokens: cfg.max_response_tokens,
                seed: cfg.seed,
                engine: EngineConfig {
                    max_batch: cfg.rollout_batch,
                    stop_tokens: stop.clone(),
                },
                verifier,
                progress: &mut |_| {},
            },
        )?;
        let samples = dp.gather_samples(local, &prompts)?;
        let rollout_s = t0.elapsed().as_secs_f64();
        let rewards: Vec<f32> = samples.iter().map(|s| s.reward).collect();
        let groups: Vec<usize> = samples.iter().map(|s| s.group).collect();
        let n_correct = rewards.iter().filter(|&&r| r > 0.5).count();
        let resp_tokens: usize = samples.iter().map(|s| s.response.len()).sum();
        let mut solved = vec![0usize; prompts.len()];
        for s in &samples {
            solved[s.group] += (s.reward > 0.5) as usize;
        }
        m.insert(
            "reward/mean".into(),
            json!(n_correct as f64 / samples.len().max(1) as f64),
        );
        m.insert("batch/correct".into(), json!(n_correct));
        m.insert("batch/incorrect".into(), json!(samples.len() - n_correct));
        m.insert(
            "batch/fully_solved_ratio".into(),
            json!(solved.iter().filter(|&&c| c == cfg.n).count() as f64 / prompts.len() as f64),
        );
        m.insert(
            "batch/fully_unsolved_ratio".into(),
            json!(solved.iter().filter(|&&c| c == 0).count() as f64 / prompts.len() as f64),
        );
        m.insert(
            "response/length_mean".into(),
            json!(resp_tokens as f64 / samples.len().max(1) as f64),
        );
        m.insert(
            "response/length_max".into(),
            json!(samples.iter().map(|s| s.response.len()).max().unwrap_or(0)),
        );
        m.insert(
            "response/clip_ratio".into(),
            json!(
                samples.iter().filter(|s| s.truncated).count() as f64 / samples.len().max(1) as f64
            ),
        );

        // 2. Advantages and the kept set.
        let seq_adv = sequence_advantages(objective, &rewards, &groups);
        let keep: Vec<usize> = (0..samples.len())
            .filter(|&i| objective.keeps(rewards[i] > 0.5, mode))
            .collect();
        let kept: Vec<Sample> = keep.iter().map(|&i| samples[i].clone()).collect();
        m.insert("batch/effective_samples".into(), json!(kept.len()));
        let t1 = Instant::now();
        if !kept.is_empty() {
            // 3. Old (and reference) log-probs, recomputed by the trainer.
            let seqs: Vec<Vec<u32>> = kept
                .iter()
                .map(|s| [s.prompt.as_slice(), &s.response].concat())
                .collect();
            let lens: Vec<usize> = kept.iter().map(|s| s.response.len()).collect();
            // On a device the old log-probs come from the same bf16 model the update runs, so
            // the first mini-batch's ratio is 1 there as well.
            let old = match &on_device {
                Some((dev, d)) => {
                    dp.score_with(&seqs, &lens, cfg.max_tokens_per_micro_batch, |s, l| {
                        crate::backend::cuda::model::score::score_suffixes(
                            *dev,
                            &d.updater.model,
                            s,
                            l,
                            cfg.temperature,
                            cfg.max_tokens_per_micro_batch,
                        )
                    })?
                }
                None => dp.score_suffixes(
                    &model,
                    &seqs,
                    &lens,
                    cfg.temperature,
                    cfg.max_tokens_per_micro_batch,
                )?,
            };
            let mut max_diff = 0.0f32;
            for (s, o) in kept.iter().zip(&old) {
                for (a, b) in s.sampler_logp.iter().zip(&o.logprobs) {
                    max_diff = max_diff.max((a - b).abs());
                }
            }
            m.insert(
                "rollout/sampler_trainer_logp_max_diff".into(),
                json!(max_diff),
            );
            let ent_tokens: f64 = old
                .iter()
                .flat_map(|o| o.entropy.iter())
                .map(|&x| x as f64)
                .sum();
            m.insert(
                "actor/entropy".into(),
                json!(ent_tokens / lens.iter().sum::<usize>().max(1) as f64),
            );
            let old_lp: Vec<Vec<f32>> = old.into_iter().map(|o| o.logprobs).collect();
            let ref_scores = match (&reference, &on_device) {
                (
                    Some(_),
                    Some((
                        dev,
                        DeviceState {
                            reference: Some(r), ..
                        },
                    )),
                ) => {
                    Some(
                        dp.score_with(&seqs, &lens, cfg.max_tokens_per_micro_batch, |s, l| {
                            crate::backend::cuda::model::score::score_suffixes(
                                *dev,
                                r,
                                s,
                                l,
                                cfg.temperature,
                                cfg.max_tokens_per_micro_batch,
                            )
                        })?,
                    )
                }
                (Some(r), _) => Some(dp.score_suffixes(
                    r,
                    &seqs,
                    &lens,
                    cfg.temperature,
                    cfg.max_tokens_per_micro_batch,
                )?),
                (None, _) => None,
            };
            let ref_lp: Option<Vec<Vec<f32>>> =
                ref_scores.map(|v| v.into_iter().map(|o| o.logprobs).collect());
            // 4. Token-level advantages.
            let (adv, ppo_extra): (PerToken, Option<(PerToken, PerToken)>) =
                match (&critic, &ref_lp) {
                    (Some(c), Some(r)) if objective == Objective::Ppo => {
                        let values = c.values_dp(&kept, cfg.max_tokens_per_micro_batch, &dp)?;
                        let (a, ret) = gae_advantages(&kept, &old_lp, r, &values, cfg.ppo_kl_coef);
                        (a, Some((ret, values)))
                    }
                    _ => (
                        keep.iter()
                            .zip(&kept)
                            .map(|(&i, s)| vec![seq_adv[i]; s.response.len()])
                            .collect(),
                        None,
                    ),
                };
            let lr = if cfg.lr_zero_first_step && step == 0 {
                0.0
            } else {
                cfg.lr
            };
            let kl_coef = if objective == Objective::Grpo {
                cfg.kl_coef
            } else {
                0.0
            };
            // 5. Policy update.
            let inputs = UpdateInputs {
                samples: &kept,
                adv: &adv,
                old_logp: &old_lp,
                ref_logp: ref_lp.as_deref().filter(|_| kl_coef > 0.0),
                mb_seqs,
                kl_coef,
            };
            let st = match on_device.as_mut() {
                Some((dev, DeviceState { updater: u, .. })) => u
                    .policy_update_dp(*dev, &inputs, cfg, lr, &dp, device_comm.as_ref())
                    .inspect(|_| host_stale = true),
                None => policy_update_dp(&mut model, &mut opt, &inputs, cfg, lr, &dp),
            }
            .with_context(|| format!("RL step {step}: the last good checkpoint is kept"))?;
            if let (Some(c), Some((ret, values))) = (critic.as_mut(), ppo_extra) {
                let vl = c.update(&kept, &ret, &values, mb_seqs, cfg, &dp)?;
                m.insert("critic/value_loss".into(), json!(vl));
            }
            m.insert("actor/pg_loss".into(), json!(st.pg_loss));
            m.insert("actor/pg_clipfrac".into(), json!(st.clip_frac));
            m.insert("actor/ppo_kl".into(), json!(st.approx_kl));
            m.insert("actor/kl_ref".into(), json!(st.kl));
            m.insert("actor/grad_norm".into(), json!(st.grad_norm));
            m.insert("actor/optimizer_steps".into(), json!(st.optimizer_steps));
            m.insert("actor/lr".into(), json!(lr));
        }
        let update_s = t1.elapsed().as_secs_f64();
        let step_s = t_step.elapsed().as_secs_f64();
        m.insert("time/rollout_s".into(), json!(rollout_s));
        m.insert("time/verify_s".into(), json!(0.0));
        m.insert("time/update_s".into(), json!(update_s));
        m.insert("time/step_s".into(), json!(step_s));
        m.insert(
            "perf/tokens_per_s".into(),
            json!(resp_tokens as f64 / step_s.max(1e-9)),
        );
        last = Value::Object(m);
        writeln!(metrics_file, "{last}")?;
        metrics_file.flush()?;
        bar.set_message(format!(
            "reward {:.3}",
            last["reward/mean"].as_f64().unwrap_or(0.0)
        ));
        bar.inc(1);
        let done = step + 1;
        if (cfg.save_every > 0 && done % cfg.save_every == 0) || done == cfg.steps {
            // Under ZeRO-1 the moments are gathered to rank 0 first (a collective).
            // The device keeps the weights and moments; they come to the host for checkpoints.
            sync_host(&on_device, &mut model, &mut host_stale)?;
            if let Some((dev, d)) = on_device.as_ref() {
                d.updater.store_moments(*dev, &mut opt)?;
            }
            let full_opt = dp.gather_optimizer(&opt, &model.params)?;
            let critic_all = critic.as_ref().map(|c| c.all_params());
            let critic_opt = match (&critic, &critic_all) {
                (Some(c), Some(all)) => dp.gather_optimizer(&c.opt, all)?,
                _ => None,
            };
            if root {
                let critic_parts = critic.as_ref().map(|c| {
                    (
                        &c.model,
                        c.head.as_slice(),
                        critic_opt.as_ref().unwrap_or(&c.opt),
                    )
                });
                checkpoint::save(
                    &cfg.output,
                    done,
                    CheckpointParts {
                        model: &model,
                        source_dir: &cfg.model,
                        optimizer: full_opt.as_ref().unwrap_or(&opt),
                        state: json!({
                            "step": done,
                            "objective": objective.name(),
                            "dp_shards": shards,
                        }),
                        critic: critic_parts,
                    },
                )?;
            }
            // Nobody reports a checkpoint before it exists.
            comm.barrier()?;
            final_ckpt = Some(checkpoint::step_dir(&cfg.output, done));
        }
    }
    bar.finish_and_clear();
    Ok(TrainSummary {
        steps_run: cfg.steps.saturating_sub(start),
        output: cfg.output.clone(),
        final_checkpoint: final_ckpt,
        last_metrics: last,
    })
}
