// Efficiency counters of the emulator (see counters.h): the access hooks of traced kernel units,
// the grouping of a warp's accesses into requests, and the sector, bank and footprint rules.
#include "counters.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "emu.h"

namespace rlvr_emu::counters {

Trace* g_trace = nullptr;

namespace {

rlvr_emu_counters* g_strata = nullptr;
rlvr_emu_counters* g_c = nullptr;  // the current block's stratum
bool g_edge_block = false;         // the current block is the grid's first or last
uintptr_t g_shared_lo = 0, g_shared_hi = 0, g_dyn_lo = 0, g_dyn_hi = 0;
uintptr_t g_stack_lo = 0, g_stack_len = 0;

// Device allocations this launch touched, with the range of bytes it touched in each and whether
// the grid's first or last block touched it (then the sample's range brackets the grid's reach).
struct Touched {
    uintptr_t base, end, lo, hi;
    bool edge;
};
std::vector<Touched> g_touched;
size_t g_last_touched = 0;

// Distinct 32-byte sectors read and written: one bit per sector and direction, 128 sectors per
// 4 KiB page (w[0..2) loads, w[2..4) stores). A sector both read and written moves twice: read
// in, written back.
struct PageBits {
    uint64_t w[4];
};
std::unordered_map<uintptr_t, PageBits> g_pages;

enum Space { kGlobal, kShared, kOther };

// Pages recently found to hold no device allocation (kernel arguments, the host's statics).
uintptr_t g_not_device[16];
int g_not_device_next = 0;

Touched* allocation_of(uintptr_t a) {
    if (g_last_touched < g_touched.size()) {
        Touched& t = g_touched[g_last_touched];
        if (a >= t.base && a < t.end) return &t;
    }
    for (size_t i = 0; i < g_touched.size(); ++i) {
        if (a >= g_touched[i].base && a < g_touched[i].end) {
            g_last_touched = i;
            return &g_touched[i];
        }
    }
    const uintptr_t page = a >> 12;
    for (uintptr_t p : g_not_device)
        if (p == page) return nullptr;
    uintptr_t base;
    uint64_t bytes;
    if (!find_allocation(a, &base, &bytes)) {
        g_not_device[g_not_device_next++ & 15] = page;
        return nullptr;
    }
    g_touched.push_back(Touched{base, base + bytes, UINTPTR_MAX, 0, false});
    g_last_touched = g_touched.size() - 1;
    return &g_touched.back();
}

Space space_of(uintptr_t a, Touched** t) {
    if ((a >= g_shared_lo && a < g_shared_hi) || (a >= g_dyn_lo && a < g_dyn_hi)) return kShared;
    *t = allocation_of(a);
    return *t ? kGlobal : kOther;
}

struct Lane {
    int lane;
    uintptr_t addr;
    uint32_t size;
    Touched* alloc;
};

// Distinct 32-byte sectors of a request; marks them in the launch's load or store footprint.
uint64_t sectors(const Lane* l, int n, bool store) {
    uintptr_t ids[64];
    std::vector<uintptr_t> many;
    uintptr_t* v = ids;
    size_t count = 0, need = 0;
    for (int i = 0; i < n; ++i) need += ((l[i].addr + l[i].size - 1) >> 5) - (l[i].addr >> 5) + 1;
    if (need > 64) {
        many.resize(need);
        v = many.data();
    }
    for (int i = 0; i < n; ++i) {
        Touched* t = l[i].alloc;
        t->lo = std::min(t->lo, l[i].addr);
        t->hi = std::max(t->hi, l[i].addr + l[i].size);
        t->edge |= g_edge_block;
        for (uintptr_t s = l[i].addr >> 5; s <= (l[i].addr + l[i].size - 1) >> 5; ++s) v[count++] = s;
    }
    std::sort(v, v + count);
    size_t u = size_t(std::unique(v, v + count) - v);
    for (size_t i = 0; i < u; ++i) {
        PageBits& p = g_pages[v[i] >> 7];
        p.w[(store ? 2 : 0) + ((v[i] >> 6) & 1)] |= 1ull << (v[i] & 63);
    }
    return u;
}

// Distinct bytes of a request: the union of the lanes' ranges (lanes reading one address share).
uint64_t used_bytes(Lane* l, int n) {
    std::sort(l, l + n, [](const Lane& a, const Lane& b) { return a.addr < b.addr; });
    uint64_t total = 0;
    uintptr_t end = 0;
    for (int i = 0; i < n; ++i) {
        const uintptr_t lo = std::max(l[i].addr, end), hi = l[i].addr + l[i].size;
        if (hi > lo) total += hi - lo;
        end = std::max(end, hi);
    }
    return total;
}

// Shared-memory wavefronts: per phase (32 lanes for accesses of up to 4 bytes, 16 for 8 bytes,
// 8 for 16 bytes), the most distinct 4-byte words that fall into one of the 32 banks.
uint64_t wavefronts(const Lane* l, int n) {
    uint32_t width = 0;
    for (int i = 0; i < n; ++i) width = std::max(width, l[i].size);
    const int per_phase = width <= 4 ? 32 : width <= 8 ? 16 : 8;
    uint64_t total = 0;
    std::vector<uintptr_t> words;
    for (int phase = 0; phase < 32 / per_phase; ++phase) {
        words.clear();
        for (int i = 0; i < n; ++i) {
            if (l[i].lane / per_phase != phase) continue;
            for (uintptr_t w = l[i].addr >> 2; w <= (l[i].addr + l[i].size - 1) >> 2; ++w) words.push_back(w);
        }
        if (words.empty()) continue;
        std::sort(words.begin(), words.end());
        words.erase(std::unique(words.begin(), words.end()), words.end());
        int per_bank[32] = {};
        int most = 0;
        for (uintptr_t w : words) most = std::max(most, ++per_bank[w & 31]);
        total += uint64_t(most);
    }
    return total;
}

// One warp instruction (one site, one execution index) over the lanes that executed it.
struct Member {
    int lane;
    const Access* a;
};

void count_request(const Member* m, int n) {
    Lane global[32], shared[32];
    int ng = 0, ns = 0;
    uint64_t gbytes = 0, sbytes = 0;
    const uint32_t kind = m[0].a->kind;
    for (int i = 0; i < n; ++i) {
        const Access& a = *m[i].a;
        if (a.size == 0) continue;  // a cp.async that only zero-fills reads nothing
        Touched* t = nullptr;
        switch (space_of(a.addr, &t)) {
            case kGlobal:
                global[ng++] = Lane{m[i].lane, a.addr, a.size, t};
                gbytes += a.size;
                break;
            case kShared:
                shared[ns++] = Lane{m[i].lane, a.addr, a.size, nullptr};
                sbytes += a.size;
                break;
            case kOther: break;
        }
    }
    rlvr_emu_counters& c = *g_c;
    if (kind == kCpAsyncDst) {
        c.cp_async_requests += 1;
        c.cp_async_bytes += sbytes;
        if (ns) c.cp_async_wavefronts += wavefronts(shared, ns);
        return;
    }
    if (ng) {
        const bool store = kind == kStore;
        (store ? c.global_store_requests : c.global_load_requests) += 1;
        (store ? c.global_store_bytes : c.global_load_bytes) += gbytes;
        (store ? c.global_store_sectors : c.global_load_sectors) += sectors(global, ng, store);
        (store ? c.global_store_used_bytes : c.global_load_used_bytes) += used_bytes(global, ng);
    }
    if (ns && kind != kCpAsyncSrc) {
        const bool store = kind == kStore;
        (store ? c.shared_store_requests : c.shared_load_requests) += 1;
        (store ? c.shared_store_bytes : c.shared_load_bytes) += sbytes;
        (store ? c.shared_store_wavefronts : c.shared_load_wavefronts) += wavefronts(shared, ns);
    }
}

struct SiteKey {
    uintptr_t site;
    uint32_t k;
    bool operator==(const SiteKey& o) const { return site == o.site && k == o.k; }
};
struct SiteKeyHash {
    size_t operator()(const SiteKey& s) const { return size_t(s.site * 0x9E3779B97F4A7C15ull) ^ s.k; }
};

}  // namespace

// Appends one access to the running thread's trace, unless the launch is not traced or the
// address is on the thread's own stack (registers or local memory on a GPU, not counted).
inline void hook(void* site, const void* p, uint32_t size, uint32_t kind) {
    Trace* t = g_trace;
    if (!t) return;
    const uintptr_t a = uintptr_t(p);
    if (a - g_stack_lo < g_stack_len) return;
    t->push_back(Access{uintptr_t(site), a, size, kind});
}

void record(uintptr_t site, const void* p, uint32_t size, uint32_t kind) {
    hook(reinterpret_cast<void*>(site), p, size, kind);
}

void begin_launch(rlvr_emu_counters* strata, uintptr_t shared_lo, uintptr_t shared_hi, uintptr_t dyn_lo,
                  uintptr_t dyn_hi, uintptr_t stack_lo, uintptr_t stack_hi) {
    g_strata = strata;
    g_c = strata;
    g_shared_lo = shared_lo;
    g_shared_hi = shared_hi;
    g_dyn_lo = dyn_lo;
    g_dyn_hi = dyn_hi;
    g_stack_lo = stack_lo;
    g_stack_len = stack_hi - stack_lo;
    g_touched.clear();
    g_last_touched = 0;
    g_pages.clear();
    std::memset(g_not_device, 0, sizeof g_not_device);
}

void begin_block(int s, int threads, bool edge) {
    g_c = g_strata + s;
    g_edge_block = edge;
    g_c->blocks += 1;
    g_c->warps += uint64_t(threads + 31) / 32;
    g_c->threads += uint64_t(threads);
}

void flush_warp(Trace* const lanes[32]) {
    // Common case: every lane that ran executed the same sites in the same order, so the i-th
    // access of each lane is the same request.
    int leader = -1;
    bool same = true;
    for (int l = 0; l < 32 && same; ++l) {
        if (!lanes[l] || lanes[l]->empty()) continue;
        if (leader < 0) {
            leader = l;
            continue;
        }
        const Trace& a = *lanes[leader];
        const Trace& b = *lanes[l];
        if (a.size() != b.size()) {
            same = false;
            break;
        }
        for (size_t i = 0; i < a.size(); ++i) {
            if (a[i].site != b[i].site) {
                same = false;
                break;
            }
        }
    }
    if (leader < 0) return;
    Member m[32];
    if (same) {
        const size_t len = lanes[leader]->size();
        for (size_t i = 0; i < len; ++i) {
            int n = 0;
            for (int l = 0; l < 32; ++l)
                if (lanes[l] && !lanes[l]->empty()) m[n++] = Member{l, &(*lanes[l])[i]};
            count_request(m, n);
        }
    } else {
        // Divergent lanes: the k-th execution of a site by each lane is one request.
        std::unordered_map<SiteKey, std::vector<Member>, SiteKeyHash> groups;
        std::unordered_map<uintptr_t, uint32_t> seen;
        for (int l = 0; l < 32; ++l) {
            if (!lanes[l]) continue;
            seen.clear();
            for (const Access& a : *lanes[l]) groups[SiteKey{a.site, seen[a.site]++}].push_back(Member{l, &a});
        }
        for (auto& [key, members] : groups) count_request(members.data(), int(members.size()));
    }
    for (int l = 0; l < 32; ++l)
        if (lanes[l]) lanes[l]->clear();
}

void count_ldmatrix(const void* const rows[32], int num) {
    rlvr_emu_counters& c = *g_c;
    c.ldmatrix_instructions += 1;
    c.ldmatrix_bytes += uint64_t(num) * 128;
    // Each 8 x 8 matrix is one phase: eight 16-byte rows supplied by lanes 8j .. 8j + 7.
    for (int j = 0; j < num; ++j) {
        Lane l[8];
        for (int r = 0; r < 8; ++r) l[r] = Lane{r, uintptr_t(rows[8 * j + r]), 16, nullptr};
        c.ldmatrix_wavefronts += wavefronts(l, 8);
    }
}

void count_mma() {
    g_c->mma_instructions += 1;
    g_c->mma_flops += 2 * 16 * 8 * 16;  // m16n8k16
}

void count_wgmma(int n) {
    g_c->wgmma_instructions += 1;
    g_c->wgmma_flops += 2ull * 64 * uint64_t(n) * 16;  // m64nNk16
}

void count_tma(bool store, uint64_t bytes) {
    (store ? g_c->tma_store_requests : g_c->tma_load_requests) += 1;
    (store ? g_c->tma_store_bytes : g_c->tma_load_bytes) += bytes;
}

void count_warp_op(int op) {
    switch (op) {
        case kShflIdx:
        case kShflUp:
        case kShflDown:
        case kShflXor: g_c->shuffles += 1; break;
        case kSyncWarp: g_c->warp_syncs += 1; break;
        case kMma:
        case kLdmatrix: break;  // counted with their own rules
        default: g_c->votes += 1; break;
    }
}

void count_barrier() { g_c->barriers += 1; }

int end_launch(rlvr_emu_footprint* out, int cap) {
    std::vector<uint64_t> loads(g_touched.size(), 0), stores(g_touched.size(), 0);
    for (const auto& [page, bits] : g_pages) {
        // Any marked sector of the page names its allocation (allocations never share a page).
        const uint64_t w0 = bits.w[0] | bits.w[2], w1 = bits.w[1] | bits.w[3];
        const int first = w0 ? __builtin_ctzll(w0) : 64 + __builtin_ctzll(w1);
        // An allocation starts 16-byte aligned, so it holds the sector's first or middle byte.
        const uintptr_t sector = ((page << 7) + uintptr_t(first)) << 5;
        Touched* t = allocation_of(sector);
        if (!t) t = allocation_of(sector + 16);
        if (!t) continue;
        const size_t i = size_t(t - g_touched.data());
        loads[i] += uint64_t(__builtin_popcountll(bits.w[0]) + __builtin_popcountll(bits.w[1]));
        stores[i] += uint64_t(__builtin_popcountll(bits.w[2]) + __builtin_popcountll(bits.w[3]));
    }
    int n = 0;
    for (size_t i = 0; i < g_touched.size(); ++i) {
        const Touched& t = g_touched[i];
        if (t.hi == 0) continue;  // looked up (classified) but never read or written
        if (n < cap)
            out[n] = rlvr_emu_footprint{uint64_t(t.base), uint64_t(t.end - t.base), loads[i],     stores[i],
                                        uint64_t(t.lo),   uint64_t(t.hi),           uint64_t(t.edge)};
        ++n;
    }
    g_strata = g_c = nullptr;
    g_trace = nullptr;
    g_touched.clear();
    g_pages.clear();
    return n;
}

}  // namespace rlvr_emu::counters

