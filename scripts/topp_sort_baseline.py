#!/usr/bin/env python3
"""Sort-based top-p sampling on the GPU with PyTorch: the baseline for
`rlvr bench kernels`'s sample_rows_f32 entry (ours must be >= 5x faster). Same shape and logits
range as that entry: 256 rows x V = 152064, logits uniform in [-6, 6), top-p 0.9, temperature 1.

One timed repeat = softmax, a full descending sort, cumsum, the nucleus mask, renormalise,
multinomial draw, gather of the token id. CUDA events around each repeat after warm-up, the L2
cache flushed before each (a write of twice its size). Prints `median_ms <x>` (and exits 2 when
no CUDA device or no torch is present, so gpu-check.sh can skip the ratio).
"""
import statistics
import sys


def main() -> int:
    try:
        import torch
    except ImportError:
        print("topp_sort_baseline: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("topp_sort_baseline: no CUDA device", file=sys.stderr)
        return 2
    rows, vocab, top_p = 256, 152064, 0.9
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    logits = torch.rand(rows, vocab, device=dev, generator=gen) * 12.0 - 6.0
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size or (50 << 20)
    flush = torch.empty(2 * l2, dtype=torch.uint8, device=dev)

    def sample():
        probs = torch.softmax(logits, dim=-1)
        sorted_p, sorted_i = torch.sort(probs, dim=-1, descending=True)
        cum = torch.cumsum(sorted_p, dim=-1)
        # keep a token while the mass before it is below top_p (the first token always stays)
        sorted_p = sorted_p.masked_fill(cum - sorted_p >= top_p, 0.0)
        pick = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1, generator=gen)
        return sorted_i.gather(-1, pick)

    for _ in range(3):
        sample()
    torch.cuda.synchronize()
    times = []
    for i in range(20):
        flush.fill_(i & 0xFF)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        sample()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    print(f"device {torch.cuda.get_device_name(dev)}; torch {torch.__version__}")
    print(f"median_ms {statistics.median(times):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
