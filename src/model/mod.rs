//! model
pub mod gguf;
