//! Token level: one next-token distribution (a row of logits) before and after a step.
//!
//! The logit gradient is the one the trainer backpropagates: `row_grad_in_place` with the
//! per-token coefficients (g_lp on log π(y), g_H on the entropy), i.e.
//! ∂L/∂z_v = (g_lp·(1[v=y] − p_v) − g_H·p_v·(log p_v + H))/τ. Gradient descent moves the logits
//! along d = −∂L/∂z. Without the entropy term, d_v = g_lp·p_v/τ for every v ≠ y: the
//! alternatives move in proportion to their probability (the paper's gradient analysis), upward under
//! NSR (g_lp > 0), downward under PSR (g_lp < 0).
use crate::backend::cpu::logprob::{row_grad_in_place, row_stats};
use serde::Serialize;

/// ∂L/∂z of one row (see module docs).
pub fn logit_grad(z: &[f32], target: usize, inv_temp: f32, g_lp: f32, g_h: f32) -> Vec<f32> {
    let (_, h, lse) = row_stats(z, target, inv_temp);
    let mut g = z.to_vec();
    row_grad_in_place(&mut g, target, inv_temp, lse, h, g_lp, g_h);
    g
}

/// Softmax of z/τ in f64.
pub fn softmax(z: &[f32], inv_temp: f32) -> Vec<f64> {
    let it = inv_temp as f64;
    let m = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64 * it));
    let e: Vec<f64> = z.iter().map(|&x| (x as f64 * it - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

pub fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.ln())
        .sum::<f64>()
}

