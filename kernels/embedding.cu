// Token embedding. Forward: out[t, :] = table[ids[t], :] (4H bytes per token, no FLOPs); an id
// outside [0, vocab) yields a NaN row so that it cannot pass silently.
// Backward, deterministic without float atomics: the host groups token positions by id (ascending
// positions per id, see launch::EmbeddingGradIndex); block b owns table row uniq_rows[b] and adds
// the dout rows token_idx[offsets[b] .. offsets[b + 1]] in that order (2H bytes read per token).
// Rung 1 moves one element per thread and step, rung 2 several (the lookup 8, the backward 4:
// 16-byte accesses; hidden a multiple of that), the same values in the same order, so the same bits.
#include "common.cuh"
#include "vec16.cuh"

RLVR_KERNEL(embedding_fwd_bf16, bf16* __restrict__ out, const bf16* __restrict__ table, const int* __restrict__ ids,
            int hidden, int vocab) {
    const int64_t t = blockIdx.x;
    const int id = ids[t];
    const bool ok = id >= 0 && id < vocab;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x)
        out[t * hidden + c] = ok ? table[int64_t(id) * hidden + c] : __float2bfloat16(NAN);
}

RLVR_KERNEL(embedding_bwd_f32, float* __restrict__ dtable, const bf16* __restrict__ dout,
            const int* __restrict__ uniq_rows, const int* __restrict__ offsets, const int* __restrict__ token_idx,
            int hidden) {
    const int b = blockIdx.x;
    const int64_t row = uniq_rows[b];
    const int j0 = offsets[b], j1 = offsets[b + 1];
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
        float s = 0.0f;
        for (int j = j0; j < j1; ++j) s += ld_bf16(dout + int64_t(token_idx[j]) * hidden + c);
        dtable[row * hidden + c] += s;
    }
}

RLVR_KERNEL(embedding_fwd_x8_bf16, bf16* __restrict__ out, const bf16* __restrict__ table, const int* __restrict__ ids,
            int hidden, int vocab) {
    const int64_t t = blockIdx.x;
    const int id = ids[t];
    const bool ok = id >= 0 && id < vocab;
    const uint32_t nan2 = pack_bf16x2(NAN, NAN);
    for (int c = 8 * threadIdx.x; c < hidden; c += 8 * blockDim.x) {
        const uint4 v = ok ? ldg16(table + int64_t(id) * hidden + c) : make_uint4(nan2, nan2, nan2, nan2);
        st_u32x4(out + t * hidden + c, v);
    }
}

// Four columns per thread: the f32 read-modify-write of the table row is then one 16-byte access
// per thread, contiguous across the warp (the dout rows are read 8 bytes at a time).
RLVR_KERNEL(embedding_bwd_x4_f32, float* __restrict__ dtable, const bf16* __restrict__ dout,
            const int* __restrict__ uniq_rows, const int* __restrict__ offsets, const int* __restrict__ token_idx,
            int hidden) {
    const int b = blockIdx.x;
    const int64_t row = uniq_rows[b];
    const int j0 = offsets[b], j1 = offsets[b + 1];
    for (int c = 4 * threadIdx.x; c < hidden; c += 4 * blockDim.x) {
        float s[4] = {};
        for (int j = j0; j < j1; ++j) add_bf16_run<4>(s, dout + int64_t(token_idx[j]) * hidden + c);
        float* d = dtable + row * hidden + c;
        float4 v = ld_f32x4(d);
        v.x += s[0], v.y += s[1], v.z += s[2], v.w += s[3];
        st_f32x4(d, v);
    }
}
