//! Row softmax and log-softmax, with f64 sums (the training path computes log-probabilities
//! through `logprob` instead; this is the plain op of kernels/softmax.cu).

/// Softmax (or log-softmax when `log`) over each row of `cols` values.
pub fn softmax(x: &[f32], cols: usize, log: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        out.extend(row.iter().map(|&v| {
            let z = v as f64 - m;
            (if log { z - s.ln() } else { z.exp() / s }) as f32
        }));
    }
    out
}
