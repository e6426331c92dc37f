//! The paper's gradient analysis on a single next-token distribution: the logit gradient of PSR / NSR is exactly
//! Eq. 7–8 (divided by π(y), the code's surrogate), and a small step taken directly on the logits
//! (a logit-parameterised toy) moves the probabilities as the first-order formula predicts.
use rlvr::analysis::token::{first_order_dp, logit_grad, measure_row, softmax, RowPrior};
use rlvr::rng::SplitMix64;

fn logits(v: usize, seed: u64) -> Vec<f32> {
    let mut r = SplitMix64(seed);
    (0..v).map(|_| (r.normal() * 2.0) as f32).collect()
}

/// The coefficient g_lp = ∂L/∂log π(y) of a token in a batch of `n` kept tokens, advantage `a`.
fn coef(a: f32, n: usize) -> f32 {
    -a / n as f32
}

#[test]
fn logit_gradient_is_eq_7_8_to_float_precision() {
    for (seed, tau) in [(1u64, 1.0f32), (2, 0.7), (3, 1.3)] {
        let z = logits(50, seed);
        let y = 7;
        let p = softmax(&z, 1.0 / tau);
        for (name, adv) in [("psr", 1.0f32), ("nsr", -1.0)] {
            let c = coef(adv, 13);
            let g = logit_grad(&z, y, 1.0 / tau, c, 0.0);
            // ∂L/∂z_y = c(1 − π_y)/τ and ∂L/∂z_v = −c·π_v/τ (v ≠ y): descent lowers the sampled
            // logit by (1 − π_y)·c/τ and raises the others by π_v·c/τ under NSR (c = +1/N > 0),
            // and the reverse under PSR (c = −1/N).
            let expect_y = c as f64 * (1.0 - p[y]) / tau as f64;
            assert!(
                (g[y] as f64 - expect_y).abs() < 1e-6 * expect_y.abs().max(1e-3),
                "{name} τ={tau}: sampled {} vs {expect_y}",
                g[y]
            );
            for v in (0..50).filter(|&v| v != y) {
                let expect = -(c as f64) * p[v] / tau as f64;
                assert!(
                    (g[v] as f64 - expect).abs() <= 1e-6 * expect.abs() + 1e-12,
                    "{name} τ={tau} v={v}: {} vs {expect}",
                    g[v]
                );
            }
            // Direction: NSR lowers the sampled logit and raises every alternative.
            let descent_y = -g[y];
            if name == "nsr" {
                assert!(descent_y < 0.0 && g.iter().enumerate().all(|(v, &x)| v == y || x < 0.0));
            } else {
                assert!(descent_y > 0.0 && g.iter().enumerate().all(|(v, &x)| v == y || x > 0.0));
            }
            // The fit the report uses: descent of the alternatives ∝ π_v with slope c/τ, corr 1.
            let prior = RowPrior::new(&z, y, 1.0 / tau, 5);
            let m = measure_row(&prior, &z, None, c, 0.0);
            assert!(((m.logit_slope * tau as f64) / c as f64 - 1.0).abs() < 1e-5);
            assert!((m.logit_corr - 1.0).abs() < 1e-9, "{}", m.logit_corr);
            assert!((m.grad_rest_l1 - c.abs() as f64 * (1.0 - p[y]) / tau as f64).abs() < 1e-6);
        }
    }
}

#[test]
fn entropy_term_breaks_proportionality_as_app_a_says() {
    // ∂H/∂z_v = −π_v(log π_v + H): with an entropy bonus the alternatives no longer move in
    // proportion to π_v, and the correlation drops below 1.
    let z = logits(40, 9);
    let prior = RowPrior::new(&z, 3, 1.0, 5);
    let m = measure_row(&prior, &z, None, 1.0 / 10.0, -0.05);
    assert!(m.logit_corr < 0.999, "{}", m.logit_corr);
}

#[test]
fn logit_parameterised_step_matches_first_order_prediction() {
    let z = logits(64, 4);
    let y = 11;
    for adv in [1.0f32, -1.0] {
        let c = coef(adv, 1);
        for lr in [1e-2f32, 1e-3] {
            let g = logit_grad(&z, y, 1.0, c, 0.0);
            let za: Vec<f32> = z.iter().zip(&g).map(|(a, b)| a - lr * b).collect();
            let prior = RowPrior::new(&z, y, 1.0, 5);
            let m = measure_row(&prior, &z, Some(&za), c, 0.0);
            let a = m.after.unwrap();
            // Δp = J·Δz + O(lr²): the fitted slope is the step size, the correlation ~1.
            assert!(
                (a.dp_pred_slope / lr as f64 - 1.0).abs() < 20.0 * lr as f64,
                "slope {}",
                a.dp_pred_slope
            );
            assert!(
                a.dp_pred_corr > 1.0 - 10.0 * lr as f64,
                "corr {}",
                a.dp_pred_corr
            );
            // The logits moved exactly along the gradient: Δz_v = lr·c·π_v for v ≠ y.
            assert!(
                (a.dz_slope / (lr as f64 * c as f64) - 1.0).abs() < 1e-2,
                "dz slope {}",
                a.dz_slope
            );
            assert!(a.dz_corr > 0.9999);
            // Per token, the change agrees with the analytic first-order Δp within O(lr²).
            let p = softmax(&z, 1.0);
            let d: Vec<f64> = g.iter().map(|&x| -(lr as f64) * x as f64).collect();
            let pred = first_order_dp(&p, &d, 1.0);
            let pa = softmax(&za, 1.0);
            let scale = pred.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            for v in 0..64 {
                assert!(
                    (pa[v] - p[v] - pred[v]).abs() < 20.0 * lr as f64 * scale,
                    "v={v}"
                );
            }
            // PSR raises the sampled token, NSR lowers it; the mass moves to/from the others.
            if adv > 0.0 {
                assert!(a.dp_sampled > 0.0 && a.dp_topk + a.dp_rest < 0.0);
            } else {
                assert!(a.dp_sampled < 0.0 && a.dp_topk + a.dp_rest > 0.0);
                assert!(a.gain_sampled == 0.0);
            }
            assert!((a.dp_sampled + a.dp_topk + a.dp_rest).abs() < 1e-9);
        }
    }
}

#[test]
fn nsr_barely_moves_confident_tokens() {
    // The paper's first property of NSR: as π_y → 1 the NSR update vanishes like (1 − π_y).
    let mut z = logits(30, 5);
    z[2] = 12.0;
    let prior = RowPrior::new(&z, 2, 1.0, 5);
    assert!(prior.p_target() > 0.99);
    let m = measure_row(&prior, &z, None, 1.0, 0.0);
    assert!(m.grad_sampled.abs() < 0.01 && m.grad_rest_l1 < 0.01);
}
