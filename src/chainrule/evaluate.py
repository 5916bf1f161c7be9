"""Numeric evaluation of index expressions with einsum: an independent check of every translation."""
import string

import numpy as np

from . import tensor as T



def evaluate(expr, out, env, dims):
    """The array expr[out...] for concrete arrays `env` and sizes `dims` (name -> int)."""
    shape = tuple(size(i.dim, dims) for i in out)
    total = np.zeros(shape)
    for t in expr.terms:
        total = total + _term(t, out, env, dims)
    return total


def size(d, dims):
    return d if isinstance(d, int) else dims[d]


def einsum_letters(out):
    """A function giving each index its einsum letter, the output indices first."""
    letters = {}
    pool = iter(string.ascii_letters)

    def letter(i):
        if i not in letters:
            letters[i] = next(pool)
        return letters[i]
    for i in out:
        letter(i)
    return letter


def _term(t, out, env, dims):
    letter = einsum_letters(out)
    specs, ops = [], []
    value = float(t.coef)
    for a, e in t.factors:
        arr, idx = _atom(a, env, dims)
        arr = np.asarray(arr, dtype=float) ** float(e) if e != 1 else np.asarray(arr, dtype=float)
        if not idx:
            value = value * arr
            continue
        specs.append("".join(letter(i) for i in idx))
        ops.append(arr)
    for i in out:
        if not any(letter(i) in s for s in specs):
            specs.append(letter(i))
            ops.append(np.ones(size(i.dim, dims)))
    outspec = "".join(letter(i) for i in out)
    if not ops:
        return np.full(tuple(size(i.dim, dims) for i in out), value)
    return value * np.einsum(",".join(specs) + "->" + outspec, *ops)


def _atom(a, env, dims):
    if isinstance(a, T.Var):
        if a.is_dim:
            return float(dims[a.name]), ()
        arr = np.asarray(env[a.name], dtype=float)
        return arr, a.idx
    if isinstance(a, T.Delta):
        return np.eye(size(a.a.dim, dims)), (a.a, a.b)
    if isinstance(a, T.Func):
        from .rules import ELEMENTWISE
        order = a.arg.natural_order()
        return ELEMENTWISE[a.name].value(evaluate(a.arg, order, env, dims)), order
    if isinstance(a, T.Group):
        order = a.expr.natural_order()
        return evaluate(a.expr, order, env, dims), order
    if isinstance(a, T.MatFn):
        if a.arg.free - set(a.arg_idx):
            raise ValueError("matrix function of an indexed family")
        x = evaluate(a.arg, a.arg_idx, env, dims)
        if a.name == "inv":
            return np.linalg.inv(x), a.idx
        if a.name == "det":
            return np.linalg.det(x), ()
        return np.linalg.slogdet(x)[1], ()
    raise TypeError(a)


# -- the parsed expression itself, evaluated with NumPy: the reference for checks ----------------
# A second, independent reading of the language (NumPy / SciPy semantics), so that checks also
# catch mistakes in lowering and in the normal form. It walks our own syntax tree; nothing is eval'd.

def _softmax(x, axis=None):
    z = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def _logsumexp(x, axis=None, keepdims=False):
    c = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - c), axis=axis, keepdims=True)) + c
    return out if keepdims else (np.squeeze(out, axis=axis) if axis is not None else out.reshape(()))


def _diag(x):
    return np.diag(x)


SURFACE = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "sqrt": np.sqrt,
    "abs": np.abs, "sign": np.sign, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0), "maximum": np.maximum, "power": np.power,
    "multiply": np.multiply, "divide": np.divide, "add": np.add, "subtract": np.subtract,
    "dot": np.dot, "matmul": np.matmul, "transpose": np.transpose, "sum": np.sum, "mean": np.mean,
    "trace": np.trace, "tr": np.trace, "det": np.linalg.det, "logdet": lambda x: np.linalg.slogdet(x)[1],
    "inv": np.linalg.inv, "norm": np.linalg.norm, "outer": np.outer, "diag": _diag,
    "softmax": _softmax, "logsumexp": _logsumexp,
}
# for stated results only (the identity catalog's vec forms); not part of the derive language
def _commutation(m, n):
    """K with K vec(A) = vec(Aᵀ) for an m×n matrix A (column-major vec)."""
    m, n = int(m), int(n)
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[j + i * n, i + j * m] = 1.0
    return k


RESULT_ONLY = {"kron": np.kron, "eye": np.eye, "vec": lambda x: np.reshape(x, -1, order="F"),
               "commutation": _commutation}


def evaluate_tree(node, env, dims):
    """The value of a parsed expression for concrete arrays, with NumPy's own semantics."""
    from . import syntax as S
    if isinstance(node, S.Const):
        return float(node.value)
    if isinstance(node, S.Name):
        return env[node.id] if node.id in env else float(dims[node.id])
    if isinstance(node, S.Neg):
        return -evaluate_tree(node.operand, env, dims)
    if isinstance(node, S.Transpose):
        return np.transpose(evaluate_tree(node.operand, env, dims))
    if isinstance(node, S.Compare):
        a, b = evaluate_tree(node.left, env, dims), evaluate_tree(node.right, env, dims)
        return np.asarray({">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[node.op](a, b),
                          dtype=float)
    if isinstance(node, S.Binary):
        a, b = evaluate_tree(node.left, env, dims), evaluate_tree(node.right, env, dims)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
                "@": np.matmul}[node.op](a, b)
    if isinstance(node, S.Call):
        if node.fn == "dim":
            return float(np.shape(evaluate_tree(node.args[0], env, dims))[int(node.args[1].value)])
        if node.fn == "eye":
            a = node.args[0]
            return np.eye(int(a.value) if isinstance(a, S.Const) else dims[a.id])
        args = [int(a.value) if isinstance(a, S.Const) and a.value.denominator == 1 else evaluate_tree(a, env, dims)
                for a in node.args]                      # sum(A, 0): a positional axis stays an int
        return {**SURFACE, **RESULT_ONLY}[node.fn](*args, **dict(node.kwargs))
    raise TypeError(type(node).__name__)
