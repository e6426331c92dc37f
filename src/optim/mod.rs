//! AdamW with f32 master weights and moments, global-norm gradient clipping, and ZeRO-1
//! sharding of the moments across data-parallel ranks.
pub mod adamw;
pub mod zero;
pub use adamw::{clip_coefficient, clip_grad_norm, global_norm, scale_grads, AdamW, AdamWConfig};
