//! CUDA backend: kernels from kernels/*.cu (fatbins embedded by build.rs), loaded with cudarc.
//!
//! `device` is the launcher interface shared with the host emulator (`backend::emu`); `launch`
//! the launch-configuration helpers the launchers share; `reference` the f32 CPU references
//! the parity checks compare against.
pub mod attention;
pub mod bias;
pub mod cast;
pub mod detect;
pub mod device;
pub mod embedding;
pub mod fill;
pub mod gemm;
pub mod gpu;
pub mod kernels;
pub mod launch;
pub mod logprob;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod optim;
pub mod reduce;
pub mod rope;
pub mod sampling;
pub mod selftest;
pub mod softmax;
pub mod sum_parts;
