#!/usr/bin/env bash
# Install the pinned nvcc 13.0 (matches the CUDA 13.0 driver of the H100/H200 machines) from PyPI
# into .venv-cuda/ at the repository root. Idempotent: a second run only re-checks the version.
# Usage: export NVCC="$(scripts/setup-cuda.sh)"   (stdout is only the nvcc path; messages go to stderr)
#        VENV=/some/dir scripts/setup-cuda.sh   (install elsewhere)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv-cuda}"
python="${PYTHON:-python3}"
pins=(
  "nvidia-cuda-nvcc==13.0.*"
  "nvidia-nvvm==13.0.*"
  "nvidia-cuda-runtime==13.0.*"
  "nvidia-cuda-crt==13.0.*"
  "nvidia-cuda-cccl==13.0.*"
)

find_nvcc() {
  local f
  for f in "$venv"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc; do
    [[ -x "$f" ]] && { echo "$f"; return 0; }
  done
  return 1
}

if nvcc="$(find_nvcc)" && "$nvcc" --version 2>/dev/null | grep -q "release 13.0"; then
  echo "setup-cuda: nvcc 13.0 already installed in $venv" >&2
else
  echo "setup-cuda: installing ${pins[*]} into $venv" >&2
  [[ -x "$venv/bin/pip" ]] || "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "${pins[@]}" >&2
  nvcc="$(find_nvcc)" || { echo "setup-cuda: nvcc not found under $venv after install" >&2; exit 1; }
  "$nvcc" --version | grep -q "release 13.0" || { echo "setup-cuda: $nvcc is not release 13.0" >&2; exit 1; }
fi

"$nvcc" --version | tail -n 2 >&2
echo "setup-cuda: to use it in a build:  export NVCC=$nvcc" >&2
echo "$nvcc"
