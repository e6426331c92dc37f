//! The data-parallel gradient sum on the (emulated) device: for any number of ranks and shards,
//! including ranks that hold no shard, shard 0 ends, on every rank, with the left fold of all
//! shards in shard order, bit for bit what the host's ordered reduce-scatter computes.
mod emu_common;

use rlvr::backend::cuda::device::{copy_to_device, download};
use rlvr::backend::cuda::model::dp::ShardGrads;
use rlvr::backend::cuda::model::DeviceModel;
use rlvr::dist::device_comm::Staged;
use rlvr::dist::{block, Comm, ThreadComm};
use rlvr::model::init::{write_tiny_char_model, TinySpec};
use rlvr::model::Model;

/// Shard `s`'s gradient of tensor `t`: magnitudes far apart, so the order of addition shows.
fn grad(s: usize, t: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match (i + s + t) % 3 {
            0 => 1e7 * (s as f32 + 1.0),
            1 => 0.37 + s as f32 * 0.11,
            _ => -1e7 * (s as f32 + 0.5) + i as f32,
        })
        .collect()
}

#[test]
fn shard_sum_is_the_host_left_fold_on_every_rank() {
    if emu_common::emu_or_skip(0).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_tiny_char_model(dir.path(), TinySpec::default()).unwrap();
    let model = Model::load(dir.path()).unwrap();
    let sizes: Vec<usize> = model.params.iter().map(|p| p.numel()).collect();
    for (world, shards) in [(1usize, 1usize), (1, 3), (2, 2), (3, 5), (3, 2)] {
        let want: Vec<Vec<u32>> = sizes
            .iter()
            .enumerate()
            .map(|(t, &n)| {
                let parts: Vec<Vec<f32>> = (0..shards).map(|s| grad(s, t, n)).collect();
                if shards >= 3 {
                    let rev: Vec<Vec<f32>> = parts.iter().rev().cloned().collect();
                    let fold = |ps: &[Vec<f32>]| {
                        ps[1..].iter().fold(ps[0].clone(), |mut a, p| {
                            a.iter_mut().zip(p).for_each(|(a, b)| *a += b);
                            a
                        })
                    };
                    assert_ne!(fold(&parts), fold(&rev), "the values must expose the order");
                }
                let sum = rlvr::dist::reduce_scatter_sum_f32(
                    &rlvr::dist::Single,
                    &parts,
                    std::slice::from_ref(&(0..n)),
                )
                .unwrap();
                sum.iter().map(|x| x.to_bits()).collect()
            })
            .collect();
        let got = ThreadComm::run(world, |c| {
            let dev = emu_common::emu_or_skip(c.rank() as u64).unwrap();
            let dm = DeviceModel::upload(&dev, &model).unwrap();
            let mine = block(shards, world, c.rank());
            let mut g = ShardGrads::alloc(&dev, &dm, mine.len()).unwrap();
            for (k, s) in mine.enumerate() {
                for (t, b) in g.shards[k].bufs.iter().enumerate() {
                    copy_to_device(&dev, &grad(s, t, b.len()), b).unwrap();
                }
            }
            g.all_reduce(&dev, &Staged { comm: c }, shards).unwrap();
            g.shards[0]
                .bufs
                .iter()
                .map(|b| {
                    download(&dev, b)
                        .unwrap()
                        .iter()
                        .map(|x| x.to_bits())
                        .collect::<Vec<u32>>()
                })
                .collect::<Vec<_>>()
        });
        for (r, g) in got.iter().enumerate() {
            assert!(
                g == &want,
                "world {world}, {shards} shards: rank {r} differs from the host fold"
            );
        }
    }
}
