// What the emulator's scheduler (emu.cpp) and its Hopper instructions (hopper.cpp) need from each
// other. Included by those two files only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rlvr_emu::runtime {

// Linear index of the running thread in its block.
int thread_index();
// "kernel K, block (..), thread (..)" for error messages.
std::string where();
// Records the launch's first error; the scheduler stops the launch after the running thread yields.
void set_error(const std::string& e);
bool in_shared(const void* p, size_t n);
// Dynamic shared memory of the block (null when the launch has none).
char* dyn_smem();
size_t dyn_smem_bytes();
// Whether the launch records efficiency counters.
bool traced();
// Blocks until the 128 threads of this thread's warpgroup have called it with the same op and arg,
// then hopper::resolve_warpgroup runs once for all of them.
void warpgroup_rendezvous(int op, uint64_t arg, void* payload);
// Blocks until hopper::mbarrier_ready(bar, parity) holds (a deadlock is reported otherwise).
void wait_mbarrier(uint64_t* bar, uint32_t parity);

}  // namespace rlvr_emu::runtime

namespace rlvr_emu::hopper {

constexpr int kWarpgroup = 128;

// Fresh per-block state (mbarriers, in-flight wgmma and bulk copies) for a block of `nthreads`.
void begin_block(int nthreads);
// Performs one warpgroup instruction; `payloads[i]` is what thread i of the warpgroup passed.
// Returns false with the error set.
bool resolve_warpgroup(int op, uint64_t arg, void* const payloads[kWarpgroup], int warpgroup);
const char* warpgroup_op_name(int op);
// Whether the phase of `bar` with parity `parity` has completed (lands its bulk copies if so).
bool mbarrier_ready(uint64_t* bar, uint32_t parity);
// One line on the state of `bar` for a deadlock report.
std::string describe_mbarrier(uint64_t* bar);
// The running thread exits: completes its bulk stores, reports wgmma groups never waited for.
void thread_exit(int tid);

}  // namespace rlvr_emu::hopper
