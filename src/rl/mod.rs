//! Reinforcement learning: objectives and advantages, per-token loss coefficients, the trainer.
pub mod loss;
pub mod objective;

pub use objective::{Objective, PsrNsrMode};
