// Cooperative fiber switching for the emulator's scheduler (included by emu.cpp only).
//
// An emulated thread yields at every barrier and warp intrinsic, and a warp-wide mma.sync is a
// rendezvous of 32 fibers, so switches are the emulator's hottest operation. glibc's swapcontext
// saves and restores the signal mask with a system call on every switch (about 0.5 us each here);
// on x86-64 a switch only needs the callee-saved registers, the stack pointer and the two
// floating-point control words (the System V ABI's preserved state), which takes a few
// nanoseconds. Other architectures keep ucontext.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)

// rlvr_emu_fiber_switch(save, to): push the preserved registers, store the stack pointer in *save,
// load `to` as the stack pointer, pop the registers saved there, and return into that fiber.
extern "C" void rlvr_emu_fiber_switch(void** save, void* to);
asm(R"(
    .text
    .globl rlvr_emu_fiber_switch
    .hidden rlvr_emu_fiber_switch
    .type rlvr_emu_fiber_switch, @function
rlvr_emu_fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size rlvr_emu_fiber_switch, .-rlvr_emu_fiber_switch
)");

namespace rlvr_emu {

struct FiberContext {
    void* sp = nullptr;
};

// Prepares `f` to start `entry` on [stack, stack + bytes) at its first switch. `entry` must never
// return: a finished fiber switches away for the last time.
inline void fiber_init(FiberContext* f, char* stack, size_t bytes, void (*entry)()) {
    auto* top = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15));
    uint64_t* sp = top;
    *--sp = 0;                                     // entry's return address: never used
    *--sp = reinterpret_cast<uint64_t>(entry);     // popped by the switch's ret
    for (int i = 0; i < 6; ++i) *--sp = 0;         // rbp rbx r12 r13 r14 r15
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    *--sp = uint64_t(mxcsr) | (uint64_t(fpucw) << 32);
    f->sp = sp;
}

inline void fiber_switch(FiberContext* from, FiberContext* to) { rlvr_emu_fiber_switch(&from->sp, to->sp); }

}  // namespace rlvr_emu

#else

#include <ucontext.h>

namespace rlvr_emu {

struct FiberContext {
    ucontext_t ctx;
};

inline void fiber_init(FiberContext* f, char* stack, size_t bytes, void (*entry)()) {
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = stack;
    f->ctx.uc_stack.ss_size = bytes;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, entry, 0);
}

inline void fiber_switch(FiberContext* from, FiberContext* to) { swapcontext(&from->ctx, &to->ctx); }

}  // namespace rlvr_emu

#endif
