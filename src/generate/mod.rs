//! Generation: the batched, KV-cached rollout engine on the CPU model and on the device model,
//! and the prompts they start from.
pub mod device;
pub mod engine;
pub mod prompts;
pub mod sampler;
/// Sampling parameters and the CPU sampler live with the CPU ops (`backend::cpu::sampling`):
/// they are also the reference of the device sampling kernel.
pub use crate::backend::cpu::sampling;
