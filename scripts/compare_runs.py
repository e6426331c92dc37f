#!/usr/bin/env python3
"""Compare two rlvr outputs on the GPU machine (which has no cargo): training metrics or
generations. Exit 0 when they agree, 1 when not; prints what it compared.

  compare_runs.py metrics A/metrics.jsonl B/metrics.jsonl --keys k1,k2 --rel 0.05 [--lines 1]
  compare_runs.py metrics A/metrics.jsonl B/metrics.jsonl --exact      (all but time/perf keys)
  compare_runs.py tokens A.jsonl B.jsonl --min-agree 0.8               (generate outputs)
"""
import argparse
import json
import sys


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def metrics(a, b, args):
    ra, rb = read_jsonl(a), read_jsonl(b)
    if len(ra) != len(rb) or not ra:
        print(f"FAIL: {len(ra)} vs {len(rb)} metric lines")
        return 1
    bad = 0
    if args.exact:
        for i, (x, y) in enumerate(zip(ra, rb)):
            strip = lambda m: {k: v for k, v in m.items() if not k.startswith(("time/", "perf/"))}
            if strip(x) != strip(y):
                diff = [k for k in strip(x) if strip(x).get(k) != strip(y).get(k)]
                print(f"FAIL: step line {i} differs in {diff[:8]}")
                bad += 1
        print(("OK" if not bad else "FAIL") + f": {len(ra)} lines compared exactly")
        return 1 if bad else 0
    for i in range(min(args.lines, len(ra))):
        for k in args.keys.split(","):
            x, y = ra[i].get(k), rb[i].get(k)
            if x is None or y is None:
                print(f"FAIL: line {i} lacks {k}")
                bad += 1
                continue
            rel = abs(x - y) / max(abs(x), abs(y), 1e-6)
            ok = rel <= args.rel
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} line {i} {k}: {x:.6g} vs {y:.6g} (rel {rel:.2e}, tol {args.rel})")
    return 1 if bad else 0


def tokens(a, b, args):
    ra, rb = read_jsonl(a), read_jsonl(b)
    key = lambda r: (r.get("question_id"), r.get("generation_id"))
    mb = {key(r): r for r in rb}
    same = total = identical = 0
    worst = 0.0
    for r in ra:
        o = mb.get(key(r))
        if o is None:
            print(f"FAIL: {key(r)} missing in {b}")
            return 1
        ta, tb = r["tokens"], o["tokens"]
        n = 0
        while n < min(len(ta), len(tb)) and ta[n] == tb[n]:
            n += 1
        for x, y in zip(r["logprobs"][:n], o["logprobs"][:n]):
            worst = max(worst, abs(x - y) / max(1.0, abs(y)))
        same += n
        total += max(len(ta), len(tb))
        identical += ta == tb
    agree = same / max(total, 1)
    ok = agree >= args.min_agree
    print(f"{'OK' if ok else 'FAIL'}: {identical}/{len(ra)} completions identical, "
          f"{agree:.3f} of tokens agree before the first divergence (min {args.min_agree}), "
          f"worst log-prob difference on agreeing tokens {worst:.2e} (relative)")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["metrics", "tokens"])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--keys", default="actor/grad_norm,actor/pg_loss")
    p.add_argument("--rel", type=float, default=0.05)
    p.add_argument("--lines", type=int, default=1)
    p.add_argument("--exact", action="store_true")
    p.add_argument("--min-agree", type=float, default=0.8)
    args = p.parse_args()
    try:
        return (metrics if args.what == "metrics" else tokens)(args.a, args.b, args)
    except (OSError, ValueError, KeyError) as e:
        print(f"FAIL: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
