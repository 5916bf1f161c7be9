"""A fuzz campaign: N generated inputs through the whole pipeline, in worker processes; every input
must end in a result or a positioned ChainruleError within 2 s. Prints counts and every failure.
Usage: python fuzz/campaign.py [--count 100000] [--seed 0] [--deep 0.02] [--workers 2]"""
import argparse
import collections
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))


def work(args):
    start, count, seed, deep = args
    from grammar import case
    from runner import run
    rng = random.Random(f"{seed}-{start}")
    out = []
    for k in range(start, start + count):
        kind, text, wrt = case(rng)
        outcome, detail, dt = run(kind, text, wrt, deep=rng.random() < deep)
        if outcome in ("crash", "slow", "error-unpositioned"):
            out.append((k, kind, outcome, detail, text, wrt, dt))
        else:
            out.append((k, kind, outcome, "", None, None, dt))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deep", type=float, default=0.02, help="share of inputs also explained/checked")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    chunk = 500
    jobs = [(s, min(chunk, a.count - s), a.seed, a.deep) for s in range(0, a.count, chunk)]
    t = time.time()
    counts, kinds, failures, slowest = collections.Counter(), collections.Counter(), [], (0, None)
    with mp.Pool(a.workers, maxtasksperchild=20) as pool:
        for rows in pool.imap_unordered(work, jobs):
            for k, kind, outcome, detail, text, wrt, dt in rows:
                counts[outcome] += 1
                kinds[kind] += 1
                slowest = max(slowest, (dt, k))
                if text is not None:
                    failures.append((outcome, kind, detail, text, wrt))
    total = sum(counts.values())
    print(f"{total} inputs in {time.time() - t:.0f} s ({dict(kinds)})")
    print("outcomes:", dict(counts))
    print(f"slowest input: {slowest[0]:.2f} s (#{slowest[1]})")
    for outcome, kind, detail, text, wrt in failures[:60]:
        print(f"--- {outcome} [{kind}] wrt={wrt}: {detail}\n{text!r}"[:600])
    return 1 if any(f[0] in ("crash", "slow") for f in failures) else 0


if __name__ == "__main__":
    sys.exit(main())
