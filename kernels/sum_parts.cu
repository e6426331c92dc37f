// Ordered sum of equal-length parts: out[i] = ((p0[i] + p1[i]) + p2[i]) + ..., the left fold the
// host's ordered reduce-scatter (src/dist/reduce.rs) computes, so gradient shards summed on the
// device have the same bits as shards summed on the host, whatever the number of ranks.
// Part k starts at parts + k * stride. `out` may be part 0 (each element is read before it is
// written, by the same thread). Memory bound: 4 * (nparts + 1) B per element.
#include "common.cuh"

RLVR_KERNEL(sum_parts_f32, float* out, const float* parts, int nparts, int64_t n, int64_t stride) {
    RLVR_GRID_STRIDE(i, n) {
        float acc = parts[i];
        for (int k = 1; k < nparts; ++k) acc += parts[k * stride + i];
        out[i] = acc;
    }
}
