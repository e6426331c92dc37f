#!/usr/bin/env python3
"""Estimate against measurement, entry by entry.

Usage: calibrate.py ESTIMATE.json MEASURED.json [--tsv OUT.tsv]

ESTIMATE.json: `rlvr bench kernels --device emu --shapes real --counters --json-out ...` (made on
any machine: the emulator's counters and the H100/A100 model give est_h100_us per entry).
MEASURED.json: `rlvr bench kernels --json-out ...` on the GPU (CUDA-event median per entry).

Entries are matched on (group, kernel, rung, shape). For each match it prints the measured
median, the estimate, the resource the estimate says binds, and measured / estimated (1.0: the
model is exact; > 1: the kernel is slower than its counted resources allow, i.e. latency, stalls
or an optimistic model). The summary gives the median and geometric mean of the ratios per bound,
the numbers that belong in docs/gpu-log.md. Informational only: always exits 0 when both files
parse.
"""
import json
import math
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"calibrate: cannot read {path}: {e}")


def key(r):
    return (r.get("group"), r.get("kernel"), r.get("rung"), r.get("shape"))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    tsv = None
    if "--tsv" in argv:
        i = argv.index("--tsv")
        if i + 1 >= len(argv):
            sys.exit("calibrate: --tsv needs a path")
        tsv = argv[i + 1]
        args = [a for a in args if a != tsv]
    if len(args) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    est, meas = load(args[0]), load(args[1])
    if meas.get("gpu_numbers") is not True:
        print(f"calibrate: warning: {args[1]} holds no GPU numbers (gpu_numbers is not true)")
    estimates = {}
    for r in est.get("records", []):
        e = r.get("efficiency")
        if e and e.get("est_h100_us"):
            estimates[key(r)] = e
    rows, unmatched = [], 0
    for r in meas.get("records", []):
        ms = r.get("median_ms")
        if ms is None or r.get("group") in ("baseline", "error"):
            continue
        e = estimates.get(key(r))
        if e is None:
            unmatched += 1
            continue
        us = ms * 1000.0
        rows.append((r["kernel"], r.get("rung"), r["shape"], us, e["est_h100_us"], e["est_bound"], us / e["est_h100_us"]))
    print(f"{'kernel':<34} {'rung':>4} {'shape':<28} {'measured us':>12} {'est H100 us':>12} {'bound':<10} {'meas/est':>8}")
    for k, rung, shape, us, eus, bound, ratio in rows:
        print(f"{k[:34]:<34} {rung if rung is not None else '-':>4} {shape[:28]:<28} {us:>12.1f} {eus:>12.1f} {bound:<10} {ratio:>8.2f}")
    print(f"matched {len(rows)} entries; {unmatched} measured entries have no estimate")
    by_bound = {}
    for row in rows:
        by_bound.setdefault(row[5], []).append(row[6])
    for bound, ratios in sorted(by_bound.items()):
        gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"bound {bound:<10} n={len(ratios):<3} median meas/est {statistics.median(ratios):.2f}  geomean {gm:.2f}")
    if tsv:
        with open(tsv, "w") as f:
            f.write("kernel\trung\tshape\tmeasured_us\test_h100_us\tbound\tratio\n")
            for row in rows:
                f.write("\t".join(str(x) for x in row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
