//! CUDA backend: kernels from kernels/*.cu (fatbins embedded by build.rs), loaded with cudarc.
//!
//! `device` is the launcher interface shared with the host emulator (`backend::emu`); `launch`
//! holds one thin launcher per kernel, used by both devices; `reference` the f32 CPU references
//! the parity checks compare against.
pub mod attention;
pub mod attention_parity;
pub mod bias;
pub mod comm;
pub mod detect;
pub mod device;
pub mod fill;
pub mod gpu;
pub mod kernels;
pub mod launch;
pub mod logprob;
pub mod model;
pub mod parity;
pub mod parity_devmodel;
pub mod parity_lmhead;
pub mod reference;
pub mod rng;
pub mod sampling;
pub mod sum_parts;
