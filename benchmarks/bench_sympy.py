"""Derivation speed and coverage against SymPy's matrix calculus (MatrixSymbol.diff) on the same
expressions: the public acceptance cases, the golden identities and the built-in models' losses
(differentiated by their first weight matrix, everything inlined). For every case: chainrule's median
derive time, SymPy's time, and whether SymPy's answer is right (evaluated numerically against
chainrule's, which the test suite checks against finite differences) — or why it fails.
Not a test: run `make bench`; CI runs `--quick`.
Usage: python benchmarks/bench_sympy.py [--quick] [--timeout SECONDS]"""
import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import chainrule  # noqa: E402
from chainrule.lang import syntax as S  # noqa: E402


def cases(quick):
    out = []
    acc = ROOT.parent / "shared" / "acceptance" / "public_cases.py"
    if acc.exists():
        ns = {}
        exec(compile(acc.read_text(), str(acc), "exec"), ns)      # the project's own acceptance data file
        for c in ns["C"]:
            if c["order"] == 1:
                out.append((f"acceptance: {c['name']}", c["expr"], c["wrt"], c["shapes"], {}))
    from test_golden import GOLDEN
    for expr, wrt, shapes, order, _ in GOLDEN:
        if order == 1:
            names = sorted({d for v in shapes.values() for d in v if isinstance(d, str)})
            size = {d: 3 + k for k, d in enumerate(names)}
            out.append((f"golden: {expr}", expr, wrt,
                        {k: tuple(size.get(d, d) for d in v) for k, v in shapes.items()}, {}))
    for name in chainrule.examples():
        r = chainrule.backprop(chainrule.example(name))
        loss = _inline_loss(r)
        dims = {d: 3 + k for k, d in enumerate(sorted({d for s in r.shapes.values() for d in s
                                                          if isinstance(d, str)}))}
        shapes = {n: tuple(dims.get(d, d) for d in d_.shape) for n, d_ in r.model.declarations.items()}
        wrt = next(p for p in r.model.parameters if p.startswith("W")) if any(
            p.startswith("W") for p in r.model.parameters) else r.model.parameters[0]
        out.append((f"model: {name} (J by {wrt})", loss, wrt, dict(shapes, **{d: () for d in dims}), dims))
    return out[:6] if quick else out


def _inline_loss(r):
    """The model's loss as one expression of the declared names (forward equations substituted)."""
    from chainrule.engine.adjoints import inline
    trees = {}
    for a in r.model.assignments:
        trees[a.name] = inline(a.tree, trees)
    return _text(trees[r.model.loss.name])


def _text(n):
    if isinstance(n, S.Name):
        return n.id
    if isinstance(n, S.Const):
        return str(float(n.value)) if n.value.denominator != 1 else str(n.value.numerator)
    if isinstance(n, S.Neg):
        return f"(-{_text(n.operand)})"
    if isinstance(n, S.Transpose):
        return f"({_text(n.operand)}).T"
    if isinstance(n, S.Binary):
        return f"({_text(n.left)} {n.op} {_text(n.right)})"
    if isinstance(n, S.Compare):
        return f"({_text(n.left)} {n.op} {_text(n.right)})"
    kw = "".join(f", {k}={v}" for k, v in n.kwargs)
    return f"{n.fn}({', '.join(_text(a) for a in n.args)}{kw})"


