//! The objectives and their sequence-level advantages.
//!
//! | objective | correct | incorrect | notes |
//! |---|---|---|---|
//! | PSR | +1 | dropped (filter) or 0 (mask) | reinforce correct samples only |
//! | NSR | dropped (filter) or 0 (mask) | −1 | penalise incorrect samples only |
//! | W-REINFORCE(λ) | +λ | −1 | λ = 0.1 in the paper |
//! | REINFORCE | +1 | −1 | W-REINFORCE with λ = 1 |
//! | GRPO | (s − mean_g)/(std_g + 1e-6) | same | unbiased std over the prompt's group |
//! | PPO | token-level GAE | same | value head, see `ppo.rs` |
use super::rollout::reward_is_correct;
use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The objective a run trains with, as config files and `--objective` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveKind {
    Psr,
    Nsr,
    #[serde(alias = "wreinforce", alias = "weighted")]
    #[value(alias = "wreinforce", alias = "weighted")]
    WReinforce,
    Reinforce,
    Grpo,
    Ppo,
}

impl ObjectiveKind {
    pub fn name(self) -> &'static str {
        match self {
            ObjectiveKind::Psr => "psr",
            ObjectiveKind::Nsr => "nsr",
            ObjectiveKind::WReinforce => "w-reinforce",
            ObjectiveKind::Reinforce => "reinforce",
            ObjectiveKind::Grpo => "grpo",
            ObjectiveKind::Ppo => "ppo",
        }
    }
}

impl std::fmt::Display for ObjectiveKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ObjectiveKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        <Self as clap::ValueEnum>::from_str(s, false).map_err(|_| {
            anyhow!("unknown objective `{s}` (psr, nsr, w-reinforce, reinforce, grpo, ppo)")
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    Psr,
    Nsr,
    WReinforce { lambda: f32 },
    Reinforce,
    Grpo,
    Ppo,
}

impl Objective {
    /// The objective `kind`; `lambda` is W-REINFORCE's weight on positive samples.
    pub fn new(kind: ObjectiveKind, lambda: f32) -> Objective {
        match kind {
            ObjectiveKind::Psr => Objective::Psr,
            ObjectiveKind::Nsr => Objective::Nsr,
            ObjectiveKind::WReinforce => Objective::WReinforce { lambda },
            ObjectiveKind::Reinforce => Objective::Reinforce,
            ObjectiveKind::Grpo => Objective::Grpo,
            ObjectiveKind::Ppo => Objective::Ppo,
        }
    }

    pub fn parse(name: &str, lambda: f32) -> Result<Objective> {
        Ok(Objective::new(name.parse()?, lambda))
    }

    pub fn name(&self) -> String {
        match self {
            Objective::WReinforce { lambda } => format!("w-reinforce(λ={lambda})"),
            Objective::Psr => "psr".into(),
            Objective::Nsr => "nsr".into(),
            Objective::Reinforce => "reinforce".into(),
            Objective::Grpo => "grpo".into(),
            Objective::Ppo => "ppo".into(),
        }
    }

    /// Whether a sample of this correctness takes part in the update under `mode`.
    pub fn keeps(&self, correct: bool, mode: PsrNsrMode) -> bool {
        match (self, mode) {
            (Objective::Psr, PsrNsrMode::Filter) => correct,
            (Objective::Nsr, PsrNsrMode::Filter) => !correct,
            _ => true,
        }
    }
}

/// How PSR/NSR leave out the other class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PsrNsrMode {
    /// The paper's code: drop the other class from the batch (fewer samples, fewer steps,
    /// token-mean over the kept tokens only).
    #[default]
    Filter,
    /// Keep the batch shape; the other class gets advantage 0 (but stays in the token mean).
    Mask,
}

impl FromStr for PsrNsrMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        <Self as clap::ValueEnum>::from_str(s, false)
            .map_err(|_| anyhow!("unknown --psr-nsr-mode `{s}` (filter, mask)"))
    }
}

