#!/usr/bin/env bash
# Install the pinned nvcc 13.0 (matches the CUDA 13.0 driver of the H100/H200 machines) from PyPI
# into .venv-cuda/ at the repository root, and NVIDIA's cuobjdump and nvdisasm (13.2: there is no
# 13.0 on PyPI; they read nvcc 13.0's sm_80 and sm_90a code) next to it, from which build.rs takes
# every kernel's SASS instruction mix. Idempotent: a second run only re-checks the versions.
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
sass_pins=(
  "nvidia-cuda-cuobjdump==13.2.86"
  "nvidia-cuda-nvdisasm==13.2.86"
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

cuobjdump="$(dirname "$nvcc")/cuobjdump"
if [[ -x "$cuobjdump" ]] && "$cuobjdump" --version >/dev/null 2>&1; then
  echo "setup-cuda: cuobjdump already installed next to nvcc" >&2
else
  echo "setup-cuda: installing ${sass_pins[*]} into $venv" >&2
  "$venv/bin/pip" install --quiet "${sass_pins[@]}" >&2
  [[ -x "$cuobjdump" ]] || { echo "setup-cuda: $cuobjdump missing after install" >&2; exit 1; }
fi

"$nvcc" --version | tail -n 2 >&2
echo "setup-cuda: to use it in a build:  export NVCC=$nvcc" >&2
echo "$nvcc"
