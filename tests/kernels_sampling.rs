//! Sampling kernels on the emulator: on each rung the same token as the CPU `sample_row` for the
//! same Philox uniform on many random rows (tie-heavy rows included), and draw frequencies that
//! match the temperature softmax (chi-square); per-row parameters in one launch draw what one
//! launch per row draws; rung 2 (radix select) outputs exactly rung 1's bits.
mod emu_common;
use emu_common::*;
use rlvr::backend::cuda::device::upload;
use rlvr::backend::cuda::sampling::{sample_keys, sample_rows, SampleRung, SampledDev};
use rlvr::backend::cuda::selftest::input_rng;
use rlvr::backend::cuda::selftest::sampling::{
    check_params, rung_parity, sampling_agreement, sampling_params, LogitKind,
};
use rlvr::generate::sampling::SamplingParams;

#[test]
fn per_row_parameters_draw_what_per_launch_parameters_draw() {
    let Some(dev) = emu_or_skip(13) else { return };
    let mut rng = input_rng(13);
    for rung in SampleRung::ALL {
        for (rows, vocab) in [(12, 9), (7, 333)] {
            let checks = check_params(&dev, &mut rng, rung, rows, vocab, 77, "per-row").unwrap();
            for c in checks {
                assert!(c.pass, "{rung:?} {rows}x{vocab}: {c:?}");
            }
        }
    }
}

#[test]
fn device_draws_match_cpu_sample_row() {
    let Some(dev) = emu_or_skip(11) else { return };
    let mut rng = input_rng(11);
    let (mut total, mut boundary) = (0usize, 0usize);
    for rung in SampleRung::ALL {
        for (name, p) in sampling_params() {
            for vocab in [1usize, 2, 9, 64, 333] {
                for ties in [false, true] {
                    let a =
                        sampling_agreement(&dev, &mut rng, rung, 24, vocab, &p, ties, 99).unwrap();
                    let what = format!("{rung:?} {name} V={vocab} ties={ties}: {a:?}");
                    assert_eq!(a.hard, 0, "{what}");
                    assert!(a.max_lp_err < 1e-5, "{what}");
                    total += a.rows;
                    boundary += a.boundary;
                }
            }
        }
    }
    eprintln!("{total} rows compared, {boundary} boundary disagreements");
    assert_eq!(
        boundary, 0,
        "uniforms within 1e-6 of a boundary: expected none in {total} rows"
    );
}

#[test]
fn frequencies_match_temperature_softmax() {
    let Some(dev) = emu_or_skip(12) else { return };
    let logits = [1.0f32, 0.5, -0.3, 2.0, 0.0, -1.5];
    let (v, n) = (logits.len(), 3000usize);
    let temperature = 0.8f32;
    let all: Vec<f32> = (0..n).flat_map(|_| logits).collect();
    let streams = vec![42u64; n];
    let steps: Vec<u64> = (0..n as u64).collect();
    let out = SampledDev::alloc(&dev, n).unwrap();
    let ld = upload(&dev, &all).unwrap();
    let keys = upload(&dev, &sample_keys(&streams, &steps).unwrap()).unwrap();
    let p = SamplingParams {
        temperature,
        ..Default::default()
    };
    sample_rows(&dev, &out, &ld, v, &keys, 3, 0, &p).unwrap();
    let mut counts = vec![0usize; v];
    for s in out.download(&dev).unwrap() {
        counts[s.token as usize] += 1;
    }
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = logits
        .iter()
        .map(|&x| ((x as f64 - m) / temperature as f64).exp())
        .collect();
    let z: f64 = e.iter().sum();
    let chi2: f64 = counts
        .iter()
        .zip(&e)
        .map(|(&c, &w)| {
            let exp = w / z * n as f64;
            (c as f64 - exp).powi(2) / exp
        })
        .sum();
    // 5 degrees of freedom: the p = 0.001 critical value is 20.52.
    assert!(chi2 < 20.52, "chi2 {chi2}, counts {counts:?}");
}

#[test]
fn non_finite_row_is_an_error_naming_the_row() {
    let Some(dev) = emu_or_skip(13) else { return };
    let out = SampledDev::alloc(&dev, 2).unwrap();
    let ld = upload(&dev, &[0.0f32, 1.0, f32::NAN, 0.0]).unwrap();
    let keys = upload(&dev, &sample_keys(&[0, 1], &[0, 0]).unwrap()).unwrap();
    sample_rows(&dev, &out, &ld, 2, &keys, 1, 0, &SamplingParams::default()).unwrap();
    let e = out.download(&dev).unwrap_err().to_string();
    assert!(e.contains("row 1"), "{e}");
}

/// Rung 2 against rung 1, bit for bit, on rows that each draw their own temperature, top-k
/// (1, 50, random, past the shared-memory candidate limit, past V), top-p, min-p and greedy, with
/// spread, tied, bf16-rounded and NaN/Inf logits, V from 1 to 152,064.
#[test]
fn radix_rung_matches_bisection_bit_for_bit() {
    let Some(dev) = emu_or_skip(14) else { return };
    let mut rng = input_rng(14);
    let (mut rows, mut non_finite) = (0usize, 0usize);
    // (rows, vocab, seeds): the largest vocabulary takes most of the time (rung 1's ~70 passes).
    let shapes: [(usize, usize, &[u64]); 8] = [
        (64, 1, &[5, 1 << 40]),
        (64, 2, &[5, 1 << 40]),
        (64, 7, &[5, 1 << 40]),
        (48, 33, &[5, 1 << 40]),
        (48, 100, &[5, 1 << 40]),
        (32, 777, &[5, 1 << 40]),
        (16, 4099, &[5]),
        (2, 152_064, &[9]),
    ];
    for (n, vocab, seeds) in shapes {
        for kind in LogitKind::ALL {
            for &seed in seeds {
                let p = rung_parity(&dev, &mut rng, n, vocab, kind, seed).unwrap();
                assert_eq!(
                    p.differing,
                    0,
                    "{n}x{vocab} {} seed {seed}: {p:?}",
                    kind.name()
                );
                rows += p.rows;
                non_finite += p.non_finite;
            }
        }
    }
    eprintln!("{rows} rows identical on both rungs ({non_finite} with NaN/Inf logits)");
    assert!(non_finite > 0 && non_finite < rows);
}
