//! Rotary position embedding in the Hugging Face "rotate_half" layout: within each head, element
//! i pairs with element i + D/2 and both rotate by `pos · inv_freq[i]`.
use rayon::prelude::*;

/// cos/sin tables [n_tokens, D/2] for the given positions. Angles are formed in f64 from the f32
/// inverse frequencies (as HF stores them), so CPU and the f64 golden references agree closely.
pub fn rope_tables(positions: &[u32], inv_freq: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let half = inv_freq.len();
    let mut cos = vec![0.0f32; positions.len() * half];
    let mut sin = vec![0.0f32; positions.len() * half];
    for (t, &p) in positions.iter().enumerate() {
        for (i, &f) in inv_freq.iter().enumerate() {
            let a = p as f64 * f as f64;
            cos[t * half + i] = a.cos() as f32;
            sin[t * half + i] = a.sin() as f32;
        }
    }
    (cos, sin)
}

/// Rotate x ([n_tokens, n_heads·D]) in place; `inverse` rotates by −angle (the backward).
pub fn rope_apply(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
    inverse: bool,
) {
    let half = head_dim / 2;
    let row = n_heads * head_dim;
    x.par_chunks_mut(row).enumerate().for_each(|(t, xr)| {
        let c = &cos[t * half..(t + 1) * half];
        let s = &sin[t * half..(t + 1) * half];
        for h in xr.chunks_mut(head_dim) {
            for i in 0..half {
                let (a, b) = (h[i], h[i + half]);
                let sn = if inverse { -s[i] } else { s[i] };
                h[i] = a * c[i] - b * sn;
                h[i + half] = b * c[i] + a * sn;
            }
        }
    });
}
