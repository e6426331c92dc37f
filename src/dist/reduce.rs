//! Ordered reductions. Floating-point addition is not associative, and MPI does not promise the
//! order in which `MPI_Allreduce` adds contributions; so sums are built from the personalised
//! exchange: each rank receives the partial vectors for the elements it owns and adds them left
//! to right in (rank, part) order. A rank's parts of a sum are always a contiguous run of the
//! global order, so the result depends only on the sequence of parts, not on which rank held
//! which: one process holding parts [a, b, c] computes exactly what three ranks holding one each
//! do.
use super::{wire, Comm};
use anyhow::{bail, Result};
use std::ops::Range;

/// The sum, over every rank's `parts` in (rank, part) order as `((p0 + p1) + p2) + …`, of the
/// elements `ranges[rank]` of this rank. `ranges` splits the (equal-length) parts among ranks;
/// with no parts anywhere the result is zeros.
pub fn reduce_scatter_sum_f32(
    comm: &dyn Comm,
    parts: &[Vec<f32>],
    ranges: &[Range<usize>],
) -> Result<Vec<f32>> {
    let world = comm.world_size();
    if ranges.len() != world {
        bail!(
            "reduce_scatter: {} ranges for a world of {world}",
            ranges.len()
        );
    }
    let n = ranges.last().map_or(0, |r| r.end);
    if let Some(p) = parts.iter().find(|p| p.len() != n) {
        bail!(
            "reduce_scatter: a part has {} elements, expected {n}",
            p.len()
        );
    }
    let mine = ranges[comm.rank()].clone();
    let fold = |acc: &mut Option<Vec<f32>>, x: &[f32]| match acc {
        Some(a) => a.iter_mut().zip(x).for_each(|(a, b)| *a += b),
        None => *acc = Some(x.to_vec()),
    };
    let mut acc: Option<Vec<f32>> = None;
    if world == 1 {
        for p in parts {
            fold(&mut acc, &p[mine.clone()]);
        }
    } else {
        let send: Vec<Vec<f32>> = ranges
            .iter()
            .map(|r| {
                parts
                    .iter()
                    .flat_map(|p| p[r.clone()].iter().copied())
                    .collect()
            })
            .collect();
        let got = comm.all_to_all_f32(&send)?;
        let len = mine.len();
        for (from, buf) in got.iter().enumerate() {
            if len == 0 {
                continue;
            }
            if !buf.len().is_multiple_of(len) {
                bail!(
                    "reduce_scatter: rank {from} sent {} elements, not a multiple of {len}",
                    buf.len()
                );
            }
            for chunk in buf.chunks_exact(len) {
                fold(&mut acc, chunk);
            }
        }
    }
    Ok(acc.unwrap_or_else(|| vec![0.0; mine.len()]))
}

/// In-place ordered sum over ranks (rank 0's vector + rank 1's + …), the same on every rank:
/// a reduce-scatter over balanced blocks followed by an all-gather.
pub fn all_reduce_sum_f32(comm: &dyn Comm, data: &mut [f32]) -> Result<()> {
    let world = comm.world_size();
    if world == 1 {
        return Ok(());
    }
    let ranges: Vec<Range<usize>> = (0..world)
        .map(|q| super::block(data.len(), world, q))
        .collect();
    let mine = reduce_scatter_sum_f32(comm, &[data.to_vec()], &ranges)?;
    let all = comm.all_gather_f32(&mine)?;
    for (r, block) in ranges.iter().zip(&all) {
        if block.len() != r.len() {
            bail!(
                "all_reduce: a block of {} elements, expected {}",
                block.len(),
                r.len()
            );
        }
        data[r.clone()].copy_from_slice(block);
    }
    Ok(())
}

/// Every rank's small f64 vector, by rank.
pub fn gather_f64(comm: &dyn Comm, local: &[f64]) -> Result<Vec<Vec<f64>>> {
    let mut w = wire::Writer::default();
    for x in local {
        w.f64(*x);
    }
    comm.all_gather_bytes(&w.buf)?
        .iter()
        .map(|b| {
            if !b.len().is_multiple_of(8) {
                bail!("f64 message of {} bytes", b.len());
            }
            let mut r = wire::Reader::new(b);
            (0..b.len() / 8).map(|_| r.f64()).collect()
        })
        .collect()
}

/// Every rank's small u32 vector, by rank.
pub fn gather_u32(comm: &dyn Comm, local: &[u32]) -> Result<Vec<Vec<u32>>> {
    let mut w = wire::Writer::default();
    w.u32s(local);
    comm.all_gather_bytes(&w.buf)?
        .iter()
        .map(|b| wire::Reader::new(b).u32s())
        .collect()
}

