//! Element-wise helpers that are not worth a file of their own.

/// Add a bias row to every row of `x` ([rows, cols]).
pub fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    for row in x.chunks_mut(cols) {
        for (a, b) in row.iter_mut().zip(bias) {
            *a += b;
        }
    }
}

/// Column sums of `x` ([rows, cols]) in row order (deterministic), accumulated in f64.
pub fn sum_rows(x: &[f32], cols: usize) -> Vec<f32> {
    let mut acc = vec![0.0f64; cols];
    for row in x.chunks(cols) {
        for (a, &b) in acc.iter_mut().zip(row) {
            *a += b as f64;
        }
    }
    acc.into_iter().map(|v| v as f32).collect()
}
