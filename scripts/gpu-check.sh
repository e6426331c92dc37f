#!/usr/bin/env bash
# The one script to run on the lent GPU machine (it has no cargo). Build here first
# (scripts/build-gpu-bins.sh does all of it, both binaries):
#   scripts/setup-cuda.sh && REQUIRE_NVCC=1 REQUIRE_NO_SPILLS=1 NVCC=... cargo build --release
# then carry target/release/rlvr and run:  scripts/gpu-check.sh
# For the NCCL check also build with `--features nccl` (same environment) and carry that binary
# as target/release/rlvr-nccl (or point RLVR_NCCL_BIN at it).
# Writes every log under $OUT (default ./gpu-check-out) and prints a short table last.
# Budget: about 6 minutes when everything passes (GPU_CHECK_SANITIZERS=0 skips the slowest steps) (the bench step bounds its own repeats). Record the results in docs/gpu-log.md (card, date, commit).
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

# nccl_lib_dir LINKDIR: prints a directory holding a loadable `libnccl.so`. cudarc loads
# libnccl.so or libnccl.so.13 … .1, never libnccl.so.2 (NCCL's soname), so when only a versioned
# file exists, LINKDIR gets a libnccl.so symlink to it. Says on stderr what it found, or why not.
nccl_lib_dir() {
  local link_dir="$1" d f found=""
  local ld="${LD_LIBRARY_PATH:-}"
  for d in ${ld//:/ } \
      $(python3 -c 'import nvidia.nccl as m; print(" ".join(p + "/lib" for p in m.__path__))' 2>/dev/null) \
      $(ldconfig -p 2>/dev/null | awk '/libnccl\.so/{print $NF}' | xargs -r -n1 dirname) \
      /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/local/lib /opt/nccl/lib; do
    for f in "$d/libnccl.so" "$d"/libnccl.so.[0-9]*; do
      [[ -e "$f" ]] && { found="$f"; break 2; }
    done
  done
  [[ -z "$found" ]] && found=$(timeout 30 find /usr /opt -name 'libnccl.so*' 2>/dev/null | head -n 1)
  if [[ -z "$found" ]]; then
    echo "libnccl not found (LD_LIBRARY_PATH, python3 nvidia.nccl, ldconfig, /usr, /opt): install NCCL, e.g. pip install nvidia-nccl-cu13" >&2
    return 1
  fi
  if [[ "$(basename "$found")" == libnccl.so ]]; then
    echo "libnccl: $found" >&2
    dirname "$found"
  else
    mkdir -p "$link_dir" && ln -sf "$(readlink -f "$found")" "$link_dir/libnccl.so" || return 1
    echo "libnccl: $found (only a versioned name: loaded through the symlink $link_dir/libnccl.so)" >&2
    echo "$link_dir"
  fi
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
# The sm_90a GEMM (rung 5, never run on hardware before): its edge shapes and real widths, every
# layout (on an sm_80 card the rows say rung 3 ran instead).
step selftest-wgmma-cuda 120 "$bin" selftest --device cuda --seed 4 --filter gemm_bf16_wgmma
# End to end on a tiny random model: NSR steps with the update and scoring on the GPU
# against the same run on the emulator (rollouts on the CPU, so both update the same samples: the
# first step's statistics must agree to bf16 accuracy); GRPO with rollouts and ZeRO-1 on the GPU;
# greedy generation on the GPU against the CPU engine.
e2e="$out/e2e"
mkdir -p "$e2e"
targs=()
if step e2e-setup 60 bash -c '"$0" new-model --output "$1/model" && "$0" make-task --task arithmetic --n 64 --output "$1/train.jsonl"' "$bin" "$e2e"; then
  targs=(train --model "$e2e/model" --data "$e2e/train.jsonl" --steps 2 --prompts-per-step 4 --n 4
    --mini-batch-prompts 2 --max-prompt-tokens 64 --max-response-tokens 12 --template plain
    --val-every 0 --rollout-batch 16 --dp-shards 2 --quiet)
  step train-cuda 120 "$bin" "${targs[@]}" --objective nsr --device cuda --rollouts cpu --output "$e2e/train-cuda"
  step train-emu 240 "$bin" "${targs[@]}" --objective nsr --device emu --rollouts cpu --output "$e2e/train-emu"
  step train-cuda-vs-emu 30 python3 "$root/scripts/compare_runs.py" metrics \
    "$e2e/train-cuda/metrics.jsonl" "$e2e/train-emu/metrics.jsonl" \
    --keys actor/grad_norm,actor/pg_loss,actor/entropy --rel 5e-2
  step train-cuda-grpo 120 "$bin" "${targs[@]}" --objective grpo --device cuda --zero 1 --output "$e2e/train-cuda-grpo"
  # rollouts sampled on the GPU: decode (attention rung 3, GEMM rung 6) must give the training
  # forward's bits, so the sampler's log-probs are the trainer's up to the log-softmax rounding
  step sampler-equals-trainer 10 python3 -c 'import json, sys
k = "rollout/sampler_trainer_logp_max_diff"
v = [r[k] for r in map(json.loads, open(sys.argv[1])) if k in r]
print("sampler vs trainer log-prob max diff", max(v, default=None))
sys.exit(0 if v and max(v) < 1e-5 else 1)' "$e2e/train-cuda-grpo/metrics.jsonl"
  # the same NSR steps with every GEMM on the sm_90a wgmma kernel (rung 3 where the card is not sm_90)
  step train-cuda-wgmma 120 env RLVR_GEMM_WGMMA=1 "$bin" "${targs[@]}" --objective nsr --device cuda --rollouts cpu --output "$e2e/train-cuda-wgmma"
  step train-wgmma-vs-emu 30 python3 "$root/scripts/compare_runs.py" metrics \
    "$e2e/train-cuda-wgmma/metrics.jsonl" "$e2e/train-emu/metrics.jsonl" \
    --keys actor/grad_norm,actor/pg_loss,actor/entropy --rel 5e-2
  gargs=(generate --model "$e2e/model" --prompts "$e2e/train.jsonl" --greedy --max-tokens 16 --template plain)
  step generate-cuda 60 "$bin" "${gargs[@]}" --device cuda --output "$e2e/gen-cuda.jsonl"
  step generate-cpu 60 "$bin" "${gargs[@]}" --device cpu --output "$e2e/gen-cpu.jsonl"
  step generate-cuda-vs-cpu 30 python3 "$root/scripts/compare_runs.py" tokens \
    "$e2e/gen-cuda.jsonl" "$e2e/gen-cpu.jsonl" --min-agree 0.8
fi
# Device exchange of the data-parallel update: staged through the host with this binary,
# and with NCCL (one rank runs the same path) when an `rlvr-nccl` built with --features nccl
# was carried next to it.
step dist-check-staged 60 "$bin" dist-check --device cuda --floats 1048576 --repeats 5
nccl_bin="${RLVR_NCCL_BIN:-$(dirname "$bin")/rlvr-nccl}"
if [[ -x "$nccl_bin" ]]; then
  if nccl_ld=$(nccl_lib_dir "$out/nccl-lib" 2>"$out/nccl-find.log"); then
    cat "$out/nccl-find.log" >>"$out/machine.txt"
    step nccl-dist-check 120 env LD_LIBRARY_PATH="$nccl_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      "$nccl_bin" dist-check --device cuda --nccl --floats 1048576 --repeats 5
    # The trainer over NCCL with one rank (the exchange still runs): the same bits as staged.
    if [[ ${#targs[@]} -gt 0 ]]; then
      step nccl-train 120 env LD_LIBRARY_PATH="$nccl_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$nccl_bin" "${targs[@]}" --objective nsr --device cuda --rollouts cpu --nccl --output "$e2e/train-nccl"
      step nccl-train-vs-staged 30 python3 "$root/scripts/compare_runs.py" metrics --exact \
        "$e2e/train-nccl/metrics.jsonl" "$e2e/train-cuda/metrics.jsonl"
    fi
  else
    cp "$out/nccl-find.log" "$out/nccl-dist-check.log"
    rows+=("$(printf '%-22s %-14s %8s   %s' nccl-dist-check "SKIPPED(no libnccl)" - "$out/nccl-dist-check.log")")
  fi
else
  rows+=("$(printf '%-22s %-14s %8s   %s' nccl-dist-check "SKIPPED(no $(basename "$nccl_bin"))" - -)")
fi
# libcublas for the bench's cuBLAS baseline: use CUDA's own lib dir when the loader does not know it.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
  cublas_so=$(find /usr/local /opt -name 'libcublas.so.1[23]*' 2>/dev/null | head -n 1)
  [[ -n "$cublas_so" ]] && export LD_LIBRARY_PATH="$(dirname "$cublas_so")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# Sort-based top-p on the same GPU (torch.sort + cumsum), the sampling entry's baseline.
# Optional: without torch the bench reports the sampling entry against bandwidth only.
topp_args=()
if timeout 60 python3 "$root/scripts/topp_sort_baseline.py" >"$out/topp-sort-baseline.log" 2>&1; then
  topp_ms=$(awk '/^median_ms/{print $2}' "$out/topp-sort-baseline.log")
  [[ -n "$topp_ms" ]] && topp_args=(--topp-sort-baseline-ms "$topp_ms")
fi
rows+=("$(printf '%-22s %-14s %8s   %s' topp-sort-baseline "${topp_ms:+PASS}${topp_ms:-SKIPPED}" - "$out/topp-sort-baseline.log")")
# Every kernel at training shapes vs cuBLAS / copy bandwidth / bf16 peak; the repeats are bounded
# by --entry-budget-s so the step stays near a minute. The table is printed last, below.
# The device decode step per batch size against the copy bandwidth (weights + KV once).
step bench-generate-cuda 90 "$bin" bench generate --device cuda --synthetic-135m --batch 1,32,256 --tokens 8
step bench-kernels 240 "$bin" bench kernels --entry-budget-s 0.5 --json-out "$out/bench-kernels.json" ${topp_args[@]+"${topp_args[@]}"}
# The emulator's estimate beside each measurement (made where the binaries were built, carried as
# bench-kernels-estimate.json next to the binary or named by RLVR_ESTIMATES): the ratios calibrate
# the estimate and belong in docs/gpu-log.md.
est="${RLVR_ESTIMATES:-$(dirname "$bin")/bench-kernels-estimate.json}"
if [[ -f "$est" && -f "$out/bench-kernels.json" ]]; then
  python3 "$root/scripts/calibrate.py" "$est" "$out/bench-kernels.json" --tsv "$out/calibration.tsv" >"$out/calibration.log" 2>&1
else
  echo "no estimate carried ($est): scripts/build-gpu-bins.sh writes it" >"$out/calibration.log"
fi
# The sanitizers are the slowest steps (up to 3 x 180 s): GPU_CHECK_SANITIZERS=0 leaves them out,
# so a first run fits one 10-minute device call with room to spare.
if [[ "${GPU_CHECK_SANITIZERS:-1}" == 0 ]]; then
  rows+=("$(printf '%-22s %-14s %8s   %s' sanitizers "SKIPPED(GPU_CHECK_SANITIZERS=0)" - -)")
elif command -v compute-sanitizer >/dev/null 2>&1; then
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
echo
echo "== end to end (tiny model): GPU vs emulator update, GPU vs CPU greedy generation, NCCL vs staged =="
grep -hE "^(ok|OK|FAIL)" "$out/train-cuda-vs-emu.log" "$out/generate-cuda-vs-cpu.log" "$out/nccl-train-vs-staged.log" 2>/dev/null || echo "(no comparison output)"
echo
echo "== rlvr dist-check (device exchange; NCCL when rlvr-nccl was carried) =="
grep -hE "exchange ok|per exchange|^error" "$out/dist-check-staged.log" "$out/nccl-dist-check.log" 2>/dev/null || echo "(no dist-check output)"
echo
echo "== estimate vs measurement (emulator counters + H100 model against CUDA events; $out/calibration.tsv) =="
cat "$out/calibration.log" 2>/dev/null || echo "(no calibration output)"
echo
echo "== rlvr bench kernels (JSON: $out/bench-kernels.json) =="
# The table alone when the bench finished; else its progress lines (a timeout cut it short).
if grep -q '^rlvr bench kernels on' "$out/bench-kernels.log" 2>/dev/null; then
  sed -n '/^rlvr bench kernels on/,$p' "$out/bench-kernels.log"
else
  cat "$out/bench-kernels.log" 2>/dev/null || echo "(no bench-kernels log)"
fi
exit $failed
