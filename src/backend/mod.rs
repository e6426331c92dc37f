//! Compute backends: `cpu` (the f32 reference and embedded default) and `cuda`.
pub mod cpu;
pub mod cuda;
