#!/usr/bin/env bash
# The independent layout reference for the emulator's Hopper instructions: installs CUTLASS 4.2.0.0
# from PyPI (nvidia-cutlass, which ships the CuTe headers) into .venv-cutlass/, builds
# scripts/cute/layouts.cpp host-only with g++ against them and writes CuTe's wgmma fragment maps,
# swizzles and descriptor layouts to target/cute-layouts.txt, which tests/emu_hopper_cute.rs
# compares with the emulator's (it skips with a message while the file is absent).
# Idempotent: a second run reuses the venv and rebuilds only when the source changed.
# Needs the CUDA headers (CUDA_HOME/include, or .venv-cuda from scripts/setup-cuda.sh).
# Usage: scripts/setup-cute-layouts.sh [OUTPUT]      CXX=... to use another compiler
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv-cutlass}"
python="${PYTHON:-python3}"
cxx="${CXX:-g++}"
outfile="${1:-$root/target/cute-layouts.txt}"
pin="nvidia-cutlass==4.2.0.0"

find_cute() {
  local d
  for d in "$venv"/lib/python3*/site-packages/cutlass_library/source/include; do
    [[ -f "$d/cute/atom/mma_traits_sm90_gmma.hpp" ]] && { echo "$d"; return 0; }
  done
  return 1
}

if ! include="$(find_cute)"; then
  echo "setup-cute-layouts: installing $pin into $venv" >&2
  [[ -x "$venv/bin/pip" ]] || "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "$pin" >&2
  include="$(find_cute)" || { echo "setup-cute-layouts: no CuTe headers under $venv after installing $pin" >&2; exit 1; }
fi

cuda_include=""
for d in "${CUDA_HOME:+$CUDA_HOME/include}" "$root"/.venv-cuda/lib/python3*/site-packages/nvidia/cu13/include; do
  [[ -n "$d" && -f "$d/cuda_runtime_api.h" ]] && { cuda_include="$d"; break; }
done
[[ -n "$cuda_include" ]] || { echo "setup-cute-layouts: no CUDA headers (set CUDA_HOME or run scripts/setup-cuda.sh)" >&2; exit 1; }
cccl=()
[[ -d "$cuda_include/cccl" ]] && cccl=(-I "$cuda_include/cccl")

mkdir -p "$root/target/cute"
exe="$root/target/cute/layouts"
src="$root/scripts/cute/layouts.cpp"
if [[ ! -x "$exe" || "$src" -nt "$exe" ]]; then
  echo "setup-cute-layouts: building $exe" >&2
  "$cxx" -std=c++17 -O1 -I "$include" -I "$cuda_include" "${cccl[@]}" "$src" -o "$exe"
fi
# On the host CuTe prints a notice each time it cannot take a shared-window address (the program
# supplies those itself); stdout carries nothing else.
"$exe" "$outfile" > /dev/null
echo "setup-cute-layouts: wrote $outfile" >&2