// The hooks -fsanitize=thread calls before every load and store of a traced unit (see counters.h);
// the site is the instruction after the call, unique per memory access of the kernel.
#define RLVR_EMU_HOOKS(n)                                                                             \
    extern "C" void __tsan_read##n(void* p) {                                                         \
        rlvr_emu::counters::hook(__builtin_return_address(0), p, n, rlvr_emu::counters::kLoad);      \
    }                                                                                                 \
    extern "C" void __tsan_write##n(void* p) {                                                        \
        rlvr_emu::counters::hook(__builtin_return_address(0), p, n, rlvr_emu::counters::kStore);     \
    }                                                                                                 \
    extern "C" void __tsan_unaligned_read##n(void* p) {                                               \
        rlvr_emu::counters::hook(__builtin_return_address(0), p, n, rlvr_emu::counters::kLoad);      \
    }                                                                                                 \
    extern "C" void __tsan_unaligned_write##n(void* p) {                                              \
        rlvr_emu::counters::hook(__builtin_return_address(0), p, n, rlvr_emu::counters::kStore);     \
    }
RLVR_EMU_HOOKS(1)
RLVR_EMU_HOOKS(2)
RLVR_EMU_HOOKS(4)
RLVR_EMU_HOOKS(8)
RLVR_EMU_HOOKS(16)
extern "C" void __tsan_read_range(void* p, size_t n) {
    rlvr_emu::counters::hook(__builtin_return_address(0), p, uint32_t(n), rlvr_emu::counters::kLoad);
}
extern "C" void __tsan_write_range(void* p, size_t n) {
    rlvr_emu::counters::hook(__builtin_return_address(0), p, uint32_t(n), rlvr_emu::counters::kStore);
}
// Module constructor of an instrumented unit: no runtime to start.
extern "C" void __tsan_init() {}
// The guard of a function-local static's initialisation (host bookkeeping, not kernel memory).
extern "C" uint8_t __tsan_atomic8_load(const volatile uint8_t* a, int) { return __atomic_load_n(a, __ATOMIC_ACQUIRE); }
