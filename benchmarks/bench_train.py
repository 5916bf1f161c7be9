"""Training speed: 10,000 iterations of batch gradient descent on the planar data (two-layer network,
4 tanh hidden units, lr 1.2): chainrule.train against the course's hand-written NumPy loop, same data,
same initial parameters. Medians of interleaved runs. Not a test: run `make bench`; CI runs `--quick`.
Usage: python benchmarks/bench_train.py [--quick] [--repeat N]"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import chainrule  # noqa: E402
from chainrule.lang.model import parse_model  # noqa: E402
from chainrule.generation.training import init_params  # noqa: E402


def course_loop(X, Y, params, lr, iterations):
    """The course's two-layer training loop, written by hand."""
    W1, b1, W2, b2 = (params[k].copy() for k in ("W1", "b1", "W2", "b2"))
    m = X.shape[1]
    costs = np.empty(iterations)
    for i in range(iterations):
        Z1 = W1 @ X + b1
        A1 = np.tanh(Z1)
        Z2 = W2 @ A1 + b2
        A2 = 1 / (1 + np.exp(-Z2))
        costs[i] = -1 / m * np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))
        dZ2 = A2 - Y
        dW2 = dZ2 @ A1.T / m
        db2 = np.sum(dZ2, axis=1, keepdims=True) / m
        dZ1 = W2.T @ dZ2 * (1 - A1 ** 2)
        dW1 = dZ1 @ X.T / m
        db1 = np.sum(dZ1, axis=1, keepdims=True) / m
        W1, b1, W2, b2 = W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2
    return costs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    iterations, repeat = (200, 1) if a.quick else (10_000, a.repeat)
    text = chainrule.example("two-layer")
    X, Y = chainrule.dataset("planar", seed=1)
    params = init_params(parse_model(text), {"n_x": 2, "n_y": 1, "m": 400, "n_h": 4}, seed=1)
    ours = chainrule.train(text, "planar", 1.2, iterations, seed=1)
    theirs = course_loop(X, Y, params, 1.2, iterations)
    assert np.allclose(ours.costs, theirs, rtol=1e-9, atol=1e-12)          # the same computation
    times = {"chainrule.train": [], "course loop": []}
    for _ in range(repeat):
        t = time.perf_counter()
        chainrule.train(text, "planar", 1.2, iterations, seed=1)
        times["chainrule.train"].append(time.perf_counter() - t)
        t = time.perf_counter()
        course_loop(X, Y, params, 1.2, iterations)
        times["course loop"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{iterations} iterations, two-layer (n_h = 4) on the planar data: chainrule.train "
          f"{med['chainrule.train']:.2f} s, the course's hand-written loop {med['course loop']:.2f} s, "
          f"ratio {med['chainrule.train'] / med['course loop']:.3f}; final cost {ours.costs[-1]:.6f} in both, "
          f"training accuracy {ours.accuracy:.1%}")


if __name__ == "__main__":
    main()
