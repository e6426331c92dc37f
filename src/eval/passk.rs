//! Unbiased Pass@k (Chen et al. 2021, the estimator the paper reports).
//!
//! Per problem with `n` samples of which `c` are correct, `pass@k = 1 − C(n−c, k) / C(n, k)`:
//! the chance that at least one of `k` samples drawn without replacement is correct. The binomial
//! ratio is evaluated as the product `Π_{i=n−c+1}^{n} (1 − k/i)`, which never forms a large
//! binomial coefficient (C(256, 128) overflows f64's exact range). The reported value is the
//! unweighted mean over problems, as in the paper's `calculate_metrics.py`.
//!
//! A problem with fewer than `k` samples has no unbiased estimate at that `k`; [`passk_rows`]
//! leaves it out of that `k`'s mean and counts it in [`PasskRow::n_excluded`].

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Unbiased Pass@k of one problem with `n` samples, `c` of them correct.
///
/// Returns NaN when the estimate is undefined: `k == 0`, `k > n` or `c > n`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if k == 0 || k > n || c > n {
        return f64::NAN;
    }
    if n - c < k {
        return 1.0;
    }
    // C(n−c,k)/C(n,k) = Π_{i=n−c+1}^{n} (i−k)/i; every factor lies in [0, 1), so the running
    // product only shrinks and cannot overflow.
    let kf = k as f64;
    let miss: f64 = (n - c + 1..=n).map(|i| 1.0 - kf / i as f64).product();
    1.0 - miss
}

/// k = 1, 2, 4, … up to `n`, with `n` itself appended when it is not a power of two.
/// Empty for `n == 0`.
pub fn default_ks(n: usize) -> Vec<usize> {
    let mut ks = Vec::new();
    let mut k = 1usize;
    while k <= n {
        ks.push(k);
        match k.checked_mul(2) {
            Some(next) => k = next,
            None => break,
        }
    }
    if n > 0 && ks.last() != Some(&n) {
        ks.push(n);
    }
    ks
}

/// Pass@k at one `k`, with how many problems entered the mean.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskRow {
    pub k: usize,
    /// Mean Pass@k over the problems with at least `k` samples; NaN when there are none.
    pub value: f64,
    /// Problems that entered the mean.
    pub n_problems: usize,
    /// Problems left out because they have fewer than `k` samples.
    pub n_excluded: usize,
}

/// Mean unbiased Pass@k per `k` over problems given as `(n samples, c correct)`.
///
/// Problems with fewer than `k` samples (and `k == 0`) are excluded from that `k` and counted.
/// `c` is clamped to `n`, so a miscounted problem cannot produce a value above 1.
pub fn passk_rows(counts: &[(usize, usize)], ks: &[usize]) -> Vec<PasskRow> {
    ks.iter()
        .map(|&k| {
            let mut sum = 0.0;
            let mut used = 0usize;
            for &(n, c) in counts {
                if k == 0 || n < k {
                    continue;
                }
                sum += pass_at_k(n, c.min(n), k);
                used += 1;
            }
            PasskRow {
                k,
                value: if used > 0 {
                    sum / used as f64
                } else {
                    f64::NAN
                },
                n_problems: used,
                n_excluded: counts.len() - used,
            }
        })
        .collect()
}

/// `(k, mean Pass@k)` for every `k` at which at least one problem has `k` or more samples;
/// see [`passk_rows`] for the exclusion counts.
pub fn passk_table(counts: &[(usize, usize)], ks: &[usize]) -> Vec<(usize, f64)> {
    passk_rows(counts, ks)
        .into_iter()
        .filter(|r| r.n_problems > 0)
        .map(|r| (r.k, r.value))
        .collect()
}

/// The JSON document `rlvr passk` prints and `rlvr eval` writes as `passk.json`:
/// `{"n_problems": .., "n_samples_per_problem": .., "passk": {"1": .., "2": ..}}`, values as
/// fractions in [0, 1], keys in increasing `k`. `excluded` (`{"k": problems left out}`) appears
/// only when some problem had fewer than `k` samples.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskReport {
    pub n_problems: usize,
    /// The smallest per-problem sample count (all problems have at least this many).
    pub n_samples_per_problem: usize,
    pub passk: Vec<(usize, f64)>,
    pub excluded: Vec<(usize, usize)>,
}

