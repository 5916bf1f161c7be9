"""A second, independent fuzz generator (issue 15, part 5): hostile inputs by *family*, not a grammar
walk. fuzz/grammar.py draws random trees of the language; this module aims at the places an engine
breaks — number extremes, deep nesting, long chains and models, name collisions and shadowing, huge
dimensions, degenerate values, broken model lines, claims for check (right, wrong, padded, garbage),
mutations of valid learner formulas, and Unicode or odd whitespace.

Every case is a plain dict, JSON-serialisable so a failure can be written out and replayed:

    {"family": "nesting", "api": "derive", "args": {"expr": ..., "wrt": ..., "shapes": {...}}}

`api` is one of derive, derive+check, backprop, backprop+check, explain, check; `execute(case)` runs
it through the public API (printing every form of the result, as a user would) and `classify` names
the outcome. `case(seed, k)` is deterministic: case k of seed s is the same on every machine, so a
campaign's failure is replayed from (seed, k) alone. The generator only builds strings for the API;
nothing here evaluates them."""
import json
import random
import re

FAMILIES = {}           # name -> (weight, generator(rng) -> (api, args))


def family(name, weight=1.0):
    def register(fn):
        FAMILIES[name] = (weight, fn)
        return fn
    return register


# --------------------------------------------------------------------------------------- helpers
FUNCS = ["exp", "tanh", "sigmoid", "abs", "sin", "cos", "log", "sqrt", "cosh", "sinh", "relu", "softplus",
         "square", "arctan", "np.exp", "np.tanh", "np.abs", "np.log", "erf"]
CHEAP = ["tanh", "sigmoid", "sin", "abs", "relu", "np.exp", "arctan"]
EXPENSIVE = ["cosh", "sinh", "softplus", "sqrt", "log"]
EXAMPLES = ["batchnorm", "deep-loop", "deep-relu", "dropout", "l2", "logistic-regression", "mlp-rowmajor", "softmax",
            "two-layer"]
_EXAMPLE_TEXT = {}


def example(name):
    """A built-in model's text (read once; reading it is not part of the case)."""
    if name not in _EXAMPLE_TEXT:
        import chainrule
        _EXAMPLE_TEXT[name] = chainrule.example(name)
    return _EXAMPLE_TEXT[name]


_GRADIENTS = {}


def gradients(name):
    """[(adjoint, its NumPy formula)] of a built-in model, from the engine (cached: the claims family
    builds right and wrong claims from them)."""
    if name not in _GRADIENTS:
        import chainrule
        _GRADIENTS[name] = [(g.name, g.numpy) for g in chainrule.backprop(example(name)).gradients]
    return _GRADIENTS[name]


