//! Llama-family decoder models (Llama, Mistral, Qwen2, Qwen3) loaded from Hugging Face
//! directories, their forward pass on the autograd tape, and saving back to safetensors.

pub mod batch;
pub mod config;
pub mod decode;
pub mod forward;
pub mod gguf;
pub mod init;
pub mod kv_cache;
pub mod layer;
pub mod params;
pub mod score;
pub mod weights;

pub use batch::Batch;
pub use config::{Arch, ModelConfig, RopeScaling};
pub use params::ParamLayout;

use crate::autograd::{Tape, Var};
use crate::tensor::{DType, Tensor};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct Model {
    pub config: ModelConfig,
    pub layout: ParamLayout,
    /// Parameters in `layout.specs` order, f32.
    pub params: Vec<Tensor>,
    /// How the weights were stored on disk.
    pub stored_dtype: DType,
    pub inv_freq: Vec<f32>,
    /// The directory the model came from (tokenizer and generation config live there).
    pub dir: Option<PathBuf>,
    /// Recompute each layer in the backward instead of keeping its activations on the tape
    /// (same gradients, bit for bit; about one more forward of time). Off by default.
    pub activation_checkpointing: bool,
}

impl Model {
    pub fn load(dir: &Path) -> Result<Model> {
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let layout = ParamLayout::new(&config);
        let (params, stored_dtype) = weights::load(dir, &layout)?;
        Ok(Model::from_parts(
            config,
            layout,
            params,
            stored_dtype,
            Some(dir.to_path_buf()),
        ))
    }

    pub fn from_parts(
        config: ModelConfig,
        layout: ParamLayout,
        params: Vec<Tensor>,
        stored_dtype: DType,
        dir: Option<PathBuf>,
    ) -> Model {
        let inv_freq = config.inv_freq();
        Model {
            config,
            layout,
            params,
            stored_dtype,
            inv_freq,
            dir,
            activation_checkpointing: false,
        }
    }

    /// Parameters as leaves of `tape` (trainable when the tape records gradients).
    pub fn vars(&self, tape: &Tape) -> Vec<Var> {
        self.params.iter().map(|p| tape.leaf(p.clone())).collect()
    }

    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.layout.specs.iter().map(|(n, _)| n.as_str())
    }

    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        self.layout
            .specs
            .iter()
            .map(|(n, _)| n.clone())
            .zip(self.params.iter().cloned())
            .collect()
    }

    /// Token ids must be < vocab; the error names the first offender.
    pub fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        if let Some((i, t)) = tokens
            .iter()
            .enumerate()
            .find(|(_, &t)| t as usize >= self.config.vocab_size)
        {
            bail!(
                "token id {t} at position {i} is out of range (vocab size {})",
                self.config.vocab_size
            );
        }
        Ok(())
    }

    /// Save as a Hugging Face directory (config.json + model.safetensors), atomically per file.
    pub fn save(&self, dir: &Path, dtype: DType) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut cfg = self.config.raw.clone();
        if let Some(o) = cfg.as_object_mut() {
            let name = match dtype {
                DType::F32 => "float32",
                DType::BF16 => "bfloat16",
            };
            o.insert("torch_dtype".into(), name.into());
        }
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = weights::serialize(&self.named_params(), dtype, Some(meta))?;
        crate::util::write_atomic(&dir.join("model.safetensors"), &bytes)?;
        // A stale shard index would shadow the single file we just wrote.
        let index = dir.join("model.safetensors.index.json");
        if index.exists() {
            std::fs::remove_file(&index)
                .with_context(|| format!("removing {}", index.display()))?;
        }
        crate::util::write_atomic(
            &dir.join("config.json"),
            serde_json::to_string_pretty(&cfg)?.as_bytes(),
        )?;
        Ok(())
    }
}
