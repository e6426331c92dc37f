//! Where samples come from: the CPU engine, or the device copy of the same model
//! (`generate_on_device`, same seeds, Philox keys and stop rule). Eval and RL rollouts take one.
use super::device::generate_on_device;
use super::engine::{generate, generate_with, Completion, EngineConfig, GenRequest, Progress};
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::model::DeviceModel;
use crate::model::decode::Decoder;
use crate::model::Model;
use anyhow::Result;

#[derive(Clone, Copy)]
pub struct Sampler<'a> {
    /// The CPU model (also what the caller decodes and grades against).
    pub model: &'a Model,
    /// When set, sampling runs on this device copy instead.
    pub device: Option<(&'a dyn KernelDevice, &'a DeviceModel)>,
    /// On the CPU: weights the caller packed once (f32, or bf16 storage), instead of packing
    /// `model`'s f32 weights on every call.
    pub decoder: Option<&'a Decoder<'a>>,
}

impl<'a> Sampler<'a> {
    pub fn cpu(model: &'a Model) -> Self {
        Sampler {
            model,
            device: None,
            decoder: None,
        }
    }

    pub fn generate(
        &self,
        reqs: &[GenRequest],
        engine: &EngineConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Completion>> {
        match (self.device, self.decoder) {
            (Some((d, m)), _) => generate_on_device(d, m, reqs, engine, progress),
            (None, Some(dec)) => generate_with(dec, reqs, engine, progress),
            (None, None) => generate(self.model, reqs, engine, progress),
        }
    }
}
