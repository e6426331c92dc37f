//! What one RL step reports: a line of `metrics.jsonl`, keyed as verl names its metrics.
use super::rollout::Sample;
use super::update::UpdateStats;
use super::validate::Validation;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Metric keys that depend on wall-clock time (excluded when comparing runs).
pub const TIMING_KEYS: &[&str] = &[
    "time/rollout_s",
    "time/verify_s",
    "time/update_s",
    "time/step_s",
    "perf/tokens_per_s",
];

/// One step's metrics. Floats are f64 (f32 values widened), so the file prints every number the
/// same way.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepMetrics {
    pub step: usize,
    /// Greedy accuracy per data source, on validation steps.
    #[serde(flatten)]
    pub validation: ValidationMetrics,
    #[serde(flatten)]
    pub batch: BatchMetrics,
    /// Samples that take part in the update (PSR/NSR filter the others out).
    #[serde(rename = "batch/effective_samples")]
    pub effective_samples: usize,
    /// Absent when no sample was kept.
    #[serde(flatten)]
    pub update: Option<UpdateMetrics>,
    #[serde(flatten)]
    pub time: TimeMetrics,
}

/// The validation after the final step: a line with `step` = the number of steps and the
/// validation keys alone (the last step's line holds the validation before it).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ValidationLine {
    pub step: usize,
    #[serde(flatten)]
    pub validation: ValidationMetrics,
}

/// `val/{source}/accuracy` and `val/{source}/response_tokens` of each data source, in order.
#[derive(Clone, Debug, Default)]
pub struct ValidationMetrics(pub Vec<Validation>);

impl Serialize for ValidationMetrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2 * self.0.len()))?;
        for v in &self.0 {
            m.serialize_entry(&format!("val/{}/accuracy", v.source), &v.accuracy)?;
            m.serialize_entry(
                &format!("val/{}/response_tokens", v.source),
                &v.mean_response_tokens,
            )?;
        }
        m.end()
    }
}

/// The step's rollouts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BatchMetrics {
    /// Fraction of samples answered correctly.
    #[serde(rename = "reward/mean")]
    pub reward_mean: f64,
    #[serde(rename = "batch/correct")]
    pub correct: usize,
    #[serde(rename = "batch/incorrect")]
    pub incorrect: usize,
    /// Fraction of prompts whose every sample is correct.
    #[serde(rename = "batch/fully_solved_ratio")]
    pub fully_solved_ratio: f64,
    /// Fraction of prompts with no correct sample.
    #[serde(rename = "batch/fully_unsolved_ratio")]
    pub fully_unsolved_ratio: f64,
    #[serde(rename = "response/length_mean")]
    pub response_length_mean: f64,
    #[serde(rename = "response/length_max")]
    pub response_length_max: usize,
    /// Fraction of responses cut at the token limit.
    #[serde(rename = "response/clip_ratio")]
    pub clip_ratio: f64,
}

impl BatchMetrics {
    /// The metrics of `samples`, `n` for each of `prompts` prompts.
    pub fn of(samples: &[Sample], prompts: usize, n: usize) -> Self {
        let count = samples.len().max(1) as f64;
        let correct = samples.iter().filter(|s| s.is_correct()).count();
        let mut solved = vec![0usize; prompts];
        for s in samples {
            solved[s.group] += s.is_correct() as usize;
        }
        let share = |want: &dyn Fn(usize) -> bool| {
            solved.iter().filter(|&&c| want(c)).count() as f64 / prompts as f64
        };
        BatchMetrics {
            reward_mean: correct as f64 / count,
            correct,
            incorrect: samples.len() - correct,
            fully_solved_ratio: share(&|c| c == n),
            fully_unsolved_ratio: share(&|c| c == 0),
            response_length_mean: samples.iter().map(|s| s.response.len()).sum::<usize>() as f64
                / count,
            response_length_max: samples.iter().map(|s| s.response.len()).max().unwrap_or(0),
            clip_ratio: samples.iter().filter(|s| s.truncated).count() as f64 / count,
        }
    }
}

