//! What the GGUF tests share: a writer for GGUF files, ggml quantisers written from the block
//! definitions, and tiny llama / qwen2 models built with both.
#![allow(dead_code)]
pub mod gguf_writer;
pub mod quantize;
pub mod tiny_gguf;
