//! Where a training step's gradients are computed: the CPU tape and the host optimizer
//! ([`HostGradients`]), or a kernel device ([`DeviceGradients`]: bf16 forward and backward, f32
//! master weights and moments there). Both take the same calls from the one accumulation loop
//! (`update::accumulate_shards`), so RL and SFT run the same step on either.
use super::dp::DataParallel;
use super::update::accumulate;
use crate::autograd::Tape;
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::model::update::DeviceUpdater;
use crate::dist::device_comm::DeviceComm;
use crate::model::{Batch, Model};
use crate::optim::AdamW;
use crate::tensor::Tensor;
use anyhow::Result;

/// The sequences of one micro-batch: the last `suffix[i]` tokens of `seqs[i]` are scored.
pub struct MicroBatch<'a> {
    pub seqs: &'a [Vec<u32>],
    pub suffix: &'a [usize],
    pub temperature: f32,
}

/// The loss's gradient with respect to each scored token's log-prob and entropy (`None`: the
/// loss does not depend on the entropy).
pub struct Coefficients {
    pub g_logp: Vec<f32>,
    pub g_entropy: Option<Vec<f32>>,
}

/// One optimizer step's gradient, accumulated shard by shard and micro-batch by micro-batch.
pub trait PolicyGradients {
    /// Starts a step in which this rank computes `local` gradient shards.
    fn begin(&mut self, local: usize) -> Result<()>;
    /// Adds the gradient of micro-batch `b` into local shard `k`; `coefficients` turns the
    /// per-token log-probs and entropies of its scored tokens into the loss's coefficients.
    fn micro_batch(
        &mut self,
        k: usize,
        b: &MicroBatch<'_>,
        coefficients: &mut dyn FnMut(&[f32], &[f32]) -> Coefficients,
    ) -> Result<()>;
    /// [`PolicyGradients::micro_batch`] for coefficients known before the forward (a device
    /// then runs the LM head's forward and backward at once); returns the scored tokens' log π.
    fn micro_batch_known(
        &mut self,
        k: usize,
        b: &MicroBatch<'_>,
        c: Coefficients,
    ) -> Result<Vec<f32>> {
        let mut logp = Vec::new();
        self.micro_batch(k, b, &mut |lp, _| {
            logp = lp.to_vec();
            Coefficients {
                g_logp: c.g_logp.clone(),
                g_entropy: c.g_entropy.clone(),
            }
        })?;
        Ok(logp)
    }
    /// Local shard `k` has all its micro-batches.
    fn end_shard(&mut self, k: usize) -> Result<()>;
    /// Sums the shards of every rank in shard order, clips the global norm to `clip` and takes
    /// one AdamW step at `lr`; returns the norm before clipping.
    fn apply(&mut self, dp: &DataParallel<'_>, clip: f32, lr: f32) -> Result<f32>;
}

/// Gradients on the CPU tape, applied to the host model by its AdamW (this rank's tensors under
/// ZeRO-1).
pub struct HostGradients<'a> {
    model: &'a mut Model,
    opt: &'a mut AdamW,
    names: Vec<String>,
    /// Per local shard, the accumulated gradient of each parameter.
    partials: Vec<Vec<Option<Tensor>>>,
}

impl<'a> HostGradients<'a> {
    pub fn new(model: &'a mut Model, opt: &'a mut AdamW) -> Self {
        let names = model.param_names().map(str::to_string).collect();
        HostGradients {
            model,
            opt,
            names,
            partials: Vec::new(),
        }
    }
}

impl PolicyGradients for HostGradients<'_> {
    fn begin(&mut self, local: usize) -> Result<()> {
        self.partials = vec![vec![None; self.model.params.len()]; local];
        Ok(())
    }

    fn micro_batch(
        &mut self,
        k: usize,
        b: &MicroBatch<'_>,
        coefficients: &mut dyn FnMut(&[f32], &[f32]) -> Coefficients,
    ) -> Result<()> {
        let tape = Tape::new();
        let vars = self.model.vars(&tape);
        let batch = Batch::from_sequences(b.seqs);
        let (lp, ent) =
            self.model
                .suffix_logprobs(&tape, &vars, &batch, b.suffix, b.temperature)?;
        let c = coefficients(lp.value.data(), ent.value.data());
        let on_logp = tape.weighted_sum(&lp, &c.g_logp);
        let loss = match &c.g_entropy {
            Some(g) => tape.add(&on_logp, &tape.weighted_sum(&ent, g)),
            None => on_logp,
        };
        let mut grads = tape.backward(&loss);
        let Some(acc) = self.partials.get_mut(k) else {
            anyhow::bail!("gradient shard {k} of a step with {}", self.partials.len());
        };
        accumulate(acc, vars.iter().map(|v| grads.take(v)).collect());
        Ok(())
    }

    fn end_shard(&mut self, _k: usize) -> Result<()> {
        Ok(())
    }

    fn apply(&mut self, dp: &DataParallel<'_>, clip: f32, lr: f32) -> Result<f32> {
        let partials = std::mem::take(&mut self.partials);
        dp.apply_gradients(
            &mut self.model.params,
            self.opt,
            partials,
            &self.names,
            clip,
            lr,
        )
    }
}

/// Gradients on a kernel device, summed between ranks through `comm`.
pub struct DeviceGradients<'a> {
    pub dev: &'a dyn KernelDevice,
    pub updater: &'a mut DeviceUpdater,
    pub comm: &'a dyn DeviceComm,
}

impl PolicyGradients for DeviceGradients<'_> {
    fn begin(&mut self, local: usize) -> Result<()> {
        self.updater.begin_step(self.dev, local)
    }

    fn micro_batch(
        &mut self,
        k: usize,
        b: &MicroBatch<'_>,
        coefficients: &mut dyn FnMut(&[f32], &[f32]) -> Coefficients,
    ) -> Result<()> {
        self.updater.backward_micro_batch(
            self.dev,
            k,
            b.seqs,
            b.suffix,
            b.temperature,
            |lp, ent| {
                let c = coefficients(lp, ent);
                let g_entropy = c.g_entropy.unwrap_or_else(|| vec![0.0; ent.len()]);
                (c.g_logp, g_entropy)
            },
        )
    }

    fn micro_batch_known(
        &mut self,
        k: usize,
        b: &MicroBatch<'_>,
        c: Coefficients,
    ) -> Result<Vec<f32>> {
        let g_entropy = c.g_entropy.unwrap_or_else(|| vec![0.0; c.g_logp.len()]);
        self.updater.backward_micro_batch_known(
            self.dev,
            k,
            b.seqs,
            b.suffix,
            b.temperature,
            &c.g_logp,
            &g_entropy,
        )
    }

    fn end_shard(&mut self, k: usize) -> Result<()> {
        self.updater.end_shard(self.dev, k)
    }

    fn apply(&mut self, dp: &DataParallel<'_>, clip: f32, lr: f32) -> Result<f32> {
        self.updater
            .apply_step(self.dev, dp.shards, self.comm, clip, lr)
    }
}
