//! Range checks of a training configuration, run when it is loaded: every number that would
//! train without complaint but mean nothing (a negative learning rate, β₁ ≥ 1, a NaN λ, zero
//! response tokens) is an error naming the key and the allowed range.
use super::config::TrainConfig;
use crate::util::limits::{MAX_SAMPLES_PER_PROMPT, MAX_TOTAL_SEQUENCES};
use anyhow::{bail, Result};

/// An allowed range of a real-valued key.
#[derive(Clone, Copy)]
enum Range {
    /// (0, ∞)
    Positive,
    /// [0, ∞)
    NonNegative,
    /// [0, 1)
    UnitHalfOpen,
    /// (0, 1]
    UnitOpenClosed,
}

impl Range {
    fn holds(self, v: f32) -> bool {
        v.is_finite()
            && match self {
                Range::Positive => v > 0.0,
                Range::NonNegative => v >= 0.0,
                Range::UnitHalfOpen => (0.0..1.0).contains(&v),
                Range::UnitOpenClosed => v > 0.0 && v <= 1.0,
            }
    }

    fn text(self) -> &'static str {
        match self {
            Range::Positive => "a finite number > 0",
            Range::NonNegative => "a finite number >= 0",
            Range::UnitHalfOpen => "in [0, 1)",
            Range::UnitOpenClosed => "in (0, 1]",
        }
    }
}

fn real(key: &str, v: f32, r: Range) -> Result<()> {
    if !r.holds(v) {
        bail!("{key} must be {}, got {v}", r.text());
    }
    Ok(())
}

fn count(key: &str, v: usize, min: usize, max: usize) -> Result<()> {
    if !(min..=max).contains(&v) {
        bail!("{key} must be in {min}..={max}, got {v}");
    }
    Ok(())
}

/// Checks every numeric key of `c` against its range.
pub fn check_ranges(c: &TrainConfig) -> Result<()> {
    use Range::*;
    real("lr", c.lr, NonNegative)?;
    real("critic_lr", c.critic_lr, NonNegative)?;
    real("weight_decay", c.weight_decay, NonNegative)?;
    real("beta1", c.beta1, UnitHalfOpen)?;
    real("beta2", c.beta2, UnitHalfOpen)?;
    real("adam_eps", c.adam_eps, Positive)?;
    real("grad_clip", c.grad_clip, Positive)?;
    real("lambda", c.lambda, NonNegative)?;
    real("entropy_coef", c.entropy_coef, NonNegative)?;
    real("kl_coef", c.kl_coef, NonNegative)?;
    real("ppo_kl_coef", c.ppo_kl_coef, NonNegative)?;
    real("value_clip", c.value_clip, Positive)?;
    real("temperature", c.temperature, Positive)?;
    real("top_p", c.top_p, UnitOpenClosed)?;
    count("n", c.n, 1, MAX_SAMPLES_PER_PROMPT)?;
    count(
        "prompts_per_step",
        c.prompts_per_step,
        1,
        MAX_TOTAL_SEQUENCES,
    )?;
    if c.prompts_per_step.saturating_mul(c.n) > MAX_TOTAL_SEQUENCES {
        bail!(
            "prompts_per_step × n = {} × {} is more than {MAX_TOTAL_SEQUENCES} rollouts a step",
            c.prompts_per_step,
            c.n
        );
    }
    count("max_prompt_tokens", c.max_prompt_tokens, 1, usize::MAX)?;
    count("max_response_tokens", c.max_response_tokens, 1, usize::MAX)?;
    count(
        "max_tokens_per_micro_batch",
        c.max_tokens_per_micro_batch,
        1,
        usize::MAX,
    )?;
    count("rollout_batch", c.rollout_batch, 1, usize::MAX)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meaningless_settings_name_the_key_and_the_range() {
        let base = TrainConfig::default();
        check_ranges(&base).unwrap();
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    lr: -1e-3,
                    ..base.clone()
                },
                "lr must be a finite number >= 0, got -0.001",
            ),
            (
                TrainConfig {
                    beta1: 2.0,
                    ..base.clone()
                },
                "beta1 must be in [0, 1), got 2",
            ),
            (
                TrainConfig {
                    weight_decay: -5.0,
                    ..base.clone()
                },
                "weight_decay must be",
            ),
            (
                TrainConfig {
                    lambda: f32::NAN,
                    ..base.clone()
                },
                "lambda must be a finite number >= 0, got NaN",
            ),
            (
                TrainConfig {
                    grad_clip: f32::NAN,
                    ..base.clone()
                },
                "grad_clip must be a finite number > 0",
            ),
            (
                TrainConfig {
                    grad_clip: 0.0,
                    ..base.clone()
                },
                "grad_clip must be a finite number > 0, got 0",
            ),
            (
                TrainConfig {
                    max_response_tokens: 0,
                    ..base.clone()
                },
                "max_response_tokens must be in 1..=",
            ),
            (
                TrainConfig {
                    n: 100_000_000_000,
                    ..base.clone()
                },
                "n must be in 1..=65536, got 100000000000",
            ),
            (
                TrainConfig {
                    temperature: 0.0,
                    ..base.clone()
                },
                "temperature must be",
            ),
        ];
        for (c, want) in cases {
            let e = check_ranges(&c).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }
}
