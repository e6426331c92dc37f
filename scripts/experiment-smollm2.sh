#!/usr/bin/env bash
# The `rlvr demo` protocol on a real model: SmolLM2-135M-Instruct, trained with PSR, NSR,
# W-REINFORCE (λ = 0.1) and REINFORCE (λ = 1) on single-digit arithmetic, several RL seeds each,
# every model evaluated on the same held-out problems with the same per-problem sample seeds,
# then `rlvr compare` (ΔPass@k with 95% intervals, coverage, the verdicts on the paper's claims)
# and `rlvr plot` (training curves).
#
#   scripts/experiment-smollm2.sh [--smoke]
#
# --smoke: tiny sizes (one RL seed, one RL step, a few problems and samples) to check the
# pipeline in a few minutes; its output goes to a separate folder.
#
# Train settings: configs/experiments/smollm2-135m.toml; evaluation settings: below.
# Environment: RLVR_BIN (default target/release/rlvr), OUT (output folder, default
# runs/experiment-smollm2[-smoke]), RL_SEEDS (default 3), OBJECTIVES (default "psr nsr w-reinforce
# reinforce"; a subset trains and compares only those). Every process runs under nice -n 19.
# Idempotent per finished stage: a rerun skips the task files, trainings and evaluations that are
# complete (an interrupted training starts over; an interrupted evaluation resumes).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
case "${1:-}" in
    --smoke) SMOKE=1 ;;
    "") ;;
    *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

RLVR="${RLVR_BIN:-target/release/rlvr}"
CONFIG=configs/experiments/smollm2-135m.toml
MODEL=models/smollm2-135m-instruct
TASK=arithmetic
DIFFICULTY=2
# Appended to every prompt: without it the model explains at length and runs out of tokens.
INSTRUCTION="Answer with just the number."
# The evaluation: the paper's sampling (T 0.6, top-p 0.95), bf16 weights while sampling (faster
# on the CPU; every model is sampled the same way).
EVAL_PROBLEMS=64
EVAL_N=16
EVAL_MAX_TOKENS=16
EVAL_SEED=7
RL_SEEDS="${RL_SEEDS:-3}"
TRAIN_OVERRIDES=()
SUFFIX=""
if [[ $SMOKE == 1 ]]; then
    SUFFIX=-smoke
    EVAL_PROBLEMS=6
    EVAL_N=4
    RL_SEEDS=1
    TRAIN_OVERRIDES=(--steps 1 --prompts-per-step 2 --n 4 --mini-batch-prompts 1)
fi
OUT="${OUT:-runs/experiment-smollm2$SUFFIX}"
read -r -a OBJECTIVES <<<"${OBJECTIVES:-psr nsr w-reinforce reinforce}"

[[ -x "$RLVR" ]] || { echo "error: $RLVR not found; build it with cargo build --release" >&2; exit 1; }
run() { nice -n 19 "$@"; }
T0=$SECONDS
stage() { echo "== [$((SECONDS - T0)) s] $*" >&2; }

stage "model"
RLVR_BIN="$RLVR" run bash scripts/get-smollm2.sh "$MODEL"
mkdir -p "$OUT/tasks" "$OUT/runs" "$OUT/eval"

