//! AdamW with f32 master weights and moments, global-norm gradient clipping.
pub mod adamw;
pub use adamw::{clip_grad_norm, AdamW, AdamWConfig};
