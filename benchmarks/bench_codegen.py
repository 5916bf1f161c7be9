"""Generated code against hand-written code and autodiff, measured in one run (medians of interleaved
repeats; ratios from the same run). Not a test: run `make bench`; CI runs `--quick` (tiny sizes, one
repeat: a correctness run of this script, never a timing).

1. Generated NumPy loss_and_grads vs the course's hand-written NumPy forward + backward pass
   (two-layer and 5-layer networks, hidden 256-1024, batch 1024-4096).
2. Generated JAX (jit) vs jax.jit(jax.value_and_grad(loss)); generated PyTorch vs torch autograd.
3. Hessians of xᵀAx, ‖Ax − b‖² and the logistic loss at n = 500, 1000, 2000: chainrule's generated
   matrix-form Hessian (NumPy, and JAX jit) vs jax.jit(jax.hessian(f)) and
   torch.autograd.functional.hessian.
Usage: python benchmarks/bench_codegen.py [--quick] [--repeat N] [--only nn|framework|hessian]"""
import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import chainrule  # noqa: E402
from bench_backprop import mlp  # noqa: E402


def timeit(fns, repeat):
    """Interleaved runs of several callables; median seconds of each."""
    times = {k: [] for k in fns}
    for f in fns.values():
        f()                                              # warm-up (and JIT compilation)
    for _ in range(repeat):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def layer_sizes(depth, n_x, hidden):
    sizes = [n_x] + [max(hidden // (2 ** k), 32) for k in range(depth - 1)] + [1]
    return sizes


def model_values(depth, sizes, m, rng):
    values = {"X": rng.standard_normal((sizes[0], m)), "Y": (rng.random((1, m)) > 0.5).astype(float)}
    for k in range(1, depth + 1):
        values[f"W{k}"] = rng.standard_normal((sizes[k], sizes[k - 1])) * np.sqrt(1 / sizes[k - 1])
        values[f"b{k}"] = np.zeros((sizes[k], 1))
    return values


def course_numpy(values, depth):
    """The course's L-layer forward and backward pass, written by hand (tanh hidden, sigmoid output)."""
    X, Y = values["X"], values["Y"]
    m = X.shape[1]
    A = [X]
    for k in range(1, depth + 1):
        Z = values[f"W{k}"] @ A[-1] + values[f"b{k}"]
        A.append(1 / (1 + np.exp(-Z)) if k == depth else np.tanh(Z))
    AL = A[-1]
    cost = -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    grads = {}
    dZ = AL - Y
    for k in range(depth, 0, -1):
        grads[f"W{k}"] = dZ @ A[k - 1].T / m
        grads[f"b{k}"] = np.sum(dZ, axis=1, keepdims=True) / m
        if k > 1:
            dA = values[f"W{k}"].T @ dZ
            dZ = dA * (1 - A[k - 1] ** 2)
    return cost, grads


def bench_nn(args, rows):
    rng = np.random.default_rng(0)
    configs = [(2, 784, 512, 2048), (2, 784, 1024, 4096), (5, 784, 1024, 2048), (5, 784, 256, 1024)]
    if args.quick:
        configs = [(2, 20, 16, 32), (5, 20, 16, 32)]
    for depth, n_x, hidden, m in configs:
        sizes = layer_sizes(depth, n_x, hidden)
        values = model_values(depth, sizes, m, rng)
        f = chainrule.compile(mlp(depth))
        loss, grads = f(values)
        want_loss, want = course_numpy(values, depth)
        assert np.isclose(loss, want_loss) and all(np.allclose(grads[p], want[p]) for p in want)
        t = timeit({"generated": lambda: f(values), "hand": lambda: course_numpy(values, depth)}, args.repeat)
        label = f"{depth}-layer {sizes}, batch {m}"
        rows.append(("NumPy: generated vs hand-written course code", label, t["generated"], t["hand"],
                     t["generated"] / t["hand"], "≤ 1.10"))
        print(f"[nn] {label}: generated {t['generated'] * 1e3:.1f} ms, hand-written {t['hand'] * 1e3:.1f} ms, "
              f"ratio {t['generated'] / t['hand']:.3f}")


def bench_frameworks(args, rows):
    rng = np.random.default_rng(1)
    depth, n_x, hidden, m = (2, 20, 16, 32) if args.quick else (2, 784, 512, 2048)
    sizes = layer_sizes(depth, n_x, hidden)
    values = model_values(depth, sizes, m, rng)
    text = mlp(depth)
    params = [p for p in values if p[0] in "Wb"]
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", False)
        f = jax.jit(chainrule.compile(text, "jax"))
        vals = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in values.items()}

        def loss(p, data):
            return f(dict(data, **p))[0]
        auto = jax.jit(jax.value_and_grad(lambda p, data: loss_jax(dict(data, **p), depth)))
        data = {k: vals[k] for k in ("X", "Y")}
        p0 = {k: vals[k] for k in params}
        out, ref = f(vals), auto(p0, data)
        assert all(np.allclose(out[1][k], ref[1][k], atol=1e-4) for k in params)
        t = timeit({"generated": lambda: jax.block_until_ready(f(vals)),
                    "autodiff": lambda: jax.block_until_ready(auto(p0, data))}, args.repeat)
        label = f"JAX jit, {depth}-layer {sizes}, batch {m} (float32)"
        rows.append(("JAX: generated vs jax.jit(jax.value_and_grad)", label, t["generated"], t["autodiff"],
                     t["generated"] / t["autodiff"], "≤ 1.2"))
        print(f"[jax] {label}: generated {t['generated'] * 1e3:.2f} ms, autodiff {t['autodiff'] * 1e3:.2f} ms, "
              f"ratio {t['generated'] / t['autodiff']:.3f}")
    except ImportError:
        print("[jax] not installed: skipped")
    try:
        import torch
        torch.set_num_threads(2)
        f = chainrule.compile(text, "torch")
        vals = {k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()}
        leaf = {k: vals[k].clone().requires_grad_(True) for k in params}

        def generated():
            with torch.no_grad():
                return f(vals)

        def autograd():
            for v in leaf.values():
                v.grad = None
            loss = loss_torch(dict(vals, **leaf), depth)
            loss.backward()
            return loss
        out = generated()
        autograd()
        assert all(torch.allclose(out[1][k], leaf[k].grad, atol=1e-4) for k in params)
        t = timeit({"generated": generated, "autodiff": autograd}, args.repeat)
        label = f"PyTorch, {depth}-layer {sizes}, batch {m} (float32)"
        rows.append(("PyTorch: generated vs autograd", label, t["generated"], t["autodiff"],
                     t["generated"] / t["autodiff"], "≤ 1.2"))
        print(f"[torch] {label}: generated {t['generated'] * 1e3:.2f} ms, autograd {t['autodiff'] * 1e3:.2f} ms, "
              f"ratio {t['generated'] / t['autodiff']:.3f}")
    except ImportError:
        print("[torch] not installed: skipped")


def loss_jax(v, depth):
    import jax.numpy as jnp
    A = v["X"]
    for k in range(1, depth + 1):
        Z = v[f"W{k}"] @ A + v[f"b{k}"]
        A = 1 / (1 + jnp.exp(-Z)) if k == depth else jnp.tanh(Z)
    Y, m = v["Y"], v["X"].shape[1]
    return -1 / m * jnp.sum(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))


