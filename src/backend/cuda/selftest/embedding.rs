//! kernels/embedding.cu: the embedding lookup (exact) and its backward, added onto an existing
//! gradient, against `backend::cpu::embedding`.
use super::super::device::{download, upload, KernelDevice};
use super::super::embedding::{embedding_bwd_f32, embedding_fwd_bf16};
use super::{bf16_inputs, compare, download_bf16, nan_bf16, row_shapes, CheckRow, Checks, TOL_F32};
use crate::backend::cpu::embedding::{embedding_bwd, embedding_fwd};
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("embedding") {
        return;
    }
    for (tokens, hidden) in row_shapes(c.set) {
        let vocab = 50;
        let shape = format!("t{tokens} v{vocab} h{hidden}");
        c.check("embedding", &shape, |dev, rng| {
            check_embedding(dev, rng, tokens, vocab, hidden, &shape)
        });
    }
}

fn check_embedding(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    tokens: usize,
    vocab: usize,
    hidden: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (table, th) = bf16_inputs(rng, vocab * hidden, -1.0, 1.0);
    // a skewed id distribution so some rows repeat many times and some never occur
    let ids: Vec<i32> = (0..tokens)
        .map(|_| (rng.below_unbiased(vocab as u64) * rng.below_unbiased(2)) as i32)
        .collect();
    let cpu_ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
    let (dt, di) = (upload(dev, &th)?, upload(dev, &ids)?);
    let out = nan_bf16(dev, tokens * hidden)?;
    embedding_fwd_bf16(dev, &out, &dt, &di, hidden)?;
    let r1 = compare(
        "embedding_fwd_bf16",
        shape,
        &download_bf16(dev, &out)?,
        &embedding_fwd(&table, hidden, &cpu_ids),
        0.0,
    );
    let (dout, douth) = bf16_inputs(rng, tokens * hidden, -1.0, 1.0);
    let prior = rng.uniform_f32_vec(vocab * hidden, -1.0, 1.0);
    let dtable = upload(dev, &prior)?;
    let ddout = upload(dev, &douth)?;
    embedding_bwd_f32(dev, &dtable, &ddout, &ids, hidden)?;
    let grad = embedding_bwd(&dout, hidden, &cpu_ids, vocab);
    let want: Vec<f32> = prior.iter().zip(&grad).map(|(p, g)| p + g).collect();
    let r2 = compare(
        "embedding_bwd_f32",
        shape,
        &download(dev, &dtable)?,
        &want,
        TOL_F32,
    );
    Ok(vec![r1, r2])
}
