//! The samplers' global traffic at the largest vocabulary (V = 152,064), counted on the emulator
//! over whole grids: rung 2 (radix select) moves at most 8x the logits' bytes for top-p 0.95 and
//! for top-k 50 + top-p 0.95, in one launch, with its stated passes per row (top-p: max,
//! normaliser, 2 histogram levels, confirmation, part of a draw; top-k: 4 + gather), where rung 1
//! (bisection) moves ~70-90x.
mod emu_common;

use rlvr::backend::cuda::device::upload;
use rlvr::backend::cuda::sampling::{sample_keys, sample_rows_on, SampleRung, SampledDev};
use rlvr::backend::emu::{CountPolicy, EmuDevice};
use rlvr::bench::efficiency::measure;
use rlvr::generate::sampling::SamplingParams;
use rlvr::rng::SplitMix64;

const V: usize = 152_064;
const ROWS: usize = 2;

/// (global sector bytes, global load bytes) of one launch, in units of the logits' bytes.
fn traffic(dev: &EmuDevice, rung: SampleRung, p: &SamplingParams) -> (f64, f64) {
    let mut rng = SplitMix64::new(21);
    // The bench's spread: uniform in [-6, 6).
    let logits: Vec<f32> = (0..ROWS * V).map(|_| rng.uniform_f32(-6.0, 6.0)).collect();
    let ld = upload(dev, &logits).unwrap();
    let keys = upload(dev, &sample_keys(&[1, 2], &[7, 7]).unwrap()).unwrap();
    let out = SampledDev::alloc(dev, ROWS).unwrap();
    let counts = measure(dev, CountPolicy::exact(), |d| {
        sample_rows_on(rung, d, &out, &ld, V, &keys, 1234, 0, p)
    })
    .unwrap();
    assert_eq!(counts.launches.len(), 1, "{rung:?}: one launch");
    let c = &counts.launches[0].counters;
    let logits_bytes = (ROWS * V * 4) as f64;
    (
        c.global_sectors() * 32.0 / logits_bytes,
        c.global_load_bytes / logits_bytes,
    )
}

/// `max_passes`: rung 2's bound on loads per row for these filters (see kernels/sampling.cu).
fn check(name: &str, p: SamplingParams, max_passes: f64) {
    let Some(dev) = emu_common::emu_or_skip(31) else {
        return;
    };
    let (r1, r1_loads) = traffic(&dev, SampleRung::Bisection, &p);
    let (r2, r2_loads) = traffic(&dev, SampleRung::Radix, &p);
    eprintln!(
        "{name} V={V}: global traffic rung 1 {r1:.2}x the logits' bytes ({r1_loads:.2} passes of \
         loads per row), rung 2 {r2:.2}x ({r2_loads:.2} passes)"
    );
    assert!(r2 <= 8.0, "{name}: rung 2 moves {r2:.2}x the logits' bytes");
    assert!(
        r2_loads <= max_passes,
        "{name}: rung 2 loads {r2_loads:.2} passes over each row"
    );
    assert!(r1 > 4.0 * r2, "{name}: rung 1 {r1:.2}x, rung 2 {r2:.2}x");
}

#[test]
fn radix_top_p_reads_the_logits_at_most_8_times() {
    check(
        "top-p 0.95",
        SamplingParams {
            top_p: 0.95,
            ..Default::default()
        },
        6.0,
    );
}

#[test]
fn radix_top_k_top_p_reads_the_logits_at_most_8_times() {
    check(
        "top-k 50 top-p 0.95",
        SamplingParams {
            top_k: 50,
            top_p: 0.95,
            ..Default::default()
        },
        5.05,
    );
}
