//! SwiGLU: `silu(gate) · up`.
use rayon::prelude::*;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `silu(g)·u` of one element (the forward's arithmetic, shared with generation).
#[inline(always)]
pub fn swiglu_one(g: f32, u: f32) -> f32 {
    g * sigmoid(g) * u
}

pub fn swiglu_fwd(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.par_iter()
        .zip(up.par_iter())
        .map(|(&g, &u)| swiglu_one(g, u))
        .collect()
}

/// Returns (d_gate, d_up).
pub fn swiglu_bwd(dy: &[f32], gate: &[f32], up: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let pairs: Vec<(f32, f32)> = dy
        .par_iter()
        .zip(gate.par_iter())
        .zip(up.par_iter())
        .map(|((&d, &g), &u)| {
            let s = sigmoid(g);
            let silu = g * s;
            (d * u * s * (1.0 + g * (1.0 - s)), d * silu)
        })
        .collect();
    pairs.into_iter().unzip()
}
