//! The policy being trained, wherever its update runs: on the CPU (the f32 host model and its
//! AdamW state) or on a kernel device (bf16 weights for the forward, f32 master weights and
//! moments there). The host copy of a device policy is refreshed only when something on the host
//! reads it (CPU rollouts, validation on the host, a checkpoint): for a 7B policy that is 28 GB
//! of f32 to copy.
use super::dp::DataParallel;
use super::gradients::{DeviceGradients, HostGradients, PolicyGradients};
use super::rollout::{rollout_block, Graded, PromptItem, RolloutSettings};
use super::update::{policy_update_dp, UpdateInputs, UpdateStats};
use super::TrainConfig;
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::model::update::DeviceUpdater;
use crate::backend::cuda::model::DeviceModel;
use crate::dist::device_comm::DeviceComm;
use crate::generate::sampler::Sampler;
use crate::model::decode::Decoder;
use crate::model::score::SeqScores;
use crate::model::Model;
use crate::optim::{AdamW, AdamWConfig};
use crate::tensor::DType;
use crate::tokenizer::Tokenizer;
use anyhow::{Context, Result};
use std::borrow::Cow;
use std::ops::Range;

pub struct Policy<'a> {
    /// The f32 host model: what CPU rollouts sample and checkpoints save.
    model: Model,
    place: Place<'a>,
    /// Weight storage of rollouts sampled on the CPU.
    rollout_weights: DType,
}

enum Place<'a> {
    Cpu {
        /// AdamW over this rank's tensors.
        opt: AdamW,
    },
    Device(Box<OnDevice<'a>>),
}

struct OnDevice<'a> {
    dev: &'a dyn KernelDevice,
    updater: DeviceUpdater,
    /// How gradient shards and ZeRO-1 weights travel between ranks.
    comm: Box<dyn DeviceComm + 'a>,
    /// Rollouts and validation answers come from the device's bf16 weights.
    samples_here: bool,
    /// The host model is older than the device's weights.
    host_stale: bool,
}

impl<'a> Policy<'a> {
    /// A policy updated on the CPU by `opt`.
    pub fn cpu(model: Model, opt: AdamW) -> Self {
        Policy {
            model,
            place: Place::Cpu { opt },
            rollout_weights: DType::F32,
        }
    }

    /// A policy updated on `dev`: `model` uploaded with master weights and moments for the
    /// tensors `owned` (moments and step count from `moments` when given, e.g. after a resume).
    pub fn on_device(
        model: Model,
        dev: &'a dyn KernelDevice,
        comm: Box<dyn DeviceComm + 'a>,
        adamw: AdamWConfig,
        owned: Range<usize>,
        moments: Option<&AdamW>,
        samples_here: bool,
    ) -> Result<Self> {
        let mut updater = DeviceUpdater::with_owned(dev, &model, adamw, owned)?;
        updater.activation_checkpointing = model.activation_checkpointing;
        if let Some(opt) = moments {
            updater.load_moments(dev, opt)?;
        }
        Ok(Policy {
            model,
            rollout_weights: DType::F32,
            place: Place::Device(Box::new(OnDevice {
                dev,
                updater,
                comm,
                samples_here,
                host_stale: false,
            })),
        })
    }

    /// Rollouts sampled on the CPU read weights stored as `dtype` (packed once per step).
    pub fn with_rollout_weights(mut self, dtype: DType) -> Self {
        self.rollout_weights = dtype;
        self
    }

    /// For the run log: where the update, the device collectives and the rollouts run.
    pub fn describe(&self) -> Option<String> {
        let Place::Device(d) = &self.place else {
            return None;
        };
        let ckpt = if d.updater.activation_checkpointing {
            " (activation checkpointing)"
        } else {
            ""
        };
        let rollouts = if d.samples_here {
            d.dev.name()
        } else {
            "the CPU".to_string()
        };
        Some(format!(
            "policy update on {}{ckpt}, device collectives: {}\nrollouts on {rollouts}",
            d.dev.name(),
            d.comm.describe()
        ))
    }

