//! The plug-in point of the analysis: an objective is a rule that turns 0/1 rewards into one
//! advantage per sequence (broadcast to its tokens) and says which samples stay in the batch.
//! The per-token loss coefficients then come from `rl::loss::token_coefficients`, exactly as
//! the trainer computes them, so a new objective is analysed with the trainer's own loss.
use crate::rl::objective::{sequence_advantages, Objective, PsrNsrMode};

/// A per-sequence advantage rule (a new objective for the analysis).
pub trait TokenObjective {
    /// Name used in every output (keys of JSON objects, plot legends).
    fn name(&self) -> String;
    /// One advantage per sample. `groups[i]` is the prompt index of sample i.
    fn advantages(&self, rewards: &[f32], groups: &[usize]) -> Vec<f32>;
    /// Whether a sample with this reward stays in the batch (the token-mean denominator counts
    /// only kept samples). Default: every sample stays.
    fn keeps(&self, _reward: f32) -> bool {
        true
    }
}

/// A built-in objective of `rl::Objective`, with the paper's batch filter for PSR/NSR
/// (only groups with both correct and incorrect samples count).
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub objective: Objective,
    pub mode: PsrNsrMode,
}

impl Builtin {
    pub fn new(objective: Objective) -> Builtin {
        Builtin {
            objective,
            mode: PsrNsrMode::Filter,
        }
    }
}

impl TokenObjective for Builtin {
    fn name(&self) -> String {
        match self.objective {
            // Short names make friendlier JSON keys; λ is in summary.json's settings.
            Objective::WReinforce { .. } => "w-reinforce".into(),
            o => o.name(),
        }
    }
    fn advantages(&self, rewards: &[f32], groups: &[usize]) -> Vec<f32> {
        sequence_advantages(self.objective, rewards, groups)
    }
    fn keeps(&self, reward: f32) -> bool {
        self.objective
            .keeps(crate::rl::rollout::reward_is_correct(reward), self.mode)
    }
}

/// An objective from a closure `rewards, groups -> advantages` (every sample kept).
pub struct FnObjective<F: Fn(&[f32], &[usize]) -> Vec<f32>> {
    pub name: String,
    pub f: F,
}

impl<F: Fn(&[f32], &[usize]) -> Vec<f32>> TokenObjective for FnObjective<F> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn advantages(&self, rewards: &[f32], groups: &[usize]) -> Vec<f32> {
        (self.f)(rewards, groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_filter_and_name() {
        let psr = Builtin::new(Objective::Psr);
        assert!(psr.keeps(1.0) && !psr.keeps(0.0));
        let w = Builtin::new(Objective::WReinforce { lambda: 0.1 });
        assert!(w.keeps(1.0) && w.keeps(0.0));
        assert_eq!(w.name(), "w-reinforce");
        assert_eq!(w.advantages(&[1.0, 0.0], &[0, 0]), vec![0.1, -1.0]);
        let f = FnObjective {
            name: "half".into(),
            f: |r: &[f32], _: &[usize]| r.iter().map(|x| x * 0.5).collect(),
        };
        assert_eq!(f.advantages(&[1.0, 0.0], &[0, 1]), vec![0.5, 0.0]);
        assert!(f.keeps(0.0));
    }
}
