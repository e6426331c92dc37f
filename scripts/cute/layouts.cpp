// Prints CuTe's (CUTLASS) reading of the Hopper layouts the emulator implements, for
// tests/emu_hopper_cute.rs to compare with the emulator's own: wgmma accumulator and register-A
// fragment maps, the 32/64/128-byte swizzles, and the shared-memory addresses of every element
// of the canonical K-major and MN-major operand layouts next to the descriptor CuTe builds for
// them. Host-only (g++), never part of the kernels; built and run by scripts/setup-cute-layouts.sh.
//
// Output lines (all numbers decimal, descriptors hex):
//   acc N t i row col           accumulator value i of thread t, m64nNk16
//   areg t v row k              register-A value v (bf16) of thread t
//   swz span addr swizzled      byte-address swizzle
//   desc major span mn kb hex   descriptor of the operand slice k = 16 kb .. 16 kb + 15
//   elem mn k addr              byte address of element (mn, k) of that slice
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/tensor.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

using namespace cute;
using bf16 = cute::bfloat16_t;

static FILE* out = nullptr;

template <int N>
void print_acc() {
    using C = SM90::GMMA::CLayout_64xN<N>;  // (thread, value) -> m + 64 n
    C c{};
    for (int t = 0; t < 128; ++t)
        for (int i = 0; i < N / 2; ++i) {
            const int idx = c(t, i);
            fprintf(out, "acc %d %d %d %d %d\n", N, t, i, idx % 64, idx / 64);
        }
}

template <int... Ns>
void print_accs(std::integer_sequence<int, Ns...>) {
    (print_acc<8 * (Ns + 1)>(), ...);
}

// The traits of the instructions the kernels spell use exactly these layouts.
static_assert(std::is_same_v<MMA_Traits<SM90_64x64x16_F32BF16BF16_SS<GMMA::Major::K, GMMA::Major::K>>::CLayout,
                             SM90::GMMA::CLayout_64xN<64>>);
static_assert(std::is_same_v<MMA_Traits<SM90_64x128x16_F32BF16BF16_SS<GMMA::Major::K, GMMA::Major::K>>::CLayout,
                             SM90::GMMA::CLayout_64xN<128>>);
static_assert(std::is_same_v<MMA_Traits<SM90_64x256x16_F32BF16BF16_SS<GMMA::Major::K, GMMA::Major::K>>::CLayout,
                             SM90::GMMA::CLayout_64xN<256>>);
using RsTraits = MMA_Traits<SM90_64x128x16_F32BF16BF16_RS<GMMA::Major::K, GMMA::Major::K>>;

void print_areg() {
    typename RsTraits::ALayout a{};  // (thread, value) -> m + 64 k
    for (int t = 0; t < 128; ++t)
        for (int v = 0; v < 8; ++v) {
            const int idx = a(t, v);
            fprintf(out, "areg %d %d %d %d\n", t, v, idx % 64, idx / 64);
        }
}

template <class S>
void print_swizzle(int span) {
    S s{};
    for (uint32_t a = 0; a < 4096; a += 2) fprintf(out, "swz %d %u %u\n", span, a, uint32_t(s(a)));
}

alignas(1024) static bf16 smem[256 * 64 * 2];

// Descriptor and element addresses of every 16-wide K slice of an MN x K tile of `Atom`.
template <GMMA::Major Major, class Atom, int MN, int K>
void print_desc(int span) {
    auto layout = tile_to_shape(Atom{}, Shape<Int<MN>, Int<K>>{});
    Tensor t = make_tensor(make_smem_ptr(smem), layout);
    for (int kb = 0; kb < K / 16; ++kb) {
        Tensor slice = local_tile(t, Shape<Int<MN>, _16>{}, make_coord(0, kb));
        GmmaDescriptor d = GMMA::make_gmma_desc<Major>(slice);
        // On the host CuTe cannot convert a pointer to a shared-window address; the slice origin
        // relative to the 1024-byte aligned tile is that address.
        const uint32_t start = uint32_t(reinterpret_cast<const char*>(raw_pointer_cast(slice.data())) -
                                        reinterpret_cast<const char*>(smem));
        d.bitfield.start_address_ = uint16_t(start >> 4);
        fprintf(out, "desc %s %d %d %d %016llx\n", Major == GMMA::Major::K ? "K" : "MN", span, MN, kb,
                (unsigned long long)uint64_t(d));
        for (int mn = 0; mn < MN; ++mn)
            for (int k = 0; k < 16; ++k) {
                const char* p = reinterpret_cast<const char*>(&slice(mn, k));
                fprintf(out, "elem %d %d %ld\n", mn, k, long(p - reinterpret_cast<const char*>(smem)));
            }
    }
}

template <int MN>
void print_k_major() {
    print_desc<GMMA::Major::K, GMMA::Layout_K_INTER_Atom<bf16>, MN, 16>(0);
    print_desc<GMMA::Major::K, GMMA::Layout_K_SW32_Atom<bf16>, MN, 16>(32);
    print_desc<GMMA::Major::K, GMMA::Layout_K_SW64_Atom<bf16>, MN, 32>(64);
    print_desc<GMMA::Major::K, GMMA::Layout_K_SW128_Atom<bf16>, MN, 64>(128);
}

template <int MN>
void print_mn_major() {
    print_desc<GMMA::Major::MN, GMMA::Layout_MN_INTER_Atom<bf16>, MN, 16>(0);
    print_desc<GMMA::Major::MN, GMMA::Layout_MN_SW32_Atom<bf16>, MN, 16>(32);
    print_desc<GMMA::Major::MN, GMMA::Layout_MN_SW64_Atom<bf16>, MN, 16>(64);
    print_desc<GMMA::Major::MN, GMMA::Layout_MN_SW128_Atom<bf16>, MN, 16>(128);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
        return 2;
    }
    out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    print_accs(std::make_integer_sequence<int, 32>{});
    print_areg();
    print_swizzle<Swizzle<1, 4, 3>>(32);
    print_swizzle<Swizzle<2, 4, 3>>(64);
    print_swizzle<Swizzle<3, 4, 3>>(128);
    print_k_major<8>();
    print_k_major<24>();
    print_k_major<64>();
    print_k_major<128>();
    print_k_major<256>();
    print_mn_major<64>();
    print_mn_major<128>();
    print_mn_major<256>();
    return fclose(out) == 0 ? 0 : 1;
}