/// The policy (and PPO critic) update.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UpdateMetrics {
    /// Largest |log π| difference between the sampler and the trainer's recomputation.
    #[serde(rename = "rollout/sampler_trainer_logp_max_diff")]
    pub sampler_trainer_logp_max_diff: f64,
    /// Mean entropy per response token (nats) under the policy before the update.
    #[serde(rename = "actor/entropy")]
    pub entropy: f64,
    #[serde(rename = "critic/value_loss", skip_serializing_if = "Option::is_none")]
    pub value_loss: Option<f64>,
    #[serde(
        rename = "critic/optimizer_steps",
        skip_serializing_if = "Option::is_none"
    )]
    pub critic_optimizer_steps: Option<usize>,
    #[serde(rename = "actor/pg_loss")]
    pub pg_loss: f64,
    #[serde(rename = "actor/pg_clipfrac")]
    pub pg_clipfrac: f64,
    #[serde(rename = "actor/ppo_kl")]
    pub ppo_kl: f64,
    #[serde(rename = "actor/kl_ref")]
    pub kl_ref: f64,
    #[serde(rename = "actor/grad_norm")]
    pub grad_norm: f64,
    #[serde(rename = "actor/optimizer_steps")]
    pub optimizer_steps: usize,
    #[serde(rename = "actor/lr")]
    pub lr: f64,
    /// The entropy bonus coefficient the loss used.
    #[serde(rename = "actor/entropy_coef")]
    pub entropy_coef: f64,
}

impl UpdateMetrics {
    pub fn set_policy(&mut self, st: &UpdateStats, lr: f32, entropy_coef: f32) {
        self.pg_loss = st.pg_loss;
        self.pg_clipfrac = st.clip_frac;
        self.ppo_kl = st.approx_kl;
        self.kl_ref = st.kl;
        self.grad_norm = st.grad_norm;
        self.optimizer_steps = st.optimizer_steps;
        self.lr = lr as f64;
        self.entropy_coef = entropy_coef as f64;
    }
}

/// Wall-clock seconds of the step's phases (see [`TIMING_KEYS`]).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TimeMetrics {
    /// Sampling, verifying and gathering the rollouts.
    #[serde(rename = "time/rollout_s")]
    pub rollout_s: f64,
    /// Of `rollout_s`, this rank's verifier time.
    #[serde(rename = "time/verify_s")]
    pub verify_s: f64,
    /// Scoring, advantages and the updates.
    #[serde(rename = "time/update_s")]
    pub update_s: f64,
    #[serde(rename = "time/step_s")]
    pub step_s: f64,
    /// Response tokens sampled per second of the step.
    #[serde(rename = "perf/tokens_per_s")]
    pub tokens_per_s: f64,
}

impl StepMetrics {
    /// The `metrics.jsonl` line.
    pub fn to_json_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_the_order_of_the_step() {
        let m = StepMetrics {
            step: 3,
            validation: ValidationMetrics(vec![Validation {
                source: "math".into(),
                accuracy: 0.5,
                mean_response_tokens: 7.0,
                problems: 2,
            }]),
            update: Some(UpdateMetrics {
                lr: 1e-3f32 as f64,
                ..Default::default()
            }),
            ..Default::default()
        };
        let line = m.to_json_line().unwrap();
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line)
                .unwrap()
                .keys()
                .cloned()
                .collect();
        let at = |k: &str| keys.iter().position(|x| x == k).unwrap();
        assert_eq!(at("step"), 0);
        assert_eq!(at("val/math/accuracy"), 1);
        assert!(at("response/clip_ratio") < at("batch/effective_samples"));
        assert!(at("actor/lr") < at("time/rollout_s"));
        assert_eq!(keys.last().map(String::as_str), Some("perf/tokens_per_s"));
        assert!(!keys.iter().any(|k| k == "critic/value_loss"));
        for k in TIMING_KEYS {
            assert!(keys.iter().any(|x| x == k), "{k}");
        }
        // f32 values print as their f64 widening, as serde_json::Value holds them
        assert!(
            line.contains("\"actor/lr\":0.0010000000474974513"),
            "{line}"
        );
        let no_update = StepMetrics::default().to_json_line().unwrap();
        assert!(!no_update.contains("actor/"), "{no_update}");
    }
}