def loss_torch(v, depth):
    import torch
    A = v["X"]
    for k in range(1, depth + 1):
        Z = v[f"W{k}"] @ A + v[f"b{k}"]
        A = torch.sigmoid(Z) if k == depth else torch.tanh(Z)
    Y, m = v["Y"], v["X"].shape[1]
    return -1 / m * torch.sum(Y * torch.log(A) + (1 - Y) * torch.log(1 - A))


HESSIANS = [
    ("xᵀAx", "x.T @ A @ x", "x", lambda n: {"A": ("n", "n"), "x": ("n",)}, "≥ 10"),
    ("‖Ax − b‖²", "sum((A @ x - b) ** 2)", "x", lambda n: {"A": ("m", "n"), "x": ("n",), "b": ("m",)}, "≥ 10"),
    ("logistic loss", "mean(log(1 + exp(-y * (X.T @ w))))", "w",
     lambda n: {"X": ("n", "m"), "y": ("m",), "w": ("n",)}, "≥ 2"),
]


def bench_hessians(args, rows):
    rng = np.random.default_rng(2)
    sizes = (20, 40) if args.quick else (500, 1000, 2000)
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:
        torch = None
    for label, expr, wrt, shapes_of, target in HESSIANS:
        shapes = shapes_of(None)
        fn = chainrule.compile(expr=expr, wrt=wrt, shapes=shapes, order=2)
        hj = chainrule.compile(expr=expr, wrt=wrt, shapes=shapes, order=2, target="jax").hessian if jax else None
        for n in sizes:
            m = 2 * n
            values = {}
            for name, shp in shapes.items():
                concrete = tuple({"n": n, "m": m}[d] for d in shp)
                values[name] = rng.standard_normal(concrete) / np.sqrt(max(concrete))
            if "y" in values:
                values["y"] = np.where(rng.random(m) > 0.5, 1.0, -1.0)
            H = fn.hessian(values)
            fns = {"chainrule NumPy": lambda: fn.hessian(values)}
            if jax:
                jv = {k: jnp.asarray(v) for k, v in values.items()}
                f_jax = jax_function(expr, jv, wrt)
                jh = jax.jit(jax.hessian(f_jax))
                x0 = jv[wrt]
                assert np.allclose(np.asarray(jh(x0)), H, atol=1e-8)
                hjit = jax.jit(hj)
                assert np.allclose(np.asarray(hjit(jv)), H, atol=1e-8)
                fns["chainrule JAX jit"] = lambda: jax.block_until_ready(hjit(jv))
                fns["jax.jit(jax.hessian)"] = lambda: jax.block_until_ready(jh(x0))
            if torch:
                tv = {k: torch.tensor(v) for k, v in values.items()}
                f_t = torch_function(expr, tv, wrt)
                th = torch.autograd.functional.hessian(f_t, tv[wrt])
                assert np.allclose(th.numpy(), H, atol=1e-8)
                fns["torch hessian"] = lambda: torch.autograd.functional.hessian(f_t, tv[wrt])
            reps = max(1, args.repeat // 3) if n >= 2000 else args.repeat
            t = timeit(fns, reps)
            base = t["chainrule NumPy"]
            line = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in t.items())
            print(f"[hessian] {label}, n = {n}: {line}")
            for k, v in t.items():
                if not k.startswith("chainrule"):
                    rows.append((f"Hessian of {label}: chainrule NumPy vs {k}", f"n = {n}", base, v, v / base, target))


