//! FLOP and byte counts of every bench entry, written out so a reader can check them.
//!
//! Bytes are the compulsory traffic: every input read once and every output written once (what a
//! perfect kernel moves through DRAM); scratch traffic a kernel adds on top (partial sums, the
//! attention row statistics) is not counted, so GB/s is an honest lower bound on what it moved.
//! FLOPs count a multiply-add as 2 and only the matrix products of a kernel.

const BF16: u64 = 2;
const F32: u64 = 4;
const I32: u64 = 4;

fn u(x: usize) -> u64 {
    x as u64
}

/// C[m, n] = A[m, k] · B[n, k]ᵀ.
pub fn gemm_flops(m: usize, n: usize, k: usize) -> u64 {
    2 * u(m) * u(n) * u(k)
}

/// Query-key pairs a causal sequence of `len` tokens attends over (token t sees t + 1 keys).
pub fn causal_pairs(len: usize) -> u64 {
    u(len) * (u(len) + 1) / 2
}

/// Causal attention forward: S = QKᵀ and O = PV, 2·d FLOPs each per (query, key, head).
pub fn attn_fwd_flops(seq_lens: &[usize], n_q_heads: usize, head_dim: usize) -> u64 {
    let pairs: u64 = seq_lens.iter().map(|&l| causal_pairs(l)).sum();
    4 * u(head_dim) * u(n_q_heads) * pairs
}

/// Causal attention backward: five products per pair (S recomputed, dP = dO·Vᵀ, dV = Pᵀ·dO,
/// dQ = dS·K, dK = dSᵀ·Q), i.e. 2.5× the forward (the FlashAttention-2 convention).
pub fn attn_bwd_flops(seq_lens: &[usize], n_q_heads: usize, head_dim: usize) -> u64 {
    let pairs: u64 = seq_lens.iter().map(|&l| causal_pairs(l)).sum();
    10 * u(head_dim) * u(n_q_heads) * pairs
}

/// Decode attention: reads every cached K and V row once (bf16), q once, writes out and lse.
pub fn attn_decode_bytes(
    cache_lens: &[usize],
    n_q_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
) -> u64 {
    let cached: u64 = cache_lens.iter().map(|&l| u(l)).sum();
    let b = u(cache_lens.len());
    let kv = 2 * cached * u(n_kv_heads) * u(head_dim) * BF16;
    let q_out = 2 * b * u(n_q_heads) * u(head_dim) * BF16;
    kv + q_out + b * u(n_q_heads) * F32
}

/// Decode attention FLOPs: q·k and p·v for every cached key of every query head.
pub fn attn_decode_flops(cache_lens: &[usize], n_q_heads: usize, head_dim: usize) -> u64 {
    let cached: u64 = cache_lens.iter().map(|&l| u(l)).sum();
    4 * cached * u(n_q_heads) * u(head_dim)
}

/// RMSNorm forward on [rows, hidden]: read x and w, write y and rstd.
pub fn rmsnorm_fwd_bytes(rows: usize, hidden: usize) -> u64 {
    2 * u(rows) * u(hidden) * BF16 + u(hidden) * BF16 + u(rows) * F32
}

/// RMSNorm backward: read dy, x, w and rstd, write dx and dw (f32).
pub fn rmsnorm_bwd_bytes(rows: usize, hidden: usize) -> u64 {
    3 * u(rows) * u(hidden) * BF16 + u(hidden) * BF16 + u(rows) * F32 + u(hidden) * F32
}

/// RoPE (either direction) on [tokens, heads, head_dim]: read x, positions and the head_dim/2
/// inverse frequencies, write out.
pub fn rope_bytes(tokens: usize, heads: usize, head_dim: usize) -> u64 {
    2 * u(tokens) * u(heads) * u(head_dim) * BF16 + u(tokens) * I32 + u(head_dim / 2) * F32
}

/// SwiGLU forward: read gate and up, write out (n elements each).
pub fn swiglu_fwd_bytes(n: usize) -> u64 {
    3 * u(n) * BF16
}

/// SwiGLU backward: read dout, gate and up, write dgate and dup.
pub fn swiglu_bwd_bytes(n: usize) -> u64 {
    5 * u(n) * BF16
}

/// Residual add: read a and b, write out.
pub fn residual_bytes(n: usize) -> u64 {
    3 * u(n) * BF16
}