/// Every rank's vector on `root` only (None elsewhere).
pub fn gather_f32_to(comm: &dyn Comm, root: usize, local: &[f32]) -> Result<Option<Vec<Vec<f32>>>> {
    super::check_rank(root, comm.world_size())?;
    let send: Vec<Vec<f32>> = (0..comm.world_size())
        .map(|q| {
            if q == root {
                local.to_vec()
            } else {
                Vec::new()
            }
        })
        .collect();
    let got = comm.all_to_all_f32(&send)?;
    Ok((comm.rank() == root).then_some(got))
}

#[cfg(test)]
mod tests {
    use super::super::{block, Single, ThreadComm};
    use super::*;

    /// Values whose sum depends on the order of addition in f32.
    fn part(k: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| match (i + k) % 3 {
                0 => 1e8,
                1 => 1.0 + k as f32 * 0.1,
                _ => -1e8 + i as f32,
            })
            .collect()
    }

    fn left_fold(parts: &[Vec<f32>]) -> Vec<f32> {
        let mut acc = parts[0].clone();
        for p in &parts[1..] {
            acc.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        acc
    }

    #[test]
    fn order_matters_for_these_values() {
        let ps: Vec<Vec<f32>> = (0..4).map(|k| part(k, 9)).collect();
        let rev: Vec<Vec<f32>> = ps.iter().rev().cloned().collect();
        assert_ne!(left_fold(&ps), left_fold(&rev));
    }

    #[test]
    fn reduce_scatter_is_the_left_fold_whatever_the_world() {
        let n = 11;
        let ps: Vec<Vec<f32>> = (0..6).map(|k| part(k, n)).collect();
        let want = left_fold(&ps);
        // One process with all six parts.
        let one = reduce_scatter_sum_f32(&Single, &ps, std::slice::from_ref(&(0..n))).unwrap();
        assert_eq!(one, want);
        // Three ranks with two parts each; ownership in uneven blocks.
        for world in [2usize, 3] {
            let ranges: Vec<Range<usize>> = (0..world).map(|q| block(n, world, q)).collect();
            let out = ThreadComm::run(world, |c| {
                let mine = block(ps.len(), world, c.rank());
                reduce_scatter_sum_f32(c, &ps[mine], &ranges).unwrap()
            });
            let joined: Vec<f32> = out.concat();
            assert_eq!(
                joined.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "world {world}"
            );
        }
    }

    #[test]
    fn rank_without_parts_and_nothing_anywhere() {
        let out = ThreadComm::run(3, |c| {
            let parts = if c.rank() == 1 {
                vec![vec![1.0f32, 2.0, 3.0]]
            } else {
                vec![]
            };
            let r = reduce_scatter_sum_f32(c, &parts, &[0..1, 1..1, 1..3]).unwrap();
            let z = reduce_scatter_sum_f32(c, &[], &[0..1, 1..1, 1..3]).unwrap();
            (r, z)
        });
        assert_eq!(out[0], (vec![1.0], vec![0.0]));
        assert_eq!(out[1], (vec![], vec![]));
        assert_eq!(out[2], (vec![2.0, 3.0], vec![0.0, 0.0]));
    }

    #[test]
    fn all_reduce_is_rank_ordered_and_identical_everywhere() {
        let ps: Vec<Vec<f32>> = (0..3).map(|k| part(k, 7)).collect();
        let want = left_fold(&ps);
        let out = ThreadComm::run(3, |c| {
            let mut v = ps[c.rank()].clone();
            all_reduce_sum_f32(c, &mut v).unwrap();
            let g = gather_f64(c, &[c.rank() as f64 + 0.5]).unwrap();
            let u = gather_u32(c, &vec![7; c.rank()]).unwrap();
            let root = gather_f32_to(c, 1, &[c.rank() as f32]).unwrap();
            (v, g, u, root)
        });
        for (r, (v, g, u, root)) in out.into_iter().enumerate() {
            assert_eq!(v, want);
            assert_eq!(g, vec![vec![0.5], vec![1.5], vec![2.5]]);
            assert_eq!(u, vec![vec![], vec![7], vec![7, 7]]);
            assert_eq!(root.is_some(), r == 1);
            if let Some(x) = root {
                assert_eq!(x, vec![vec![0.0], vec![1.0], vec![2.0]]);
            }
        }
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        assert!(
            reduce_scatter_sum_f32(&Single, &[vec![1.0]], std::slice::from_ref(&(0..2))).is_err()
        );
        assert!(reduce_scatter_sum_f32(&Single, &[vec![1.0]], &[0..1, 1..1]).is_err());
    }
}
