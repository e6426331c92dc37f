//! The Pass@k estimator against exact combinatorics.

use rlvr::eval::passk::{default_ks, pass_at_k, passk_rows, passk_table, PasskReport};

/// C(n, k) exactly (n ≤ 60 fits u128 comfortably).
fn binom(n: u64, k: u64) -> u128 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        // r·(n−i)/(i+1) stays an integer at every step.
        r = r * (n - i) as u128 / (i + 1) as u128;
    }
    r
}

#[test]
fn binom_is_right() {
    assert_eq!(binom(20, 10), 184_756);
    assert_eq!(binom(5, 0), 1);
    assert_eq!(binom(3, 5), 0);
    assert_eq!(binom(52, 5), 2_598_960);
}

#[test]
fn matches_exact_ratio_for_all_small_cases() {
    let mut checked = 0;
    for n in 1..=20u64 {
        for c in 0..=n {
            for k in 1..=n {
                let exact = 1.0 - binom(n - c, k) as f64 / binom(n, k) as f64;
                let got = pass_at_k(n as usize, c as usize, k as usize);
                assert!(
                    (got - exact).abs() < 1e-12,
                    "n={n} c={c} k={k}: {got} vs {exact}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (1..=20).map(|n| (n + 1) * n).sum::<u64>());
}

/// C(n−c,k)/C(n,k) as a product over the k draws, Π_{j<k} (n−c−j)/(n−j): a different
/// factorisation from the estimator's product over the c correct samples.
fn miss_by_draws(n: usize, c: usize, k: usize) -> f64 {
    (0..k)
        .map(|j| (n - c) as f64 - j as f64)
        .zip((0..k).map(|j| (n - j) as f64))
        .map(|(a, b)| (a / b).max(0.0))
        .product()
}

#[test]
fn n256_agrees_with_other_factorisation_and_known_values() {
    let n = 256;
    for c in 0..=n {
        for &k in &default_ks(n) {
            let got = pass_at_k(n, c, k);
            let want = 1.0 - miss_by_draws(n, c, k);
            assert!((got - want).abs() < 1e-12, "c={c} k={k}: {got} vs {want}");
            assert!((0.0..=1.0).contains(&got));
        }
        // Pass@1 is the fraction correct; Pass@n is 1 as soon as one sample is correct.
        assert!((pass_at_k(n, c, 1) - c as f64 / n as f64).abs() < 1e-15);
        assert_eq!(pass_at_k(n, c, n), if c > 0 { 1.0 } else { 0.0 });
    }
    // One correct sample among 256: pass@k = k/256 exactly (choose k of n, one of them the hit).
    for &k in &default_ks(n) {
        assert!((pass_at_k(n, 1, k) - k as f64 / 256.0).abs() < 1e-14);
    }
    // Monotone in k and in c.
    for c in 0..n {
        let ks = default_ks(n);
        for w in ks.windows(2) {
            assert!(pass_at_k(n, c, w[0]) <= pass_at_k(n, c, w[1]));
        }
        assert!(pass_at_k(n, c, 8) <= pass_at_k(n, c + 1, 8));
    }
}

#[test]
fn table_is_the_mean_over_problems() {
    // Three problems of 8 samples with 0, 1 and 8 correct.
    let counts = [(8, 0), (8, 1), (8, 8)];
    let table = passk_table(&counts, &[1, 2, 8]);
    let exact = |c: u64, k: u64| 1.0 - binom(8 - c, k) as f64 / binom(8, k) as f64;
    for (k, v) in table {
        let want = (exact(0, k as u64) + exact(1, k as u64) + exact(8, k as u64)) / 3.0;
        assert!((v - want).abs() < 1e-14, "k={k}");
    }
    assert!((passk_table(&counts, &[1])[0].1 - (0.0 + 1.0 / 8.0 + 1.0) / 3.0).abs() < 1e-15);
}

#[test]
fn short_problems_are_excluded_and_counted() {
    let counts = [(4, 1), (16, 4)];
    let rows = passk_rows(&counts, &[2, 8]);
    assert_eq!((rows[0].n_problems, rows[0].n_excluded), (2, 0));
    assert_eq!((rows[1].n_problems, rows[1].n_excluded), (1, 1));
    assert!((rows[1].value - pass_at_k(16, 4, 8)).abs() < 1e-15);
    let report = PasskReport::new(&counts, Some(&[2, 8, 32]));
    assert_eq!(report.excluded, vec![(8, 1), (32, 2)]);
    assert_eq!(report.passk.len(), 2);
    assert_eq!(report.n_samples_per_problem, 4);
}