/// Sequence-level advantages from 0/1 rewards. `groups[i]` is the prompt index of sample i
/// (GRPO normalises within a prompt's group). PPO's advantages are token-level (see `ppo.rs`);
/// this returns the raw scores for it.
pub fn sequence_advantages(obj: Objective, rewards: &[f32], groups: &[usize]) -> Vec<f32> {
    match obj {
        Objective::Psr => rewards
            .iter()
            .map(|&r| if reward_is_correct(r) { 1.0 } else { 0.0 })
            .collect(),
        Objective::Nsr => rewards
            .iter()
            .map(|&r| if reward_is_correct(r) { 0.0 } else { -1.0 })
            .collect(),
        Objective::WReinforce { lambda } => rewards
            .iter()
            .map(|&r| if reward_is_correct(r) { lambda } else { -1.0 })
            .collect(),
        Objective::Reinforce => rewards
            .iter()
            .map(|&r| if reward_is_correct(r) { 1.0 } else { -1.0 })
            .collect(),
        Objective::Grpo => grpo_advantages(rewards, groups),
        Objective::Ppo => rewards.to_vec(),
    }
}

/// (s − mean_g) / (std_g + 1e-6) with the unbiased (N−1) std; a group of one uses mean 0, std 1
/// (verl's `compute_grpo_outcome_advantage`).
pub fn grpo_advantages(scores: &[f32], groups: &[usize]) -> Vec<f32> {
    let mut by_group: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &g) in groups.iter().enumerate() {
        by_group.entry(g).or_default().push(i);
    }
    let mut adv = vec![0.0f32; scores.len()];
    for idx in by_group.values() {
        let (mean, std) = if idx.len() == 1 {
            (0.0, 1.0)
        } else {
            let n = idx.len() as f64;
            let mean = idx.iter().map(|&i| scores[i] as f64).sum::<f64>() / n;
            let var = idx
                .iter()
                .map(|&i| (scores[i] as f64 - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            (mean, var.sqrt())
        };
        for &i in idx {
            adv[i] = ((scores[i] as f64 - mean) / (std + 1e-6)) as f32;
        }
    }
    adv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpo_one_of_eight_correct() {
        let mut r = vec![0.0f32; 8];
        r[3] = 1.0;
        let a = grpo_advantages(&r, &[0; 8]);
        assert!((a[3] - 2.4748).abs() < 1e-3, "{}", a[3]);
        assert!((a[0] + 0.35355).abs() < 1e-3, "{}", a[0]);
        // All-correct and all-wrong groups give 0; a group of one uses mean 0, std 1.
        assert!(grpo_advantages(&[1.0; 4], &[0; 4])
            .iter()
            .all(|&x| x.abs() < 1e-6));
        assert!(grpo_advantages(&[0.0; 4], &[0; 4])
            .iter()
            .all(|&x| x.abs() < 1e-6));
        assert!((grpo_advantages(&[1.0], &[0])[0] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn sign_decomposed_advantages() {
        let r = [1.0f32, 0.0];
        let g = [0, 0];
        assert_eq!(sequence_advantages(Objective::Psr, &r, &g), vec![1.0, 0.0]);
        assert_eq!(sequence_advantages(Objective::Nsr, &r, &g), vec![0.0, -1.0]);
        assert_eq!(
            sequence_advantages(Objective::WReinforce { lambda: 0.1 }, &r, &g),
            vec![0.1, -1.0]
        );
        assert_eq!(
            sequence_advantages(Objective::Reinforce, &r, &g),
            vec![1.0, -1.0]
        );
        assert!(
            Objective::Psr.keeps(true, PsrNsrMode::Filter)
                && !Objective::Psr.keeps(false, PsrNsrMode::Filter)
        );
        assert!(
            Objective::Nsr.keeps(false, PsrNsrMode::Filter)
                && !Objective::Nsr.keeps(true, PsrNsrMode::Filter)
        );
        assert!(Objective::Psr.keeps(false, PsrNsrMode::Mask));
    }
}
