//! Reinforcement learning: objectives and advantages, per-token loss coefficients, rollouts,
//! the policy and critic updates, and the trainer loop.
pub mod checkpoint;
pub mod config;
pub mod dp;
pub mod loss;
pub mod objective;
pub mod ppo;
pub mod rollout;
pub mod sft;
pub mod trainer;
pub mod update;

pub use config::TrainConfig;
pub use objective::{Objective, PsrNsrMode};
