"""Numeric evaluation of index expressions with einsum: an independent check of every translation."""
import string

import numpy as np

from . import tensor as T

NP = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "abs": np.abs,
      "sign": np.sign, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
      "gt0": lambda x: np.heaviside(x, 0.0), "ge0": lambda x: np.heaviside(x, 1.0)}


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
        order = tuple(i for i in a.arg.indices() if i in a.arg.free)
        return NP[a.name](evaluate(a.arg, order, env, dims)), order
    if isinstance(a, T.Group):
        order = tuple(i for i in a.expr.indices() if i in a.expr.free)
        return evaluate(a.expr, order, env, dims), order
    if isinstance(a, T.MatFn):
        outer = tuple(i for i in a.arg.indices() if i in a.arg.free and i not in a.arg_idx)
        if outer:
            raise ValueError("matrix function of an indexed family")
        x = evaluate(a.arg, a.arg_idx, env, dims)
        if a.name == "inv":
            return np.linalg.inv(x), a.idx
        if a.name == "det":
            return np.linalg.det(x), ()
        return np.linalg.slogdet(x)[1], ()
    raise TypeError(a)