def jax_function(expr, values, wrt):
    import jax.numpy as jnp
    fixed = {k: v for k, v in values.items() if k != wrt}
    if expr.startswith("x.T"):
        return lambda x: x @ fixed["A"] @ x
    if expr.startswith("sum"):
        return lambda x: jnp.sum((fixed["A"] @ x - fixed["b"]) ** 2)
    return lambda w: jnp.mean(jnp.log1p(jnp.exp(-fixed["y"] * (fixed["X"].T @ w))))


def torch_function(expr, values, wrt):
    import torch
    fixed = {k: v for k, v in values.items() if k != wrt}
    if expr.startswith("x.T"):
        return lambda x: x @ fixed["A"] @ x
    if expr.startswith("sum"):
        return lambda x: torch.sum((fixed["A"] @ x - fixed["b"]) ** 2)
    return lambda w: torch.mean(torch.log1p(torch.exp(-fixed["y"] * (fixed["X"].T @ w))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--only", choices=["nn", "framework", "hessian"])
    args = ap.parse_args()
    if args.quick:
        args.repeat = 1
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}")
    rows = []
    if args.only in (None, "nn"):
        bench_nn(args, rows)
    if args.only in (None, "framework"):
        bench_frameworks(args, rows)
    if args.only in (None, "hessian"):
        bench_hessians(args, rows)
    print("\n| comparison | case | chainrule | other | ratio (chainrule/other or other/chainrule) | target |")
    print("|---|---|---|---|---|---|")
    for what, case, a, b, ratio, target in rows:
        print(f"| {what} | {case} | {a * 1e3:.2f} ms | {b * 1e3:.2f} ms | {ratio:.3g} | {target} |")


if __name__ == "__main__":
    main()