def skew(rng, lo, hi):
    """An integer in [lo, hi], small values more often (half the draws in the lower quarter)."""
    if rng.random() < 0.5:
        return rng.randint(lo, lo + max(0, (hi - lo) // 4))
    return rng.randint(lo, hi)


def vec_shapes(**extra):
    s = {"x": ["n"], "y": ["n"], "A": ["n", "n"], "B": ["n", "m"], "s": []}
    s.update(extra)
    return s


def deriv(rng, expr, wrt, shapes, checked=None, order=1):
    """A derive case; sometimes checked numerically, sometimes explained."""
    r = rng.random() if checked is None else (0.0 if checked else 0.9)
    api = "derive+check" if r < 0.35 else ("explain" if r > 0.9 else "derive")
    args = {"expr": expr, "wrt": wrt, "shapes": shapes}
    if order != 1:
        args["order"] = order
    return api, args


def model_api(rng, model, target=None, claim=None):
    r = rng.random()
    if claim is not None:
        return "check", {"model": model, "claim": claim}
    if r < 0.45:
        return "backprop", {"model": model}
    if r < 0.8:
        return "backprop+check", {"model": model}
    return "explain", {"model": model, "target": target or "dZ1"}


def layers(n_layers, act="tanh", width=None, bias=True, loss="ce"):
    """A deep network as a model file: [LINEAR -> act] x n_layers -> LINEAR -> SIGMOID."""
    dims = [f"n{k}" for k in range(n_layers + 1)] if width is None else [str(width)] * (n_layers + 1)
    lines = [f"X: {dims[0]}, m data", "Y: 1, m data binary"]
    for k in range(1, n_layers + 2):
        out = dims[k] if k <= n_layers else "1"
        lines.append(f"W{k}: {out}, {dims[k - 1]}")
        if bias:
            lines.append(f"b{k}: {out}, 1")
    prev = "X"
    for k in range(1, n_layers + 2):
        lines.append(f"Z{k} = W{k} @ {prev}" + (f" + b{k}" if bias else ""))
        a = act if k <= n_layers else "sigmoid"
        lines.append(f"A{k} = {a}(Z{k})")
        prev = f"A{k}"
    if loss == "ce":
        lines.append(f"J = -1/m * sum(Y * log({prev}) + (1 - Y) * log(1 - {prev}))")
    else:
        lines.append(f"J = mean(({prev} - Y) ** 2)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- number extremes
BIG_NUMBERS = ["1e308", "1.7976931348623157e308", "1e-320", "4.9e-324", "5e-324", "-0.0", "0.0", "-0",
               "2**64", "2**63 - 1", "2**1023", "2.0**1023", "2**1024", "10**400", "10.0**400", "10**64",
               "10**-400", "1e999", "-1e999", "1e-999", "0.0 ** -1", "0 ** -1", "0 ** 0", "0.0 ** 0.5",
               "(-8) ** (1/3)", "(-1) ** 0.5", "1e12", "1e12 + 1", "999999999999.9", "1e13", "1/3",
               "0.1 + 0.2", "1e308 * 10", "1e308 + 1e308", "-1e308 - 1e308", "1e-308 / 1e308",
               "1e308 / 1e-308", "2 ** -1074", "2 ** 64 * 2 ** 64", "(2 ** 32) ** 2", "1 / 3 ** 64",
               "3 ** 64", "3.0 ** 64", "7 ** -64", "1e200 * 1e200", "1e-200 * 1e-200", "100000000000000000000",
               "0x10", "0b101", "0o17", "1_000_000", "1j", "2.5e+3", ".5", "5.", "00.5", "1e0001",
               "True", "False", "None", "nan", "inf", "float('inf')", "9" * 4400, "0." + "3" * 4400,
               "1" + "0" * 330, "0." + "0" * 400 + "1", "123456789.123456789123456789"]


def number(rng):
    r = rng.random()
    if r < 0.55:
        return rng.choice(BIG_NUMBERS)
    if r < 0.7:
        return str(rng.randint(10, 10 ** rng.randint(2, 700)))            # a huge integer
    if r < 0.8:
        return "0." + "".join(rng.choice("0123456789") for _ in range(rng.randint(16, 900)))
    if r < 0.9:
        return f"{rng.choice(['1', '9.99', '2.5', '-1'])}e{rng.choice(['', '-', '+'])}{rng.randint(200, 400)}"
    a, b = rng.choice(BIG_NUMBERS[:30]), rng.choice(BIG_NUMBERS[:30])
    return f"({a}) {rng.choice(['*', '/', '+', '-', '**'])} ({b})"


NUMBER_TEMPLATES = ["sum(x * C)", "sum(x) * C", "C * sum(x) ** 2", "sum(exp(C * x))", "sum(x ** C)",
                    "sum(x) + C", "C / sum(x)", "sum(x) / C", "sum(log(C + x))", "sum(x * (C - C))",
                    "sum(x) ** C", "sum(x * C * C)", "sum(A @ x * C)", "trace(A * C)", "sum(maximum(C, x))",
                    "sum(x / (C))", "sum(tanh(x * C))", "sum(C ** x)", "sum(x) * (C) ** 2",
                    "sum(x * C) + sum(x * -C)", "sum((x - C) ** 2)", "norm(x * C)", "sum(sqrt(x * x + C))",
                    "sum(np.power(x, C))", "sum(clip(x, -C, C))", "sum(where(x > C, x, 0))",
                    "x.T @ A @ x * C", "sum(x ** 2) * C + sum(x) * C"]


@family("numbers", 1.2)
def numbers(rng):
    r = rng.random()
    if r < 0.7:
        t = rng.choice(NUMBER_TEMPLATES)
        expr = re.sub(r"\bC\b", lambda _: number(rng), t) if rng.random() < 0.3 else t.replace("C", number(rng))
        return deriv(rng, expr, rng.choice(["x", "x", "A"]) if "A" in expr else "x", vec_shapes(),
                     order=rng.choice([1, 1, 1, 2]))
    if r < 0.9:
        c = number(rng)
        model = example(rng.choice(["two-layer", "logistic-regression", "l2"]))
        line = rng.choice([f"J = sum(W1 ** 2) * {c}", None])
        if line and "W1" in model:
            model = model + f"L = {c} * sum(A2 ** 2)\n"
            model = model.replace("J = ", "J0 = ", 1) + f"J = J0 + {c} * L\n"
        else:
            model = model.replace("-1/m", f"-1/m * ({c})", 1)
        return model_api(rng, model)
    model = example("two-layer")
    c = number(rng)
    claim = rng.choice([f"dZ2 = A2 - Y + 0 * {c}", f"dZ2 = (A2 - Y) * {c}", f"dW2 = dZ2 @ A1.T / m * {c} / {c}",
                        f"dZ2 = A2 - Y + {c} - {c}", f"dZ1 = W2.T @ dZ2 * (1 - A1 ** {c})"])
    return "check", {"model": model, "claim": claim}


# ----------------------------------------------------------------------------------------- nesting
def nest(rng, depth, inner="x", mixed=False):
    fs = FUNCS if mixed else [rng.choice(FUNCS)]
    e = inner
    for _ in range(depth):
        f = rng.choice(fs)
        e = f"{f}({e})"
    return e


@family("nesting", 1.3)
def nesting(rng):
    depth = skew(rng, 50, 300) if rng.random() < 0.75 else skew(rng, 4, 49)
    kind = rng.choice(["one", "mixed", "parens", "unary", "unary-parens", "binary", "horner", "transpose",
                       "sum", "expensive", "maximum", "power", "mixed-all", "index"])
    if kind == "one":
        expr = f"sum({nest(rng, depth)})"
    elif kind == "mixed":
        expr = f"sum({nest(rng, depth, mixed=True)})"
    elif kind == "parens":
        expr = "sum(" + "(" * depth + "x" + ")" * depth + ")"
    elif kind == "unary":
        expr = "sum(" + "-" * depth + "x)"
    elif kind == "unary-parens":
        expr = "sum(" + "-(" * depth + "x" + ")" * depth + ")"
    elif kind == "binary":
        expr = "sum(" + "x + (" * depth + "x" + ")" * depth + ")"
    elif kind == "horner":
        expr = "sum(" + "x * (1 + " * depth + "x" + ")" * depth + ")"
    elif kind == "transpose":
        expr = "sum(A" + ".T" * depth + " @ x)"
    elif kind == "sum":
        expr = "sum(" * depth + "x" + ")" * depth
    elif kind == "expensive":
        d = rng.randint(3, 14)
        f = rng.choice(EXPENSIVE)
        expr = f"sum({nest(rng, d)})" if rng.random() < 0.3 else "sum(" + f"{f}(" * d + "x" + ")" * d + ")"
    elif kind == "maximum":
        d = rng.randint(2, 9)
        e = "x"
        for _ in range(d):
            e = f"{rng.choice(['maximum', 'minimum', 'logaddexp'])}({e}, 1 - {e})"
        expr = f"sum({e})"
    elif kind == "power":
        d = rng.randint(3, 40)
        expr = "sum(" + "(" * d + "x" + ") ** 2" * d + ")"
    elif kind == "index":
        d = rng.randint(2, 40)
        expr = "sum(" + "A @ (" * d + "x" + ")" * d + ")"
    else:
        e = "x"
        for _ in range(depth):
            op = rng.random()
            if op < 0.4:
                e = f"{rng.choice(FUNCS)}({e})"
            elif op < 0.6:
                e = f"-({e})"
            elif op < 0.8:
                e = f"({e})"
            else:
                e = f"({e} + {rng.choice(['x', '1', 'y'])})"
        expr = f"sum({e})"
    r = rng.random()
    if r < 0.75:
        return deriv(rng, expr, "x", vec_shapes())
    if r < 0.9:
        inner = expr[4:-1] if expr.startswith("sum(") else "x"
        model = "x: n, m data\nW: k, n\n" + f"Z1 = W @ x\nA1 = {inner.replace('x', 'Z1')}\nJ = sum(A1)\n"
        return model_api(rng, model)
    model = example("two-layer")
    claim = "dZ2 = " + "(" * depth + "A2 - Y" + ")" * depth if rng.random() < 0.5 else \
        "dZ2 = " + nest(rng, depth, "A2 - Y")
    return "check", {"model": model, "claim": claim}


# ------------------------------------------------------------------------------------ long chains
@family("chains", 1.3)
def chains(rng):
    kind = rng.choice(["matmul-square", "matmul-rect", "matmul-repeat", "sum-terms", "sum-names", "long-model",
                       "wide-model", "long-model-check", "product-terms", "hessian-net"])
    n = skew(rng, 20, 200)
    if kind == "matmul-square":
        names = [f"M{k}" for k in range(n)]
        shapes = {m: ["n", "n"] for m in names}
        chain = " @ ".join(names)
        expr = rng.choice([f"sum({chain})", f"trace({chain})", f"u.T @ {chain} @ u"])
        shapes["u"] = ["n"]
        return deriv(rng, expr, rng.choice(names), shapes)
    if kind == "matmul-rect":
        dims = [f"d{k}" if rng.random() < 0.7 else str(rng.randint(1, 5)) for k in range(n + 1)]
        names = [f"M{k}" for k in range(n)]
        shapes = {m: [dims[k], dims[k + 1]] for k, m in enumerate(names)}
        expr = f"sum({' @ '.join(names)})"
        return deriv(rng, expr, rng.choice(names), shapes)
    if kind == "matmul-repeat":
        expr = f"sum({' @ '.join(['A'] * n)})" if rng.random() < 0.6 else f"x.T @ {' @ '.join(['A'] * n)} @ x"
        return deriv(rng, expr, rng.choice(["A", "x"]), vec_shapes())
    if kind == "sum-terms":
        n = skew(rng, 20, 2000)
        term = rng.choice(["x", "x * x", "exp(x)", "A @ x", "tanh(x)", "x ** 2"])
        expr = "sum(" + " + ".join([term] * n) + ")"
        return deriv(rng, expr, "x", vec_shapes())
    if kind == "sum-names":
        n = skew(rng, 20, 600)
        names = [f"x{k}" for k in range(n)]
        shapes = {v: ["n"] for v in names}
        expr = "sum(" + rng.choice([" + ", " * ", " - "]).join(names) + ")"
        return deriv(rng, expr, rng.choice(names), shapes)
    if kind == "product-terms":
        n = skew(rng, 10, 120)
        expr = "sum(" + " * ".join(rng.choice(["x", "tanh(x)", "exp(x)", "y"]) for _ in range(n)) + ")"
        return deriv(rng, expr, "x", vec_shapes())
    if kind == "hessian-net":
        d = rng.randint(2, 12)
        e = "x"
        for k in range(d):
            e = f"tanh(W @ {e})" if k == 0 else f"tanh(A @ {e})"
        return deriv(rng, f"sum({e})", "W", vec_shapes(W=["n", "n"]), checked=rng.random() < 0.3,
                     order=rng.choice([2, 2, 3]))
    if kind in ("long-model", "long-model-check"):
        n = skew(rng, 20, 300)
        model = layers(n, rng.choice(["tanh", "relu", "sigmoid"]), width=rng.choice([None, None, 3]),
                       bias=rng.random() < 0.7, loss=rng.choice(["ce", "mse"]))
        if kind == "long-model-check":
            return "check", {"model": model, "claim": rng.choice([f"dZ{n + 1} = A{n + 1} - Y", "dZ1 = dA1 * (1 - A1 ** 2)",
                                                                   f"dW1 = dZ1 @ X.T / m"])}
        return model_api(rng, model, target=rng.choice(["dZ1", "dW1", f"dZ{n}"]))
    # wide: many parallel branches summed into the loss
    w = skew(rng, 20, 300)
    lines = ["X: n, m data", "Y: 1, m data"]
    for k in range(w):
        lines.append(f"W{k}: 1, n")
    for k in range(w):
        lines.append(f"Z{k} = {rng.choice(['tanh', 'sigmoid', 'relu', ''])}(W{k} @ X)")
    lines.append("S = " + " + ".join(f"Z{k}" for k in range(w)))
    lines.append("J = mean((S - Y) ** 2)")
    return model_api(rng, "\n".join(lines) + "\n", target=rng.choice(["dZ0", "dW0", "dS"]))


# --------------------------------------------------------------------------- names and shadowing
SHADOW = ["np", "sum", "exp", "T", "e", "pi", "inv", "eye", "dim", "ones", "zeros", "log", "tanh", "relu",
          "sigmoid", "axis", "keepdims", "J", "m", "n", "dZ1", "dW1", "dA1", "d", "numpy", "math", "torch",
          "values", "dtype", "erf", "softmax", "logsumexp", "mean", "norm", "trace", "det", "maximum", "where",
          "self", "lambda", "None", "True", "import", "print", "x1", "X", "W", "abs", "float", "int", "len",
          "jax", "jnp", "sqrt", "outer", "diag", "np_", "_np", "Np", "NP", "x" * 300, "dX", "db1", "A", "a",
          "result", "grad", "loss", "J0", "ddZ1", "dJ", "out", "data", "scalar", "binary", "positive", "onehot"]


@family("names", 1.2)
def names(rng):
    kind = rng.choice(["derive-shadow", "derive-dim-clash", "derive-wrt", "model-shadow", "model-dim-clash",
                       "model-adjoint-name", "model-redefine", "model-redeclare", "explain-target",
                       "check-target", "model-dims-as-values"])
    v = rng.choice(SHADOW)
    if kind == "derive-shadow":
        t = rng.choice(["sum(V * x)", "sum(V)", "V.T @ A @ V", "sum(exp(V))", "sum(V ** 2) + V.T @ x",
                        "sum(np.exp(V))", "norm(V)", "sum(V @ A)"])
        shapes = vec_shapes()
        shapes[v] = rng.choice([["n"], ["n"], [], ["n", "n"]])
        return deriv(rng, t.replace("V", v), rng.choice([v, "x"]), shapes)
    if kind == "derive-dim-clash":
        d = rng.choice(["x", "n", "A", "m", "np", "T", "e", "pi", "sum"])
        shapes = {"x": [d], "A": [d, d], "y": [d]}
        if rng.random() < 0.5:
            shapes[d] = rng.choice([[d], [], ["n"]])
        return deriv(rng, rng.choice(["sum(A @ x)", f"sum(x) * {d}", "x.T @ A @ y", f"sum(x / {d})"]),
                     rng.choice(["x", "A", d]), shapes)
    if kind == "derive-wrt":
        wrt = rng.choice(["", " x", "x ", "x.T", "2", "n", "np", "sum", "dZ", "X", "x[0]", "A @ x", "__class__",
                          "x\n", "ｘ", "х", None, 3, "x, A", "a" * 10000])
        return deriv(rng, rng.choice(["sum(A @ x)", "x.T @ A @ x", "sum(x)"]), wrt, vec_shapes())
    if kind == "model-dims-as-values":
        model = example("two-layer").replace("J = -1/m", rng.choice(["J = -1/n_h", "J = -n_x/m", "J = -1/(m - m)",
                                                                      "J = -m/m/m", "J = -1/X"]), 1)
        return model_api(rng, model)
    if kind == "explain-target":
        model = example(rng.choice(EXAMPLES))
        return "explain", {"model": model, "target": rng.choice(["dZ", "dZ0", "dZ99", "Z1", "dJ", "dX", "dY", "dm",
                                                                 "", " dZ1", "dZ1 ", "dz1", "d", "dW1.T",
                                                                 "dZ1\n", "dZ１", "dsum", None, 1])}
    if kind == "check-target":
        model = example(rng.choice(EXAMPLES))
        t = rng.choice(["dZ", "dZ0", "dZ99", "Z1", "dJ", "dX", "dY", "dm", "dz1", "d", "dW1.T", "dnp", "dA3"])
        return "check", {"model": model, "claim": f"{t} = A1 - Y"}
    base = example("two-layer")
    if kind == "model-shadow":
        old = rng.choice(["W1", "b1", "W2", "X", "Y", "A1", "Z1", "Z2", "A2", "b2"])
        model = re.sub(rf"\b{old}\b", v, base)
        return model_api(rng, model, target=rng.choice(["dZ1", f"d{v}"]))
    if kind == "model-dim-clash":
        dim = rng.choice(["n_h", "n_x", "m", "n_y"])
        name = rng.choice(["W1", "X", "A1", "b1", "Z1", "J", "np", "e"])
        model = re.sub(rf"\b{dim}\b", name, base)
        return model_api(rng, model)
    if kind == "model-adjoint-name":
        model = base.replace("W1", rng.choice(["dZ1", "dW1", "dA1", "dZ2", "ddW1", "dW2", "d"]))
        model = model.replace("A1", rng.choice(["A1", "dZ2", "dA1"]))
        return model_api(rng, model, target=rng.choice(["dZ1", "ddZ1", "dW1", "ddW1"]))
    if kind == "model-redefine":
        extra = rng.choice(["Z1 = W1 @ X\n", "A1 = relu(Z1)\n", "J = sum(W1)\n", "W1 = Z1\n", "X = A1\n",
                            "Z1 = Z1 + 1\n", "A2 = A2\n", "J = J\n", "m = 3\n", "W1: n_h, n_x\n", "X: n_x, m\n",
                            "Y: n_y, m data binary\n", "Z1: n_h, m\n", "n_h: 3\n"])
        lines = base.splitlines(keepends=True)
        k = rng.randint(1, len(lines))
        return model_api(rng, "".join(lines[:k]) + extra + "".join(lines[k:]))
    lines = base.splitlines(keepends=True)
    k = rng.randint(1, 6)
    return model_api(rng, "".join(lines[:k]) + lines[k] + "".join(lines[k:]))


# -------------------------------------------------------------------------------- huge dimensions
@family("dims", 1.0)
def dims(rng):
    big = lambda: rng.choice([10 ** 5, 10 ** 6, 999_999, 10 ** 6 + 1, 123_457, 50_000, 3 * 10 ** 5,
                              "100000", "1e5", "1000000", 0, -1, 2.5, "n"])  # noqa: E731
    r = rng.random()
    if r < 0.55:
        t = rng.choice(["sum(A @ x)", "x.T @ A @ x", "sum(exp(B))", "sum(B @ B.T)", "sum(outer(x, x))",
                        "sum(eye(n) @ x)", "trace(A)", "norm(B)", "sum(x * x)", "logsumexp(x)", "sum(softmax(x))",
                        "sum(A * A)", "sum(inv(A) @ x)", "det(A)", "sum(B.T @ x)", "sum(ones(n) * x)",
                        f"sum(eye({rng.choice([100, 1000, 10000, 10001, 100000])}) @ x)"])
        n, m = big(), rng.choice([big(), "m", 3, 1])
        shapes = {"x": [n], "A": [n, n], "B": [n, m]}
        if rng.random() < 0.3:
            shapes = {"x": ["n"], "A": ["n", "n"], "B": ["n", m]}
            t = t.replace("eye(n)", f"eye({n})")
        if rng.random() < 0.1:
            shapes["x"] = [n, 1, 1]
        wrt = rng.choice(["x", "A", "B"])
        return deriv(rng, t, wrt, shapes, checked=rng.random() < 0.6, order=rng.choice([1, 1, 1, 2]))
    d1, d2 = rng.choice([100000, 1000, 10 ** 6, 300000, 10]), rng.choice([1000, 100000, 10, 10 ** 6, 1])
    model = rng.choice([f"W: {d1}, {d2}\nJ = sum(W ** 2)\n",
                        f"X: {d2}, m data\nW: {d1}, {d2}\nZ = W @ X\nJ = sum(tanh(Z))\n",
                        f"x: {d1}, 1 data\nW: {d1}, {d1}\nJ = sum((W @ x) ** 2)\n",
                        example("two-layer").replace("W1: n_h, n_x", f"W1: {d1}, n_x"),
                        example("two-layer").replace("X: n_x, m", f"X: {d1}, {d2}"),
                        f"W: {d1}, {d1}\nJ = sum(W @ W)\n"])
    if rng.random() < 0.4:
        return "check", {"model": model, "claim": rng.choice(["dW = 2 * W", "dZ = 1 - tanh(Z) ** 2", "dW = W"])}
    return model_api(rng, model, target=rng.choice(["dW", "dZ", "dZ1"]))


# ---------------------------------------------------------------------------------- degenerate values
DEGENERATE = ["sum(inv(x @ x.T) @ y)", "sum(inv(A - A) @ x)", "sum(inv(A * 0) @ x)", "det(A - A)", "log(det(A * 0))",
              "logdet(A - A)", "logdet(-A @ A.T)", "sum(log(x - x))", "sum(x / (x - x))", "sum(x / 0)",
              "sum(x / (1 - 1))", "sum(sqrt(-x * x - 1))", "sum(log(-exp(x)))", "sum(x ** -1 * 0)",
              "sum((x - x) ** 0.5)", "sum((x - x) ** -2)", "sum(arccos(2 + x * 0))", "sum(log(0 * x))",
              "sum(inv(2) * x)", "sum(det(2) * x)", "sum(log(0) * x)", "sum(log(-1) * x)", "sum(sqrt(-1) * x)",
              "sum(x * (1 / 0))", "sum(x) / 0", "sum(x) / (sum(x) - sum(x))", "sum(inv(eye(n) * 0) @ x)",
              "sum(inv(outer(x, x)))", "det(outer(x, y))", "logdet(outer(x, x))", "sum(inv(A @ A.T - A @ A.T))",
              "trace(inv(B @ B.T))", "sum(inv(B.T @ B))", "sum(x ** 0)", "sum(0 ** x)", "sum(exp(exp(exp(x))))",
              "sum(exp(1000 * x))", "sum(log(sigmoid(-1000 * x)))", "sum(x / norm(x - x))", "norm(x - x)",
              "sum(abs(x - x))", "sum(maximum(x, x))", "sum(where(x > x, 1 / (x - x), x))", "sum(tanh(x) / tanh(0))",
              "sum(x / sum(x - x))", "sum(softmax(x * 1e300))", "logsumexp(x * 1e308)", "sum(sqrt(x - x))",
              "sum(inv(A) @ inv(A - A) @ x)", "sum(x ** 0.5) + sum((-x * x) ** 0.5)", "det(inv(A * 0))",
              "sum(log(abs(x) - abs(x)))", "sum(x) ** -1 * 0", "mean(x[0:0])", "sum(x / (x * 0))"]


@family("degenerate", 1.1)
def degenerate(rng):
    r = rng.random()
    if r < 0.8:
        expr = rng.choice(DEGENERATE)
        shapes = vec_shapes()
        if rng.random() < 0.2:
            shapes = {k: [3 if d == "n" else 2 for d in v] for k, v in shapes.items()}
        wrt = rng.choice([w for w in ("x", "A", "B", "y") if re.search(rf"\b{w}\b", expr)] or ["x"])
        return deriv(rng, expr, wrt, shapes, checked=rng.random() < 0.6, order=rng.choice([1, 1, 2]))
    model = example("two-layer")
    model = model.replace(rng.choice(["A1 = tanh(Z1)", "A2 = sigmoid(Z2)"]),
                          rng.choice(["A1 = log(Z1 - Z1)", "A1 = Z1 / 0", "A1 = sqrt(-Z1 * Z1 - 1)",
                                      "A2 = sigmoid(Z2 * 0)", "A1 = tanh(Z1) * 0", "A1 = inv(Z1)",
                                      "A2 = Z2 / (Z2 - Z2)", "A1 = exp(exp(exp(Z1)))"]))
    return model_api(rng, model)


# --------------------------------------------------------------------------------------- bad models
BAD_LINES = ["Z1 = ", "= W1", ": n", "W1: n_h, n_x, k", "W1: -3, 2", "W1: 0, 2", "X: n, m dat", "W9: 1e9, 1e9",
             "Z9 = W1 @@ X", "Z9 = W1 @ X +", "J = J", "Z9 = undefined_thing", "J = Z1", "J = W1", "J = 3",
             "J = sum(W1) ; import os", "J == sum(W1)", "W1 := 3", "Z9 = lambda: 0", "Z9 = W1.__class__",
             "    indented = 1", "\tZ9 = W1", "Z9 = W1  # trailing comment", "# only a comment",
             "Z9 = W1 \\", "Z9 = (W1", "Z9 = W1)", "Z9 = 'string'", "W10: n_h,", "W10 n_h, n_x",
             "W10: n_h n_x", "W10:", "b9: scalar scalar", "X: n_x, m data data", "W1: n_h, n_x positive binary",
             "Z9 = W1[0]", "Z9 = W1 if X else X", "Z9 = {W1}", "Z9 = [W1]", "Z9 = W1 @ X\nZ9 = W1 @ X",
             "A = B\nB = A", "Z9 = Z9", "J = sum(Z9)\nZ9 = W1 @ X", "W1: n_h, n_x\nW1: n_x, n_h",
             "Z9 = np.linalg.inv(W1)", "Z9 = eye(10**9)", "Z9 = W1 ** 1000", "Z9 = W1 ** W1",
             "x" * 30000, "Z9 = " + "W1 + " * 5000 + "W1", "\x00", "\r", "\x0c", "\u2028", "Z9 = W1\x00"]


@family("badmodel", 1.2)
def badmodel(rng):
    base = example(rng.choice(EXAMPLES))
    lines = base.splitlines()
    r = rng.random()
    if r < 0.55:
        for _ in range(rng.randint(1, 3)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(BAD_LINES))
    elif r < 0.7:
        del lines[rng.randrange(len(lines))]
        if rng.random() < 0.5:
            del lines[rng.randrange(len(lines))]
    elif r < 0.8:
        k = rng.randrange(len(lines))
        lines[k] = lines[k][:rng.randint(0, len(lines[k]))]
    elif r < 0.88:
        lines = [ln for ln in lines if "=" in ln] if rng.random() < 0.5 else [ln for ln in lines if "=" not in ln]
    elif r < 0.94:
        n = rng.choice([1999, 2000, 2001, 2500, 10000])
        lines = lines + [f"# {k}" for k in range(n)] if rng.random() < 0.5 else \
            lines[:-1] + [f"Q{k} = A{1 if 'A1' in base else ''} * 1" for k in range(n)] + lines[-1:]
    else:
        lines = rng.choice([[], [""], ["J = 1"], ["J: scalar", "J = J"], ["X: n, m data", "J = sum(X)"],
                            ["W: n", "J = sum(W)"] * rng.randint(1, 3), ["W: n", "J = sum(W", ")"]])
    sep = rng.choice(["\n", "\n", "\r\n", "\r", "\n\n", "\n \n"])
    model = sep.join(lines) + rng.choice(["\n", "", "\n\n\n"])
    return model_api(rng, model, target=rng.choice(["dZ1", "dW1", "dZ2", "dA1"]))


# --------------------------------------------------------------------------------------- claims
def wrong(rng, formula):
    edits = [lambda f: f.replace("-", "+", 1), lambda f: f.replace(".T", "", 1), lambda f: f.replace("/ m", "", 1),
             lambda f: f.replace("@", "*", 1), lambda f: f + ".T", lambda f: f"2 * ({f})", lambda f: f"-({f})",
             lambda f: f.replace("1 - ", "1 + ", 1), lambda f: f.replace("A1", "Z1", 1),
             lambda f: f.replace("axis=1", "axis=0", 1), lambda f: f.replace("keepdims=True", "keepdims=False", 1),
             lambda f: f"{f} + 1e-9", lambda f: f"{f} * (1 + 1e-12)", lambda f: f"np.sum({f})"]
    return rng.choice(edits)(formula)


def padded(rng, formula, names):
    k = skew(rng, 1, 60)
    pads = []
    for _ in range(k):
        n = rng.choice(names)
        pads.append(rng.choice([f"0*{n}", f"0 * np.sum({n})", f"({n} - {n})", f"0*({n} @ {n}.T @ {n})",
                                f"0 * np.exp({n})", f"{n} * 0", f"(1 - 1) * {n}.T.T"]))
    return formula + " + " + " + ".join(pads)


def garbage(rng):
    toks = ["(", ")", "@", "*", "**", ".T", "np.", "dot", "sum", "=", "==", ",", "axis=", "[", "]", "'", '"',
            "\\", "lambda", "__class__", "A1", "dZ1", "W2", "1e999", "#", ";", ":", "\n", " ", "\t", "ᵀ", "⊙"]
    return "".join(rng.choice(toks) for _ in range(rng.randint(0, 40)))


@family("claims", 1.3)
def claims(rng):
    name = rng.choice(EXAMPLES)
    model = example(name)
    grads = gradients(name)
    target, formula = rng.choice(grads)
    names = [n for n in re.findall(r"^([A-Za-z]\w*)\s*[:=]", model, re.M) if n != "J"]
    r = rng.random()
    if r < 0.2:
        claim = f"{target} = {formula}"
    elif r < 0.45:
        claim = f"{target} = {wrong(rng, formula)}"
    elif r < 0.7:
        claim = f"{target} = {padded(rng, formula, names)}"
    elif r < 0.85:
        claim = rng.choice([garbage(rng), f"{target} = {garbage(rng)}", f"{target} =", "", "=", f"= {formula}",
                            f"{target} == {formula}", f"{target} = {formula} = {formula}", f"{target}: {formula}",
                            f"{target} = {formula};", f"{target} = {formula}\n{target} = {formula}",
                            f"{target}={formula}", f"  {target} = {formula}  ", f"{target} = ({formula}"])
    else:
        other = rng.choice(grads)[0]
        claim = rng.choice([f"{other} = {formula}", f"{target} = {formula.replace('m', 'M')}",
                            f"{target} = np.dot({formula}, 1)", f"{target} = {formula} @ np.eye(1)",
                            f"{target} = np.multiply({formula}, 1)", f"{target} = 1.0 * {formula}",
                            f"{target} = {formula} * 1e308 / 1e308", f"{target} = ({formula}) ** 1",
                            f"{target} = np.squeeze({formula})", f"{target} = np.reshape({formula}, -1)"])
    return "check", {"model": model, "claim": claim}


# --------------------------------------------------------------------------------------- mutations
LEARNER = ["np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", "1/m * np.dot(dZ1, X.T)",
           "1/m * np.sum(dZ2, axis=1, keepdims=True)", "A2 - Y", "np.dot(W2.T, dZ2) * (1 - A1 ** 2)",
           "(1 / m) * dZ2 @ A1.T", "np.sum(dZ1, axis=1, keepdims=True) / m", "W2.T @ dZ2"]
LEARNER_TARGET = ["dZ1", "dW1", "db2", "dZ2", "dZ1", "dW2", "db1", "dA1"]
MUTATIONS = [("np", "np.np"), ("np.dot", "np.sum"), ("np.dot", "dot"), ("np.", ""), ("np.", "numpy."),
             ("np.dot", "np.linalg.inv"), ("A1", "A1.T.T"), ("A1", "A1 ** 64"), ("A1", "A1 ** 65"),
             ("1 - ", "1e308 - "), ("1/m", "1/0"), ("1/m", "1/(m-m)"), ("m", "np"), ("dZ2", "dZ2 @ dZ2"),
             ("(", "(("), (")", "))"), (",", ",,"), ("axis=1", "axis=2"), ("axis=1", "axis=-1"),
             ("axis=1", "axis=1, axis=0"), ("keepdims=True", "keepdims=1"), ("keepdims=True", "keepdims=np"),
             ("*", "**"), ("@", "@@"), ("W2", "W2[0]"), ("X.T", "X.T()"), ("dZ1", "dZ1.shape"),
             ("2", "2**64"), ("A1", "np.power(A1, 10**400)"), ("A1", "exp(" * 60 + "A1" + ")" * 60),
             ("W2.T", "W2.T" + ".T" * 200), ("1", "1" + "0" * 400), ("Y", "Y.astype(float)"), ("m", "m.T"),
             (" ", "\u00a0"), (" ", "\t"), ("-", "\u2212"), ("*", "\u00d7"), ("A1", "\u0410" + "1")]


@family("mutations", 1.2)
def mutations(rng):
    k = rng.randrange(len(LEARNER))
    formula, target = LEARNER[k], LEARNER_TARGET[k]
    for _ in range(rng.randint(1, 3)):
        a, b = rng.choice(MUTATIONS)
        if a in formula:
            i = [m.start() for m in re.finditer(re.escape(a), formula)]
            at = rng.choice(i)
            formula = formula[:at] + b + formula[at + len(a):]
    if rng.random() < 0.8:
        return "check", {"model": example("two-layer"), "claim": f"{target} = {formula}"}
    # the same mutations on an acceptance-style expression for derive
    expr = rng.choice(["sum((M @ w - t) ** 2)", "trace(P @ Q)", "w.T @ S @ w", "-sum(t * log(softmax(u)))",
                       "mean(log(1 + exp(-t * (M @ w))))", "logdet(S)", "u.T @ inv(S) @ u"])
    for _ in range(rng.randint(1, 3)):
        a, b = rng.choice([("@", "@@"), ("(", "(("), ("w", "np"), ("w", "w.T.T"), ("S", "inv(S)"), ("1", "1e308"),
                           ("2", "2**64"), ("t", "sum"), ("*", "**"), ("log", "np.log"), (" ", "\u3000"),
                           ("sum", "np.sum"), ("-", "--"), ("u", "u[0]"), ("S", "S.T @ S")])
        expr = expr.replace(a, b, 1)
    shapes = {"M": [6, 4], "w": [4], "t": [6], "P": [3, 5], "Q": [5, 3], "S": [4, 4], "u": [4]}
    used = {k: v for k, v in shapes.items() if re.search(rf"\b{k}\b", expr)}
    if "u" in used and "t" in used:
        used["t"] = [4]
    if "M" in used and "u" in used:
        used["u"] = [6]
    wrt = rng.choice(sorted(used) or ["w"])
    return deriv(rng, expr, wrt, used)


# ------------------------------------------------------------------------------ Unicode, whitespace
ODD = ["\u00a0", "\u2003", "\u200b", "\ufeff", "\t", "\r", "\f", "\v", "\u2028", "\u2029", "\x00", "\x85",
       "\u3000", "\u202e", "\u0301", "\ud800", "\U0001f600", "１", "х", "α", "−", "·", "×", "ᵀ", "√", "∑", "⊙",
       "\u00b2", "ℯ", "π", "\\", "\x1b[31m", "\u2062", "﹢", "＠"]


@family("unicode", 0.9)
def unicode(rng):
    r = rng.random()
    if r < 0.6:
        expr = rng.choice(["sum(A @ x)", "x.T @ A @ x", "sum(exp(x) * y)", "norm(B)", "trace(A @ A)"])
        for _ in range(rng.randint(1, 3)):
            k = rng.randint(0, len(expr))
            expr = expr[:k] + rng.choice(ODD) + expr[k:]
        wrt = rng.choice(["x", "A", "B", "x" + rng.choice(ODD), rng.choice(ODD)])
        shapes = vec_shapes()
        if rng.random() < 0.2:
            shapes[rng.choice(ODD) + "z"] = ["n"]
        if rng.random() < 0.2:
            shapes["x"] = ["n" + rng.choice(ODD)]
        return deriv(rng, expr, wrt, shapes)
    model = example(rng.choice(EXAMPLES))
    for _ in range(rng.randint(1, 4)):
        k = rng.randint(0, len(model))
        model = model[:k] + rng.choice(ODD) + model[k:]
    if rng.random() < 0.3:
        return "check", {"model": example("two-layer"),
                         "claim": "dZ2 = A2" + rng.choice(ODD) + "- Y" + rng.choice(["", rng.choice(ODD)])}
    return model_api(rng, model)


# ------------------------------------------------------------------------------ odd API arguments
@family("arguments", 0.6)
def arguments(rng):
    r = rng.random()
    if r < 0.5:
        shapes = rng.choice([{"x": "n"}, {"x": "n,m"}, {"x": "n, m"}, {"x": ["n", "m", "k"]}, {"x": [3, 0]},
                             {"x": ["n", -2]}, {"x": [True]}, {"x": [2.0]}, {"x": [None]}, {"x": ""},
                             {"x": "scalar"}, {"x": ["n"], "": ["n"]}, {"x": ["n"], "1x": ["n"]},
                             {"x": ["n"], "A": ["n", "n"], "extra": ["q"]}, {"x": [["n"]]}, {"x": {"n": 1}},
                             {"x": ["n" * 5000]}, {"x": 7}, {"x": "7"}, {"x": [10 ** 7]}, None, [], "x=n"])
        return deriv(rng, rng.choice(["sum(x)", "sum(A @ x)", "sum(x * x)"]), "x", shapes,
                     order=rng.choice([1, 1, 2, 0, 5, -1, 4, True, "2", 1.5, None]))
    if r < 0.8:
        return "backprop", {"model": example("two-layer"),
                            "convention": rng.choice(["course", "math", "", "COURSE", "pytorch", None, 3])}
    return "explain", {"expr": rng.choice(["sum(x)", "x.T @ A @ x", "", "sum(A @ x"]),
                       "wrt": rng.choice(["x", "A", "q", "", None]), "shapes": vec_shapes()}


# ------------------------------------------------------------------------------------------ loops
LOOP_BOUNDS = ["range(1, 3)", "range(1, 4)", "range(3)", "range(0, 2)", "range(1, 2)", "range(1, 1)", "range(2, 1)",
               "range(1, 9, 2)", "range(5, 0, -1)", "reversed(range(1, 4))", "range(1, L)", "range(1, 2001)",
               "range(2000)", "range(1, 10 ** 9)", "range(99999999999999999999)", "range(-3, 2)", "range(1, 3, 0)",
               "[1, 2]", "range(1.5, 3)", "range(1, 3), range(2)", "range()", "range(1, 3, 1, 1)", "l"]
LOOP_INDICES = ["l", "l - 1", "l + 1", "l - 2", "2 * l", "2 * l + 1", "0", "-1", "l * l", "l ** 2", "m", "x",
                "l - 1000000000", "l * 999999999 * 99999", "", "l,", ":", "1.5", "True"]


@family("loops", 1.2)
def loops(rng):
    """Models with `for` loops over indexed families (well formed and not), and notebook sources with
    loops the reader keeps as loops."""
    if rng.random() < 0.3:
        layers = rng.choice([1, 2, 3, 4, 7, 20, 60, 100, 101, 0, -1])
        return model_api(rng, _notebook_loop(rng, layers), target=rng.choice(["dZ1", "dW1", "dZ2"]))
    act = rng.choice(CHEAP + ["relu", "tanh"])
    shared = rng.random() < 0.3
    lines = ["X: n, m data", "Y: 1, m data binary"]
    lines += ["W: n, n", "b: n, 1"] if shared else [f"W{k}: n, n" for k in range(0, 4)] + \
        [f"b{k}: n, 1" for k in range(0, 4)]
    lines.append("V: 1, n")
    if rng.random() < 0.8:
        lines.append("A[0] = X" if rng.random() < 0.7 else
                     rng.choice(["A[1] = X", "A[0] = Q", "A[0] = X\nA[0] = X", "A0: n, m data"]))
    bound = rng.choice(LOOP_BOUNDS[:10]) if rng.random() < 0.7 else rng.choice(LOOP_BOUNDS)
    var = "l" if rng.random() < 0.85 else rng.choice(["t", "i", "X", "W"])
    lines.append(f"for {var} in {bound}" + ("" if rng.random() < 0.05 else ":"))
    ind = lambda: rng.choice(LOOP_INDICES[:3]) if rng.random() < 0.8 else rng.choice(LOOP_INDICES)  # noqa: E731
    pad = "    " if rng.random() < 0.85 else rng.choice(["  ", "\t", ""])
    w = "W" if shared else f"W[{ind()}]"
    b = "b" if shared else f"b[{ind()}]"
    body = [f"Z[{var}] = {w} @ A[{var} - 1] + {b}", f"A[{var}] = {act}(Z[{var}])"]
    if rng.random() < 0.3:
        body[0] = body[0].replace(f"A[{var} - 1]", f"A[{ind()}]")
    if rng.random() < 0.15:
        body.insert(rng.randint(0, 2), rng.choice(["h = W @ X", f"Q[{var}]: n, n", "for k in range(2):",
                                                   f"D[{var}] = A[{var} - 1] * 2", "# a comment", ""]))
    if rng.random() < 0.1:
        body = [f"for j in range(2):", f"    A[2 * {var} + j + 1] = {act}(W @ A[2 * {var} + j])"]
    lines += [pad + row for row in body]
    last = rng.choice(["A2", "A3", "A1", "A[2]", "A[l]", "A9"])
    lines.append(f"J = -1/m * sum(Y * log(sigmoid(V @ {last})) + (1 - Y) * log(1 - sigmoid(V @ {last})))"
                 if rng.random() < 0.7 else f"J = sum({last})")
    return model_api(rng, "\n".join(lines) + "\n", target=rng.choice(["dZ1", "dA1", "dW1", "dW", "dZ[1]"]))


def _notebook_loop(rng, layers):
    act = rng.choice(["np.tanh(Z)", "np.maximum(0, Z)", "1 / (1 + np.exp(-Z))"])
    loop = rng.choice(["range(1, L)", "range(L - 1)", "reversed(range(1, L))", "range(1, L, 2)", "range(L)"])
    key = rng.choice(["str(l)", "str(l + 1)", "l", "str(l - 1)"])
    return ("import numpy as np\n\n\ndef forward(X, parameters):\n"
            f"    L = len(parameters) // 2\n    A = X\n    for l in {loop}:\n"
            f"        Z = np.dot(parameters['W' + {key}], A) + parameters['b' + {key}]\n        A = {act}\n"
            "    Z = np.dot(parameters['W' + str(L)], A) + parameters['b' + str(L)]\n    return 1 / (1 + np.exp(-Z))\n"
            "\n\ndef compute_cost(AL, Y):\n    m = Y.shape[1]\n"
            "    cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m\n    return cost\n"
            "\n\ndef model(X, Y, parameters):\n    AL = forward(X, parameters)\n    return compute_cost(AL, Y)\n") \
        if layers >= 0 else "def f(X, parameters):\n    for l in range(10 ** 9):\n        pass\n    return 0\n"


# ------------------------------------------------------------------------------------- the cases
_NAMES = sorted(FAMILIES)
_WEIGHTS = [FAMILIES[n][0] for n in _NAMES]


def case(seed, k, only=None):
    """Case k of a campaign with this seed (deterministic); `only`: one family's name."""
    rng = random.Random(f"hostile-{seed}-{k}")
    name = only or rng.choices(_NAMES, _WEIGHTS)[0]
    api, args = FAMILIES[name][1](rng)
    return {"family": name, "api": api, "args": args, "seed": seed, "k": k}


# ------------------------------------------------------------------------------ the test's slice
_CALL = re.compile(r"[A-Za-z_]\w*\(")
_COSTLY = re.compile(r"maximum|minimum|logaddexp|cosh|sinh|softplus|sqrt|log|\*\* 2")


def _text(c):
    a = c["args"]
    return " ".join(str(a.get(k, "")) for k in ("expr", "model", "claim"))


def _depth(t):
    d = m = 0
    for ch in t:
        if ch == "(":
            d += 1
            m = max(m, d)
        elif ch == ")":
            d -= 1
    return m


def cheap(c):
    """Whether a case is fast for the in-process test slice, from its text alone (no run): short, few
    products, shallow unless refused by the nesting limit or free of function calls, and no numeric
    check of a large array (in-process there is no memory limit). Slow inputs are the campaign's."""
    a, t = c["args"], _text(c)
    if len(t) > 3000 or t.count("@") > 8 or t.count("\n") > 40:
        return False
    big = []
    if isinstance(a.get("shapes"), dict):
        big = [int(d) for v in a["shapes"].values() if isinstance(v, list) for d in v
               if isinstance(d, (int, str)) and not isinstance(d, bool) and str(d).isdigit() and int(d) > 1000]
    big += [int(d) for d in re.findall(r"\b\d{4,7}\b", a.get("model", "") + a.get("expr", ""))]
    if any(d <= 10 ** 6 for d in big) and c["api"] not in ("derive", "backprop"):
        return False
    if any(d <= 10 ** 6 for d in big) and a.get("order", 1) not in (0, 1):
        return False
    depth = _depth(t)
    if depth > 205:                 # refused by the nesting limit (200) before any work
        return True
    if depth > 30:
        return len(_CALL.findall(t)) <= 3
    return len(_COSTLY.findall(t)) <= 8


# ---------------------------------------------------------------------------------- execution
def _shapes(s):
    if isinstance(s, dict):
        return {k: (tuple(v) if isinstance(v, list) else v) for k, v in s.items()}
    return s


def execute(c):
    """Run a case through the public API, printing every form of the result; returns a short summary."""
    import chainrule
    api, a = c["api"], c["args"]
    if api in ("derive", "derive+check"):
        r = chainrule.derive(a["expr"], a["wrt"], _shapes(a["shapes"]), a.get("order", 1))
        r.text, r.latex, r.numpy, r.index  # noqa: B018 — printing is part of the pipeline
        r.to_json()
        if api == "derive+check":
            return f"check {r.check()!r}"[:200]
        return "derived"
    if api in ("backprop", "backprop+check"):
        r = chainrule.backprop(a["model"], a.get("convention", "course"))
        r.text()
        r.to_json()
        if api == "backprop+check":
            return f"check {r.check()!r}"[:200]
        return "backprop"
    if api == "explain":
        if "model" in a:
            e = chainrule.explain(a["model"], a["target"])
        else:
            e = chainrule.explain(expr=a["expr"], wrt=a["wrt"], shapes=_shapes(a["shapes"]))
        e.text()
        e.markdown  # noqa: B018
        return "explained"
    if api == "check":
        return str(chainrule.check(a["model"], a["claim"]))[:200]
    raise ValueError(f"unknown api {api!r}")


_CARET = re.compile(r"\n +\^+(\n|$)")
_LINE = re.compile(r"\bline \d+\b")


def positioned(err, c):
    """'caret' (line/column and a caret), 'line' (names the model line), 'argument' (an error about a
    non-text argument — wrt, target, shapes, order, convention — that names it), or None."""
    s = str(err)
    if err.start is not None and _CARET.search(s):
        return "caret"
    if _LINE.search(s):
        return "line"
    a = c["args"]
    named = []
    for key in ("wrt", "target", "order", "convention"):
        if key in a:
            named.append(a[key])
    if isinstance(a.get("shapes"), dict):
        for k, v in a["shapes"].items():
            named.append(k)
            named.extend(v if isinstance(v, list) else [v])
    for n in named:
        t = str(n).strip()
        quoted = isinstance(n, str) and (f"{n!r}" in s or f"{t!r}" in s)
        if quoted or (t and re.search(rf"(^|[\s(=]){re.escape(t)}($|[\s)'\",:;])", s)):
            return "argument"
    return None


def classify(c, exc):
    """(outcome, detail) for an exception raised by execute (None: it returned)."""
    from chainrule import ChainruleError
    if exc is None:
        return "ok", ""
    if isinstance(exc, ChainruleError):
        where = positioned(exc, c)
        if where:
            return "error", where
        return "error-unpositioned", exc.message[:300]
    if isinstance(exc, MemoryError):
        return "memory", f"MemoryError: {exc}"[:300]
    return f"crash:{type(exc).__name__}", f"{type(exc).__name__}: {exc}"[:300]


def run_inprocess(c):
    """(outcome, detail) in this process — no time or memory limit (the test slice uses this)."""
    try:
        execute(c)
    except Exception as e:      # noqa: BLE001 — anything but a ChainruleError is a finding
        return classify(c, e)
    return classify(c, None)


def feature(c):
    """What makes a case costly, in a few words (slow and killed inputs are classed by it)."""
    a, t = c["args"], _text(c)
    order = a.get("order", 1)
    if t.count("@") > 15:
        what = "long @ chain"
    elif t.count("\n") > 40:
        what = "long or wide model"
    elif re.search(r"\b(maximum|minimum|logaddexp)\(", t):
        what = "nested maximum/minimum/logaddexp"
    elif re.search(r"\b\d{5,7}\b", json.dumps(a)):
        what = "huge dims"
    elif isinstance(order, int) and order >= 2:
        what = f"derivative of order {order}"
    elif _depth(t) > 30:
        what = "deep nesting"
    elif len(_CALL.findall(t)) > 4 and _COSTLY.search(t):
        what = "nested cosh/sinh/softplus/sqrt/log"
    elif t.count("+") > 30 or t.count("*") > 30:
        what = "long sum or product"
    else:
        what = "other"
    return f"{c['family']}/{c['api']}: {what}"


def signature(outcome, detail, c=None):
    """A failure class: the outcome plus the message with numbers, names and quoted parts blurred (for
    slow and killed inputs: what makes the input costly)."""
    if outcome in ("ok", "error"):
        return outcome
    if outcome in ("slow", "killed") and c is not None:
        return f"{outcome} | {feature(c)}"
    d = detail.split("\n")[0]
    d = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", d)
    d = re.sub(r"\d+(\.\d+)?", "N", d)
    d = re.sub(r"\(adjoints: [^)]*\)|\(declared: [^)]*\)", "(…)", d)
    return f"{outcome} | {d[:90]}"
