//! Generation: sampling and the batched, KV-cached rollout engine.
pub mod engine;
pub mod prompts;
pub mod sampler;
pub mod sampling;
