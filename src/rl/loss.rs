//! Per-token loss coefficients: the gradient of the micro-batch loss with respect to each
//! response token's log-prob and entropy. The fused log-prob op folds these into the logits
//! gradient chunk by chunk, so the loss never needs a [T, V] tensor.
//!
//! Loss (token-mean over the `norm_tokens` valid tokens):
//!   L = (1/N) Σ_t max(−A_t r_t, −A_t clip(r_t, 1−ε, 1+ε)) − c_H (1/N) Σ_t H_t + c_KL (1/N) Σ_t k3_t
//! with r_t = exp(logπ_θ − logπ_old), k3 = exp(δ) − δ − 1, δ = logπ_ref − logπ_θ (clamped to ±10).
//!   ∂L/∂logπ_t = (1/N)(−A_t r_t · 1[unclipped branch active] + c_KL (1 − e^δ) · 1[|k3| < 10])
//!   ∂L/∂H_t = −c_H / N

#[derive(Clone, Debug, Default)]
pub struct TokenCoefficients {
    pub g_logp: Vec<f32>,
    pub g_entropy: Vec<f32>,
    /// Value of the loss (for logging), with the same normalisation.
    pub loss: f64,
    pub pg_loss: f64,
    pub clipped_tokens: usize,
    pub kl_sum: f64,
    /// Σ (logπ_old − logπ_θ), for approx-KL.
    pub ppo_kl_sum: f64,
}

pub struct LossInputs<'a> {
    pub advantages: &'a [f32],
    pub logp: &'a [f32],
    pub logp_old: &'a [f32],
    pub entropy: &'a [f32],
    /// Reference-policy log-probs for GRPO's k3 KL loss.
    pub logp_ref: Option<&'a [f32]>,
    pub clip_eps: f32,
    pub entropy_coef: f32,
    pub kl_coef: f32,
    /// Denominator of the token mean (valid tokens of the mini-batch).
    pub norm_tokens: f64,
    /// Extra factor on the whole loss (verl's short-mini-batch down-weighting).
    pub scale: f64,
}

pub fn token_coefficients(x: &LossInputs<'_>) -> TokenCoefficients {
    let n = x.advantages.len();
    let k = x.scale / x.norm_tokens.max(1.0);
    let mut c = TokenCoefficients {
        g_logp: vec![0.0; n],
        g_entropy: vec![0.0; n],
        ..Default::default()
    };
    for t in 0..n {
        let a = x.advantages[t] as f64;
        let d = (x.logp[t] - x.logp_old[t]) as f64;
        let r = d.exp();
        let rc = r.clamp(1.0 - x.clip_eps as f64, 1.0 + x.clip_eps as f64);
        let (l1, l2) = (-a * r, -a * rc);
        let pg = l1.max(l2);
        let mut g = if l1 >= l2 { -a * r } else { 0.0 };
        if l2 > l1 {
            c.clipped_tokens += 1;
        }
        c.pg_loss += pg;
        c.ppo_kl_sum += -d;
        let mut loss_t = pg - x.entropy_coef as f64 * x.entropy[t] as f64;
        if let Some(refl) = x.logp_ref {
            let delta = (refl[t] - x.logp[t]) as f64;
            let kl = delta.exp() - delta - 1.0;
            let klc = kl.clamp(-10.0, 10.0);
            if kl.abs() < 10.0 {
                g += x.kl_coef as f64 * (1.0 - delta.exp());
            }
            c.kl_sum += klc;
            loss_t += x.kl_coef as f64 * klc;
        }
        c.loss += loss_t;
        c.g_logp[t] = (g * k) as f32;
        c.g_entropy[t] = (-(x.entropy_coef as f64) * k) as f32;
    }
    c.loss *= k;
    c.pg_loss *= k;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(a: &'a [f32], lp: &'a [f32], old: &'a [f32], h: &'a [f32]) -> LossInputs<'a> {
        LossInputs {
            advantages: a,
            logp: lp,
            logp_old: old,
            entropy: h,
            logp_ref: None,
            clip_eps: 0.2,
            entropy_coef: 0.0,
            kl_coef: 0.0,
            norm_tokens: a.len() as f64,
            scale: 1.0,
        }
    }

    #[test]
    fn on_policy_gradient_is_minus_advantage_over_n() {
        let a = [1.0f32, -1.0, 0.1];
        let lp = [-0.5f32, -2.0, -1.0];
        let c = token_coefficients(&inputs(&a, &lp, &lp, &[0.0; 3]));
        for (g, a) in c.g_logp.iter().zip(&a) {
            assert!((g + a / 3.0).abs() < 1e-7);
        }
        assert_eq!(c.clipped_tokens, 0);
    }

    #[test]
    fn clipping_zeroes_gradient_only_on_the_clipped_side() {
        // A > 0 and r > 1.2: clipped. A < 0 and r < 0.8: clipped. Others: gradient −A r / N.
        let a = [1.0f32, 1.0, -1.0, -1.0];
        let old = [0.0f32; 4];
        let lp = [0.5f32, -0.5, -0.5, 0.5];
        let c = token_coefficients(&inputs(&a, &lp, &old, &[0.0; 4]));
        assert_eq!(c.g_logp[0], 0.0);
        assert!((c.g_logp[1] + (-0.5f64).exp() as f32 / 4.0).abs() < 1e-6);
        assert_eq!(c.g_logp[2], 0.0);
        assert!((c.g_logp[3] - (0.5f64).exp() as f32 / 4.0).abs() < 1e-6);
        assert_eq!(c.clipped_tokens, 2);
    }

    #[test]
    fn kl_and_entropy_terms_match_finite_differences() {
        let a = [0.7f32];
        let old = [-1.0f32];
        let refl = [-1.3f32];
        let h = [2.0f32];
        let f = |lp: f32| {
            let mut x = inputs(&a, &old, &old, &h);
            let lpa = [lp];
            x.logp = &lpa;
            x.logp_ref = Some(&refl);
            x.kl_coef = 0.5;
            x.entropy_coef = 0.01;
            token_coefficients(&x)
        };
        let lp = -0.9f32;
        let c = f(lp);
        let num = (f(lp + 1e-3).loss - f(lp - 1e-3).loss) / 2e-3;
        assert!(
            (c.g_logp[0] as f64 - num).abs() < 1e-4,
            "{} vs {num}",
            c.g_logp[0]
        );
        assert!((c.g_entropy[0] + 0.01).abs() < 1e-7);
    }
}
