"""Time of the tutor's answers: explain (all seven sections, the engine-built toy example included) for
every adjoint of every built-in model — with how many explain backprop's own formula, show a one-step
form and have their toy example read backprop's formula off the entries — the first explain of a
fresh process (imports included), and check() on a set of learner formulas (right and wrong).
Not a test: run `make bench`; CI runs `--quick`.
Usage: python benchmarks/bench_tutor.py [--quick]"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import chainrule  # noqa: E402

CLAIMS = [
    "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))",
    "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))",
    "dW1 = np.dot(dZ1, X.T)",
    "db1 = np.sum(dZ1, axis=1) / m",
    "dZ1 = np.dot(W2.T, dZ2) * (1 - A1)",
    "dW1 = np.dot(dZ1, A1.T) / m",
    "dZ2 = A2 - Y",
    "db1 = np.sum(dZ1, axis=0, keepdims=True) / m",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    models = ["two-layer"] if a.quick else chainrule.examples()
    import subprocess
    cold = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import chainrule; "
                           "chainrule.explain(); print(time.perf_counter() - t, 'sympy' in __import__('sys').modules)"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    seconds, sympy = cold.stdout.split()
    print(f"first explain of a process, imports included: {float(seconds) * 1e3:.0f} ms (SymPy imported: {sympy})")
    chainrule.explain()                                   # warm-up: imports
    times, slowest, same, one_step, toy = [], (0, ""), 0, 0, 0
    for name in models:
        text = chainrule.example(name)
        for g in chainrule.backprop(text).gradients:
            t = time.perf_counter()
            e = chainrule.explain(text, g.name)
            dt = time.perf_counter() - t
            times.append(dt)
            slowest = max(slowest, (dt, f"{name} {g.name}"))
            same += e.formula == g.text
            one_step += e.one_step is not None
            toy += "It is backprop's formula" in e.steps[5].text
    print(f"explain: {len(times)} adjoints, median {statistics.median(times) * 1e3:.0f} ms, "
          f"max {slowest[0] * 1e3:.0f} ms ({slowest[1]}); formula = backprop's on {same}, one-step form on "
          f"{one_step}, toy reads backprop's formula off its entries on {toy}")
    two = chainrule.example("two-layer")
    ct = []
    for claim in CLAIMS[:3] if a.quick else CLAIMS:
        t = time.perf_counter()
        chainrule.check(two, claim)
        ct.append(time.perf_counter() - t)
    print(f"check: {len(ct)} learner formulas, median {statistics.median(ct) * 1e3:.0f} ms, max {max(ct) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
