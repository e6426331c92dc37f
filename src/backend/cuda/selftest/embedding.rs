//! kernels/embedding.cu: the embedding lookup (exact) and its backward, added onto an existing
//! gradient, against `backend::cpu::embedding`.
use super::super::device::{download, filled, upload, DevBuf, KernelDevice};
use super::super::embedding::{
    embedding_bwd_f32, embedding_bwd_rung, embedding_fwd_bf16, embedding_fwd_rung,
};
use super::super::launch::vec_rung;
use super::{bf16_inputs, compare, download_bf16, nan_bf16, row_shapes, CheckRow, Checks, TOL_F32};
use crate::backend::cpu::embedding::{embedding_bwd, embedding_fwd};
use crate::rng::SplitMix64;
use anyhow::Result;
use half::bf16;

pub fn run(c: &mut Checks) {
    if !c.wants("embedding") {
        return;
    }
    // A row that is not a multiple of 8 takes rung 1 on the plain launchers.
    for (tokens, hidden) in row_shapes(c.set).into_iter().chain([(5, 100)]) {
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
    let mut rows = vec![r1, r2];
    if vec_rung(hidden, 8) == 2 {
        // Rung 2 (16-byte accesses) against rung 1, both directions: the same bits (hidden is a
        // multiple of 4 too, the backward's width).
        let shape = format!("{shape} = rung 1");
        let (o1, o2) = (
            nan_bf16(dev, tokens * hidden)?,
            nan_bf16(dev, tokens * hidden)?,
        );
        embedding_fwd_rung(dev, 1, &o1, &dt, &di, hidden)?;
        embedding_fwd_rung(dev, 2, &o2, &dt, &di, hidden)?;
        let (want, got) = (download_bf16(dev, &o1)?, download_bf16(dev, &o2)?);
        rows.push(compare("embedding_fwd_x8_bf16", &shape, &got, &want, 0.0));
        let (t1, t2) = (upload(dev, &prior)?, upload(dev, &prior)?);
        embedding_bwd_rung(dev, 1, &t1, &ddout, &ids, hidden)?;
        embedding_bwd_rung(dev, 2, &t2, &ddout, &ids, hidden)?;
        let (want, got) = (download(dev, &t1)?, download(dev, &t2)?);
        rows.push(compare("embedding_bwd_x4_f32", &shape, &got, &want, 0.0));
    }
    rows.extend(check_bad_ids(dev, &dt, &table, vocab, hidden, shape)?);
    Ok(rows)
}

/// Ids 1, -1 and `vocab` on every rung that runs at `hidden`: row 1 of the table, then two NaN
/// rows (into a zero-filled output, so a row left unwritten cannot pass).
fn check_bad_ids(
    dev: &dyn KernelDevice,
    table_dev: &DevBuf<bf16>,
    table: &[f32],
    vocab: usize,
    hidden: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let ids = upload(dev, &[1, -1, vocab as i32])?;
    let mut rows = Vec::new();
    for rung in 1..=vec_rung(hidden, 8) {
        let out = filled(dev, 3 * hidden, bf16::ZERO)?;
        embedding_fwd_rung(dev, rung, &out, table_dev, &ids, hidden)?;
        let got = download_bf16(dev, &out)?;
        let kernel = ["embedding_fwd_bf16", "embedding_fwd_x8_bf16"][rung as usize - 1];
        let shape = format!("{shape} ids 1,-1,{vocab}");
        let mut row = compare(
            kernel,
            &shape,
            &got[..hidden],
            &table[hidden..2 * hidden],
            0.0,
        );
        if !got[hidden..].iter().all(|v| v.is_nan()) {
            row.pass = false;
            row.note = "an id outside the vocabulary did not give a NaN row".into();
        }
        rows.push(row);
    }
    Ok(rows)
}