/// Cast between f32 and bf16 (either direction): one of each per element.
pub fn cast_bytes(n: usize) -> u64 {
    u(n) * (F32 + BF16)
}

/// Embedding forward: read ids and one table row per token, write the rows.
pub fn embedding_fwd_bytes(tokens: usize, hidden: usize) -> u64 {
    u(tokens) * I32 + 2 * u(tokens) * u(hidden) * BF16
}

/// Embedding backward: read dout and ids, read-modify-write one f32 table row per distinct id.
pub fn embedding_bwd_bytes(tokens: usize, distinct_ids: usize, hidden: usize) -> u64 {
    u(tokens) * u(hidden) * BF16 + u(tokens) * I32 + 2 * u(distinct_ids) * u(hidden) * F32
}

/// Row softmax / log-softmax: read bf16 logits, write f32 (log-)probabilities.
pub fn softmax_bytes(rows: usize, cols: usize) -> u64 {
    u(rows) * u(cols) * (BF16 + F32)
}

/// AdamW: read param, m, v, grad (f32), write param, m, v (f32) and the bf16 copy.
pub fn adamw_bytes(n: usize, bf16_copy: bool) -> u64 {
    u(n) * (7 * F32 + if bf16_copy { BF16 } else { 0 })
}

/// Global grad norm: read every gradient once.
pub fn grad_norm_bytes(lens: &[usize]) -> u64 {
    lens.iter().map(|&l| u(l) * F32).sum()
}

/// In-place scale by a device scalar: read and write x.
pub fn scale_bytes(n: usize) -> u64 {
    2 * u(n) * F32
}

/// Sampling: the logits must be read at least once (f32); per-row outputs are negligible.
pub fn sampling_bytes(rows: usize, vocab: usize) -> u64 {
    u(rows) * u(vocab) * F32 + 3 * u(rows) * F32
}

/// Bias add in place on [rows, cols]: read and write x, read the bias once.
pub fn bias_add_bytes(rows: usize, cols: usize) -> u64 {
    2 * u(rows) * u(cols) * BF16 + u(cols) * BF16
}

/// Bias gradient (column sum of [rows, cols] bf16 into f32): read x once, write the f32 sums
/// (the per-part partials are the kernel's own traffic, not compulsory).
pub fn colsum_bytes(rows: usize, cols: usize) -> u64 {
    u(rows) * u(cols) * BF16 + u(cols) * F32
}

/// Fill an f32 buffer: write every element.
pub fn fill_bytes(n: usize) -> u64 {
    u(n) * F32
}

/// Ordered sum of `parts` shards of `n` floats: read every shard, write one.
pub fn sum_parts_bytes(parts: usize, n: usize) -> u64 {
    (u(parts) + 1) * u(n) * F32
}

/// Device-to-device copy: read and write every byte.
pub fn copy_bytes(bytes: usize) -> u64 {
    2 * u(bytes)
}

/// Fused log-prob forward + backward: logits H·Wᵀ in the forward, then recomputed logits, dH =
/// dZ·W and dW = dZᵀ·H in the backward: four [T, V, d] products.
pub fn fused_logprob_flops(tokens: usize, vocab: usize, hidden: usize) -> u64 {
    4 * gemm_flops(tokens, vocab, hidden)
}

/// The products any log-prob gradient must contain (H·Wᵀ, dH, dW): the cuBLAS baseline.
pub fn logprob_gemm_flops(tokens: usize, vocab: usize, hidden: usize) -> u64 {
    3 * gemm_flops(tokens, vocab, hidden)
}

/// The naive path's extra memory: f32 logits [T, V] and their f32 gradient.
pub fn naive_logprob_bytes(tokens: usize, vocab: usize) -> u64 {
    u(tokens) * u(vocab) * (F32 + F32)
}

/// TFLOP/s from FLOPs and milliseconds.
pub fn tflops(flops: u64, ms: f64) -> f64 {
    flops as f64 / (ms * 1e-3) / 1e12
}

