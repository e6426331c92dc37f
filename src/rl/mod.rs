//! Reinforcement learning: objectives and advantages, per-token loss coefficients, rollouts, the
//! policy (CPU or device) and its update, the critic, and the trainer loop.
pub mod checkpoint;
pub mod config;
pub mod dp;
pub mod gradients;
pub mod loss;
pub mod metrics;
pub mod objective;
pub mod policy;
pub mod ppo;
pub mod prompts;
pub mod rollout;
pub mod run;
pub mod sft;
pub mod step;
pub mod trainer;
pub mod update;
pub mod validate;

pub use config::TrainConfig;
pub use objective::{Objective, ObjectiveKind, PsrNsrMode};
