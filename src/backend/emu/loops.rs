//! Counting launches whose blocks loop many times over one dimension (a GEMM's K tiles): block
//! sampling bounds how many blocks run, not how long each runs, so a GEMM with K = 150 000 (the
//! LM head's dH = ∂z·W) would emulate thousands of tiles per sampled block. A launch that declares
//! its loop ([`LoopArg`]) instead runs twice, with every block's loop cut to `KEEP` and to
//! `2·KEEP` iterations (the loop argument lowered by whole steps), and every counter and footprint
//! is extended along the line through the two runs to the real length. That is exact when each
//! iteration adds the same counts, as a K tile of a GEMM does (the same requests, sectors, bank
//! pattern and mma instructions at a shifted address; the prologue, the partial last tile and the
//! epilogue are in both runs alike). The distinct sectors touched (the footprint) grow alike,
//! except that a row of an operand read to its full length may end in the sector the next row
//! starts in, counted once by a full run and twice by the extension (one sector per row at most).
//! `tests/emu_counters_loops.rs` checks both against full runs.
use super::counters::{affine, RawCounters, RawFootprint};
use crate::backend::cuda::device::{KernelArgs, LoopArg};
use anyhow::Result;
use std::collections::BTreeMap;

/// Iterations the shorter run keeps in the block with the fewest (the longer run keeps twice as
/// many); a multiple of every pipeline depth (2 and 4 stages), so the runs differ by whole cycles
/// of the shared-memory stages.
pub const KEEP: u64 = 8;

/// The two shortened runs of a launch and how far to extend the line through them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shortened {
    pub index: usize,
    pub short_value: i64,
    pub long_value: i64,
    /// The real run's counts = long + k · (long − short).
    pub k: f64,
}

/// How to shorten a launch with loop `l` whose loop argument is `value`, or `None` when its
/// loops are already short (it then runs as it is).
pub fn plan(l: LoopArg, value: i64) -> Option<Shortened> {
    if l.min_trips <= 2 * KEEP {
        return None;
    }
    let drop_long = l.min_trips - 2 * KEEP;
    let drop_short = l.min_trips - KEEP;
    Some(Shortened {
        index: l.index,
        short_value: value - drop_short as i64 * l.step,
        long_value: value - drop_long as i64 * l.step,
        k: drop_long as f64 / KEEP as f64,
    })
}

/// What a counted launch returns: each stratum's counters and the footprint per allocation.
pub type Raw = (Vec<RawCounters>, Vec<RawFootprint>);

/// Runs `launch` on the two shortened argument lists of `s` and extends the counts to the real
/// loop length.
pub fn run_shortened(
    s: &Shortened,
    args: &KernelArgs,
    mut launch: impl FnMut(&mut KernelArgs) -> Result<Raw>,
) -> Result<Raw> {
    let short = launch(&mut args.with_int_at(s.index, s.short_value)?)?;
    let long = launch(&mut args.with_int_at(s.index, s.long_value)?)?;
    Ok(extend(&short, &long, s.k))
}

/// The counts `k` times the difference `long − short` past `long`.
pub fn extend(short: &Raw, long: &Raw, k: f64) -> Raw {
    let counters = short
        .0
        .iter()
        .zip(&long.0)
        .map(|(a, b)| RawCounters::extrapolate(a, b, k))
        .collect();
    // A footprint grows with the loop in its distinct sectors and the end of its span; an
    // allocation only the longer run touched grows from nothing.
    let before: BTreeMap<u64, &RawFootprint> = short.1.iter().map(|f| (f.alloc_base, f)).collect();
    let mut footprints: Vec<RawFootprint> = long
        .1
        .iter()
        .map(|b| {
            let a = before
                .get(&b.alloc_base)
                .copied()
                .copied()
                .unwrap_or(RawFootprint {
                    load_sectors: 0,
                    store_sectors: 0,
                    hi: b.lo,
                    ..*b
                });
            let end = b.alloc_base + b.alloc_bytes;
            let most = b.alloc_bytes.div_ceil(32) + 1;
            RawFootprint {
                load_sectors: affine(a.load_sectors, b.load_sectors, k).min(most),
                store_sectors: affine(a.store_sectors, b.store_sectors, k).min(most),
                lo: a.lo.min(b.lo),
                hi: affine(a.hi, b.hi, k).min(end).max(b.lo),
                edge: a.edge | b.edge,
                ..*b
            }
        })
        .collect();
    let after: Vec<u64> = long.1.iter().map(|f| f.alloc_base).collect();
    footprints.extend(short.1.iter().filter(|f| !after.contains(&f.alloc_base)));
    (counters, footprints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_loops_run_as_they_are() {
        let l = LoopArg {
            index: 3,
            step: 32,
            min_trips: 2 * KEEP,
        };
        assert_eq!(plan(l, 512), None);
    }

    #[test]
    fn the_runs_keep_keep_and_twice_keep_iterations() {
        let l = LoopArg {
            index: 8,
            step: 96,
            min_trips: 100,
        };
        let s = plan(l, 100 * 96 + 40).unwrap();
        assert_eq!(s.short_value, KEEP as i64 * 96 + 40);
        assert_eq!(s.long_value, 2 * KEEP as i64 * 96 + 40);
        // counts c(t) = 5 + 3t at t = 8 and 16 extend to t = 100
        let c = |t: u64| RawCounters {
            mma_instructions: 5 + 3 * t,
            ..Default::default()
        };
        let foot = |t: u64| RawFootprint {
            alloc_base: 4096,
            alloc_bytes: 1 << 20,
            load_sectors: 2 * t,
            store_sectors: t,
            lo: 4096,
            hi: 4096 + 64 * t,
            edge: 1,
        };
        let (cs, fs) = extend(
            &(vec![c(KEEP)], vec![foot(KEEP)]),
            &(vec![c(2 * KEEP)], vec![foot(2 * KEEP)]),
            s.k,
        );
        assert_eq!(cs, vec![c(100)]);
        assert_eq!(fs, vec![foot(100)]);
    }
}
