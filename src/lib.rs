//! rlvr: reinforcement learning with verifiable rewards on language-model reasoning.
//!
//! # Layers
//!
//! Modules form the layers of [`LAYERS`], bottom to top. A module uses its own layer's code and
//! the layers below it, never a layer above, and modules that share a layer do not use each other
//! (`tests/layering.rs` checks every `crate::` and `super::` path in `src/`):
//!
//! 1. `util`, `rng`, `tensor`, `tokenizer`, `verify`: leaves that need nothing else;
//! 2. `data`: task data (verl parquet/JSONL, synthetic tasks);
//! 3. `backend`: the ops — CPU (`backend::cpu`, the f32 reference and embedded default), the CUDA
//!    kernel launchers (`backend::cuda`) and the host emulator of the kernels (`backend::emu`);
//! 4. `dist`: collectives between ranks, over host memory or device buffers;
//! 5. `autograd`: the tape over the CPU ops;
//! 6. `model`: the Llama/Qwen family on the tape, its weights and GGUF import;
//! 7. `optim`: AdamW, gradient clipping, ZeRO-1 partitioning;
//! 8. `backend::cuda::model`: the same model resident on a kernel device (it lives beside the
//!    launchers it orchestrates but is built on `model`'s configuration and batch types);
//! 9. `backend::cuda::selftest`: every kernel, and the device model, against the CPU ops and
//!    the CPU model;
//! 10. `generate`: the rollout engine on the CPU model or the device model;
//! 11. `eval`, `rl`: Pass@k evaluation; the RL objectives, trainer and SFT;
//! 12. `analysis`: the analyses of trained checkpoints;
//! 13. `bench`, `demo`: benchmarks, and the end-to-end demo;
//! 14. `cli`: one file per subcommand.
//!
//! Kernels know nothing of models; the model knows nothing of RL; the trainer talks to the model
//! only through the autograd/tensor API (CPU) or the device model's interface.

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

/// The layers of the crate, bottom to top, as module paths (a module belongs to the layer of the
/// longest path that contains it). See the crate documentation.
pub const LAYERS: &[&[&str]] = &[
    &["util", "rng", "tensor", "tokenizer", "verify"],
    &["data"],
    &["backend"],
    &["dist"],
    &["autograd"],
    &["model"],
    &["optim"],
    &["backend::cuda::model"],
    &["backend::cuda::selftest"],
    &["generate"],
    &["eval", "rl"],
    &["analysis"],
    &["bench", "demo"],
    &["cli"],
];
