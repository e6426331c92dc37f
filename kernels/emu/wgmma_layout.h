// The layouts of wgmma fragments, shared-memory matrix descriptors and the TMA / wgmma swizzle,
// as the PTX ISA documents them (see kernels/hopper.cuh). hopper.cpp evaluates wgmma and TMA with
// exactly these functions, and exposes them (rlvr_emu_wgmma_*) so tests compare them with CuTe's.
#pragma once

#include <cstdint>

namespace rlvr_emu::layout {

// Accumulator value i of thread t (0..127) of an m64nNk16 wgmma: D[row][col].
inline void acc_coord(int t, int i, int* row, int* col) {
    *row = 16 * (t / 32) + (t % 32) / 4 + 8 * ((i / 2) % 2);
    *col = 8 * (i / 4) + 2 * (t % 4) + i % 2;
}

// bf16 value v (0..7; register v / 2, low half first) of thread t's A fragment: A[row][k].
inline void a_reg_coord(int t, int v, int* row, int* k) {
    const int r = v / 2;
    *row = 16 * (t / 32) + (t % 32) / 4 + 8 * (r % 2);
    *k = 2 * (t % 4) + 8 * (r / 2) + v % 2;
}

// Swizzle of `span` bytes (0: none, 32, 64, 128) on a shared-memory byte address: the 16-byte
// chunk bits 4.. are XORed with the address bits 7.. (CuTe's Swizzle<1|2|3, 4, 3>).
inline uint32_t swizzle(int span, uint32_t addr) {
    const uint32_t bits = span == 128 ? 3 : span == 64 ? 2 : span == 32 ? 1 : 0;
    const uint32_t mask = (1u << bits) - 1;
    return addr ^ (((addr >> 7) & mask) << 4);
}

// Swizzle span in bytes of a descriptor's mode (bits 62-63: 0 none, 1 128B, 2 64B, 3 32B).
inline int desc_swizzle_span(uint64_t desc) {
    static const int span[4] = {0, 128, 64, 32};
    return span[desc >> 62];
}
inline uint32_t desc_start(uint64_t desc) { return uint32_t(desc & 0x3FFF) << 4; }
inline uint32_t desc_lbo(uint64_t desc) { return uint32_t((desc >> 16) & 0x3FFF) << 4; }
inline uint32_t desc_sbo(uint64_t desc) { return uint32_t((desc >> 32) & 0x3FFF) << 4; }
inline uint32_t desc_base_offset(uint64_t desc) { return uint32_t((desc >> 49) & 7); }

// Shared-memory byte address of element (mn, k), k in [0, 16), of a 16-bit operand described by
// `desc`. K-major: rows along M (N), 8-row groups SBO apart; MN-major (`mn_major`, the
// transposed operand): columns along M (N), 8-k groups SBO (swizzled) or LBO (no swizzle) apart.
inline uint32_t desc_element_address(uint64_t desc, bool mn_major, int mn, int k) {
    const uint32_t start = desc_start(desc), lbo = desc_lbo(desc), sbo = desc_sbo(desc);
    const int w = desc_swizzle_span(desc);
    const uint32_t umn = uint32_t(mn), uk = uint32_t(k);
    if (!mn_major) {
        if (w == 0) return start + 16 * (umn % 8) + sbo * (umn / 8) + lbo * (uk / 8) + 2 * (uk % 8);
        return swizzle(w, start + uint32_t(w) * (umn % 8) + sbo * (umn / 8) + 2 * uk);
    }
    if (w == 0) return start + 2 * (umn % 8) + sbo * (umn / 8) + 16 * (uk % 8) + lbo * (uk / 8);
    const uint32_t run = uint32_t(w) / 2;  // elements of one swizzled row along M (N)
    return swizzle(w, start + 2 * (umn % run) + lbo * (umn / run) + uint32_t(w) * (uk % 8) + sbo * (uk / 8));
}

}  // namespace rlvr_emu::layout
