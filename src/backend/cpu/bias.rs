//! The bias of a linear layer: its add to every row and its gradient (a column sum).

/// Adds the bias row to every row of `x` ([rows, bias.len()]) in place.
pub fn bias_add(x: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    for row in x.chunks_mut(cols) {
        for (a, b) in row.iter_mut().zip(bias) {
            *a += b;
        }
    }
}

/// Column sums of `x` ([rows, cols]) in row order (deterministic), accumulated in f64: the
/// gradient of a bias.
pub fn colsum(x: &[f32], cols: usize) -> Vec<f32> {
    let mut acc = vec![0.0f64; cols];
    for row in x.chunks(cols) {
        for (a, &b) in acc.iter_mut().zip(row) {
            *a += b as f64;
        }
    }
    acc.into_iter().map(|v| v as f32).collect()
}
