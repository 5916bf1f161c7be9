"""Time of the limits: how long chainrule takes to refuse bad input (the documented limits, the
adversarial, deeply nested and 1 MB inputs), to run a numeric check on a large array (400 sampled
entries) and to explain with a bounded toy example. The inputs are the tests' own
(tests/test_limits.py, tests/test_errors.py); the tests bound the work by counting it, and the
seconds are measured here instead, since they depend on the machine's load.
Not a test: run `make bench` and copy the figures into docs/reliability.md.
Usage: python benchmarks/bench_limits.py [--repeat N] [--quick]"""
import argparse
import collections
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import chainrule  # noqa: E402
import chainrule.core.tensor as T  # noqa: E402
import test_errors as TE  # noqa: E402
import test_limits as TL  # noqa: E402
from chainrule import ChainruleError  # noqa: E402


def refused(call):
    def run():
        try:
            call()
        except ChainruleError:
            return
        raise AssertionError("expected a ChainruleError")
    return run


def quietly(call):
    def run():
        try:
            call()
        except ChainruleError:               # a nested function may be derived or refused
            pass
    return run


def short(text, n=40):
    text = repr(text)
    return text if len(text) <= n else text[:n] + f"…({len(text)} chars)"


def categories():
    limits = ([(short(t), refused(lambda t=t: chainrule.derive(t, "x", TL.V))) for t, _ in TL.EXPRESSION_LIMITS]
              + [(short(m), refused(lambda m=m: chainrule.backprop(m))) for m, _ in TL.MODEL_LIMITS]
              + [("x: (10**12,)", refused(lambda: chainrule.derive(*TL.DIMENSION_LIMIT))),
                 ("check of X: 3000×3000", refused(lambda: chainrule.derive(*TL.HUGE_CHECK).check()))])
    adversarial = [(short(e), refused(lambda e=e: chainrule.derive(e, "x", TE.SHAPES))) for e in TE.ADVERSARIAL]
    huge = [(short(e), refused(lambda e=e: chainrule.derive(e, "x", TE.SHAPES))) for e in TE.DEEP + TE.MEGABYTE]
    nested = [(f"{fn} x{depth}", quietly(lambda fn=fn, depth=depth: chainrule.derive(
        f"{fn}(" * depth + "x" + ")" * depth, "x", {"x": ("n",)}))) for fn, depth in TE.NESTED]
    check = [("sum(tanh(X @ X)), X: 120×120", lambda: chainrule.derive(*TL.LARGE_CHECK).check())]
    toy = [("sum(X @ X), X: 300×300", lambda: chainrule.explain(**TL.TOY_LARGE)),
           ("model dW, W: 200×200", lambda: chainrule.explain(*TL.TOY_MODEL)),
           ("nested tanh/sum, n = 2", lambda: chainrule.explain(**TL.TOY_NESTED))]
    return [("refused: documented limits", limits), ("refused: adversarial", adversarial),
            ("refused: deep / 1 MB", huge), ("nested functions (derived)", nested),
            ("numeric check, 400 sampled", check), ("explain, bounded toy", toy)]


def constructions(run):
    """Term.make + Expr.make calls during one run (untimed: counting slows the calls)."""
    count = collections.Counter()
    originals = T.Term.make, T.Expr.make

    def counted(original):
        def wrapper(*args, **kwargs):
            count["n"] += 1
            return original(*args, **kwargs)
        return staticmethod(wrapper)
    T.Term.make, T.Expr.make = counted(originals[0]), counted(originals[1])
    try:
        run()
    finally:
        T.Term.make, T.Expr.make = (staticmethod(f) for f in originals)
    return count["n"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one run each (a correctness smoke test)")
    a = ap.parse_args()
    repeat = 1 if a.quick else a.repeat
    chainrule.explain()                                   # warm-up: imports, SymPy
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, BLAS threads {threads}; "
          f"{repeat} runs per input, median and max over all runs")
    print("\n| category | inputs | median | max (input) | Term/Expr.make, max |\n|---|---|---|---|---|")
    for label, cases in categories():
        runs = []
        for name, run in cases:
            run()                                         # first run: caches (catalog, SymPy) warmed
            for _ in range(repeat):
                t = time.perf_counter()
                run()
                runs.append((time.perf_counter() - t, name))
        work = max(constructions(run) for _, run in cases)
        med = statistics.median(t for t, _ in runs)
        slowest = max(runs)
        print(f"| {label} | {len(cases)} | {fmt(med)} | {fmt(slowest[0])} ({slowest[1]}) | {work:,} |", flush=True)


def fmt(seconds):
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
