//! Launchers for kernels/embedding.cu: the token-embedding lookup and its deterministic
//! backward (positions grouped by id on the host, each id's rows summed in position order), each
//! a ladder: rung 1 one element per thread, rung 2 several (the lookup 8 bf16, the backward 4 f32
//! of the table: 16-byte accesses; hidden a multiple of that), with the same bits.
use super::device::{upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::launch::{check_rows, row_block, same_len, vec_rung, vec_step};
use anyhow::{bail, Result};
use half::bf16;

/// out[t, :] = table[ids[t], :]; `table` is vocab x hidden. On the best rung.
pub fn embedding_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    table: &DevBuf<bf16>,
    ids: &DevBuf<i32>,
    hidden: usize,
) -> Result<()> {
    embedding_fwd_rung(dev, vec_rung(hidden, 8), out, table, ids, hidden)
}

/// [`embedding_fwd_bf16`] on a given rung.
pub fn embedding_fwd_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    out: &DevBuf<bf16>,
    table: &DevBuf<bf16>,
    ids: &DevBuf<i32>,
    hidden: usize,
) -> Result<()> {
    let vocab = check_rows("embedding_fwd_bf16 table", table.len(), hidden)?;
    same_len("embedding_fwd_bf16 out", &[out.len(), ids.len() * hidden])?;
    let per = vec_step("embedding_fwd_bf16", rung, hidden, 8)?;
    let kernel = if per == 8 {
        "embedding_fwd_x8_bf16"
    } else {
        "embedding_fwd_bf16"
    };
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(table)
        .buf(ids)
        .i32(hidden as i32)
        .i32(vocab as i32);
    dev.launch(
        kernel,
        &LaunchCfg::linear(ids.len() as u32, row_block(hidden / per), 0),
        &mut a,
    )
}

/// Host-side grouping of token positions by id for the deterministic embedding backward:
/// for the k-th distinct id `rows[k]`, its positions are `token_idx[offsets[k]..offsets[k+1]]`
/// in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingGradIndex {
    pub rows: Vec<i32>,
    pub offsets: Vec<i32>,
    pub token_idx: Vec<i32>,
}

impl EmbeddingGradIndex {
    pub fn build(ids: &[i32], vocab: usize) -> Result<Self> {
        let mut order: Vec<(i32, i32)> = Vec::with_capacity(ids.len());
        for (t, &id) in ids.iter().enumerate() {
            if id < 0 || id as usize >= vocab {
                bail!("token id {id} at position {t} is outside the vocabulary of {vocab}");
            }
            order.push((id, t as i32));
        }
        order.sort_unstable();
        let (mut rows, mut offsets, mut token_idx) =
            (Vec::new(), Vec::new(), Vec::with_capacity(ids.len()));
        for (k, &(id, t)) in order.iter().enumerate() {
            if k == 0 || order[k - 1].0 != id {
                rows.push(id);
                offsets.push(k as i32);
            }
            token_idx.push(t);
        }
        offsets.push(order.len() as i32);
        Ok(EmbeddingGradIndex {
            rows,
            offsets,
            token_idx,
        })
    }
}

/// dtable[ids[t], :] += dout[t, :] (f32 dtable, vocab x hidden), deterministic.
pub fn embedding_bwd_f32(
    dev: &dyn KernelDevice,
    dtable: &DevBuf<f32>,
    dout: &DevBuf<bf16>,
    ids: &[i32],
    hidden: usize,
) -> Result<()> {
    embedding_bwd_rung(dev, vec_rung(hidden, 4), dtable, dout, ids, hidden)
}

/// [`embedding_bwd_f32`] on a given rung.
pub fn embedding_bwd_rung(
    dev: &dyn KernelDevice,
    rung: u32,
    dtable: &DevBuf<f32>,
    dout: &DevBuf<bf16>,
    ids: &[i32],
    hidden: usize,
) -> Result<()> {
    let per = vec_step("embedding_bwd_f32", rung, hidden, 4)?;
    let vocab = check_rows("embedding_bwd_f32 dtable", dtable.len(), hidden)?;
    same_len("embedding_bwd_f32 dout", &[dout.len(), ids.len() * hidden])?;
    let idx = EmbeddingGradIndex::build(ids, vocab)?;
    if idx.rows.is_empty() {
        return Ok(());
    }
    let rows = upload(dev, &idx.rows)?;
    let offsets = upload(dev, &idx.offsets)?;
    let token_idx = upload(dev, &idx.token_idx)?;
    let mut a = KernelArgs::new();
    a.buf(dtable)
        .buf(dout)
        .buf(&rows)
        .buf(&offsets)
        .buf(&token_idx)
        .i32(hidden as i32);
    let kernel = if per == 4 {
        "embedding_bwd_x4_f32"
    } else {
        "embedding_bwd_f32"
    };
    dev.launch(
        kernel,
        &LaunchCfg::linear(idx.rows.len() as u32, row_block(hidden / per), 0),
        &mut a,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_grad_index_groups_positions_by_id_in_order() {
        let idx = EmbeddingGradIndex::build(&[4, 1, 4, 0, 1, 4], 5).unwrap();
        assert_eq!(idx.rows, vec![0, 1, 4]);
        assert_eq!(idx.offsets, vec![0, 1, 3, 6]);
        assert_eq!(idx.token_idx, vec![3, 1, 4, 0, 2, 5]);
        let e = EmbeddingGradIndex::build(&[0, 7], 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("token id 7 at position 1"), "{e}");
    }
}
