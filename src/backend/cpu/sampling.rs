//! Token sampling from one row of logits: temperature, top-k, top-p (nucleus), min-p, greedy.
//!
//! No sort of the vocabulary: top-k is a selection (`select_nth_unstable`), top-p is a
//! quickselect on probability mass (expected O(V)), and the kept tokens are walked in id order
//! through a mask. The uniform comes from the caller (Philox
//! keyed by (seed, sequence, step)), so a draw never depends on batch composition.
//!
//! Filters apply in the order vLLM uses: temperature → top-k → top-p (relative to the mass left
//! by top-k) → min-p (relative to the most probable token).
use anyhow::{bail, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature (> 0). Ignored when `greedy`.
    pub temperature: f32,
    /// Keep the k most probable tokens; 0 disables.
    pub top_k: usize,
    /// Keep the smallest most-probable set with mass ≥ top_p; 1 disables. Must be in (0, 1].
    pub top_p: f32,
    /// Drop tokens with p < min_p · p_max; 0 disables.
    pub min_p: f32,
    /// Argmax (only when asked for explicitly).
    pub greedy: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            greedy: false,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> SamplingParams {
        SamplingParams {
            greedy: true,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let valid_temperature = self.temperature > 0.0 && self.temperature.is_finite();
        if !self.greedy && !valid_temperature {
            bail!(
                "temperature must be > 0 (got {}); ask for greedy decoding explicitly instead",
                self.temperature
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("top_p must be in (0, 1], got {}", self.top_p);
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            bail!("min_p must be in [0, 1], got {}", self.min_p);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampled {
    pub token: u32,
    /// log p(token) under the temperature-scaled full softmax (what the trainer recomputes).
    pub logprob: f32,
    /// log p(token) under the truncated, renormalised distribution actually sampled from.
    pub logprob_truncated: f32,
}

/// Draw one token from `logits` with a uniform `u` in (0, 1). `row` only names the row in
/// errors.
pub fn sample_row(logits: &[f32], p: &SamplingParams, u: f64, row: usize) -> Result<Sampled> {
    if logits.is_empty() {
        bail!("row {row}: empty logits");
    }
    if let Some(i) = logits.iter().position(|x| !x.is_finite()) {
        bail!("row {row}: logit {i} is {} (NaN/Inf in logits)", logits[i]);
    }
    let t = if p.greedy { 1.0 } else { p.temperature as f64 };
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64 / t;
    let z: f64 = logits.iter().map(|&x| (x as f64 / t - m).exp()).sum();
    let lse = m + z.ln();
    let logprob_of = |v: usize| (logits[v] as f64 / t - lse) as f32;
    if p.greedy {
        // First index of the maximum, as torch.argmax.
        let best = logits
            .iter()
            .enumerate()
            .fold(0usize, |b, (i, &x)| if x > logits[b] { i } else { b });
        return Ok(Sampled {
            token: best as u32,
            logprob: logprob_of(best),
            logprob_truncated: 0.0,
        });
    }
    let prob = |v: usize| ((logits[v] as f64 / t) - lse).exp();
    let mut cands: Vec<(f64, u32)> = (0..logits.len()).map(|v| (prob(v), v as u32)).collect();
    let top_k = p.top_k > 0 && p.top_k < cands.len();
    let top_p = p.top_p < 1.0;
    // Top-k and top-p reorder the candidates; the draw walks them back in token-id order.
    let probs: Vec<f64> = if top_k || top_p {
        cands.iter().map(|c| c.0).collect()
    } else {
        Vec::new()
    };
    if top_k {
        cands.select_nth_unstable_by(p.top_k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        cands.truncate(p.top_k);
    }
    if top_p {
        let mass: f64 = cands.iter().map(|c| c.0).sum();
        let keep = nucleus(&mut cands, p.top_p as f64 * mass);
        cands.truncate(keep);
    }
    if p.min_p > 0.0 {
        let pmax = cands.iter().map(|c| c.0).fold(0.0, f64::max);
        cands.retain(|c| c.0 >= p.min_p as f64 * pmax);
    }
    // Fixed order (by token id) so the draw is a function of the distribution alone: a mask
    // over the vocabulary instead of a sort, O(V).
    if top_k || top_p {
        let mut keep = vec![false; logits.len()];
        for c in &cands {
            keep[c.1 as usize] = true;
        }
        cands = (0..logits.len())
            .filter(|&v| keep[v])
            .map(|v| (probs[v], v as u32))
            .collect();
    }
    let total: f64 = cands.iter().map(|c| c.0).sum();
    let target = u * total;
    let mut acc = 0.0;
    let mut chosen = cands[cands.len() - 1];
    for &c in &cands {
        acc += c.0;
        if target < acc {
            chosen = c;
            break;
        }
    }
    Ok(Sampled {
        token: chosen.1,
        logprob: logprob_of(chosen.1 as usize),
        logprob_truncated: (chosen.0 / total).ln() as f32,
    })
}

/// Reorder `c` so that its first `n` entries are the smallest most-probable set whose mass
/// reaches `need` (ties at the boundary all kept); return n. Quickselect on mass: expected O(V).
fn nucleus(c: &mut [(f64, u32)], need: f64) -> usize {
    let (mut lo, mut hi) = (0usize, c.len());
    let mut need = need;
    while lo < hi {
        let s = &mut c[lo..hi];
        let pivot = {
            let (a, b, d) = (s[0].0, s[s.len() / 2].0, s[s.len() - 1].0);
            a.max(b.min(d)).min(b.max(d))
        };
        // Three-way partition: > pivot | == pivot | < pivot.
        let (mut gt, mut i, mut lt) = (0usize, 0usize, s.len());
        while i < lt {
            if s[i].0 > pivot {
                s.swap(gt, i);
                gt += 1;
                i += 1;
            } else if s[i].0 < pivot {
                lt -= 1;
                s.swap(i, lt);
            } else {
                i += 1;
            }
        }
        let mass_gt: f64 = s[..gt].iter().map(|x| x.0).sum();
        let mass_eq: f64 = s[gt..lt].iter().map(|x| x.0).sum();
        if mass_gt >= need && gt > 0 {
            hi = lo + gt;
        } else if mass_gt + mass_eq >= need {
            return lo + lt;
        } else {
            need -= mass_gt + mass_eq;
            lo += lt;
        }
    }
    hi.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::philox_uniform;

    fn probs(logits: &[f32], t: f64) -> Vec<f64> {
        let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let e: Vec<f64> = logits.iter().map(|&x| ((x as f64 - m) / t).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|x| x / s).collect()
    }

    fn chi_square(counts: &[usize], expected: &[f64], n: usize) -> f64 {
        counts
            .iter()
            .zip(expected)
            .filter(|(_, &e)| e > 0.0)
            .map(|(&c, &e)| (c as f64 - e * n as f64).powi(2) / (e * n as f64))
            .sum()
    }

    #[test]
    fn frequencies_match_temperature_softmax() {
        let logits = [1.0f32, 0.5, -0.3, 2.0, 0.0, -1.5, 1.2];
        let p = SamplingParams {
            temperature: 0.8,
            ..Default::default()
        };
        let n = 40000;
        let mut counts = vec![0usize; logits.len()];
        for i in 0..n {
            let s = sample_row(&logits, &p, philox_uniform(1, 0, i as u64, 0), 0).unwrap();
            counts[s.token as usize] += 1;
        }
        let exp = probs(&logits, 0.8);
        // 6 degrees of freedom: p = 0.001 critical value is 22.46.
        assert!(chi_square(&counts, &exp, n) < 22.46, "{counts:?}");
    }

    #[test]
    fn top_p_stays_in_nucleus_and_matches_renormalised_mass() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37 % 50) as f32) * 0.1).collect();
        let pr = probs(&logits, 1.0);
        let mut order: Vec<usize> = (0..50).collect();
        order.sort_by(|&a, &b| pr[b].total_cmp(&pr[a]));
        let mut nucleus = [false; 50];
        let mut acc = 0.0;
        for &v in &order {
            nucleus[v] = true;
            acc += pr[v];
            if acc >= 0.7 {
                break;
            }
        }
        let p = SamplingParams {
            top_p: 0.7,
            ..Default::default()
        };
        let n = 30000;
        let mut counts = vec![0usize; 50];
        for i in 0..n {
            let s = sample_row(&logits, &p, philox_uniform(2, 0, i as u64, 0), 0).unwrap();
            assert!(
                nucleus[s.token as usize],
                "token {} outside the nucleus",
                s.token
            );
            counts[s.token as usize] += 1;
        }
        let mass: f64 = (0..50).filter(|&v| nucleus[v]).map(|v| pr[v]).sum();
        let exp: Vec<f64> = (0..50)
            .map(|v| if nucleus[v] { pr[v] / mass } else { 0.0 })
            .collect();
        let dof = nucleus.iter().filter(|&&x| x).count() - 1;
        // Loose bound: mean dof, 5 standard deviations.
        assert!(chi_square(&counts, &exp, n) < dof as f64 + 5.0 * (2.0 * dof as f64).sqrt() + 10.0);
    }

    #[test]
    fn top_k_min_p_greedy_and_logprobs() {
        let logits = [0.1f32, 3.0, 2.9, -1.0, 2.0];
        let p = SamplingParams {
            top_k: 2,
            ..Default::default()
        };
        for i in 0..2000 {
            let s = sample_row(&logits, &p, philox_uniform(3, 0, i, 0), 0).unwrap();
            assert!(s.token == 1 || s.token == 2);
            let full = probs(&logits, 1.0)[s.token as usize].ln() as f32;
            assert!((s.logprob - full).abs() < 1e-5);
        }
        let p = SamplingParams {
            min_p: 0.5,
            ..Default::default()
        };
        for i in 0..2000 {
            let s = sample_row(&logits, &p, philox_uniform(4, 0, i, 0), 0).unwrap();
            assert!(s.token == 1 || s.token == 2, "{}", s.token);
        }
        let s = sample_row(&logits, &SamplingParams::greedy(), 0.5, 0).unwrap();
        assert_eq!(s.token, 1);
    }

    #[test]
    fn bad_input_is_an_error() {
        let p = SamplingParams::default();
        let e = sample_row(&[0.0, f32::NAN], &p, 0.5, 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 7") && e.contains("logit 1"), "{e}");
        assert!(SamplingParams {
            temperature: 0.0,
            ..p
        }
        .validate()
        .is_err());
        assert!(SamplingParams { top_p: 1.5, ..p }.validate().is_err());
        assert!(SamplingParams { top_p: 0.0, ..p }.validate().is_err());
        assert!(SamplingParams {
            temperature: 0.0,
            greedy: true,
            ..p
        }
        .validate()
        .is_ok());
    }
}
