//! Rebuild a Hugging Face `tokenizer.json` (and `tokenizer_config.json`) from the GGUF vocabulary.
//!
//! GGUF stores a byte-level BPE tokenizer as `tokenizer.ggml.tokens` (id → token string, in the
//! byte-to-unicode alphabet), `tokenizer.ggml.merges` ("left right" strings, by priority),
//! `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte)
//! and the pre-tokenizer's name in `tokenizer.ggml.pre`. The regexes are not stored, so each known
//! pre-tokenizer name maps to the Hugging Face pipeline it came from.
use super::reader::GgufFile;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value as Json};

/// Token types from llama.cpp's `llama_token_type`.
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// The Qwen2 pre-tokenizer's split regex (from Qwen2's upstream tokenizer.json).
pub const QWEN2_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer pieces read from a GGUF file.
pub struct GgufVocab<'a> {
    pub tokens: Vec<&'a str>,
    pub token_types: Vec<i64>,
    pub merges: Vec<&'a str>,
    pub pre: String,
    pub bos_id: Option<u64>,
    pub eos_id: Option<u64>,
    pub pad_id: Option<u64>,
    pub add_bos: bool,
    pub chat_template: Option<&'a str>,
}

impl<'a> GgufVocab<'a> {
    /// Read and check the tokenizer metadata of `f`.
    pub fn read(f: &'a GgufFile) -> Result<Self> {
        let file = f.path().display();
        let model = f.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            bail!(
                "{file}: tokenizer model {model:?} is not supported; only byte-level BPE (\"gpt2\") can be rebuilt"
            );
        }
        let tokens = f.get_str_array("tokenizer.ggml.tokens")?;
        let merges = f.get_str_array("tokenizer.ggml.merges")?;
        let token_types = match f.opt_i64_array("tokenizer.ggml.token_type")? {
            Some(t) if t.len() != tokens.len() => bail!(
                "{file}: tokenizer.ggml.token_type has {} entries but there are {} tokens",
                t.len(),
                tokens.len()
            ),
            Some(t) => t,
            None => vec![1; tokens.len()],
        };
        let pre = f
            .opt_str("tokenizer.ggml.pre")?
            .unwrap_or("default")
            .to_string();
        let id = |key: &str| -> Result<Option<u64>> {
            match f.opt_u64(key)? {
                Some(i) if i as usize >= tokens.len() => {
                    bail!(
                        "{file}: {key} = {i} is outside the vocabulary of {} tokens",
                        tokens.len()
                    )
                }
                other => Ok(other),
            }
        };
        Ok(Self {
            bos_id: id("tokenizer.ggml.bos_token_id")?,
            eos_id: id("tokenizer.ggml.eos_token_id")?,
            pad_id: id("tokenizer.ggml.padding_token_id")?,
            add_bos: f.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
            chat_template: f.opt_str("tokenizer.chat_template")?,
            tokens,
            token_types,
            merges,
            pre,
        })
    }

    fn token(&self, id: Option<u64>) -> Option<&str> {
        id.map(|i| self.tokens[i as usize])
    }

    /// The normaliser and pre-tokenizer for the GGUF pre-tokenizer name.
    fn pipeline(&self) -> Result<(Json, Json)> {
        let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
        Ok(match self.pre.as_str() {
            "smollm" => (
                Json::Null,
                json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Digits", "individual_digits": true},
                    byte_level(true),
                ]}),
            ),
            "qwen2" => (
                json!({"type": "NFC"}),
                json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_REGEX}, "behavior": "Isolated", "invert": false},
                    byte_level(false),
                ]}),
            ),
            "gpt-2" => (Json::Null, byte_level(true)),
            other => bail!(
                "pre-tokenizer {other:?} (tokenizer.ggml.pre) is not supported; known: smollm, qwen2, gpt-2"
            ),
        })
    }

    /// Added tokens: control tokens are special, user-defined ones are not.
    fn added_tokens(&self) -> Vec<Json> {
        self.token_types
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_USER_DEFINED)
            .map(|(id, &t)| {
                json!({
                    "id": id,
                    "content": self.tokens[id],
                    "single_word": false,
                    "lstrip": false,
                    "rstrip": false,
                    "normalized": false,
                    "special": t == TOKEN_TYPE_CONTROL,
                })
            })
            .collect()
    }

    /// The post-processor: prepend BOS when the GGUF asks for it, else byte-level passthrough.
    fn post_processor(&self) -> Json {
        match (self.add_bos, self.token(self.bos_id)) {
            (true, Some(bos)) => {
                let bos_id = self.bos_id.unwrap_or_default();
                json!({
                    "type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [
                        {"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}},
                    ],
                    "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
                })
            }
            _ => {
                json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true})
            }
        }
    }

    /// The full `tokenizer.json` document, checked by loading it with the `tokenizers` crate.
    pub fn tokenizer_json(&self) -> Result<String> {
        let (normalizer, pre_tokenizer) = self.pipeline()?;
        let mut vocab = Map::new();
        for (id, tok) in self.tokens.iter().enumerate() {
            // A duplicated token string can only map to one id; the first one wins as in llama.cpp.
            vocab.entry(tok.to_string()).or_insert(json!(id));
        }
        let merges = self
            .merges
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (a, b) = m.split_once(' ').ok_or_else(|| {
                    anyhow!("tokenizer.ggml.merges[{i}] = {m:?} is not \"left right\"")
                })?;
                Ok(json!([a, b]))
            })
            .collect::<Result<Vec<_>>>()?;
        let doc = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": self.added_tokens(),
            "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": self.post_processor(),
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": false,
                "vocab": vocab,
                "merges": merges,
            },
        });
        let text = serde_json::to_string(&doc)?;
        text.parse::<tokenizers::Tokenizer>()
            .map_err(|e| anyhow!("the rebuilt tokenizer.json does not load: {e}"))
            .context("rebuilding tokenizer.json from the GGUF vocabulary")?;
        Ok(text)
    }

    /// `tokenizer_config.json`: special tokens, BOS policy and the chat template.
    pub fn tokenizer_config_json(&self, model_max_length: Option<u64>) -> Result<String> {
        let mut decoder = Map::new();
        for t in self.added_tokens() {
            let id = t["id"].to_string();
            let mut entry = t;
            if let Some(o) = entry.as_object_mut() {
                o.remove("id");
            }
            decoder.insert(id, entry);
        }
        let mut cfg = json!({
            "add_bos_token": self.add_bos,
            "add_eos_token": false,
            "added_tokens_decoder": decoder,
            "bos_token": self.token(self.bos_id),
            "eos_token": self.token(self.eos_id),
            "pad_token": self.token(self.pad_id),
            "unk_token": null,
            "clean_up_tokenization_spaces": false,
            "tokenizer_class": "PreTrainedTokenizerFast",
        });
        if let Some(o) = cfg.as_object_mut() {
            if let Some(t) = self.chat_template {
                o.insert("chat_template".into(), json!(t));
            }
            if let Some(n) = model_max_length {
                o.insert("model_max_length".into(), json!(n));
            }
        }
        Ok(serde_json::to_string_pretty(&cfg)?)
    }
}
