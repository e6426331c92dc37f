//! Precision casts and the residual add, as the device runs them on bf16 activations.

/// Rounds to bf16 and back (round-to-nearest-even, as `__float2bfloat16`).
pub fn round_bf16(x: f32) -> f32 {
    half::bf16::from_f32(x).to_f32()
}

/// a + b element-wise.
pub fn residual_add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}