impl PasskReport {
    /// Build the report; `ks` defaults to [`default_ks`] of the smallest sample count.
    pub fn new(counts: &[(usize, usize)], ks: Option<&[usize]>) -> Self {
        let n_min = counts.iter().map(|&(n, _)| n).min().unwrap_or(0);
        let default;
        let ks = match ks {
            Some(ks) => ks,
            None => {
                default = default_ks(n_min);
                &default
            }
        };
        let rows = passk_rows(counts, ks);
        PasskReport {
            n_problems: counts.len(),
            n_samples_per_problem: n_min,
            passk: rows
                .iter()
                .filter(|r| r.n_problems > 0)
                .map(|r| (r.k, r.value))
                .collect(),
            excluded: rows
                .iter()
                .filter(|r| r.n_excluded > 0)
                .map(|r| (r.k, r.n_excluded))
                .collect(),
        }
    }

    /// The report as a plot curve named `name` (x = k, y = Pass@k), for [`crate::eval::plot`].
    pub fn series(&self, name: &str) -> crate::eval::plot::Series {
        crate::eval::plot::Series {
            name: name.to_string(),
            points: self.passk.iter().map(|&(k, v)| (k as f64, v)).collect(),
        }
    }

    /// Pretty JSON text (ends without a newline).
    pub fn to_json(&self) -> String {
        // Serializing plain numbers and strings into a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A `Vec<(usize, T)>` written as a JSON object with keys in vector order (serde_json's own map
/// would sort "128" before "16").
struct OrderedMap<'a, T>(&'a [(usize, T)]);

impl<T: Serialize> Serialize for OrderedMap<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(&k.to_string(), v)?;
        }
        m.end()
    }
}

impl Serialize for PasskReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let extra = usize::from(!self.excluded.is_empty());
        let mut m = s.serialize_map(Some(3 + extra))?;
        m.serialize_entry("n_problems", &self.n_problems)?;
        m.serialize_entry("n_samples_per_problem", &self.n_samples_per_problem)?;
        m.serialize_entry("passk", &OrderedMap(&self.passk))?;
        if !self.excluded.is_empty() {
            m.serialize_entry("excluded", &OrderedMap(&self.excluded))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases() {
        assert_eq!(pass_at_k(10, 0, 3), 0.0);
        assert_eq!(pass_at_k(10, 10, 3), 1.0);
        assert_eq!(pass_at_k(10, 8, 3), 1.0); // n − c = 2 < 3
        assert!(pass_at_k(3, 1, 4).is_nan());
        assert!(pass_at_k(3, 1, 0).is_nan());
        assert!(pass_at_k(3, 4, 1).is_nan());
        assert!((pass_at_k(4, 1, 1) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn default_ks_powers_and_tail() {
        assert_eq!(default_ks(0), Vec::<usize>::new());
        assert_eq!(default_ks(1), vec![1]);
        assert_eq!(default_ks(256), vec![1, 2, 4, 8, 16, 32, 64, 128, 256]);
        assert_eq!(default_ks(100), vec![1, 2, 4, 8, 16, 32, 64, 100]);
    }

    #[test]
    fn rows_exclude_short_problems() {
        let rows = passk_rows(&[(4, 1), (2, 2)], &[1, 4, 8]);
        assert_eq!(rows[0].n_problems, 2);
        assert!((rows[0].value - (0.25 + 1.0) / 2.0).abs() < 1e-15);
        assert_eq!((rows[1].n_problems, rows[1].n_excluded), (1, 1));
        assert!((rows[1].value - 1.0).abs() < 1e-15);
        assert_eq!(rows[2].n_problems, 0);
        assert!(rows[2].value.is_nan());
        assert_eq!(passk_table(&[(4, 1), (2, 2)], &[1, 4, 8]).len(), 2);
    }

    #[test]
    fn report_json_keeps_k_order() {
        let counts: Vec<(usize, usize)> = (0..3).map(|c| (16, c)).collect();
        let json = PasskReport::new(&counts, None).to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["n_problems"], 3);
        assert_eq!(v["n_samples_per_problem"], 16);
        assert!(v.get("excluded").is_none());
        let keys: Vec<&str> = ["\"1\"", "\"2\"", "\"4\"", "\"8\"", "\"16\""].to_vec();
        let pos: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{json}");
    }
}
