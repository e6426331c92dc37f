//! ZeRO-1: each data-parallel rank keeps the AdamW moments (and updates the f32 master
//! weights) of a contiguous run of whole tensors; the others receive the updated weights.
//! Sharding by whole tensors (as torch's ZeroRedundancyOptimizer does) keeps every tensor's
//! update and squared norm exactly the unsharded computation. Checkpoints hold the full,
//! unsharded state, so a run resumes on any number of ranks.
use super::AdamW;
use crate::dist::{reduce::gather_f32_to, Comm};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use std::ops::Range;
use std::path::Path;

/// Contiguous tensor ranges, one per rank, balanced by element count: a tensor goes to the rank
/// whose equal share of the elements holds the tensor's midpoint.
pub fn partition_tensors(numels: &[usize], world: usize) -> Vec<Range<usize>> {
    let world = world.max(1);
    let total: usize = numels.iter().sum();
    let mut owner = Vec::with_capacity(numels.len());
    let mut at = 0usize;
    for &n in numels {
        let mid = (at as u128 * 2 + n as u128) * world as u128 / (2 * total.max(1) as u128);
        owner.push((mid as usize).min(world - 1));
        at += n;
    }
    (0..world)
        .map(|q| {
            let start = owner.iter().position(|&o| o >= q).unwrap_or(numels.len());
            let end = owner.iter().position(|&o| o > q).unwrap_or(numels.len());
            start..end
        })
        .collect()
}

/// The ranges of the flat (concatenated) parameter vector covered by tensor ranges.
pub fn element_ranges(numels: &[usize], tensors: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut offsets = vec![0usize];
    for n in numels {
        offsets.push(offsets.last().copied().unwrap_or(0) + n);
    }
    tensors
        .iter()
        .map(|r| offsets[r.start]..offsets[r.end])
        .collect()
}

/// The full optimizer state (every tensor's moments) on rank `root`, from the owners' shards;
/// `opt` holds the moments of `owners[rank]`. None on other ranks.
pub fn gather_state(
    comm: &dyn Comm,
    root: usize,
    opt: &AdamW,
    owners: &[Range<usize>],
    numels: &[usize],
) -> Result<Option<AdamW>> {
    let local: Vec<f32> = opt.m.iter().chain(&opt.v).flatten().copied().collect();
    let Some(all) = gather_f32_to(comm, root, &local)? else {
        return Ok(None);
    };
    let mut m = Vec::with_capacity(numels.len());
    let mut v = Vec::with_capacity(numels.len());
    for (q, (buf, r)) in all.iter().zip(owners).enumerate() {
        let sizes = &numels[r.clone()];
        let half: usize = sizes.iter().sum();
        if buf.len() != 2 * half {
            bail!(
                "rank {q} sent {} optimizer values, expected {}",
                buf.len(),
                2 * half
            );
        }
        let mut at = 0;
        for &n in sizes {
            m.push(buf[at..at + n].to_vec());
            v.push(buf[half + at..half + at + n].to_vec());
            at += n;
        }
    }
    Ok(Some(AdamW {
        cfg: opt.cfg,
        step: opt.step,
        m,
        v,
    }))
}

/// Load a full (unsharded) optimizer file and keep the moments of the tensors `owned`.
pub fn load_shard(
    opt: &mut AdamW,
    path: &Path,
    params: &[Tensor],
    owned: Range<usize>,
) -> Result<()> {
    let mut full = AdamW::new(opt.cfg, params);
    full.load(path)?;
    opt.m = full.m.drain(owned.clone()).collect();
    opt.v = full.v.drain(owned).collect();
    opt.step = full.step;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{Single, ThreadComm};

    #[test]
    fn partitions_are_contiguous_covering_and_balanced() {
        let numels = [100, 10, 10, 10, 60, 5, 5, 100];
        for world in 1..5 {
            let p = partition_tensors(&numels, world);
            assert_eq!(p.len(), world);
            assert_eq!(p[0].start, 0);
            assert_eq!(p[world - 1].end, numels.len());
            for w in p.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
        }
        assert_eq!(partition_tensors(&numels, 2), vec![0..4, 4..8]);
        assert_eq!(partition_tensors(&[], 3), vec![0..0, 0..0, 0..0]);
        assert_eq!(
            element_ranges(&numels, &[0..4, 4..8]),
            vec![0..130, 130..300]
        );
    }

    #[test]
    fn sharded_state_gathers_to_the_full_state() {
        let params: Vec<Tensor> = [3usize, 1, 4, 2]
            .iter()
            .map(|&n| Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n]).unwrap())
            .collect();
        let numels: Vec<usize> = params.iter().map(|p| p.numel()).collect();
        let mut full = AdamW::new(Default::default(), &params);
        for (i, (m, v)) in full.m.iter_mut().zip(&mut full.v).enumerate() {
            m.iter_mut().for_each(|x| *x = i as f32 + 0.5);
            v.iter_mut().for_each(|x| *x = i as f32 * 2.0);
        }
        full.step = 3;
        let owners = partition_tensors(&numels, 2);
        let got = ThreadComm::run(2, |c| {
            let r = owners[c.rank()].clone();
            let shard = AdamW {
                cfg: full.cfg,
                step: full.step,
                m: full.m[r.clone()].to_vec(),
                v: full.v[r].to_vec(),
            };
            gather_state(c, 0, &shard, &owners, &numels).unwrap()
        });
        let g = got[0].as_ref().unwrap();
        assert!(got[1].is_none());
        assert_eq!((&g.m, &g.v, g.step), (&full.m, &full.v, 3));
        // And back: a file of the full state loads into each shard.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opt.safetensors");
        full.save(&path).unwrap();
        let mut shard = AdamW::new(full.cfg, &params[owners[1].clone()]);
        load_shard(&mut shard, &path, &params, owners[1].clone()).unwrap();
        assert_eq!(shard.m, full.m[owners[1].clone()].to_vec());
        assert_eq!(shard.step, 3);
        let one = gather_state(&Single, 0, &full, std::slice::from_ref(&(0..4)), &numels)
            .unwrap()
            .unwrap();
        assert_eq!(one.v, full.v);
    }
}
