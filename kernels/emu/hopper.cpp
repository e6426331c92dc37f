// Emulation of the Hopper instructions of kernels/hopper.cuh: wgmma with its fence / commit /
// wait groups, setmaxnreg, mbarriers with transaction counts, TMA 2-D loads and stores, and the
// host side of cuTensorMapEncodeTiled.
//
// Asynchrony is modelled so that a missing wait reads poison:
// - wgmma: at issue the accumulators of all 128 threads become NaN; the product is written back
//   at the wgmma.wait_group that retires its group. Shared-memory operands are read at issue and
//   again at retirement, and a difference is an error (the kernel overwrote an operand in flight).
// - TMA load: the box is read at issue and counted on the mbarrier; it lands in shared memory only
//   when a thread observes the completed phase (try_wait), so a reader that skips the wait reads
//   poison. A phase whose transaction count goes below zero after all arrivals (expect_tx too
//   small) is an error; one that never reaches zero (too large) ends in a deadlock report.
// - TMA store: the shared-memory box is read at issue and at the bulk wait_group (a difference is
//   an error) and written to global memory at the wait (or when the thread exits).
// The standard headers come first: emu.h defines CUDA's __noinline__, which libstdc++ spells too.
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "counters.h"
#include "emu.h"
#include "runtime.h"
#include "wgmma_layout.h"

