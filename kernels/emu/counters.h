// Efficiency counters of the emulator: what a kernel asks of the memory system and the SM, counted
// exactly by executing it (only time needs the hardware).
//
// A traced kernel unit (RLVR_EMU_TRACED, compiled with -fsanitize=thread; no sanitizer runtime is
// linked) calls __tsan_{read,write}N before every load and store, statics at constant offsets
// included (which kernel-address sanitizing leaves out, and `__shared__` scalars are such); the
// hooks in counters.cpp append (site, address, size) to the running thread's trace, where the
// site is the hook's return address, i.e. one memory instruction of the kernel. When every thread of the block
// has reached a rendezvous (barrier, warp intrinsic, exit), each warp's traces are grouped as the
// hardware issues them: the k-th execution of a site by the lanes of the warp is one request.
// Requests are classified by address: emulated device allocations (global), emulated shared
// memory, or neither (the host's own statics and the fiber stacks, which are not counted).
//
// Global requests count the bytes the lanes ask for, the distinct bytes among them (a broadcast
// counts once) and the distinct 32-byte sectors; shared requests count wavefronts by
// the 32 banks x 4 bytes rule, 8-byte accesses in two phases of 16 lanes and 16-byte accesses in
// four phases of 8 lanes. Warp-level operations (mma, ldmatrix, shuffles, votes) and barriers are
// counted by the scheduler when it resolves them; wgmma and TMA copies by hopper.cpp (a TMA copy's
// global rows are global requests of the issuing thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

// Counters of a set of blocks; the layout is shared with src/backend/emu/counters.rs.
struct rlvr_emu_counters {
    uint64_t blocks;
    uint64_t warps;
    uint64_t threads;
    uint64_t global_load_requests;
    uint64_t global_load_bytes;
    uint64_t global_load_used_bytes;
    uint64_t global_load_sectors;
    uint64_t global_store_requests;
    uint64_t global_store_bytes;
    uint64_t global_store_used_bytes;
    uint64_t global_store_sectors;
    uint64_t shared_load_requests;
    uint64_t shared_load_bytes;
    uint64_t shared_load_wavefronts;
    uint64_t shared_store_requests;
    uint64_t shared_store_bytes;
    uint64_t shared_store_wavefronts;
    uint64_t ldmatrix_instructions;
    uint64_t ldmatrix_bytes;
    uint64_t ldmatrix_wavefronts;
    uint64_t cp_async_requests;
    uint64_t cp_async_bytes;
    uint64_t cp_async_wavefronts;
    uint64_t mma_instructions;
    uint64_t mma_flops;
    uint64_t barriers;
    uint64_t shuffles;
    uint64_t votes;
    uint64_t warp_syncs;
    uint64_t wgmma_instructions;  // per warpgroup
    uint64_t wgmma_flops;
    uint64_t tma_load_requests;
    uint64_t tma_load_bytes;  // whole boxes (zero fill included), as the mbarrier counts them
    uint64_t tma_store_requests;
    uint64_t tma_store_bytes;
};

// The global memory one launch touched in one device allocation: distinct 32-byte sectors read and
// distinct sectors written, the lowest and highest byte address touched, and whether the grid's
// first or last block touched it (layout shared with counters.rs).
struct rlvr_emu_footprint {
    uint64_t alloc_base;
    uint64_t alloc_bytes;
    uint64_t load_sectors;
    uint64_t store_sectors;
    uint64_t lo;
    uint64_t hi;  // one past the last byte touched
    uint64_t edge;
};

namespace rlvr_emu::counters {

enum AccessKind : uint32_t {
    kLoad = 0,
    kStore = 1,
    kCpAsyncSrc = 2,  // the global side of a cp.async (size = bytes actually read)
    kCpAsyncDst = 3,  // the shared side (always 16 bytes)
};

struct Access {
    uintptr_t site;
    uintptr_t addr;
    uint32_t size;
    uint32_t kind;
};

using Trace = std::vector<Access>;

// The trace the running thread appends to; null when the launch is not traced.
extern Trace* g_trace;

// Called by emu.cpp. `shared` ranges are the traced shared section and the dynamic shared memory.
void begin_launch(rlvr_emu_counters* strata, uintptr_t shared_lo, uintptr_t shared_hi, uintptr_t dyn_lo,
                  uintptr_t dyn_hi, uintptr_t stack_lo, uintptr_t stack_hi);
// Blocks that follow count into stratum `s`; `edge`: the block is the grid's first or last.
void begin_block(int s, int threads, bool edge);
// Groups the traces of one warp's lanes (null for lanes that do not exist) into requests; clears them.
void flush_warp(Trace* const lanes[32]);
void count_ldmatrix(const void* const rows[32], int num);
void count_mma();
// One wgmma.mma_async m64nNk16 of a warpgroup.
void count_wgmma(int n);
// One TMA 2-D load or store of a box of `bytes` (its global rows are recorded as accesses).
void count_tma(bool store, uint64_t bytes);
void count_warp_op(int op);
void count_barrier();
void record(uintptr_t site, const void* p, uint32_t size, uint32_t kind);
// Provided by emu.cpp: the emulated device allocation containing `a`, if any.
bool find_allocation(uintptr_t a, uintptr_t* base, uint64_t* bytes);
// Writes up to `cap` footprints, returns how many allocations were touched; ends the launch.
int end_launch(rlvr_emu_footprint* out, int cap);

}  // namespace rlvr_emu::counters