# -- SymPy side (run in a subprocess with a timeout: SymPy can take very long) -----------------------
def to_sympy(node, syms):
    import sympy as sp
    from sympy import matrices as M
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

    def rec(n):
        return to_sympy(n, syms)
    n = node
    if isinstance(n, S.Name):
        return syms[n.id]
    if isinstance(n, S.Const):
        return sp.Rational(n.value.numerator, n.value.denominator)
    if isinstance(n, S.Neg):
        return -rec(n.operand)
    if isinstance(n, S.Transpose):
        return rec(n.operand).T
    if isinstance(n, S.Binary):
        a, b = rec(n.left), rec(n.right)
        mat = lambda x: getattr(x, "is_Matrix", False) and x.shape != (1, 1)   # noqa: E731
        if n.op == "@":
            return a * b
        if n.op in "+-*/" and mat(a) and mat(b) and a.shape != b.shape:      # NumPy broadcasting, spelled out
            a, b = _broadcast(a, b)
        if n.op in "+-" and mat(a) != mat(b):                                 # scalar ± matrix
            a, b = [x if mat(x) else x * sp.OneMatrix(*(a if mat(a) else b).shape) for x in (a, b)]
        if n.op == "+":
            return a + b
        if n.op == "-":
            return a - b
        if n.op == "*":
            return M.expressions.hadamard.HadamardProduct(a, b) if mat(a) and mat(b) else a * b
        if n.op == "/":
            if mat(b):
                return M.expressions.hadamard.HadamardProduct(a, M.expressions.hadamard.HadamardPower(b, -1))
            return a / b
        if n.op == "**":
            return M.expressions.hadamard.HadamardPower(a, b) if mat(a) else a ** b
    if isinstance(n, S.Call):
        args = [rec(a) for a in n.args]
        fn = n.fn
        if fn in ("trace", "tr"):
            return sp.Trace(args[0])
        if fn == "det":
            return sp.Determinant(args[0])
        if fn == "logdet":
            return sp.log(sp.Determinant(args[0]))
        if fn == "inv":
            return sp.Inverse(args[0])
        if fn == "norm":
            x = args[0]
            return sp.sqrt(sp.Trace(x.T * x))
        if fn in ("sum", "mean") and not n.kwargs:
            x = args[0]
            r, c = x.shape
            total = sp.OneMatrix(1, r) * x * sp.OneMatrix(c, 1) if (r, c) != (1, 1) else x
            return total / (r * c) if fn == "mean" else total
        if fn in ("exp", "log", "tanh", "sin", "cos", "sqrt"):
            f = getattr(sp, fn)
            x = args[0]
            if getattr(x, "is_Matrix", False):
                u = sp.Dummy("u")
                return ElementwiseApplyFunction(sp.Lambda(u, f(u)), x)
            return f(x)
        if fn == "relu" or (fn == "maximum" and isinstance(n.args[0], S.Const) and n.args[0].value == 0):
            u = sp.Dummy("u")
            return ElementwiseApplyFunction(sp.Lambda(u, sp.Max(u, 0)), args[-1])
        if fn == "sigmoid":
            x = args[0]
            u = sp.Dummy("u")
            return ElementwiseApplyFunction(sp.Lambda(u, 1 / (1 + sp.exp(-u))), x)
    raise NotImplementedError(f"no SymPy matrix form for {type(node).__name__} {getattr(node, 'fn', '')}")


def _broadcast(a, b):
    import sympy as sp

    def grow(x, shape):
        r, c = x.shape
        if (r, c) == shape:
            return x
        if c == 1 and r == shape[0]:
            return x * sp.OneMatrix(1, shape[1])
        if r == 1 and c == shape[1]:
            return sp.OneMatrix(shape[0], 1) * x
        raise ValueError(f"cannot broadcast {x.shape} to {shape}")
    shape = (max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1]))
    return grow(a, shape), grow(b, shape)


def _explicit(e):
    """An explicit SymPy array for a matrix or array expression (PermuteDims unwrapped by hand)."""
    import sympy as sp
    from sympy.tensor.array import permutedims
    from sympy.tensor.array.expressions import PermuteDims
    if isinstance(e, PermuteDims):
        return permutedims(_explicit(e.expr), e.permutation)
    if hasattr(e, "as_explicit"):
        return sp.Array(e.as_explicit())
    if getattr(e, "is_Matrix", False):
        return sp.Array(sp.Matrix(e))
    return e


def _numeric(d, subs):
    """SymPy's answer as a NumPy array."""
    import sympy as sp
    e = _explicit(d.subs(subs).doit())
    if isinstance(e, sp.NDimArray):
        return np.array([float(sp.N(v)) for v in sp.flatten(e.tolist())]).reshape(e.shape)
    return np.array(float(sp.N(e)))


