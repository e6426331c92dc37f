#!/usr/bin/env bash
# PyTorch and rlvr back to back on the same shapes and threads, with the ratios (rlvr / PyTorch,
# higher is better): forward, forward + backward, greedy decode at batch 1, 16 and 64 (f32 and,
# at batch 1, bf16 weights). Not part of CI: it installs CPU PyTorch into .venv-torch (pinned,
# gitignored; the PyPI wheel pulls its CUDA runtime wheels, a few GB, on first use).
#
#   bash scripts/bench_vs_pytorch.sh                 # defaults: 4 x 256 tokens, best of 3
#   bash scripts/bench_vs_pytorch.sh --repeats 5 --batches 1,16
#   bash scripts/bench_vs_pytorch.sh --help          # every option
#
# Arguments go to scripts/bench_vs_pytorch.py. It also prints a GEMM table (rlvr, matrixmultiply,
# MKL through PyTorch, OpenBLAS through NumPy, on the model's shapes; --skip-gemm leaves it out).
# Record `uptime` with the numbers: on a shared machine both sides slow down together, so only
# ratios from one run compare.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-torch
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, transformers" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch==2.15.0 transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6
fi
cargo build --release --quiet
uptime
exec "$VENV/bin/python" scripts/bench_vs_pytorch.py --rlvr target/release/rlvr "$@"