    /// The weights to score with where the update runs (on a device: the same bf16 weights the
    /// update reads, so the first mini-batch's importance ratio is 1 there as well).
    pub fn scorer(&self) -> Scorer<'_> {
        match &self.place {
            Place::Cpu { .. } => Scorer::Cpu(&self.model),
            Place::Device(d) => Scorer::Device(d.dev, &d.updater.model),
        }
    }

    /// Where samples come from: the device's weights, or the (refreshed) host model.
    pub fn sampler(&mut self) -> Result<Sampler<'_>> {
        if !matches!(&self.place, Place::Device(d) if d.samples_here) {
            self.sync_host()?;
        }
        Ok(match &self.place {
            Place::Device(d) if d.samples_here => Sampler {
                model: &self.model,
                device: Some((d.dev, &d.updater.model)),
                decoder: None,
            },
            _ => Sampler::cpu(&self.model),
        })
    }

    /// Rollouts of `prompts` (positions `first..` of the step's prompts), verified.
    pub fn sample(
        &mut self,
        tok: &Tokenizer,
        prompts: &[PromptItem],
        first: usize,
        step: u64,
        settings: RolloutSettings<'_>,
    ) -> Result<Graded> {
        let dtype = self.rollout_weights;
        let sampler = self.sampler()?;
        if sampler.device.is_some() || dtype == DType::F32 {
            return rollout_block(&sampler, tok, prompts, first, step, settings);
        }
        let decoder = Decoder::new(sampler.model, dtype);
        let packed = Sampler {
            decoder: Some(&decoder),
            ..sampler
        };
        rollout_block(&packed, tok, prompts, first, step, settings)
    }

    /// One RL policy update (see `update::policy_update_dp`).
    pub fn update(
        &mut self,
        x: &UpdateInputs<'_>,
        cfg: &TrainConfig,
        lr: f32,
        dp: &DataParallel<'_>,
    ) -> Result<UpdateStats> {
        policy_update_dp(self.gradients().as_mut(), x, cfg, lr, dp)
    }

    /// What computes and applies this policy's gradients. On a device the host copy is stale
    /// from here on.
    pub fn gradients(&mut self) -> Box<dyn PolicyGradients + '_> {
        match &mut self.place {
            Place::Cpu { opt } => Box::new(HostGradients::new(&mut self.model, opt)),
            Place::Device(d) => {
                d.host_stale = true;
                Box::new(DeviceGradients {
                    dev: d.dev,
                    updater: &mut d.updater,
                    comm: d.comm.as_ref(),
                })
            }
        }
    }

    /// The host model, with the device's newest weights copied in first when it is stale.
    pub fn sync_host(&mut self) -> Result<&Model> {
        if let Place::Device(d) = &mut self.place {
            if d.host_stale {
                d.updater
                    .sync_to_host(d.dev, &mut self.model)
                    .context("copying the updated policy from the device")?;
                d.host_stale = false;
            }
        }
        Ok(&self.model)
    }

    /// The host model and this rank's AdamW state, current (for a checkpoint).
    pub fn checkpoint_state(&mut self, dp: &DataParallel<'_>) -> Result<(&Model, Cow<'_, AdamW>)> {
        self.sync_host()?;
        Ok(match &self.place {
            Place::Cpu { opt } => (&self.model, Cow::Borrowed(opt)),
            Place::Device(d) => {
                let mut opt = dp.optimizer(d.updater.cfg, &self.model.params);
                d.updater.store_moments(d.dev, &mut opt)?;
                (&self.model, Cow::Owned(opt))
            }
        })
    }

    /// The host model, current.
    pub fn into_model(mut self) -> Result<Model> {
        self.sync_host()?;
        Ok(self.model)
    }
}

/// A model scored but not trained (the reference policy of GRPO's KL and PPO's reward), on the
/// CPU or on the device the policy's update runs on.
pub enum Frozen<'a> {
    Cpu(Model),
    Device(&'a dyn KernelDevice, DeviceModel),
}

impl<'a> Frozen<'a> {
    /// A copy of `model` on the CPU.
    pub fn cpu(model: &Model) -> Self {
        Frozen::Cpu(Model::from_parts(
            model.config.clone(),
            model.layout.clone(),
            model.params.clone(),
            model.stored_dtype,
            None,
        ))
    }

    /// The same weights on `dev` (when given).
    pub fn to_device(self, dev: Option<&'a dyn KernelDevice>) -> Result<Self> {
        Ok(match (self, dev) {
            (Frozen::Cpu(m), Some(dev)) => Frozen::Device(dev, DeviceModel::upload(dev, &m)?),
            (f, _) => f,
        })
    }

    pub fn scorer(&self) -> Scorer<'_> {
        match self {
            Frozen::Cpu(m) => Scorer::Cpu(m),
            Frozen::Device(dev, m) => Scorer::Device(*dev, m),
        }
    }
}

/// Weights to score with: the CPU model or a device copy.
pub enum Scorer<'m> {
    Cpu(&'m Model),
    Device(&'m dyn KernelDevice, &'m DeviceModel),
}

impl Scorer<'_> {
    /// Log-probs and entropies of the last `lens[i]` tokens of each sequence, in packs of at
    /// most `budget` tokens; each rank scores its block of packs and every rank gets them all.
    pub fn score(
        &self,
        dp: &DataParallel<'_>,
        seqs: &[Vec<u32>],
        lens: &[usize],
        temperature: f32,
        budget: usize,
    ) -> Result<Vec<SeqScores>> {
        dp.score_with(seqs, lens, budget, |s, l| match *self {
            Scorer::Cpu(m) => crate::model::score::score_suffixes(m, s, l, temperature, budget),
            Scorer::Device(dev, m) => crate::backend::cuda::model::score::score_suffixes(
                dev,
                m,
                s,
                l,
                temperature,
                budget,
            ),
        })
    }
}
