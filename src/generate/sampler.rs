//! Where samples come from: the CPU engine, or the device copy of the same model
//! (`generate_on_device`, same seeds, Philox keys and stop rule). Eval and RL rollouts take one.
use super::device::generate_on_device;
use super::engine::{generate, Completion, EngineConfig, GenRequest, Progress};
use crate::backend::cuda::device::KernelDevice;
use crate::backend::cuda::model::DeviceModel;
use crate::model::Model;
use anyhow::Result;

#[derive(Clone, Copy)]
pub struct Sampler<'a> {
    /// The CPU model (also what the caller decodes and grades against).
    pub model: &'a Model,
    /// When set, sampling runs on this device copy instead.
    pub device: Option<(&'a dyn KernelDevice, &'a DeviceModel)>,
}

impl<'a> Sampler<'a> {
    pub fn cpu(model: &'a Model) -> Self {
        Sampler {
            model,
            device: None,
        }
    }

    pub fn generate(
        &self,
        reqs: &[GenRequest],
        engine: &EngineConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Completion>> {
        match self.device {
            None => generate(self.model, reqs, engine, progress),
            Some((d, m)) => generate_on_device(d, m, reqs, engine, progress),
        }
    }
}
