//! GGUF import: read llama.cpp's GGUF files (v2/v3), dequantise their tensors to f32, and write a
//! Hugging Face model directory (config.json, model.safetensors, tokenizer.json) that the rest of
//! rlvr loads like any other checkpoint. The tensor-name mapping is in `tensor_map`.
pub mod dequant;
pub mod ggml_type;
pub mod hf_config;
pub mod reader;
pub mod tensor_map;
pub mod to_hf;
pub mod tokenizer_json;
pub mod value;

pub use ggml_type::GgmlType;
pub use reader::{GgufFile, TensorInfo};
pub use to_hf::{convert_gguf, ConvertSummary, OutDtype};
pub use value::Value;
