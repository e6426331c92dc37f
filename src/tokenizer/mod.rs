//! Tokenizer (`tokenizers` crate over a model directory's tokenizer.json) and chat templates.
pub mod charlevel;
pub mod template;

pub use template::{ChatTemplate, Message};

use anyhow::{anyhow, Context, Result};
use std::path::Path;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    pub fn from_dir(dir: &Path) -> Result<Tokenizer> {
        Tokenizer::from_file(&dir.join("tokenizer.json"))
    }

    /// The tokenizer of a model directory whose embedding has `model_vocab` rows: a tokenizer.json
    /// with ids past the embedding is refused here, naming it, instead of failing later on a
    /// token id the model cannot look up.
    pub fn for_model(dir: &Path, model_vocab: usize) -> Result<Tokenizer> {
        let path = dir.join("tokenizer.json");
        let tok = Tokenizer::from_file(&path)?;
        let max_id = tok.inner.get_vocab(true).into_values().max();
        if let Some(id) = max_id.filter(|&id| id as usize >= model_vocab) {
            anyhow::bail!(
                "{}: has token id {id}, but the model's embedding has only {model_vocab} rows (vocab_size in config.json): the tokenizer does not belong to this model",
                path.display()
            );
        }
        Ok(tok)
    }

    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        if !path.exists() {
            anyhow::bail!(
                "{}: not found (text input needs the model's tokenizer.json)",
                path.display()
            );
        }
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| anyhow!("{}: cannot load tokenizer ({e})", path.display()))?;
        Ok(Tokenizer { inner })
    }

    /// Encode text whose special tokens are written out (templates do that); no BOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decode, keeping special tokens as text (what the paper's reward sees).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| anyhow!("detokenizing: {e}"))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// EOS ids from generation_config.json (preferred) or config.json.
pub fn eos_ids_from_dir(dir: &Path) -> Result<Vec<u32>> {
    for f in ["generation_config.json", "config.json"] {
        let ids = eos_ids_in(&dir.join(f))?;
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    Ok(vec![])
}

/// The `eos_token_id` (one id or a list) of a JSON config file; empty when the file or the key
/// is absent.
pub fn eos_ids_in(path: &Path) -> Result<Vec<u32>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed JSON", path.display()))?;
    Ok(match v.get("eos_token_id") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|x| x as u32)
            .collect(),
        Some(x) => x.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        None => vec![],
    })
}