def sympy_job(expr, wrt, shapes, dims, q):
    import warnings
    warnings.simplefilter("ignore")
    import sympy as sp
    syms = {}
    for name, shp in shapes.items():
        syms[name] = sp.Symbol(name) if not shp else sp.MatrixSymbol(name, shp[0], shp[1] if len(shp) == 2 else 1)
    syms.update({d: sp.Integer(v) for d, v in dims.items()})            # sizes are numbers in SymPy
    try:
        e = to_sympy(S.parse_expression(expr), syms)
    except Exception as ex:      # noqa: BLE001 — SymPy's matrix language has no spelling for it
        q.put(("no form", f"{type(ex).__name__}: {str(ex).splitlines()[0][:80]}", None, None))
        return
    try:
        t = time.perf_counter()
        d = e.diff(syms[wrt])
        elapsed = time.perf_counter() - t
        if d.has(sp.Derivative):
            q.put(("fail", "returned an unevaluated Derivative", None, None))
            return
    except Exception as ex:      # noqa: BLE001 — SymPy's failure is the measurement
        q.put(("fail", f"{type(ex).__name__}: {str(ex).splitlines()[0][:80] if str(ex) else ''}", None, None))
        return
    rng = np.random.default_rng(0)
    values = {n: rng.standard_normal(shp) if shp else float(rng.uniform(1, 2)) for n, shp in shapes.items()
              if n not in dims}
    for n, shp in shapes.items():
        if len(shp) == 2 and shp[0] == shp[1]:
            a = rng.standard_normal(shp)
            values[n] = a @ a.T + shp[0] * np.eye(shp[0])
    subs = {syms[n]: (sp.Matrix(v.reshape(shapes[n][0], -1)) if shapes[n] else v) for n, v in values.items()}
    values.update(dims)
    try:
        got = _numeric(d, subs)
    except Exception:            # noqa: BLE001 — an answer we could not turn into numbers
        got = None
    q.put(("ok", elapsed, got, values))


def run_sympy(expr, wrt, shapes, dims, timeout):
    q = mp.Queue()
    p = mp.Process(target=sympy_job, args=(expr, wrt, shapes, dims, q))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        return ("timeout", f"no answer within {timeout:.0f} s", None, None)
    return q.get() if not q.empty() else ("fail", "crashed", None, None)


def _agrees(got, want, xshape):
    """SymPy's array derivatives put the variable's axes first; chainrule puts f's first."""
    if got.size != want.size:
        return False
    if np.allclose(got.reshape(-1), want.reshape(-1), rtol=1e-6, atol=1e-8):
        return True
    k = len(xshape)
    fshape = want.shape[:want.ndim - k]
    if not fshape:
        return False
    swapped = np.moveaxis(got.reshape(xshape + fshape), list(range(k)), list(range(len(fshape), len(fshape) + k)))
    return np.allclose(swapped.reshape(-1), want.reshape(-1), rtol=1e-6, atol=1e-8)


def chainrule_time(expr, wrt, shapes, repeat=20):
    chainrule.derive(expr, wrt, shapes)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        chainrule.derive(expr, wrt, shapes)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    rows, ok, right = [], 0, 0
    for label, expr, wrt, shapes, dims in cases(args.quick):
        ct = chainrule_time(expr, wrt, shapes, 3 if args.quick else 20)
        status, info, got, values = run_sympy(expr, wrt, shapes, dims, 10 if args.quick else args.timeout)
        if status == "ok":
            ok += 1
            d = chainrule.derive(expr, wrt, shapes)
            want = np.asarray(eval(d.numpy, {"__builtins__": {}}, dict(values, np=np)), dtype=float)
            if got is None:
                judged = "answer not evaluable"
            else:
                correct = _agrees(got, want, np.shape(values[wrt]))
                right += correct
                judged = "right" if correct else "WRONG value"
            verdict = f"{info * 1e3:.1f} ms, {judged}"
            ratio = f"{info / ct:.0f}×"
        else:
            verdict, ratio = f"{status}: {info}", "—"
        rows.append((label, ct, verdict, ratio))
        print(f"{label}: chainrule {ct * 1e3:.2f} ms; SymPy {verdict}", flush=True)
    print(f"\nSymPy answered {ok} of {len(rows)} cases, {right} of them right; chainrule answered all "
          f"(median {statistics.median(r[1] for r in rows) * 1e3:.2f} ms).")
    print("\n| case | chainrule derive | SymPy MatrixSymbol.diff | SymPy / chainrule |\n|---|---|---|---|")
    for label, ct, verdict, ratio in rows:
        print(f"| {label} | {ct * 1e3:.2f} ms | {verdict} | {ratio} |")


if __name__ == "__main__":
    main()
