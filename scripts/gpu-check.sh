#!/usr/bin/env bash
# The one script to run on the lent GPU machine (it has no cargo). Build here first:
#   scripts/setup-cuda.sh && REQUIRE_NVCC=1 REQUIRE_NO_SPILLS=1 NVCC=... cargo build --release
# then carry target/release/rlvr and run:  scripts/gpu-check.sh
# Writes every log under $OUT (default ./gpu-check-out) and prints a short table last.
# Budget: well under 5 minutes. Record the results in docs/gpu-log.md (card, date, commit).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${RLVR_BIN:-$root/target/release/rlvr}"
out="${OUT:-$root/gpu-check-out}"
mkdir -p "$out"
declare -a rows=()
failed=0

step() {  # step NAME TIMEOUT_S CMD... : runs CMD, logs to $out/NAME.log, records status and time
  local name="$1" limit="$2"; shift 2
  local t0 rc
  t0=$(date +%s.%N)
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  local dt
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  local status=PASS
  [[ $rc -eq 124 ]] && status=TIMEOUT
  [[ $rc -ne 0 && $rc -ne 124 ]] && status="FAIL(rc=$rc)"
  [[ $rc -ne 0 ]] && failed=1
  rows+=("$(printf '%-22s %-14s %8ss  %s' "$name" "$status" "$dt" "$out/$name.log")")
  return $rc
}

if [[ ! -x "$bin" ]]; then
  echo "gpu-check: no binary at $bin (build with REQUIRE_NVCC=1 cargo build --release and carry it)" >&2
  exit 2
fi

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
 
  ldd --version 2>&1 | head -1
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
} >"$out/machine.txt"

step ptxas-report 30 "$bin" selftest --report
step selftest-cuda 240 "$bin" selftest --device cuda --seed 1
step selftest-emu 120 "$bin" selftest --device emu --seed 1
step selftest-attn-cuda 120 "$bin" selftest --device cuda --seed 3 --filter attn
if "$bin" bench --help >/dev/null 2>&1; then
  step bench-kernels 180 "$bin" bench kernels --json
fi
if command -v compute-sanitizer >/dev/null 2>&1; then
  step sanitizer-memcheck 180 compute-sanitizer --tool memcheck --error-exitcode 3 "$bin" selftest --device cuda --seed 2
  step sanitizer-racecheck 180 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin" selftest --device cuda --filter rmsnorm
  step sanitizer-racecheck-attn 180 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin" selftest --device cuda --filter attn
fi

echo
cat "$out/machine.txt"
echo
{ grep -E " FAIL" "$out/selftest-cuda.log" | head -n 10; tail -n 2 "$out/selftest-cuda.log"; } || true
echo
printf '%-22s %-14s %9s  %s\n' step status time log
printf '%s\n' "${rows[@]}"
exit $failed