/// Least squares y ≈ a + b·x: (slope b, Pearson correlation). NaN when x or y is constant.
pub fn fit(xs: impl Iterator<Item = (f64, f64)> + Clone) -> (f64, f64) {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.clone() {
        n += 1.0;
        sx += x;
        sy += y;
    }
    if n < 2.0 {
        return (f64::NAN, f64::NAN);
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (x, y) in xs {
        let (dx, dy) = (x - mx, y - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { f64::NAN };
    let corr = if sxx > 0.0 && syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        f64::NAN
    };
    (slope, corr)
}

/// y ≈ b·x through the origin: (b, uncentred correlation Σxy/√(Σx²Σy²)).
pub fn fit_origin(xs: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (x, y) in xs {
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { f64::NAN };
    let corr = if sxx > 0.0 && syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        f64::NAN
    };
    (slope, corr)
}

/// First-order change of p = softmax(z/τ) for a logit change dz:
/// Δp_v = p_v(dz_v − Σ_u p_u dz_u)/τ.
pub fn first_order_dp(p: &[f64], dz: &[f64], inv_temp: f32) -> Vec<f64> {
    let mean: f64 = p.iter().zip(dz).map(|(a, b)| a * b).sum();
    p.iter()
        .zip(dz)
        .map(|(&pv, &d)| pv * (d - mean) * inv_temp as f64)
        .collect()
}

/// Log2 rank bucket of a 0-based rank: rank 0 → 0, ranks 1–2 → 1, 3–6 → 2, …
pub fn rank_bucket(rank: usize) -> usize {
    (usize::BITS - (rank + 1).leading_zeros() - 1) as usize
}

pub fn n_rank_buckets(vocab: usize) -> usize {
    rank_bucket(vocab.saturating_sub(1)) + 1
}

/// The distribution of one row before any step, shared by every objective.
pub struct RowPrior {
    pub target: usize,
    pub inv_temp: f32,
    pub p: Vec<f64>,
    pub entropy: f64,
    /// Token ids by descending probability.
    pub order: Vec<u32>,
    /// rank[v] = position of v in `order`.
    pub rank: Vec<u32>,
    /// The `top_k` most probable tokens other than the target.
    pub topk: Vec<u32>,
}

impl RowPrior {
    pub fn new(z: &[f32], target: usize, inv_temp: f32, top_k: usize) -> RowPrior {
        let p = softmax(z, inv_temp);
        let mut order: Vec<u32> = (0..z.len() as u32).collect();
        order.sort_by(|&a, &b| p[b as usize].total_cmp(&p[a as usize]).then(a.cmp(&b)));
        let mut rank = vec![0u32; z.len()];
        for (r, &v) in order.iter().enumerate() {
            rank[v as usize] = r as u32;
        }
        let topk = order
            .iter()
            .copied()
            .filter(|&v| v as usize != target)
            .take(top_k)
            .collect();
        RowPrior {
            target,
            inv_temp,
            entropy: entropy(&p),
            p,
            order,
            rank,
            topk,
        }
    }

    pub fn p_target(&self) -> f64 {
        self.p[self.target]
    }
}

/// What one objective does to one row: its exact logit gradient, and (after a step) how the
/// distribution actually moved.
#[derive(Clone, Debug, Serialize)]
pub struct RowMeasure {
    /// g_lp: ∂L/∂log π(y) (the trainer's per-token coefficient).
    pub coef: f32,
    /// ∂L/∂z_y of the sampled token.
    pub grad_sampled: f32,
    /// Σ_{v≠y} |∂L/∂z_v|.
    pub grad_rest_l1: f64,
    /// ∂L/∂z of the top-k alternatives (in `RowPrior::topk` order).
    pub grad_topk: Vec<f32>,
    /// Fit of the descent direction −∂L/∂z_v on p_v over v ≠ y. Eq. 7–8: slope = g_lp/τ; the
    /// correlation is taken with the predicted direction g_lp·p_v (so 1 means "exactly as
    /// predicted" for PSR and NSR alike; NaN when g_lp = 0).
    pub logit_slope: f64,
    pub logit_corr: f64,
    pub after: Option<AfterStep>,
}

/// How the row moved after one optimizer step.
#[derive(Clone, Debug, Serialize)]
pub struct AfterStep {
    pub p_sampled: f64,
    pub dp_sampled: f64,
    pub dlogp_sampled: f64,
    /// Net change of the probability mass of the top-k alternatives, and of all others.
    pub dp_topk: f64,
    pub dp_rest: f64,
    /// Σ max(Δp, 0) split by where the gained mass went.
    pub gain_sampled: f64,
    pub gain_topk: f64,
    pub gain_rest: f64,
    pub entropy: f64,
    /// Fit of the actual logit change Δz_v on p_v over v ≠ y (the intercept absorbs the free
    /// shift of the logits); the slope is raw, the correlation is with the Eq. 7–8 direction
    /// g_lp·p_v as for `logit_corr`.
    pub dz_slope: f64,
    pub dz_corr: f64,
    /// Fit (through the origin) of the actual Δp on the first-order prediction from the
    /// descent direction: the slope is the effective step size in logit space.
    pub dp_pred_slope: f64,
    pub dp_pred_corr: f64,
    /// Net Δp of the non-sampled tokens by log2 rank bucket of their prior rank.
    #[serde(skip)]
    pub dp_by_rank: Vec<f64>,
}

/// Measure one objective on one row. `z` are the logits the prior was computed from;
/// `z_after` the logits after the step, if a step was taken.
pub fn measure_row(
    prior: &RowPrior,
    z: &[f32],
    z_after: Option<&[f32]>,
    g_lp: f32,
    g_h: f32,
) -> RowMeasure {
    let y = prior.target;
    let grad = logit_grad(z, y, prior.inv_temp, g_lp, g_h);
    let grad_rest_l1 = grad
        .iter()
        .enumerate()
        .filter(|&(v, _)| v != y)
        .map(|(_, g)| g.abs() as f64)
        .sum();
    let others = || {
        prior
            .p
            .iter()
            .zip(&grad)
            .enumerate()
            .filter(move |&(v, _)| v != y)
            .map(|(_, (&p, &g))| (p, -(g as f64)))
    };
    let (logit_slope, corr) = fit(others());
    let sign = coef_sign(g_lp);
    let after = z_after.map(|za| after_step(prior, z, za, &grad, sign));
    RowMeasure {
        coef: g_lp,
        grad_sampled: grad[y],
        grad_rest_l1,
        grad_topk: prior.topk.iter().map(|&v| grad[v as usize]).collect(),
        logit_slope,
        logit_corr: corr * sign,
        after,
    }
}

/// ±1 by the sign of the coefficient; NaN when it is 0 (no Eq. 7–8 direction to compare with).
fn coef_sign(g_lp: f32) -> f64 {
    if g_lp == 0.0 {
        f64::NAN
    } else {
        (g_lp as f64).signum()
    }
}

fn after_step(prior: &RowPrior, z: &[f32], za: &[f32], grad: &[f32], sign: f64) -> AfterStep {
    let y = prior.target;
    let pa = softmax(za, prior.inv_temp);
    let dp: Vec<f64> = pa.iter().zip(&prior.p).map(|(a, b)| a - b).collect();
    let mut in_topk = vec![false; z.len()];
    for &v in &prior.topk {
        in_topk[v as usize] = true;
    }
    let (mut dp_topk, mut dp_rest, mut gain_topk, mut gain_rest) = (0.0, 0.0, 0.0, 0.0);
    let mut dp_by_rank = vec![0.0; n_rank_buckets(z.len())];
    for (v, &d) in dp.iter().enumerate() {
        if v == y {
            continue;
        }
        dp_by_rank[rank_bucket(prior.rank[v] as usize)] += d;
        if in_topk[v] {
            dp_topk += d;
            gain_topk += d.max(0.0);
        } else {
            dp_rest += d;
            gain_rest += d.max(0.0);
        }
    }
    let dz: Vec<f64> = za.iter().zip(z).map(|(a, b)| (a - b) as f64).collect();
    let others = || {
        prior
            .p
            .iter()
            .zip(&dz)
            .enumerate()
            .filter(move |&(v, _)| v != y)
            .map(|(_, (&p, &d))| (p, d))
    };
    let (dz_slope, dz_corr) = fit(others());
    let descent: Vec<f64> = grad.iter().map(|&g| -(g as f64)).collect();
    let pred = first_order_dp(&prior.p, &descent, prior.inv_temp);
    let (dp_pred_slope, dp_pred_corr) = fit_origin(pred.iter().copied().zip(dp.iter().copied()));
    AfterStep {
        p_sampled: pa[y],
        dp_sampled: dp[y],
        dlogp_sampled: pa[y].ln() - prior.p[y].ln(),
        dp_topk,
        dp_rest,
        gain_sampled: dp[y].max(0.0),
        gain_topk,
        gain_rest,
        entropy: entropy(&pa),
        dz_slope,
        dz_corr: dz_corr * sign,
        dp_pred_slope,
        dp_pred_corr,
        dp_by_rank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_buckets_are_log2() {
        assert_eq!(rank_bucket(0), 0);
        assert_eq!(rank_bucket(1), 1);
        assert_eq!(rank_bucket(2), 1);
        assert_eq!(rank_bucket(3), 2);
        assert_eq!(rank_bucket(6), 2);
        assert_eq!(rank_bucket(7), 3);
        assert_eq!(n_rank_buckets(8), 4);
        assert_eq!(n_rank_buckets(1), 1);
    }

    #[test]
    fn fits_recover_lines() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 - 2.0 * i as f64)).collect();
        let (b, r) = fit(pts.iter().copied());
        assert!((b + 2.0).abs() < 1e-12 && (r + 1.0).abs() < 1e-12);
        let (b, r) = fit_origin(pts.iter().map(|&(x, _)| (x, 0.5 * x)));
        assert!((b - 0.5).abs() < 1e-12 && (r - 1.0).abs() < 1e-12);
        assert!(fit([(1.0, 1.0), (1.0, 2.0)].into_iter()).0.is_nan());
    }
}