# Tasks: difficulty 2 has only a few hundred distinct questions, so the held-out set is the first
# EVAL_PROBLEMS distinct ones of one seed, and the training set every other distinct question of
# another seed (make-task writes `{"prompt":"…",…}`; field 4 split on `"` is the question).
stage "tasks"
if [[ ! -s "$OUT/tasks/train.jsonl" ]]; then
    run "$RLVR" make-task --task $TASK --difficulty $DIFFICULTY --n 4000 --seed 1001 --output "$OUT/tasks/eval-all.jsonl"
    run "$RLVR" make-task --task $TASK --difficulty $DIFFICULTY --n 4000 --seed 2002 --output "$OUT/tasks/train-all.jsonl"
    awk -F'"' -v max="$EVAL_PROBLEMS" '!seen[$4]++ && ++k <= max' "$OUT/tasks/eval-all.jsonl" |
        sed "s/\",\"answer\"/ $INSTRUCTION\",\"answer\"/" > "$OUT/tasks/eval.jsonl.tmp"
    awk -F'"' 'NR == FNR { held[$4]; next } !($4 in held)' "$OUT/tasks/eval.jsonl.tmp" \
        <(awk -F'"' '!seen[$4]++' "$OUT/tasks/train-all.jsonl" |
          sed "s/\",\"answer\"/ $INSTRUCTION\",\"answer\"/") > "$OUT/tasks/train.jsonl.tmp"
    mv "$OUT/tasks/eval.jsonl.tmp" "$OUT/tasks/eval.jsonl"
    mv "$OUT/tasks/train.jsonl.tmp" "$OUT/tasks/train.jsonl"
    rm -f "$OUT/tasks/eval-all.jsonl" "$OUT/tasks/train-all.jsonl"
fi
echo "tasks: $(wc -l < "$OUT/tasks/eval.jsonl") held-out, $(wc -l < "$OUT/tasks/train.jsonl") training problems (disjoint questions)" >&2

# Every evaluation: same problems, n, sampling and seed, so models are compared problem by problem.
evaluate() { # MODEL_DIR OUTPUT_DIR
    if [[ -s "$2/passk.json" ]]; then return; fi
    run "$RLVR" eval --model "$1" --data "$OUT/tasks/eval.jsonl" --output "$2" \
        --n $EVAL_N --temperature 0.6 --top-p 0.95 --max-tokens $EVAL_MAX_TOKENS \
        --template smollm2 --seed $EVAL_SEED --batch 128 --weights bf16
}

stage "evaluate the base"
evaluate "$MODEL" "$OUT/eval/base"

# Seeds outermost: a run cut short still has every objective for its first seeds.
for s in $(seq 1 "$RL_SEEDS"); do
    for obj in "${OBJECTIVES[@]}"; do
        name="$obj-seed$s"
        dir="$OUT/runs/$name"
        # REINFORCE is W-REINFORCE with λ = 1 (rewards ±1); it takes no λ.
        lambda=()
        [[ $obj == w-reinforce ]] && lambda=(--lambda 0.1)
        if ! compgen -G "$dir/checkpoints/step-*/config.json" >/dev/null; then
            stage "train $name"
            run "$RLVR" train --config "$CONFIG" "${TRAIN_OVERRIDES[@]}" --model "$MODEL" \
                --data "$OUT/tasks/train.jsonl" --output "$dir" --objective "$obj" \
                "${lambda[@]}" --seed "$s" --quiet --force
        fi
        ckpt=$(ls -d "$dir"/checkpoints/step-* | sort | tail -n 1)
        stage "evaluate $name ($ckpt)"
        evaluate "$ckpt" "$OUT/eval/$name"
    done
done

stage "compare"
models=()
for obj in "${OBJECTIVES[@]}"; do
    dirs=$(for s in $(seq 1 "$RL_SEEDS"); do printf '%s,' "$OUT/eval/$obj-seed$s"; done)
    models+=(--model "$obj=${dirs%,}")
done
run "$RLVR" compare --base "$OUT/eval/base" "${models[@]}" --output "$OUT/compare"

stage "plot"
run "$RLVR" plot "$OUT"/runs/* --output "$OUT/plots"

# `times`' second line: user and system time of the finished children, as 1m2.345s (run in this
# shell, not in a $(…) subshell, whose children are none of these).
times > "$OUT/.times"
cpu=$(tail -n 1 "$OUT/.times" | awk '{ split($1, u, /[ms]/); split($2, y, /[ms]/);
                                        printf "%.0f", 60 * u[1] + u[2] + 60 * y[1] + y[2] }')
echo "done: wall $((SECONDS - T0)) s, CPU $cpu s (user + system, all processes of this run);" \
     "report $OUT/compare/report.md, plots $OUT/compare and $OUT/plots" >&2
