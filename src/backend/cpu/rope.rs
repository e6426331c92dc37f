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

/// The decode step's RoPE and KV append (the reference of `attn_decode_rope_append_bf16`): row b
/// of `q` [rows, Hq·D] rotates in place at position len − 1 of its cached sequence `seqs[b]` =
/// (first cache row, len), and row b of `k_new` (rotated) and of `v_new` [rows, Hkv·D] is written
/// to cache row first + len − 1 of `k_cache`/`v_cache` [N, Hkv·D].
#[allow(clippy::too_many_arguments)]
pub fn rope_append(
    q: &mut [f32],
    k_cache: &mut [f32],
    v_cache: &mut [f32],
    k_new: &[f32],
    v_new: &[f32],
    seqs: &[(usize, usize)],
    inv_freq: &[f32],
    n_q_heads: usize,
    n_kv_heads: usize,
) {
    let head_dim = inv_freq.len() * 2;
    let width = n_kv_heads * head_dim;
    let positions: Vec<u32> = seqs.iter().map(|&(_, len)| len as u32 - 1).collect();
    let (cos, sin) = rope_tables(&positions, inv_freq);
    rope_apply(q, n_q_heads, head_dim, &cos, &sin, false);
    let mut k = k_new.to_vec();
    rope_apply(&mut k, n_kv_heads, head_dim, &cos, &sin, false);
    for (b, &(start, len)) in seqs.iter().enumerate() {
        let row = (start + len - 1) * width;
        k_cache[row..row + width].copy_from_slice(&k[b * width..(b + 1) * width]);
        v_cache[row..row + width].copy_from_slice(&v_new[b * width..(b + 1) * width]);
    }
}
