"""Derivation speed: median `chainrule.derive` time over the acceptance cases (public ones when
../shared/acceptance is present, plus the golden identities), and the `import chainrule` time.
Not a test: run `make bench` and copy the figures into docs/benchmarks.md.
Usage: python benchmarks/bench_derive.py [--repeat N] [--quick]"""
import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import chainrule  # noqa: E402


def cases():
    out = []
    public = ROOT.parent / "shared" / "acceptance" / "public_cases.py"
    if public.exists():
        spec = importlib.util.spec_from_file_location("public_cases", public)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out += [(c["name"], c["expr"], c["wrt"], c["shapes"], c["order"]) for c in mod.C]
    from test_golden import GOLDEN
    out += [(f"golden:{e}", e, w, s, o) for e, w, s, o, _ in GOLDEN]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="one run each (a correctness smoke test)")
    a = ap.parse_args()
    repeat = 1 if a.quick else a.repeat
    per_case = []
    for name, expr, wrt, shapes, order in cases():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            chainrule.derive(expr, wrt, shapes, order)
            times.append(time.perf_counter() - t)
        per_case.append((statistics.median(times), name))
    imports = []
    for _ in range(1 if a.quick else 7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import chainrule"], check=True)
        imports.append(time.perf_counter() - t)
    base = []
    for _ in range(1 if a.quick else 7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - t)
    meds = sorted(t for t, _ in per_case)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{len(per_case)} cases x {repeat} runs")
    print(f"derive: median {statistics.median(meds) * 1e3:.2f} ms, p90 {meds[int(0.9 * len(meds))] * 1e3:.2f} ms, "
          f"max {meds[-1] * 1e3:.2f} ms ({max(per_case)[1]})")
    print(f"import chainrule: {(statistics.median(imports) - statistics.median(base)) * 1e3:.0f} ms "
          f"(interpreter start {statistics.median(base) * 1e3:.0f} ms subtracted)")


if __name__ == "__main__":
    main()