/// GB/s (10⁹ bytes) from bytes and milliseconds.
pub fn gbps(bytes: u64, ms: f64) -> f64 {
    bytes as f64 / (ms * 1e-3) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_and_attention_flops_match_hand_counts() {
        // 4096³: 2 · 4096³ = 137_438_953_472.
        assert_eq!(gemm_flops(4096, 4096, 4096), 137_438_953_472);
        // Causal seq 3 sees 1 + 2 + 3 = 6 pairs; 4 d heads FLOPs each in the forward.
        assert_eq!(causal_pairs(3), 6);
        assert_eq!(attn_fwd_flops(&[3], 2, 8), 4 * 8 * 2 * 6);
        // One 4096 causal sequence, 28 heads of 128: 4·128·28·(4096·4097/2).
        assert_eq!(attn_fwd_flops(&[4096], 28, 128), 120_288_444_416);
        assert_eq!(
            attn_bwd_flops(&[4096, 10], 28, 128),
            attn_fwd_flops(&[4096, 10], 28, 128) * 5 / 2
        );
        // Decode: 2 sequences with 3 and 5 cached keys, 4 heads of 16: 4·8·4·16.
        assert_eq!(attn_decode_flops(&[3, 5], 4, 16), 2048);
    }

    #[test]
    fn byte_counts_match_hand_counts() {
        // Qwen2.5-1.5B q bias at 8192 tokens: 2·8192·1536·2 + 1536·2 bytes.
        assert_eq!(bias_add_bytes(8192, 1536), 50_334_720);
        assert_eq!(colsum_bytes(8192, 1536), 25_171_968);
        assert_eq!(fill_bytes(1000), 4000);
        assert_eq!(sum_parts_bytes(8, 1000), 36_000);
        // RMSNorm fwd 2 rows x 4: x 16 B + y 16 B + w 8 B + rstd 8 B.
        assert_eq!(rmsnorm_fwd_bytes(2, 4), 48);
        // bwd: dy, x, dx 48 B + w 8 B + rstd 8 B + dw 16 B.
        assert_eq!(rmsnorm_bwd_bytes(2, 4), 80);
        // RoPE 3 tokens x 2 heads x 8: in + out 192 B, pos 12 B, 4 inverse freqs 16 B.
        assert_eq!(rope_bytes(3, 2, 8), 220);
        assert_eq!(swiglu_fwd_bytes(10), 60);
        assert_eq!(swiglu_bwd_bytes(10), 100);
        assert_eq!(residual_bytes(10), 60);
        assert_eq!(cast_bytes(10), 60);
        // Embedding 5 tokens x 4: ids 20 B + rows in/out 80 B.
        assert_eq!(embedding_fwd_bytes(5, 4), 100);
        // bwd with 3 distinct ids: dout 40 + ids 20 + 3 rows x 4 x f32 read and written 96.
        assert_eq!(embedding_bwd_bytes(5, 3, 4), 156);
        assert_eq!(softmax_bytes(2, 10), 120);
        // AdamW: 7 f32 streams (4 in, 3 out) + bf16 copy = 30 B per parameter.
        assert_eq!(adamw_bytes(10, true), 300);
        assert_eq!(adamw_bytes(10, false), 280);
        assert_eq!(grad_norm_bytes(&[3, 5]), 32);
        assert_eq!(scale_bytes(3), 24);
        assert_eq!(copy_bytes(100), 200);
        // Decode: K+V 2·8·2·16·2 = 1024, q+out 2·2·4·16·2 = 512, lse 2·4·4 = 32.
        assert_eq!(attn_decode_bytes(&[3, 5], 4, 2, 16), 1568);
    }

    #[test]
    fn logprob_counts_and_the_naive_memory_at_the_goal_shape() {
        // T = 32768, V = 152064, d = 3584: one product is 2·T·V·d = 35.7 TFLOP.
        let one = 2u64 * 32768 * 152_064 * 3584;
        assert_eq!(fused_logprob_flops(32768, 152_064, 3584), 4 * one);
        assert_eq!(logprob_gemm_flops(32768, 152_064, 3584), 3 * one);
        // f32 logits + f32 gradient: 8 · T · V bytes = 39.9 GB.
        assert_eq!(naive_logprob_bytes(32768, 152_064), 39_862_665_216);
        assert!((tflops(2_000_000_000_000, 2.0) - 1000.0).abs() < 1e-9);
        assert!((gbps(3_000_000_000, 1.0) - 3000.0).abs() < 1e-9);
    }
}
