"""Numeric evaluation of index expressions with einsum: an independent check of every translation."""
import string

import numpy as np

from ..lang import syntax as S
from ..core import tensor as T
from ..lang.functions import FUNCTIONS, STATED
from ..core.rules import CONSTANTS, ELEMENTWISE, MATRIX_FUNCTIONS



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
        order = a.arg.natural_order()
        return ELEMENTWISE[a.name].apply(evaluate(a.arg, order, env, dims), a.params), order
    if isinstance(a, T.Named):
        return CONSTANTS[a.name].value, ()
    if isinstance(a, T.Group):
        order = a.expr.natural_order()
        return evaluate(a.expr, order, env, dims), order
    if isinstance(a, T.MatFn):
        if a.arg.free - set(a.arg_idx):
            raise ValueError("matrix function of an indexed family")
        x = evaluate(a.arg, a.arg_idx, env, dims)
        return MATRIX_FUNCTIONS[a.name].value(x), a.idx
    raise TypeError(a)


# -- the parsed expression itself, evaluated with NumPy: the reference for checks ----------------
# A second, independent reading of the language (NumPy / SciPy semantics), so that checks also
# catch mistakes in lowering and in the normal form. It walks our own syntax tree; nothing is eval'd.

def evaluate_tree(node, env, dims, memo=None):
    """The value of a parsed expression for concrete arrays, with NumPy's own semantics (each
    function's `value` in the registry). `memo` (node → value, for one env) is read and filled:
    trees that share subtrees — the one-edit variants of a claim — evaluate each shared one once."""
    return _TreeValue(env, dims, memo)(node)


class _TreeValue:
    """evaluate_tree's walk; the registry's `value(ev, call)` parts call it back for arguments."""

    def __init__(self, env, dims, memo=None):
        self.env, self.dims, self.memo = env, dims, memo

    def __call__(self, node):
        if self.memo is None:
            return self._value(node)
        if node not in self.memo:                # syntax nodes hash by identity
            self.memo[node] = self._value(node)
        return self.memo[node]

    def _value(self, node):
        if isinstance(node, S.Const):
            return float(node.value)
        if isinstance(node, S.Name):
            return self.env[node.id] if node.id in self.env else float(self.dims[node.id])
        if isinstance(node, S.Neg):
            return -self(node.operand)
        if isinstance(node, S.Transpose):
            return np.transpose(self(node.operand))
        if isinstance(node, S.Compare):
            a, b = self(node.left), self(node.right)
            return np.asarray({">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[node.op](a, b),
                              dtype=float)
        if isinstance(node, S.Binary):
            a, b = self(node.left), self(node.right)
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
                    "@": np.matmul}[node.op](a, b)
        if isinstance(node, S.Call):
            spec = FUNCTIONS.get(node.fn) or STATED[node.fn]
            return spec.value(self, node)
        raise TypeError(type(node).__name__)
