"""Backprop derivation time against depth: an L-layer MLP ([LINEAR→TANH]×(L−1) → LINEAR→SIGMOID,
cross-entropy) for L = 2, 5, 10, 20, 50. Derivation cost should grow linearly with depth. Then the
numeric check (`backprop --check`) of a hand-unrolled 6-step tanh RNN against backprop itself: the
check evaluates the lowered forms backprop already made, so it should cost at most about 2× backprop.
Then the C1W4 L-layer notebook source (tests/notebooks/l_layer.py): reading it (its loop kept as a
loop) and backprop with the loop read back, for L = 3 … 48 layers.
Not a test: run `make bench`; CI runs `--quick`.
Usage: python benchmarks/bench_backprop.py [--repeat N] [--quick]"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import chainrule  # noqa: E402
from chainrule.numeric.checks import check_backprop  # noqa: E402


def mlp(layers):
    lines = ["X: n0, m data", "Y: 1, m data binary"]
    for k in range(1, layers + 1):
        rows = "1" if k == layers else f"n{k}"
        lines += [f"W{k}: {rows}, n{k - 1}", f"b{k}: {rows}, 1"]
    prev = "X"
    for k in range(1, layers + 1):
        lines.append(f"Z{k} = W{k} @ {prev} + b{k}")
        lines.append(f"A{k} = {'sigmoid' if k == layers else 'tanh'}(Z{k})")
        prev = f"A{k}"
    lines.append(f"J = -1/m * sum(Y * log(A{layers}) + (1 - Y) * log(1 - A{layers}))")
    return "\n".join(lines) + "\n"


def rnn(steps, loss="last"):
    """h_t = tanh(Wh h_{t−1} + Wx x_t + b) unrolled by hand; squared error on the last state, or on
    every state (loss="sum")."""
    lines = ["Wh: n_h, n_h", "Wx: n_h, n_x", "b: n_h, 1", "h0: n_h, m data", "Y: n_h, m data"]
    lines += [f"x{t}: n_x, m data" for t in range(1, steps + 1)]
    lines += [f"h{t} = tanh(Wh @ h{t - 1} + Wx @ x{t} + b)" for t in range(1, steps + 1)]
    states = [steps] if loss == "last" else range(1, steps + 1)
    lines.append("J = 1/(2*m) * sum(" + " + ".join(f"(h{t} - Y) ** 2" for t in states) + ")")
    return "\n".join(lines) + "\n"


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    depths = (2, 5) if a.quick else (2, 5, 10, 20, 50)
    repeat = 1 if a.quick else a.repeat
    chainrule.backprop(mlp(2))                       # warm-up (imports)
    rows = []
    for depth in depths:
        text = mlp(depth)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = chainrule.backprop(text)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        rows.append((depth, med, len(r.gradients)))
        print(f"L = {depth:3d}: {med * 1e3:8.1f} ms for {len(r.gradients):4d} adjoints "
              f"({med * 1e3 / depth:.1f} ms per layer)")
    two = statistics.median([(lambda t: (chainrule.backprop(chainrule.example("two-layer")),
                                         time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(repeat)])
    print(f"two-layer example: {two * 1e3:.1f} ms")
    for loss in ("last", "sum"):
        text = rnn(6, loss)
        back, r = _median_time(lambda: chainrule.backprop(text), repeat)
        check, errors = _median_time(lambda: check_backprop(r), repeat)
        print(f"6-step RNN (loss on {'the last state' if loss == 'last' else 'every state'}): backprop "
              f"{back * 1e3:.0f} ms, check {check * 1e3:.0f} ms ({check / back:.2f}× backprop; "
              f"{len(r.gradients)} adjoints, max relative error {max(errors.values()):.1e})")
    source = (Path(__file__).resolve().parents[1] / "tests" / "notebooks" / "l_layer.py").read_text()
    for layers in ((3, 6) if a.quick else (3, 6, 12, 24, 48)):
        read, text = _median_time(lambda: chainrule.read_notebook(source, layers=layers), repeat)
        back, r = _median_time(lambda: chainrule.backprop(text), repeat)
        rolled = len(r.loops[0].lines) if r.loops else 0
        print(f"notebook L-layer source, L = {layers:2d}: read {read * 1e3:6.1f} ms, backprop {back * 1e3:7.1f} ms "
              f"({len(r.gradients)} adjoints, the loop read back as {rolled} lines)")


if __name__ == "__main__":
    main()
