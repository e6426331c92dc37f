//! Compute backends: `cpu` (the f32 reference and embedded default), `cuda` and `emu` (the CUDA
//! kernels run on the host by the execution-model emulator).
pub mod cpu;
pub mod cuda;
pub mod emu;
