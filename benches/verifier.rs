//! Verifier throughput and latency on MATH test: every target paired with the answer extracted
//! from its reference solution, and with another problem's target (mismatched pairs, the usual
//! case of a reward). Prints checks/s (one core) and p50/p99/max latency separately.
use criterion::{criterion_group, Criterion};
use rlvr::data::verl::load_problems;
use rlvr::verify::{extract_answer, grade, is_equivalent, Mode};
use std::path::PathBuf;
use std::time::Instant;

fn pairs() -> Option<Vec<(String, String, String)>> {
    let dir = std::env::var_os("RLVR_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let path = dir.join("math/test.parquet");
    let ps = match load_problems(&path) {
        Ok(ps) => ps,
        Err(e) => {
            eprintln!("SKIP verifier bench: {e:#}");
            return None;
        }
    };
    Some(
        ps.into_iter()
            .map(|p| {
                let sol = p.solution.unwrap_or_default();
                (extract_answer(&sol).unwrap_or_default(), p.answer, sol)
            })
            .collect(),
    )
}

fn latency_report(name: &str, n: usize, mut f: impl FnMut(usize)) {
    // Latency of each check: the fastest of five runs (other processes only add time), so the
    // tail shows slow inputs rather than scheduler noise.
    let mut times: Vec<(f64, usize)> = (0..n)
        .map(|i| {
            let best = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f(i);
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            (best, i)
        })
        .collect();
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pct = |q: f64| times[((times.len() - 1) as f64 * q) as usize].0 * 1e6;
    // Throughput: whole passes over all pairs, best of three.
    let rate = (0..3)
        .map(|_| {
            let t = Instant::now();
            for i in 0..n {
                f(i);
            }
            n as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max);
    let slowest = times.last().map(|t| t.1).unwrap_or(0);
    println!(
        "{name}: {n} checks, {rate:.0} checks/s on one core; latency p50 {:.2} us, p99 {:.2} us, max {:.1} us (item {slowest})",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn bench(c: &mut Criterion) {
    let Some(pairs) = pairs() else { return };
    let n = pairs.len();
    for mode in [Mode::Correct, Mode::Paper] {
        latency_report(&format!("is_equivalent {mode:?}"), n, |i| {
            std::hint::black_box(is_equivalent(&pairs[i].0, &pairs[i].1, mode));
        });
        latency_report(
            &format!("is_equivalent(extracted, other target) {mode:?}"),
            n,
            |i| {
                std::hint::black_box(is_equivalent(
                    &pairs[i].0,
                    &pairs[(i * 7919 + 1) % n].1,
                    mode,
                ));
            },
        );
        latency_report(&format!("grade(solution) {mode:?}"), n, |i| {
            std::hint::black_box(grade(&pairs[i].2, &pairs[i].1, mode));
        });
        // The common case of the reward: a full grade of a response that is wrong.
        latency_report(&format!("grade(solution, other target) {mode:?}"), n, |i| {
            std::hint::black_box(grade(&pairs[i].2, &pairs[(i * 7919 + 1) % n].1, mode));
        });
        c.bench_function(&format!("is_equivalent_math_test_{mode:?}"), |b| {
            b.iter(|| {
                pairs
                    .iter()
                    .filter(|(p, r, _)| is_equivalent(p, r, mode))
                    .count()
            })
        });
    }
    c.bench_function("grade_solution_math_test_Correct", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(_, r, s)| grade(s, r, Mode::Correct).correct)
                .count()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