namespace rlvr_emu {
namespace {

using runtime::set_error;
using runtime::where;

constexpr uint32_t kTensorMapMagic = 0x544d4150;  // "TMAP"

// The emulator's CUtensorMap (128 bytes, 64-byte aligned like the driver's opaque one).
struct alignas(64) EmuTensorMap {
    uint32_t magic;
    uint32_t elem_bytes;
    uint32_t swizzle_span;  // 0, 32, 64 or 128
    uint32_t oob_nan;       // CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA
    uint64_t global_address;
    uint64_t dims[2];
    uint64_t row_stride;  // bytes between rows (globalStrides[0])
    uint32_t box[2];
    uint32_t pad[18];
};
static_assert(sizeof(EmuTensorMap) == 128, "CUtensorMap is 128 bytes");

std::string fmtv(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmtv(const char* f, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

[[noreturn]] void fail_with(const std::string& what) { fail(what.c_str()); }

// ---- wgmma ----

struct WgmmaIssue {
    int n;
    float* d;
    const uint32_t* a_regs;
    uint64_t desc_a, desc_b;
    int scale_d, scale_a, scale_b, trans_a, trans_b;
};

struct WgmmaOp {
    int n = 0;
    bool a_in_regs = false;
    WgmmaIssue issue{};
    std::vector<uint16_t> a, b;  // A[64][16] and B as N rows x 16 (bf16 bits)
    std::vector<float> c;        // C[64][N] (zero when scale_d is 0)
    std::shared_ptr<WgmmaOp> chained;  // accumulate onto this earlier op's result instead of c
    std::vector<float> d;              // the result, once retired
    float* dst[hopper::kWarpgroup] = {};
};
using OpPtr = std::shared_ptr<WgmmaOp>;

struct WarpgroupState {
    bool fenced = false;  // a wgmma.fence since the start or the last wgmma.wait_group
    std::vector<OpPtr> open;
    std::deque<std::vector<OpPtr>> groups;  // committed, oldest first
};

// ---- mbarriers and bulk copies ----

struct BoxCopy {
    char* dst;  // shared (load) or global (store) destination, element by element
    std::vector<char*> where;  // per element
    std::vector<char> bytes;
    uint32_t elem = 2;
};

struct Mbarrier {
    uint32_t count = 0;
    uint32_t pending = 0;  // arrivals still expected in the current phase
    int64_t tx = 0;        // transaction bytes still expected in the current phase
    uint32_t phase = 0;    // completed phases
    std::vector<BoxCopy> inflight;  // loads of the current phase
    std::vector<BoxCopy> unlanded;  // loads of completed phases nobody has waited for yet
};

struct TmaStore {
    BoxCopy copy;
    const char* src;
    std::vector<const char*> src_at;  // shared-memory address of each element
};

struct ThreadState {
    bool proxy_fenced = false;  // fence.proxy.async since this thread's last TMA store
    std::vector<TmaStore> uncommitted;
    std::deque<std::vector<TmaStore>> committed;
};

std::vector<WarpgroupState> g_wg;
std::map<uintptr_t, Mbarrier> g_mbar;
std::vector<ThreadState> g_threads;

uintptr_t window_base() { return uintptr_t(runtime::dyn_smem()) & ~uintptr_t(1023); }

// Host address of a shared-window byte range, or null when it is outside dynamic shared memory.
const char* from_window(uint32_t addr, size_t n) {
    char* dyn = runtime::dyn_smem();
    if (!dyn) return nullptr;
    const char* p = reinterpret_cast<const char*>(window_base() + addr);
    if (p < dyn || p + n > dyn + runtime::dyn_smem_bytes()) return nullptr;
    return p;
}

float bf16f(uint16_t b) {
    const uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Reads `rows` x 16 bf16 of a descriptor's operand; false with the error set.
bool read_operand(uint64_t desc, bool mn_major, int rows, std::vector<uint16_t>* out, const char* which) {
    if (layout::desc_base_offset(desc) != 0) {
        set_error(fmtv("%s: wgmma descriptor of %s has base offset %u: only 0 (pattern-aligned operands) is emulated",
                       where().c_str(), which, layout::desc_base_offset(desc)));
        return false;
    }
    out->resize(size_t(rows) * 16);
    for (int mn = 0; mn < rows; ++mn)
        for (int k = 0; k < 16; ++k) {
            const uint32_t a = layout::desc_element_address(desc, mn_major, mn, k);
            const char* p = from_window(a, 2);
            if (!p) {
                set_error(fmtv("%s: wgmma descriptor 0x%016llx of %s reaches shared address 0x%x (row %d, k %d) outside "
                               "the block's %zu bytes of dynamic shared memory",
                               where().c_str(), (unsigned long long)desc, which, a, mn, k, runtime::dyn_smem_bytes()));
                return false;
            }
            uint16_t v;
            std::memcpy(&v, p, 2);
            (*out)[size_t(mn) * 16 + size_t(k)] = v;
        }
    return true;
}

bool issue_wgmma(WarpgroupState& wg, void* const payloads[hopper::kWarpgroup]) {
    const WgmmaIssue& f = *static_cast<const WgmmaIssue*>(payloads[0]);
    for (int t = 1; t < hopper::kWarpgroup; ++t) {
        const WgmmaIssue& o = *static_cast<const WgmmaIssue*>(payloads[t]);
        if (o.n != f.n || o.desc_a != f.desc_a || o.desc_b != f.desc_b || o.scale_d != f.scale_d ||
            o.scale_a != f.scale_a || o.scale_b != f.scale_b || o.trans_a != f.trans_a || o.trans_b != f.trans_b ||
            (o.a_regs == nullptr) != (f.a_regs == nullptr)) {
            set_error(fmtv("%s: threads 0 and %d of the warpgroup issue wgmma with different shapes, descriptors or "
                           "immediates",
                           where().c_str(), t));
            return false;
        }
    }
    if (f.n < 8 || f.n > 256 || f.n % 8) {
        set_error(fmtv("%s: wgmma m64n%dk16: N must be a multiple of 8 in [8, 256]", where().c_str(), f.n));
        return false;
    }
    if ((f.scale_a != 1 && f.scale_a != -1) || (f.scale_b != 1 && f.scale_b != -1) || (f.a_regs && f.trans_a)) {
        set_error(fmtv("%s: wgmma immediates: scale-a and scale-b are 1 or -1; A from registers takes no transpose",
                       where().c_str()));
        return false;
    }
    if (!wg.fenced) {
        set_error(fmtv("%s: wgmma.mma_async without a wgmma.fence since the kernel started or the last "
                       "wgmma.wait_group (its register operands may not be ready)",
                       where().c_str()));
        return false;
    }
    auto op = std::make_shared<WgmmaOp>();
    op->n = f.n;
    op->issue = f;
    op->a_in_regs = f.a_regs != nullptr;
    if (op->a_in_regs) {
        op->a.assign(64 * 16, 0);
        for (int t = 0; t < hopper::kWarpgroup; ++t) {
            const uint32_t* regs = static_cast<const WgmmaIssue*>(payloads[t])->a_regs;
            for (int v = 0; v < 8; ++v) {
                int row, k;
                layout::a_reg_coord(t, v, &row, &k);
                op->a[size_t(row) * 16 + size_t(k)] = uint16_t(v % 2 ? regs[v / 2] >> 16 : regs[v / 2] & 0xFFFF);
            }
        }
    } else if (!read_operand(f.desc_a, f.trans_a != 0, 64, &op->a, "A")) {
        return false;
    }
    if (!read_operand(f.desc_b, f.trans_b != 0, f.n, &op->b, "B")) return false;
    const int half = f.n / 2;
    for (int t = 0; t < hopper::kWarpgroup; ++t) op->dst[t] = static_cast<const WgmmaIssue*>(payloads[t])->d;
    // An accumulator still owned by an in-flight wgmma chains onto it (the usual K loop).
    auto owns = [&](const OpPtr& p) { return p->dst[0] == op->dst[0] && p->n == op->n; };
    for (auto& g : wg.groups)
        for (auto& p : g)
            if (owns(p)) op->chained = p;
    for (auto& p : wg.open)
        if (owns(p)) op->chained = p;
    if (op->chained) {
        for (int t = 0; t < hopper::kWarpgroup; ++t)
            if (op->chained->dst[t] != op->dst[t]) {
                set_error(fmtv("%s: wgmma accumulators of thread %d overlap an in-flight wgmma only partly",
                               where().c_str(), t));
                return false;
            }
    } else {
        op->c.assign(size_t(64) * size_t(f.n), 0.0f);
        if (f.scale_d)
            for (int t = 0; t < hopper::kWarpgroup; ++t)
                for (int i = 0; i < half; ++i) {
                    int row, col;
                    layout::acc_coord(t, i, &row, &col);
                    op->c[size_t(row) * size_t(f.n) + size_t(col)] = op->dst[t][i];
                }
    }
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int t = 0; t < hopper::kWarpgroup; ++t)
        for (int i = 0; i < half; ++i) op->dst[t][i] = nan;
    wg.open.push_back(op);
    if (runtime::traced()) counters::count_wgmma(f.n);
    return true;
}

bool retire(WgmmaOp& op) {
    // The shared-memory operands must still hold what the wgmma read at issue.
    std::vector<uint16_t> again;
    if (!op.a_in_regs) {
        if (!read_operand(op.issue.desc_a, op.issue.trans_a != 0, 64, &again, "A")) return false;
        if (again != op.a) {
            set_error(fmtv("%s: the shared-memory A operand of an in-flight wgmma changed before wgmma.wait_group",
                           where().c_str()));
            return false;
        }
    }
    if (!read_operand(op.issue.desc_b, op.issue.trans_b != 0, op.n, &again, "B")) return false;
    if (again != op.b) {
        set_error(fmtv("%s: the shared-memory B operand of an in-flight wgmma changed before wgmma.wait_group",
                       where().c_str()));
        return false;
    }
    const int n = op.n;
    op.d = op.chained ? op.chained->d : op.c;
    op.chained.reset();  // the chain is consumed; keeps old results from piling up
    float A[64][16];
    for (int m = 0; m < 64; ++m)
        for (int k = 0; k < 16; ++k) A[m][k] = float(op.issue.scale_a) * bf16f(op.a[size_t(m) * 16 + size_t(k)]);
    std::vector<float> B(size_t(16) * size_t(n));
    for (int c = 0; c < n; ++c)
        for (int k = 0; k < 16; ++k)
            B[size_t(k) * size_t(n) + size_t(c)] = float(op.issue.scale_b) * bf16f(op.b[size_t(c) * 16 + size_t(k)]);
    // Each output adds its 16 products in k order (as the mma.sync emulation does).
    for (int k = 0; k < 16; ++k)
        for (int m = 0; m < 64; ++m) {
            const float a = A[m][k];
            float* row = &op.d[size_t(m) * size_t(n)];
            const float* b = &B[size_t(k) * size_t(n)];
            for (int c = 0; c < n; ++c) row[c] += a * b[c];
        }
    for (int t = 0; t < hopper::kWarpgroup; ++t)
        for (int i = 0; i < n / 2; ++i) {
            int row, col;
            layout::acc_coord(t, i, &row, &col);
            op.dst[t][i] = op.d[size_t(row) * size_t(n) + size_t(col)];
        }
    return true;
}

// ---- tensor maps and TMA ----

const EmuTensorMap* tensor_map(const void* p) {
    const auto* m = static_cast<const EmuTensorMap*>(p);
    if (!p || (uintptr_t(p) & 63) || m->magic != kTensorMapMagic)
        fail_with(fmtv("TMA tensor map %p is not a 64-byte aligned map from rlvr_emu_tensor_map_encode_tiled", p));
    return m;
}

// Byte offset in the shared-memory box (rows of box[0] elements) of element (x, y), swizzled.
uint32_t box_offset(const EmuTensorMap& m, uint32_t smem_window, uint32_t x, uint32_t y) {
    const uint32_t plain = smem_window + y * m.box[0] * m.elem_bytes + x * m.elem_bytes;
    return layout::swizzle(int(m.swizzle_span), plain) - smem_window;
}

void check_box_smem(const EmuTensorMap& m, const void* smem, const char* what) {
    const size_t bytes = size_t(m.box[0]) * m.box[1] * m.elem_bytes;
    const uint32_t align = m.swizzle_span ? std::max<uint32_t>(128, 8 * m.swizzle_span) : 128;
    if (!from_window(shared_window_address(smem), bytes) || (shared_window_address(smem) & (align - 1)))
        fail_with(fmtv("%s shared-memory box %p (%zu bytes) must lie in dynamic shared memory, %u-byte aligned", what,
                       smem, bytes, align));
}

Mbarrier& mbarrier_at(uint64_t* bar, const char* what) {
    if ((uintptr_t(bar) & 7) || !runtime::in_shared(bar, 8))
        fail_with(fmtv("%s: mbarrier %p is not an 8-byte aligned shared-memory address", what, static_cast<void*>(bar)));
    auto it = g_mbar.find(uintptr_t(bar));
    if (it == g_mbar.end())
        fail_with(fmtv("%s: mbarrier %p is used before mbarrier.init", what, static_cast<void*>(bar)));
    return it->second;
}

std::string mbarrier_name(uint64_t* bar) {
    const char* dyn = runtime::dyn_smem();
    const char* b = reinterpret_cast<const char*>(bar);
    if (dyn && b >= dyn && b < dyn + runtime::dyn_smem_bytes())
        return fmtv("the mbarrier at dynamic shared offset %zu", size_t(b - dyn));
    return fmtv("the mbarrier at %p", static_cast<void*>(bar));
}

// Completes the current phase once every arrival and every transaction byte is in.
void maybe_complete(uint64_t* bar, Mbarrier& m) {
    if (m.pending == 0 && m.tx < 0)
        fail_with(fmtv("%s received %lld transaction bytes more than arrive.expect_tx announced for phase %u (wrong "
                       "expect-tx byte count)",
                       mbarrier_name(bar).c_str(), (long long)-m.tx, m.phase));
    if (m.pending != 0 || m.tx != 0) return;
    for (auto& c : m.inflight) m.unlanded.push_back(std::move(c));
    m.inflight.clear();
    m.phase += 1;
    m.pending = m.count;
}

void arrive(uint64_t* bar, Mbarrier& m) {
    if (m.pending == 0)
        fail_with(fmtv("%s: more arrivals in phase %u than the count %u given to mbarrier.init",
                       mbarrier_name(bar).c_str(), m.phase, m.count));
    m.pending -= 1;
    maybe_complete(bar, m);
}

void land(BoxCopy& c) {
    for (size_t i = 0; i < c.where.size(); ++i) std::memcpy(c.where[i], &c.bytes[i * c.elem], c.elem);
}

void read_store_box(TmaStore& s) {
    for (size_t i = 0; i < s.src_at.size(); ++i) std::memcpy(&s.copy.bytes[i * s.copy.elem], s.src_at[i], s.copy.elem);
}

void finish_store(TmaStore& s) {
    std::vector<char> before = s.copy.bytes;
    read_store_box(s);
    if (before != s.copy.bytes)
        fail_with("the shared-memory source of a TMA store changed before cp.async.bulk.wait_group");
    land(s.copy);
}

}  // namespace

// ---- the instructions (called by kernel code through kernels/hopper.cuh) ----

uint32_t shared_window_address(const void* p) {
    char* dyn = runtime::dyn_smem();
    const char* c = static_cast<const char*>(p);
    if (!dyn || c < dyn || c >= dyn + runtime::dyn_smem_bytes())
        fail_with(fmtv("shared address of %p: the emulator gives window addresses to dynamic shared memory only", p));
    return uint32_t(uintptr_t(c) - window_base());
}

void wgmma_fence() { runtime::warpgroup_rendezvous(kWgmmaFence, 0, nullptr); }
void wgmma_commit_group() { runtime::warpgroup_rendezvous(kWgmmaCommit, 0, nullptr); }
void wgmma_wait_group(int pending) {
    if (pending < 0 || pending > 7) fail("wgmma.wait_group N must be in [0, 7]");
    runtime::warpgroup_rendezvous(kWgmmaWait, uint64_t(pending), nullptr);
}

void wgmma_bf16(int n, float* d, const uint32_t* a_regs, uint64_t desc_a, uint64_t desc_b, int scale_d, int scale_a,
                int scale_b, int trans_a, int trans_b) {
    WgmmaIssue issue{n, d, a_regs, desc_a, desc_b, scale_d != 0, scale_a, scale_b, trans_a, trans_b};
    runtime::warpgroup_rendezvous(kWgmmaMma, uint64_t(n), &issue);
}

void setmaxnreg(bool inc, int regs) {
    if (regs < 24 || regs > 256 || regs % 8) fail("setmaxnreg: the register count must be a multiple of 8 in [24, 256]");
    runtime::warpgroup_rendezvous(kSetmaxnreg, (inc ? 1u << 16 : 0u) | uint32_t(regs), nullptr);
}

void mbarrier_init(uint64_t* bar, uint32_t count) {
    if ((uintptr_t(bar) & 7) || !runtime::in_shared(bar, 8)) fail("mbarrier.init: not an 8-byte aligned shared address");
    if (count < 1 || count >= (1u << 20)) fail("mbarrier.init: the count must be in [1, 2^20 - 1]");
    Mbarrier m;
    m.count = count;
    m.pending = count;
    g_mbar[uintptr_t(bar)] = std::move(m);
}

void mbarrier_arrive_expect_tx(uint64_t* bar, uint32_t tx_bytes) {
    Mbarrier& m = mbarrier_at(bar, "mbarrier.arrive.expect_tx");
    if (tx_bytes >= (1u << 20)) fail("mbarrier.arrive.expect_tx: the byte count must be below 2^20");
    m.tx += tx_bytes;
    arrive(bar, m);
}

void mbarrier_arrive(uint64_t* bar) { arrive(bar, mbarrier_at(bar, "mbarrier.arrive")); }

bool mbarrier_try_wait_parity(uint64_t* bar, uint32_t parity) {
    mbarrier_at(bar, "mbarrier.try_wait.parity");
    if (!hopper::mbarrier_ready(bar, parity & 1)) runtime::wait_mbarrier(bar, parity & 1);
    return true;
}

void tma_load_2d(void* smem_dst, const void* map_ptr, int c0, int c1, uint64_t* bar) {
    const EmuTensorMap& m = *tensor_map(map_ptr);
    check_box_smem(m, smem_dst, "TMA load");
    Mbarrier& mb = mbarrier_at(bar, "cp.async.bulk.tensor (TMA load)");
    const uint32_t win = shared_window_address(smem_dst);
    BoxCopy c;
    c.elem = m.elem_bytes;
    const size_t elems = size_t(m.box[0]) * m.box[1];
    c.where.resize(elems);
    c.bytes.assign(elems * m.elem_bytes, m.oob_nan ? char(0xFF) : char(0));
    const bool traced = runtime::traced();
    const uintptr_t site = uintptr_t(__builtin_return_address(0));
    for (uint32_t y = 0; y < m.box[1]; ++y) {
        const int64_t gy = int64_t(c1) + y;
        int64_t in_lo = -1, in_hi = -1;  // in-bounds columns of this row (for the counters)
        for (uint32_t x = 0; x < m.box[0]; ++x) {
            const size_t i = size_t(y) * m.box[0] + x;
            c.where[i] = static_cast<char*>(smem_dst) + box_offset(m, win, x, y);
            const int64_t gx = int64_t(c0) + x;
            if (gx < 0 || gy < 0 || uint64_t(gx) >= m.dims[0] || uint64_t(gy) >= m.dims[1]) continue;
            const char* src = reinterpret_cast<const char*>(m.global_address + uint64_t(gy) * m.row_stride +
                                                            uint64_t(gx) * m.elem_bytes);
            std::memcpy(&c.bytes[i * m.elem_bytes], src, m.elem_bytes);
            if (in_lo < 0) in_lo = gx;
            in_hi = gx;
        }
        if (traced && in_lo >= 0)
            counters::record(site,
                             reinterpret_cast<const void*>(m.global_address + uint64_t(gy) * m.row_stride +
                                                           uint64_t(in_lo) * m.elem_bytes),
                             uint32_t(in_hi - in_lo + 1) * m.elem_bytes, counters::kLoad);
    }
    const int64_t bytes = int64_t(elems) * m.elem_bytes;
    if (traced) counters::count_tma(false, uint64_t(bytes));
    mb.inflight.push_back(std::move(c));
    mb.tx -= bytes;
    maybe_complete(bar, mb);
}

void tma_store_2d(const void* map_ptr, const void* smem_src, int c0, int c1) {
    const EmuTensorMap& m = *tensor_map(map_ptr);
    check_box_smem(m, smem_src, "TMA store");
    ThreadState& ts = g_threads[size_t(runtime::thread_index())];
    if (!ts.proxy_fenced)
        fail("TMA store without a fence.proxy.async by the issuing thread since its previous TMA store (its "
             "shared-memory writes may be invisible to the async proxy)");
    ts.proxy_fenced = false;
    const uint32_t win = shared_window_address(smem_src);
    TmaStore s;
    s.copy.elem = m.elem_bytes;
    const bool traced = runtime::traced();
    const uintptr_t site = uintptr_t(__builtin_return_address(0));
    for (uint32_t y = 0; y < m.box[1]; ++y) {
        const int64_t gy = int64_t(c1) + y;
        int64_t in_lo = -1, in_hi = -1;
        for (uint32_t x = 0; x < m.box[0]; ++x) {
            const int64_t gx = int64_t(c0) + x;
            if (gx < 0 || gy < 0 || uint64_t(gx) >= m.dims[0] || uint64_t(gy) >= m.dims[1]) continue;
            s.src_at.push_back(static_cast<const char*>(smem_src) + box_offset(m, win, x, y));
            s.copy.where.push_back(reinterpret_cast<char*>(m.global_address + uint64_t(gy) * m.row_stride +
                                                           uint64_t(gx) * m.elem_bytes));
            if (in_lo < 0) in_lo = gx;
            in_hi = gx;
        }
        if (traced && in_lo >= 0)
            counters::record(site,
                             reinterpret_cast<const void*>(m.global_address + uint64_t(gy) * m.row_stride +
                                                           uint64_t(in_lo) * m.elem_bytes),
                             uint32_t(in_hi - in_lo + 1) * m.elem_bytes, counters::kStore);
    }
    s.copy.bytes.resize(s.src_at.size() * m.elem_bytes);
    read_store_box(s);
    if (traced) counters::count_tma(true, uint64_t(m.box[0]) * m.box[1] * m.elem_bytes);
    ts.uncommitted.push_back(std::move(s));
}

void bulk_commit_group() {
    ThreadState& ts = g_threads[size_t(runtime::thread_index())];
    ts.committed.push_back(std::move(ts.uncommitted));
    ts.uncommitted.clear();
}

void bulk_wait_group(int pending) {
    ThreadState& ts = g_threads[size_t(runtime::thread_index())];
    while (int(ts.committed.size()) > pending) {
        for (auto& s : ts.committed.front()) finish_store(s);
        ts.committed.pop_front();
    }
}

void fence_proxy_async() { g_threads[size_t(runtime::thread_index())].proxy_fenced = true; }

namespace hopper {

void begin_block(int nthreads) {
    g_wg.assign(size_t((nthreads + kWarpgroup - 1) / kWarpgroup), WarpgroupState{});
    g_mbar.clear();
    g_threads.assign(size_t(nthreads), ThreadState{});
}

const char* warpgroup_op_name(int op) {
    switch (op) {
        case kWgmmaFence: return "wgmma.fence";
        case kWgmmaMma: return "wgmma.mma_async";
        case kWgmmaCommit: return "wgmma.commit_group";
        case kWgmmaWait: return "wgmma.wait_group";
        case kSetmaxnreg: return "setmaxnreg";
    }
    return "?";
}

bool resolve_warpgroup(int op, uint64_t arg, void* const payloads[kWarpgroup], int warpgroup) {
    WarpgroupState& wg = g_wg[size_t(warpgroup)];
    switch (op) {
        case kWgmmaFence: wg.fenced = true; return true;
        case kWgmmaMma: return issue_wgmma(wg, payloads);
        case kWgmmaCommit:
            wg.groups.push_back(std::move(wg.open));
            wg.open.clear();
            return true;
        case kWgmmaWait:
            while (wg.groups.size() > arg) {
                for (auto& p : wg.groups.front())
                    if (!retire(*p)) return false;
                wg.groups.pop_front();
            }
            wg.fenced = false;
            return true;
        case kSetmaxnreg: return true;
    }
    set_error(fmtv("%s: unknown warpgroup instruction %d", where().c_str(), op));
    return false;
}

bool mbarrier_ready(uint64_t* bar, uint32_t parity) {
    auto it = g_mbar.find(uintptr_t(bar));
    if (it == g_mbar.end()) return false;
    Mbarrier& m = it->second;
    if ((m.phase & 1) == parity) return false;
    for (auto& c : m.unlanded) land(c);
    m.unlanded.clear();
    return true;
}

std::string describe_mbarrier(uint64_t* bar) {
    auto it = g_mbar.find(uintptr_t(bar));
    if (it == g_mbar.end()) return mbarrier_name(bar) + " (never initialised)";
    const Mbarrier& m = it->second;
    std::string s = fmtv("%s (count %u): phase %u still waits for %u arrivals and %lld transaction bytes",
                         mbarrier_name(bar).c_str(), m.count, m.phase, m.pending, (long long)m.tx);
    if (m.pending == 0 && m.tx > 0) s += " (arrive.expect_tx announced more bytes than the TMA copies delivered)";
    return s;
}

void thread_exit(int tid) {
    ThreadState& ts = g_threads[size_t(tid)];
    for (auto& g : ts.committed)
        for (auto& s : g) finish_store(s);
    for (auto& s : ts.uncommitted) finish_store(s);
    ts.committed.clear();
    ts.uncommitted.clear();
    const WarpgroupState& wg = g_wg[size_t(tid / kWarpgroup)];
    if (!wg.open.empty() || !wg.groups.empty())
        fail("the thread exits with wgmma operations in flight (missing wgmma.commit_group / wgmma.wait_group)");
}

}  // namespace hopper
}  // namespace rlvr_emu

// ---- C entry points: the host side of cuTensorMapEncodeTiled and the layouts for tests ----

namespace {
int map_error(char* err, size_t err_len, const std::string& e) {
    if (err && err_len) {
        const size_t n = std::min(e.size(), err_len - 1);
        std::memcpy(err, e.data(), n);
        err[n] = 0;
    }
    return 1;  // CUDA_ERROR_INVALID_VALUE
}

uint32_t dtype_bytes(int dtype) {
    // CUtensorMapDataType: UINT8, UINT16, UINT32, INT32, UINT64, INT64, FLOAT16, FLOAT32, FLOAT64, BFLOAT16,
    // FLOAT32_FTZ, TFLOAT32, TFLOAT32_FTZ.
    static const uint32_t bytes[13] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
    return dtype >= 0 && dtype < 13 ? bytes[dtype] : 0;
}
}  // namespace

// cuTensorMapEncodeTiled's arguments (enums as their integer values); returns 0 (CUDA_SUCCESS) or
// 1 (CUDA_ERROR_INVALID_VALUE) with the reason in `err`. The emulator implements rank 2,
// element strides 1 and no interleave, and checks the driver's documented requirements.
extern "C" int rlvr_emu_tensor_map_encode_tiled(void* tensor_map, int dtype, uint32_t rank, void* global_address,
                                                const uint64_t* global_dim, const uint64_t* global_strides,
                                                const uint32_t* box_dim, const uint32_t* element_strides,
                                                int interleave, int swizzle, int l2_promotion, int oob_fill, char* err,
                                                size_t err_len) {
    using rlvr_emu::fmtv;
    if (!tensor_map || (uintptr_t(tensor_map) & 63)) return map_error(err, err_len, "tensorMap must be 64-byte aligned");
    const uint32_t eb = dtype_bytes(dtype);
    if (!eb) return map_error(err, err_len, fmtv("tensorDataType %d is not a CUtensorMapDataType", dtype));
    if (rank != 2) return map_error(err, err_len, fmtv("tensorRank %u: the emulator implements 2-D tensor maps", rank));
    if (!global_address || (uintptr_t(global_address) & 15))
        return map_error(err, err_len, "globalAddress must be 16-byte aligned");
    for (int i = 0; i < 2; ++i) {
        if (global_dim[i] == 0 || global_dim[i] > (1ull << 32))
            return map_error(err, err_len, fmtv("globalDim[%d] = %llu must be in [1, 2^32]", i,
                                                (unsigned long long)global_dim[i]));
        if (box_dim[i] == 0 || box_dim[i] > 256)
            return map_error(err, err_len, fmtv("boxDim[%d] = %u must be in [1, 256]", i, box_dim[i]));
        if (element_strides[i] != 1)
            return map_error(err, err_len,
                             fmtv("elementStrides[%d] = %u: the emulator implements element strides of 1", i,
                                  element_strides[i]));
    }
    if (global_strides[0] % 16 || global_strides[0] >= (1ull << 40))
        return map_error(err, err_len, fmtv("globalStrides[0] = %llu must be a multiple of 16 below 2^40",
                                            (unsigned long long)global_strides[0]));
    if (global_strides[0] < global_dim[0] * eb)
        return map_error(err, err_len, fmtv("globalStrides[0] = %llu is smaller than a row (%llu bytes)",
                                            (unsigned long long)global_strides[0],
                                            (unsigned long long)(global_dim[0] * eb)));
    if (interleave != 0) return map_error(err, err_len, "interleave: the emulator implements CU_TENSOR_MAP_INTERLEAVE_NONE");
    if (swizzle < 0 || swizzle > 3) return map_error(err, err_len, fmtv("swizzle %d is not a CUtensorMapSwizzle", swizzle));
    if (l2_promotion < 0 || l2_promotion > 3)
        return map_error(err, err_len, fmtv("l2Promotion %d is not a CUtensorMapL2promotion", l2_promotion));
    if (oob_fill < 0 || oob_fill > 1)
        return map_error(err, err_len, fmtv("oobFill %d is not a CUtensorMapFloatOOBfill", oob_fill));
    const uint32_t row_bytes = box_dim[0] * eb;
    if (row_bytes % 16)
        return map_error(err, err_len, fmtv("boxDim[0] x element size = %u bytes must be a multiple of 16", row_bytes));
    static const uint32_t spans[4] = {0, 32, 64, 128};  // CU_TENSOR_MAP_SWIZZLE_NONE, 32B, 64B, 128B
    const uint32_t span = spans[swizzle];
    if (span && row_bytes > span)
        return map_error(err, err_len,
                         fmtv("boxDim[0] x element size = %u bytes exceeds the %u-byte swizzle span", row_bytes, span));
    rlvr_emu::EmuTensorMap m{};
    m.magic = rlvr_emu::kTensorMapMagic;
    m.elem_bytes = eb;
    m.swizzle_span = span;
    m.oob_nan = uint32_t(oob_fill);
    m.global_address = uint64_t(uintptr_t(global_address));
    m.dims[0] = global_dim[0];
    m.dims[1] = global_dim[1];
    m.row_stride = global_strides[0];
    m.box[0] = box_dim[0];
    m.box[1] = box_dim[1];
    std::memcpy(tensor_map, &m, sizeof m);
    return 0;
}

// The emulator's wgmma accumulator map for m64nNk16: row and column of value i of thread t at
// [t * N / 2 + i]. Returns 0, or -1 when N is not a multiple of 8 in [8, 256].
extern "C" int rlvr_emu_wgmma_acc_map(int n, int32_t* rows, int32_t* cols) {
    if (n < 8 || n > 256 || n % 8) return -1;
    for (int t = 0; t < rlvr_emu::hopper::kWarpgroup; ++t)
        for (int i = 0; i < n / 2; ++i) {
            int r, c;
            rlvr_emu::layout::acc_coord(t, i, &r, &c);
            rows[t * (n / 2) + i] = r;
            cols[t * (n / 2) + i] = c;
        }
    return 0;
}

// The register-A fragment map: row and k of bf16 value v (0..7) of thread t at [t * 8 + v].
extern "C" void rlvr_emu_wgmma_a_map(int32_t* rows, int32_t* ks) {
    for (int t = 0; t < rlvr_emu::hopper::kWarpgroup; ++t)
        for (int v = 0; v < 8; ++v) {
            int r, k;
            rlvr_emu::layout::a_reg_coord(t, v, &r, &k);
            rows[t * 8 + v] = r;
            ks[t * 8 + v] = k;
        }
}

// The swizzle of `span` bytes (0, 32, 64, 128) applied to a shared-memory byte address.
extern "C" uint32_t rlvr_emu_swizzle(int span, uint32_t addr) { return rlvr_emu::layout::swizzle(span, addr); }

// Shared-memory byte address of element (mn, k) of the 16-bit operand described by `desc`.
extern "C" uint32_t rlvr_emu_wgmma_desc_address(uint64_t desc, int mn_major, int mn, int k) {
    return rlvr_emu::layout::desc_element_address(desc, mn_major != 0, mn, k);
}
