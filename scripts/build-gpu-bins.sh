#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on the lent GPU machine (which has no cargo):
#   target/release/rlvr       the default release build, every kernel compiled by nvcc (sm_80, sm_90a)
#   target/release/rlvr-nccl  the same with --features nccl (built in target/nccl so the two
#                             builds do not overwrite each other)
#   target/release/bench-kernels-estimate.json
#                             the emulator's counted efficiency and ESTIMATED H100 time of every
#                             `bench kernels` entry at the GPU run's shapes (--shapes real), which
#                             gpu-check.sh joins with the measured times (scripts/calibrate.py)
# Then carry both (about 2 x 16 MB, under the 64 MiB carry limit) and run scripts/gpu-check.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-cuda.sh >/dev/null
NVCC="$(ls "$root"/.venv-cuda/lib/python3*/site-packages/nvidia/cu13/bin/nvcc | head -n 1)"
export NVCC REQUIRE_NVCC=1 REQUIRE_NO_SPILLS=1
cargo build --release
CARGO_TARGET_DIR="$root/target/nccl" cargo build --release --features nccl
cp "$root/target/nccl/release/rlvr" "$root/target/release/rlvr-nccl"
ls -la "$root/target/release/rlvr" "$root/target/release/rlvr-nccl"
# The same --logprob-tokens as gpu-check.sh's run (the default), so the shapes (the join keys) match.
# Counting every entry at training shapes takes a while on a small machine (the GEMMs alone took
# about 3 minutes on 2 cores): bounded by RLVR_ESTIMATE_TIMEOUT_S, skipped with RLVR_ESTIMATE=0;
# without the file gpu-check.sh runs as before and says no estimate was carried.
est="$root/target/release/bench-kernels-estimate.json"
if [[ "${RLVR_ESTIMATE:-1}" != 0 ]]; then
  if timeout "${RLVR_ESTIMATE_TIMEOUT_S:-1800}" "$root/target/release/rlvr" bench kernels --device emu \
      --shapes real --counters --json-out "$est.tmp" >/dev/null; then
    mv "$est.tmp" "$est" && ls -la "$est"
  else
    rm -f "$est.tmp"
    echo "warning: the estimate did not finish (RLVR_ESTIMATE_TIMEOUT_S); gpu-check.sh will run without it" >&2
  fi
fi
