//! A whole Llama/Qwen2/Qwen3-family decoder resident on a `KernelDevice`, orchestrated llm.c
//! style over the kernel launchers: bf16 weights and activations, f32 accumulation, f32
//! gradients. Same semantics as the CPU model (`crate::model`): GQA, the configured RoPE
//! frequencies, q/k/v (and Llama o/MLP) biases, Qwen3's per-head q/k RMSNorm, tied embeddings.
//!
//! `upload` copies a [`Model`]; `forward` runs a packed varlen batch and keeps what the backward
//! needs ([`Activations`]); `head` gives log π and entropy of chosen (row, target) pairs through
//! the fused LM-head kernels; `backward` turns per-token coefficients on log π and entropy into
//! gradients of every parameter ([`Grads`]). `forward_opts(.., true)` checkpoints activations:
//! only each layer's input is kept and the backward recomputes the layer (`memory` measures the
//! bytes this saves).
//!
//! Verified on the host emulator only (`rlvr selftest --device emu --filter model`); no
//! hardware run yet (docs/gpu-log.md).
pub mod backward;
pub mod batch;
pub mod decode;
pub mod dp;
pub mod forward;
pub mod head;
pub mod kv_cache;
pub mod linear;
pub mod memory;
pub mod packed;
pub mod score;
pub mod update;

pub use backward::Grads;
pub use batch::DeviceBatch;
pub use forward::Activations;
pub use head::HeadOut;

use super::device::{download, upload, DevBuf, KernelDevice};
use crate::model::{Model, ModelConfig, ParamLayout};
use anyhow::{bail, Result};
use half::bf16;

pub struct DeviceModel {
    pub config: ModelConfig,
    pub layout: ParamLayout,
    /// bf16 weights in `layout.specs` order.
    pub params: Vec<DevBuf<bf16>>,
    /// Per layer, the q/k/v and gate/up weights of `params` seen as one matrix each (the decode
    /// step's fused products).
    pub packs: Vec<packed::LayerPacks>,
    pub inv_freq: DevBuf<f32>,
}

impl DeviceModel {
    /// Copies the weights of `model` to the device, rounded to bf16.
    pub fn upload(dev: &dyn KernelDevice, model: &Model) -> Result<Self> {
        let cfg = &model.config;
        if cfg.head_dim > super::attention::MAX_HEAD_DIM {
            bail!(
                "head_dim {} exceeds the attention kernels' limit of {}",
                cfg.head_dim,
                super::attention::MAX_HEAD_DIM
            );
        }
        let (params, packs) = packed::alloc_params(dev, &model.layout)?;
        for (p, buf) in model.params.iter().zip(&params) {
            let h: Vec<bf16> = p.data().iter().map(|&v| bf16::from_f32(v)).collect();
            super::device::copy_to_device(dev, &h, buf)?;
        }
        Ok(DeviceModel {
            config: cfg.clone(),
            layout: model.layout.clone(),
            params,
            packs,
            inv_freq: upload(dev, &model.inv_freq)?,
        })
    }

    /// Replaces the weights with `values` (f32 in layout order, rounded to bf16), e.g. after an
    /// optimizer step on the host.
    pub fn set_params(&self, dev: &dyn KernelDevice, values: &[Vec<f32>]) -> Result<()> {
        if values.len() != self.params.len() {
            bail!(
                "set_params: {} tensors for {} parameters",
                values.len(),
                self.params.len()
            );
        }
        for (p, v) in self.params.iter().zip(values) {
            let h: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            super::device::copy_to_device(dev, &h, p)?;
        }
        Ok(())
    }

    /// The bf16 weights back on the host (widened to f32), in layout order.
    pub fn download_params(&self, dev: &dyn KernelDevice) -> Result<Vec<Vec<f32>>> {
        self.params
            .iter()
            .map(|p| Ok(download(dev, p)?.iter().map(|v| v.to_f32()).collect()))
            .collect()
    }

    pub fn hidden(&self) -> usize {
        self.config.hidden_size
    }

    /// The LM-head weight (the embedding when tied).
    pub fn lm_head(&self) -> &DevBuf<bf16> {
        &self.params[self.layout.lm_head_index()]
    }

    pub(crate) fn opt(&self, i: Option<usize>) -> Option<&DevBuf<bf16>> {
        i.map(|i| &self.params[i])
    }
}
