//! rlvr: reinforcement learning with verifiable rewards on language-model reasoning.
//!
//! Layering (bottom to top): `tensor` + `backend` (CPU reference, CUDA) → `autograd` →
//! `model` → `generate` / `rl` / `eval` / `analysis`. Kernels know nothing of models; the model
//! knows nothing of RL; the trainer talks to the model only through the autograd/tensor API.

pub mod analysis;
pub mod autograd;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod data;
pub mod demo;
pub mod dist;
pub mod eval;
pub mod generate;
pub mod model;
pub mod optim;
pub mod rl;
pub mod rng;
pub mod tensor;
pub mod tokenizer;
pub mod util;
pub mod verify;
