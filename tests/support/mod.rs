//! What the tests share: a writer for GGUF files, ggml quantisers written from the block
//! definitions, tiny llama / qwen2 models built with both, a tiny verl-style parquet file, and
//! the checks the reliability tests make on what a command left behind.
#![allow(dead_code)]
pub mod gguf_writer;
pub mod outputs;
pub mod quantize;
pub mod tiny_gguf;
pub mod tiny_parquet;
