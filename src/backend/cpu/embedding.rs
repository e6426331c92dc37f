//! Embedding lookup and its deterministic backward (rows added in token order).

pub fn embedding_fwd(table: &[f32], dim: usize, ids: &[u32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * dim);
    for &id in ids {
        let r = id as usize;
        out.extend_from_slice(&table[r * dim..(r + 1) * dim]);
    }
    out
}

/// Scatter-add `dy` rows into a zeroed [vocab, dim] gradient, in token order.
pub fn embedding_bwd(dy: &[f32], dim: usize, ids: &[u32], vocab: usize) -> Vec<f32> {
    let mut g = vec![0.0f32; vocab * dim];
    for (t, &id) in ids.iter().enumerate() {
        let r = id as usize;
        for (a, b) in g[r * dim..(r + 1) * dim]
            .iter_mut()
            .zip(&dy[t * dim..(t + 1) * dim])
        {
            *a += b;
        }
    }
    g
}
