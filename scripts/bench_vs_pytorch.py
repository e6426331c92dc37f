#!/usr/bin/env python3
"""PyTorch (transformers' Llama, eager f32 on the CPU) and rlvr back to back on the same shapes.

Run through scripts/bench_vs_pytorch.sh, which makes the pinned venv. For each measure, PyTorch
runs first, then the rlvr binary on the same shape, each best-of-N, and the ratio rlvr/PyTorch
(higher = rlvr faster) is printed as a markdown table with the date, the machine and the load.

Measures (random weights in the SmolLM2-135M shape, 134.5M parameters, tied embeddings):
  forward           S x L tokens: hidden states, LM head, log-prob of every next token
  forward+backward  the same plus the backward of the mean log-prob to every parameter
  decode, batch B   greedy steps over a KV cache after a prefilled context: one forward of
                    every sequence's last token, the LM head and an argmax per step
  GEMM              the model's products (x·Wᵀ at S·L rows and at one row) and squares: rlvr's
                    GEMM and the matrixmultiply crate (both from `rlvr bench cpu --gemm-only`),
                    MKL (through PyTorch) and OpenBLAS (through NumPy), median GFLOP/s each
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import statistics
import time

import numpy
import torch
import transformers

SHAPE = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    tie_word_embeddings=True,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
)


def load() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def best_of(n: int, f) -> float:
    f()  # warm-up
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def torch_model():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(**SHAPE)
    m = transformers.LlamaForCausalLM(cfg).float().eval()
    return m


def tokens(seqs: int, length: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, SHAPE["vocab_size"], (seqs, length), generator=g)


def torch_forward(m, seqs, length, repeats) -> float:
    ids = tokens(seqs, length)

    def step():
        with torch.inference_mode():
            logits = m(input_ids=ids).logits[:, :-1]
            lp = torch.log_softmax(logits, dim=-1)
            lp.gather(-1, ids[:, 1:, None]).sum()

    return seqs * length / best_of(repeats, step)


def torch_train(m, seqs, length, repeats) -> float:
    ids = tokens(seqs, length)
    m.train()

    def step():
        m.zero_grad(set_to_none=True)
        logits = m(input_ids=ids).logits[:, :-1]
        lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])
        (-lp.mean()).backward()

    r = seqs * length / best_of(repeats, step)
    m.eval()
    return r


def torch_decode(m, batch, context, steps, repeats) -> float:
    ids = tokens(batch, context)

    def run():
        with torch.inference_mode():
            out = m(input_ids=ids, use_cache=True)
            cache = out.cache
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            t = time.perf_counter()
            for _ in range(steps):
                out = m(input_ids=nxt, cache=cache, use_cache=True)
                cache = out.cache
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            return time.perf_counter() - t

    run()
    return batch * steps / min(run() for _ in range(repeats))


def rlvr_json(binary: str, args: list[str]) -> dict:
    out = subprocess.run([binary, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def rlvr_forward_train(binary, seqs, length, repeats, threads) -> tuple[float, float]:
    r = rlvr_json(binary, ["bench", "cpu", "--model-only", "--threads", str(threads),
                           "--seqs", str(seqs), "--seq-len", str(length),
                           "--repeats", str(repeats)])
    return r["forward"]["best_tokens_per_s"], r["train_step"]["best_tokens_per_s"]


def rlvr_decode(binary, batch, context, steps, repeats, threads, weights) -> tuple[float, dict]:
    """Best tokens/s of `repeats` runs, and its bandwidth against the best copy bandwidth seen
    in those runs (one copy measurement on a busy machine is noisy)."""
    best, row, memcpy = 0.0, None, 0.0
    for _ in range(repeats):
        r = rlvr_json(binary, ["bench", "generate", "--synthetic-135m", "--batch", str(batch),
                               "--context", str(context), "--tokens", str(steps),
                               "--weights", weights, "--threads", str(threads)])
        memcpy = max(memcpy, r["memcpy_gbps"])
        if r["results"][0]["tokens_per_s"] > best:
            best, row = r["results"][0]["tokens_per_s"], r["results"][0]
    return best, {**row, "memcpy_gbps": memcpy, "roofline_fraction": row["achieved_gbps"] / memcpy}


def median_secs(f, budget_s: float = 0.3) -> float:
    f()  # warm-up
    t = time.perf_counter()
    f()
    once = max(time.perf_counter() - t, 1e-6)
    times = []
    for _ in range(max(3, min(50, int(budget_s / once)))):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def gemm_table(binary: str, seqs: int, length: int, threads: int) -> list[dict]:
    """rlvr's GEMM sweep beside MKL (torch) and OpenBLAS (numpy) on the same shapes."""
    r = rlvr_json(binary, ["bench", "cpu", "--gemm-only", "--threads", str(threads),
                           "--seqs", str(seqs), "--seq-len", str(length)])
    out = []
    for g in r["gemm"]:
        m, n, k = g["m"], g["n"], g["k"]
        # A transposed operand is stored transposed and read through a transposed view, as
        # rlvr's backward reads dY for dW = dYᵀ·X.
        a = torch.randn(k, m).T if g.get("trans_a") else torch.randn(m, k)
        b = torch.randn(n, k) if g["trans_b"] else torch.randn(k, n)
        an, bn = a.numpy(), b.numpy()
        if g["trans_b"] and not g.get("trans_a"):
            mkl = median_secs(lambda: torch.nn.functional.linear(a, b))
            obl = median_secs(lambda: an @ bn.T)
        else:
            mkl = median_secs(lambda: a @ b)
            obl = median_secs(lambda: an @ bn)
        fl = 2 * m * n * k / 1e9
        out.append(dict(name=g["name"], rlvr=g["gflops"], matrixmultiply=g["matrixmultiply_gflops"],
                        mkl=fl / mkl, openblas=fl / obl))
        print(f"# gemm {g['name']}: rlvr {g['gflops']:.1f}, MKL {fl / mkl:.1f}, "
              f"OpenBLAS {fl / obl:.1f} GFLOP/s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rlvr", default="target/release/rlvr")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seqs", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--context", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-gemm", action="store_true",
                    help="no GEMM table (NumPy's OpenBLAS uses its own threads: all cores "
                         "unless OPENBLAS_NUM_THREADS says otherwise)")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = torch_model()
    rows = []
    shape = f"{a.seqs} x {a.seq_len}"

    def row(what, pt, rl, extra=""):
        rows.append(dict(measure=what, pytorch=pt, rlvr=rl, ratio=rl / pt, load=load(), note=extra))
        print(f"# {what}: PyTorch {pt:.1f}, rlvr {rl:.1f} tokens/s ({rl / pt:.2f}x) {extra}",
              flush=True)

    fwd_pt = torch_forward(m, a.seqs, a.seq_len, a.repeats)
    train_pt = None if a.skip_train else torch_train(m, a.seqs, a.seq_len, max(1, a.repeats - 1))
    fwd_rl, train_rl = rlvr_forward_train(a.rlvr, a.seqs, a.seq_len, a.repeats, a.threads)
    row(f"forward tokens/s ({shape})", fwd_pt, fwd_rl)
    if train_pt is not None:
        row(f"forward + backward tokens/s ({shape})", train_pt, train_rl)
    for b in [int(x) for x in a.batches.split(",")]:
        pt = torch_decode(m, b, a.context, a.steps, a.repeats)
        for weights in ["f32", "bf16"] if b == 1 else ["f32"]:
            rl, r = rlvr_decode(a.rlvr, b, a.context, a.steps, a.repeats, a.threads, weights)
            note = (f"{100 * r['roofline_fraction']:.0f}% of the copy-bandwidth roofline "
                    f"({r['achieved_gbps']:.1f} of {r['memcpy_gbps']:.1f} GB/s)")
            row(f"greedy decode tokens/s, batch {b}, rlvr {weights} weights", pt, rl, note)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print()
    print(f"{datetime.date.today()}, {cpu}, {a.threads} threads, torch {torch.__version__} "
          f"(f32, transformers {transformers.__version__}), context {a.context} + {a.steps} "
          f"decode steps, best of {a.repeats}")
    print()
    print("| measure | PyTorch | rlvr | ratio | load (1 min) |")
    print("|---|---|---|---|---|")
    for r in rows:
        note = f" ({r['note']})" if r["note"] else ""
        print(f"| {r['measure']}{note} | {r['pytorch']:.1f} | {r['rlvr']:.1f} | "
              f"{r['ratio']:.2f}x | {r['load']:.2f} |")
    gemms = [] if a.skip_gemm else gemm_table(a.rlvr, a.seqs, a.seq_len, a.threads)
    if gemms:
        print()
        print("| GEMM (M x K x N), GFLOP/s (median) | rlvr | matrixmultiply | MKL (PyTorch) "
              "| OpenBLAS (NumPy) | rlvr / MKL |")
        print("|---|---|---|---|---|---|")
        for g in gemms:
            print(f"| {g['name']} | {g['rlvr']:.1f} | {g['matrixmultiply']:.1f} | {g['mkl']:.1f} "
                  f"| {g['openblas']:.1f} | {g['rlvr'] / g['mkl']:.2f}x |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(rows=rows, gemm=gemms), f, indent=1)


if __name__ == "__main__":
    main()
